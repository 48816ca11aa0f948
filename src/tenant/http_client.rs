//! The one HTTP client for upstream calls, built once: connections are pooled and reused.
//!
//! reqwest, configured for a service that talks to one tenant: rustls with the webpki roots,
//! redirects never followed (a token endpoint that redirects is no token endpoint), no proxy
//! taken from the environment, a connect timeout, an idle-pool timeout below common
//! keep-alives (so a connection the tenant is closing is not picked), and HTTP/1.1 only, which
//! CXone's token endpoint needs and pooled connections make cheap. Every call gets its own
//! timeout, the time left before its deadline. Callers pass URLs parsed once (`url::Url`),
//! never strings, so no request re-parses its URL before sending.

use std::{fmt, time::Duration};

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::{Bytes, BytesMut};

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
    client: reqwest::Client,
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
    /// The connection failed or closed mid-exchange, the answer was too large, or the
    /// request could not be built.
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
    pub fn new(options: &HttpClientOptions) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .http1_only()
            .build()?;
        Ok(Self { client })
    }

    /// A request to `url`, to finish and pass to [`HttpClient::send`].
    pub fn request(&self, method: Method, url: url::Url) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends `request` and reads the whole answer, both within `timeout`.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<UpstreamResponse, TransportError> {
        let request = request.timeout(timeout).build().map_err(|error| {
            tracing::debug!(error = %ErrorChain(&error), "upstream request could not be built");
            TransportError::Broken
        })?;
        self.execute(request, timeout).await
    }

    /// Sends a request built elsewhere (the trace exporter's, the token exchange's) within
    /// `timeout`.
    pub async fn execute(
        &self,
        request: reqwest::Request,
        timeout: Duration,
    ) -> Result<UpstreamResponse, TransportError> {
        let exchange = async {
            let mut response = self.client.execute(request).await.map_err(classify)?;
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let mut body = BytesMut::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(TransportError::Broken);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(UpstreamResponse {
                status,
                headers,
                body: body.freeze(),
            })
        };
        // reqwest's own timeout covers the body too; this bounds the whole exchange even if a
        // request arrives here without one.
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(TransportError::Timeout))
    }
}

fn classify(error: reqwest::Error) -> TransportError {
    tracing::debug!(error = %ErrorChain(&error), "upstream request failed");
    if error.is_timeout() {
        TransportError::Timeout
    } else if error.is_connect() {
        TransportError::Connect
    } else {
        TransportError::Broken
    }
}

/// An error with its causes, `: `-separated: reqwest's own message says little ("error
/// sending request") without the I/O error underneath.
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

    fn get(client: &HttpClient, url: &str) -> reqwest::RequestBuilder {
        client.request(Method::GET, url::Url::parse(url).unwrap())
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
        let client = client();
        let request = get(&client, &format!("{}/x", server.uri()));
        let answer = client.send(request, Duration::from_secs(5)).await.unwrap();
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
        let client = client();
        let result = client
            .send(get(&client, &server.uri()), Duration::from_secs(5))
            .await;
        assert_eq!(result.unwrap_err(), TransportError::Broken);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = client();
        let result = client
            .send(
                get(&client, &format!("http://{addr}/")),
                Duration::from_secs(5),
            )
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
        let client = client();
        let result = client
            .send(get(&client, &server.uri()), Duration::from_millis(100))
            .await;
        assert_eq!(result.unwrap_err(), TransportError::Timeout);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
