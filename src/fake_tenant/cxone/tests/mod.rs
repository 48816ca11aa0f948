//! The cxone dialect over HTTP (reqwest, as the adapter talks to it) and, where time must
//! pass, through the router on tokio's paused clock.

mod agents;
mod auth;
mod contacts;

use std::net::SocketAddr;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use reqwest::{header::HeaderMap, Client, Method, RequestBuilder, StatusCode};
use serde_json::Value;
use url::form_urlencoded::byte_serialize;

use crate::fake_tenant::{Dialect, FakeCxoneSettings, FakeTenant, FakeTenantSettings};

const API: &str = "/inContactAPI/services/v34.0";

/// The default settings in the cxone dialect, without latency.
fn quick() -> FakeTenantSettings {
    FakeTenantSettings {
        latency_ms: 0,
        dialect: Dialect::Cxone,
        ..FakeTenantSettings::default()
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))`, as RFC 6749 §2.3.1 and the oauth2 crate
/// build it.
fn basic(id: &str, secret: &str) -> String {
    let encode = |text: &str| byte_serialize(text.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

/// The password grant's form body, the key URL-encoded as clients must send it.
fn password_form(key_id: &str, key_secret: &str) -> String {
    let encode = |text: &str| byte_serialize(text.as_bytes()).collect::<String>();
    format!(
        "grant_type=password&username={}&password={}",
        encode(key_id),
        encode(key_secret)
    )
}

/// A started cxone fake, one pooled client and an access token issued to it.
struct Harness {
    fake: FakeTenant,
    client: Client,
    bearer: String,
}

/// Sends `request`: status, headers, and the body as JSON (`Value::Null` when it is not) and
/// as text.
async fn send(request: RequestBuilder) -> (StatusCode, HeaderMap, Value, String) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, json, text)
}

impl Harness {
    async fn start(settings: FakeTenantSettings) -> Harness {
        let fake = FakeTenant::start(SocketAddr::from(([127, 0, 0, 1], 0)), settings);
        let (fake, client) = (fake.await.unwrap(), Client::new());
        let cxone = FakeCxoneSettings::default();
        let mut h = Harness {
            fake,
            client,
            bearer: String::new(),
        };
        let token = h.token(
            &basic(&cxone.client_id, &cxone.client_secret),
            password_form(&cxone.access_key_id, &cxone.access_key_secret),
        );
        let (status, _, body, _) = send(token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        h.bearer = body["access_token"].as_str().unwrap().to_owned();
        h
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.url())
    }

    /// `POST /auth/token` with `authorization` and a form `body`.
    fn token(&self, authorization: &str, body: String) -> RequestBuilder {
        self.client
            .post(self.url("/auth/token"))
            .header("authorization", authorization)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// An API call under `/inContactAPI/services/v34.0`, with the bearer and `Accept`.
    fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(&format!("{API}{path}")))
            .bearer_auth(&self.bearer)
            .header("accept", "application/json")
    }
}

/// The router driven in-process, so tests can pause and advance tokio's clock and look at
/// what it stored.
struct Direct {
    router: axum::Router,
    state: std::sync::Arc<super::CxoneState>,
    bearer: String,
}

impl Direct {
    async fn start(settings: FakeTenantSettings) -> Direct {
        let shared = std::sync::Arc::new(crate::fake_tenant::state::SharedState::new(settings));
        let state = std::sync::Arc::new(super::CxoneState {
            shared,
            bound_url: "http://fake.test".into(),
            records: super::Records::default(),
        });
        let mut direct = Direct {
            router: super::routes(std::sync::Arc::clone(&state)),
            state,
            bearer: String::new(),
        };
        let cxone = FakeCxoneSettings::default();
        let request = axum::http::Request::post("/auth/token")
            .header(
                "authorization",
                basic(&cxone.client_id, &cxone.client_secret),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(password_form(&cxone.access_key_id, &cxone.access_key_secret).into())
            .unwrap();
        let (status, body) = direct.call(request).await;
        assert_eq!(status, StatusCode::OK);
        direct.bearer = body["access_token"].as_str().unwrap().to_owned();
        direct
    }

    /// An API request under `/inContactAPI/services/v34.0`, with the bearer and `Accept`.
    fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> axum::http::Request<axum::body::Body> {
        let builder = axum::http::Request::builder()
            .method(method.as_str())
            .uri(format!("{API}{path}"))
            .header("authorization", format!("Bearer {}", self.bearer))
            .header("accept", "application/json");
        match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(body.to_string().into()),
            None => builder.body(axum::body::Body::empty()),
        }
        .unwrap()
    }

    /// Sends `request`; the body as JSON, `Value::Null` when empty or not JSON.
    async fn call(&self, request: axum::http::Request<axum::body::Body>) -> (StatusCode, Value) {
        use tower::ServiceExt as _;
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}
