//! Trace export over OTLP/HTTP, through the service's own pooled HTTP client rather than a
//! second HTTP stack of the exporter's.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use axum::http::{Request, Response};
use bytes::Bytes;
use opentelemetry_http::HttpError;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::tenant::http_client::{HttpClient, HttpClientOptions};

/// Bound on one export, connection included: a collector that hangs costs the exporter's
/// thread this long, never the request path.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SDK's batch exporter runs on a thread of its own, outside the tokio runtime, while the
/// client's connections live on the runtime: each export is spawned there and awaited.
#[derive(Clone)]
struct Exporter {
    http: HttpClient,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

#[async_trait]
impl opentelemetry_http::HttpClient for Exporter {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let http = self.http.clone();
        let answer = self
            .runtime
            .spawn(async move { http.execute(request, EXPORT_TIMEOUT).await })
            .await??;
        let mut response = Response::builder()
            .status(answer.status)
            .body(answer.body)?;
        *response.headers_mut() = answer.headers;
        Ok(response)
    }
}

/// A batch exporter to `{endpoint}/v1/traces`; `None` (with a message) when it cannot be
/// built, since tracing is optional and must not stop the service.
pub(super) fn tracer_provider(endpoint: &str) -> Option<SdkTracerProvider> {
    let built = exporter().and_then(|client| {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()
            .map_err(|error| error.to_string())
    });
    match built {
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

fn exporter() -> Result<Exporter, String> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "no tokio runtime to export from".to_owned())?;
    let http = HttpClient::new(&HttpClientOptions {
        connect_timeout: Duration::from_secs(5),
        pool_idle_timeout: Duration::from_secs(90),
    })
    .map_err(|error| error.to_string())?;
    Ok(Exporter { http, runtime })
}
