//! Structured logging, and optionally OpenTelemetry trace export over OTLP/HTTP. Secrets are
//! `SecretString`s whose `Debug` prints a placeholder, and request headers are never recorded,
//! so no log line or span carries a credential.

use std::io::{BufWriter, IsTerminal};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings, OtlpSettings};

mod timestamp;

/// Log lines queued for the writer thread at most. The queue is allocated whole up front
/// (32 bytes a line), so this is memory held for the life of the process: 8192 lines is
/// 256 KiB, where the library's default of 128 000 holds 4 MiB. Even under a flood of 429s
/// (one access line each, some 45 000 a second) it lets the writer fall 0.2 s behind.
const LOG_QUEUE_LINES: usize = 8192;

/// Keeps the log writer and the trace exporter alive; [`Telemetry::shutdown`] flushes the
/// last log lines and spans.
#[must_use]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    log_writer: Option<WorkerGuard>,
}

impl Telemetry {
    /// Exports spans still buffered. The exporter runs on its own thread with a blocking
    /// client, so this waits off the async workers.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
        // Dropping the guard writes out the lines still queued.
        drop(self.log_writer);
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level.
/// Returns quietly if one is already installed (tests build several applications).
pub fn init(log: &LogSettings, otlp: &OtlpSettings) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Lines are handed to a writer thread that writes whatever has queued up in one system
    // call, instead of each request paying for its own write. Should that thread ever fall
    // LOG_QUEUE_LINES behind, new lines are dropped rather than stall requests.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(BufWriter::new(std::io::stderr()));
    let fmt = fmt::layer()
        .with_writer(writer)
        .with_timer(timestamp::UtcMicros)
        // Colour codes only help a terminal; in files and pipelines they are noise.
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = match log.format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let provider = otlp.endpoint.as_deref().and_then(tracer_provider);
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
        log_writer: installed.then_some(guard),
    }
}

/// A batch exporter to `{endpoint}/v1/traces`; `None` (with a message) when it cannot be
/// built, since tracing is optional and must not stop the service.
fn tracer_provider(endpoint: &str) -> Option<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build();
    match exporter {
        Ok(exporter) => Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("cxone-assist")
                        .build(),
                )
                .build(),
        ),
        Err(error) => {
            eprintln!("cxone-assist: OTLP trace export disabled: {error}");
            None
        }
    }
}
