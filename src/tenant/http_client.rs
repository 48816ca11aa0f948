//! The one HTTP client for upstream calls, built once: connections are pooled and reused.
//!
//! hyper-util's pooled client over rustls rather than reqwest. reqwest turns every request's
//! URI back into a `url::Url` twice (for its redirect policy and for the response), which
//! cost some 28 000 instructions a prompt, more than the prompt's JSON. Nothing here needs
//! what reqwest adds: redirects are never followed, there are no cookies or proxies, and
//! every answer is a small JSON document read whole.

use std::{fmt, sync::Arc, time::Duration};

use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioTimer},
};

/// The largest answer read from upstream. The tenant's answers are small JSON documents; a
/// larger one is treated as a broken exchange rather than held in memory.
const MAX_BODY_BYTES: usize = 1 << 20;

const USER_AGENT: &str = concat!("cxone-assist/", env!("CARGO_PKG_VERSION"));

/// How the client connects.
pub struct HttpClientOptions {
    /// Bound on opening a TCP connection (the TLS handshake counts against the request).
    pub connect_timeout: Duration,
    /// How long an unused pooled connection is kept.
    pub pool_idle_timeout: Duration,
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A whole upstream answer.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why no whole answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// The time allowed ran out first.
    Timeout,
    /// No connection could be opened.
    Connect,
    /// The connection failed or closed mid-exchange, or the answer was too large.
    Broken,
}

impl std::error::Error for TransportError {}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "no answer in time",
            Self::Connect => "could not connect",
            Self::Broken => "the exchange broke off",
        })
    }
}

impl HttpClient {
    pub fn new(options: &HttpClientOptions) -> Result<Self, rustls::Error> {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(options.connect_timeout));
        tcp.set_nodelay(true);
        // The TLS connector above decides between http and https.
        tcp.enforce_http(false);
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self { client })
    }

    /// Sends `request` and reads the whole answer, both within `timeout`.
    pub async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<UpstreamResponse, TransportError> {
        request
            .headers_mut()
            .insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        let exchange = async {
            let response = self.client.request(request).await.map_err(|error| {
                tracing::debug!(error = %ErrorChain(&error), "upstream request failed");
                if error.is_connect() {
                    TransportError::Connect
                } else {
                    TransportError::Broken
                }
            })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|_| TransportError::Broken)?
                .to_bytes();
            Ok(UpstreamResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(TransportError::Timeout))
    }
}

/// An error with its causes, `: `-separated: hyper's own message says little ("client error
/// (Connect)") without the I/O error underneath.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use wiremock::{
        matchers::{header, method, path},
        Mock, MockServer, ResponseTemplate,
    };

    use super::*;

    fn client() -> HttpClient {
        HttpClient::new(&HttpClientOptions {
            connect_timeout: Duration::from_secs(2),
            pool_idle_timeout: Duration::from_secs(10),
        })
        .unwrap()
    }

    fn get(url: &str) -> Request<Full<Bytes>> {
        Request::get(url).body(Full::default()).unwrap()
    }

    #[tokio::test]
    async fn an_answer_arrives_whole_with_its_status_and_headers() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/x"))
            .and(header("user-agent", USER_AGENT))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "7")
                    .set_body_string("slow down"),
            )
            .mount(&server)
            .await;
        let answer = (client().send(get(&format!("{}/x", server.uri())), Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.headers["retry-after"], "7");
        assert_eq!(answer.body, "slow down");
    }

    #[tokio::test]
    async fn an_answer_over_the_size_limit_is_a_broken_exchange() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; MAX_BODY_BYTES + 1]))
            .mount(&server)
            .await;
        let result = client()
            .send(get(&server.uri()), Duration::from_secs(5))
            .await;
        assert_eq!(result.unwrap_err(), TransportError::Broken);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let result = client()
            .send(get(&format!("http://{addr}/")), Duration::from_secs(5))
            .await;
        assert_eq!(result.unwrap_err(), TransportError::Connect);
    }

    #[tokio::test]
    async fn an_answer_later_than_the_timeout_is_a_timeout() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let started = std::time::Instant::now();
        let result = client()
            .send(get(&server.uri()), Duration::from_millis(100))
            .await;
        assert_eq!(result.unwrap_err(), TransportError::Timeout);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
