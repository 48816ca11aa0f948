//! `spawn_app()`: the real application on an ephemeral port, pointed at two wiremock
//! servers (the tenant's API and its token endpoint), with a manual clock.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use cxone_assist::{clock::ManualClock, config::Settings, Application};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::{sync::oneshot, task::JoinHandle};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::ledgers::temp_ledger;

pub const CLIENT_SECRET: &str = "test-client-secret-9f8e7d";
pub const ACCESS_TOKEN: &str = "test-access-token-1a2b3c";
pub const PROMPTS_PATH: &str = "/api/v2/agentassist/prompts";
pub const TOKEN_PATH: &str = "/oauth/token";

pub struct TestApp {
    pub address: SocketAddr,
    database_url: String,
    /// The separate metrics listener, when the test configured one.
    pub metrics_addr: Option<SocketAddr>,
    pub client: reqwest::Client,
    /// The tenant's API: prompts and transcripts.
    pub tenant: MockServer,
    /// The token endpoint, on its own server as `CXONE_TOKEN_URL` allows.
    pub auth: MockServer,
    pub clock: ManualClock,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Settings every test starts from: fast backoff so retry tests take milliseconds.
pub fn test_settings(tenant: &MockServer, auth: &MockServer) -> Settings {
    let mut s = Settings::default();
    s.server.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    s.server.shutdown_grace_ms = 5_000;
    s.tenant.url = Some(tenant.uri());
    s.tenant.token_url = Some(format!("{}{TOKEN_PATH}", auth.uri()));
    s.tenant.client_id = Some("test-client".into());
    s.tenant.client_secret = Some(SecretString::from(CLIENT_SECRET));
    s.tenant.attempt_timeout_ms = 1_000;
    s.delivery.backoff_base_ms = 10;
    s.delivery.backoff_max_ms = 40;
    s.rate_limit.burst = 1_000;
    s.rate_limit.per_second = 1_000.0;
    s.correlation.backoff_base_ms = 20;
    s.correlation.backoff_max_ms = 40;
    s.correlation.give_up_after_ms = 2_000;
    s.correlation.poll_interval_ms = 20;
    s.store.database_url = temp_ledger();
    // Retry tests count every POST; the breaker has tests of its own.
    s.breaker.failure_threshold = 1_000;
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let tenant = MockServer::start().await;
    let auth = MockServer::start().await;
    let mut settings = test_settings(&tenant, &auth);
    configure(&mut settings);
    let database_url = settings.store.database_url.clone();
    let clock = ManualClock::default();
    let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .expect("application builds");
    let address = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        database_url,
        metrics_addr,
        client: reqwest::Client::new(),
        tenant,
        auth,
        clock,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// A valid `/simulate-prompt` body; tests change what they exercise.
pub fn prompt_body() -> Value {
    json!({
        "interactionId": "int_98765432",
        "agentId": "agt_12345678",
        "content": "Customer has exceeded return window. Suggest loyalty credit instead.",
        "priority": "HIGH",
        "sentiment": 0.1
    })
}

/// [`prompt_body`] for another interaction.
pub fn with_interaction(id: &str) -> Value {
    let mut body = prompt_body();
    body["interactionId"] = json!(id);
    body
}

pub fn token_response(expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": expires_in
    }))
}

pub fn delivered() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"status": "DELIVERED"}))
}

impl TestApp {
    /// The ledger's URL, for tests that reach into the database itself.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn post_prompt(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/simulate-prompt"))
            .json(body)
            .send()
            .await
            .expect("request reaches the service")
    }

    /// POSTs `body`, which must be delivered; the prompt's id.
    pub async fn deliver(&self, body: &Value) -> String {
        let response: Value = self.post_prompt(body).await.json().await.unwrap();
        response["promptId"].as_str().expect("delivered").to_owned()
    }

    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url("/simulate-prompt")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("request reaches the service")
    }

    pub async fn get_prompt(&self, prompt_id: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/prompts/{prompt_id}")))
            .send()
            .await
            .expect("request reaches the service")
    }

    /// The record of a prompt, as JSON.
    pub async fn record(&self, prompt_id: &str) -> Value {
        let response = self.get_prompt(prompt_id).await;
        assert_eq!(response.status(), 200, "no record of {prompt_id}");
        response.json().await.expect("a record is JSON")
    }

    /// Token endpoint answering with a token valid for an hour.
    pub async fn mount_token(&self) {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(token_response(3600))
            .mount(&self.auth)
            .await;
    }

    /// The tenant forgets its answers and from now on takes every prompt (the token
    /// endpoint, on its own server, keeps its own).
    pub async fn tenant_recovers(&self) {
        self.tenant.reset().await;
        Mock::given(method("POST"))
            .and(path(PROMPTS_PATH))
            .respond_with(delivered())
            .mount(&self.tenant)
            .await;
    }

    /// Token endpoint plus a prompts endpoint answering `response` to every POST.
    pub async fn mount_tenant(&self, response: ResponseTemplate) {
        self.mount_token().await;
        Mock::given(method("POST"))
            .and(path(PROMPTS_PATH))
            .respond_with(response)
            .mount(&self.tenant)
            .await;
    }

    /// One answer per prompt POST, in order (wiremock takes the first mock with budget
    /// left, in mount order). The token endpoint is not mounted.
    pub async fn mount_answers(&self, answers: Vec<ResponseTemplate>) {
        for answer in answers {
            Mock::given(method("POST"))
                .and(path(PROMPTS_PATH))
                .respond_with(answer)
                .up_to_n_times(1)
                .mount(&self.tenant)
                .await;
        }
    }

    /// Bodies of every prompt POST the tenant received, in order.
    pub async fn prompts_received(&self) -> Vec<Value> {
        self.tenant
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == PROMPTS_PATH)
            .map(|r| serde_json::from_slice(&r.body).expect("prompt body is JSON"))
            .collect()
    }

    pub async fn token_requests(&self) -> usize {
        self.auth
            .received_requests()
            .await
            .unwrap_or_default()
            .len()
    }

    /// Polls the record until `done` holds or two seconds pass.
    pub async fn wait_for_record(&self, prompt_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            let record: Value = self.get_prompt(prompt_id).await.json().await.unwrap();
            if done(&record) || tokio::time::Instant::now() > deadline {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A second handle on the app's ledger, as another replica would have.
    pub async fn store(&self) -> std::sync::Arc<dyn cxone_assist::store::PromptStore> {
        cxone_assist::store::connect(
            &self.database_url,
            &cxone_assist::store::LedgerOptions::default(),
        )
        .await
        .expect("the ledger opens")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the service")
    }

    /// The Prometheus text from `/metrics` on the main listener.
    pub async fn metrics_text(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    /// Starts graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Triggers graceful shutdown and waits for the server to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        match self.server.take() {
            Some(handle) => handle.await.expect("server task does not panic"),
            None => Ok(()),
        }
    }
}
