//! The real application pointed at the embedded fake tenant instead of wiremock, on the
//! system clock: for tests whose tenant misbehaves at random and must be healed at run time.

use std::{net::SocketAddr, sync::Arc};

use cxone_assist::{
    clock::SystemClock,
    config::Settings,
    fake_tenant::{FakeTenant, FakeTenantSettings},
    Application,
};
use secrecy::SecretString;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{helpers::CLIENT_SECRET, ledgers::temp_ledger};

/// The application and the fake it delivers to.
pub struct AppAgainstFake {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub fake: FakeTenant,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts a fake with `fake_settings`, then the application against it: its prompts and its
/// token endpoint, with `configure` applied last.
pub async fn spawn_app_against_fake(
    fake_settings: FakeTenantSettings,
    configure: impl FnOnce(&mut Settings),
) -> AppAgainstFake {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let fake = FakeTenant::start(loopback, fake_settings)
        .await
        .expect("the fake tenant starts");
    let mut s = Settings::default();
    s.server.listen_addr = loopback;
    s.server.shutdown_grace_ms = 5_000;
    s.tenant.url = Some(fake.url());
    s.tenant.token_url = Some(format!("{}/api/v2/oauth/token", fake.url()));
    s.tenant.client_id = Some("test-client".into());
    s.tenant.client_secret = Some(SecretString::from(CLIENT_SECRET));
    // The local bucket is not what these tests exercise.
    s.rate_limit.burst = 100_000;
    s.rate_limit.per_second = 100_000.0;
    s.correlation.backoff_base_ms = 20;
    s.correlation.backoff_max_ms = 40;
    s.correlation.give_up_after_ms = 2_000;
    s.correlation.poll_interval_ms = 20;
    s.store.database_url = temp_ledger();
    configure(&mut s);
    let app = Application::build_with_clock(s, Arc::new(SystemClock))
        .await
        .expect("application builds");
    let address = app.local_addr();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    AppAgainstFake {
        address,
        client: reqwest::Client::new(),
        fake,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl AppAgainstFake {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Stops the application gracefully. The fake is only dropped: answers still hanging
    /// finish in the background instead of holding up the test.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}
