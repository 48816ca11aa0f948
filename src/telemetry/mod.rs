//! Structured logging, and optionally OpenTelemetry trace export over OTLP/HTTP. Secrets are
//! `SecretString`s whose `Debug` prints a placeholder, and request headers are never recorded,
//! so no log line or span carries a credential.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings, OtlpSettings};

mod log_writer;
mod otlp;
mod plain_fields;
mod timestamp;

use log_writer::{LogWriter, LogWriterGuard};

/// Keeps the log writer and the trace exporter alive; [`Telemetry::shutdown`] flushes the
/// last log lines and spans.
#[must_use]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    log_writer: Option<LogWriterGuard>,
}

impl Telemetry {
    /// Exports spans still buffered. The exporter's thread blocks until its last export,
    /// which runs on the async workers, has finished, so this waits off them.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
        if let Some(writer) = self.log_writer {
            let dropped = writer.shutdown();
            if dropped > 0 {
                eprintln!("cxone-assist: {dropped} log lines were dropped while the log writer was behind");
            }
        }
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level.
/// Returns quietly if one is already installed (tests build several applications).
pub fn init(log: &LogSettings, otlp: &OtlpSettings) -> Telemetry {
    // Lines are buffered for a writer thread that writes them out in one system call every
    // few milliseconds, instead of each request paying for its own write (log_writer).
    // The buffer is the batching, so stderr itself is the sink.
    let Ok((writer, guard)) = LogWriter::spawn(std::io::stderr(), log_writer::FLUSH_INTERVAL)
    else {
        eprintln!("cxone-assist: cannot start the log writer thread; logging to stderr directly");
        return init_with(log, otlp, std::io::stderr, None);
    };
    init_with(log, otlp, writer, Some(guard))
}

fn init_with<W>(
    log: &LogSettings,
    otlp: &OtlpSettings,
    writer: W,
    guard: Option<LogWriterGuard>,
) -> Telemetry
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only help a terminal; in files and pipelines they are noise.
    let ansi = std::io::stderr().is_terminal();
    let fmt = fmt::layer()
        .with_writer(writer)
        .with_timer(timestamp::UtcMicros)
        .with_ansi(ansi);
    let fmt = match log.format {
        LogFormat::Human if !ansi => fmt.fmt_fields(plain_fields::PlainFields).boxed(),
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let provider = otlp.endpoint.as_deref().and_then(otlp::tracer_provider);
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("cxone-assist"))
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(traces)
        .try_init()
        .is_ok();
    if let Some(endpoint) = &otlp.endpoint {
        if provider.is_some() {
            tracing::info!(%endpoint, "exporting traces over OTLP");
        }
    }
    Telemetry {
        provider,
        log_writer: guard.filter(|_| installed),
    }
}
