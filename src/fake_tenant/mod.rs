//! An embedded fake NICE CXone tenant, for `--sandbox`, `fake-tenant --listen` and benchmarks.
//!
//! It imitates the three upstream calls the service makes (client-credentials token, prompt
//! delivery, transcript look-up) closely enough for the real client code to run against it,
//! with knobs for latency, failures and rate limiting so retry paths can be exercised without
//! a real tenant. With `dialect = "cxone"` it speaks NICE CXone's own API instead: discovery,
//! the password-grant token, agent messages, custom events and active contacts.

mod cxone;
mod fault_answers;
mod faults;
mod routes;
mod state;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::serve::ListenerExt;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub use cxone::{Dialect, FakeCxoneSettings};
pub use faults::{FakeTenantFaults, FaultsServed};
use state::{Counters, SharedState};
pub use state::{FakeTenantSettings, FakeTenantStats};

/// How long [`FakeTenant::stop`] lets in-flight answers finish before cutting them off.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running fake tenant. Dropping it without [`FakeTenant::stop`] still asks the server to
/// shut down, so a forgotten fake does not keep a port open for the life of the process.
#[derive(Debug)]
pub struct FakeTenant {
    addr: SocketAddr,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
    state: Arc<SharedState>,
}

impl FakeTenant {
    /// Binds `listen` (use 127.0.0.1:0 for an ephemeral port) and serves in a spawned task.
    pub async fn start(
        listen: SocketAddr,
        settings: FakeTenantSettings,
    ) -> std::io::Result<FakeTenant> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SharedState::new(settings));
        let counted = Arc::clone(&state);
        let listener = listener.tap_io(move |stream| {
            Counters::bump(&counted.counters.connections);
            // Small JSON answers: Nagle would only add latency the knobs do not account for.
            let _ = stream.set_nodelay(true);
        });
        let router = match state.settings.dialect {
            Dialect::Tutorial => routes::router(Arc::clone(&state)),
            Dialect::Cxone => cxone::router(Arc::clone(&state), loopback_url(addr)),
        };
        let cancel = CancellationToken::new();
        let server =
            axum::serve(listener, router).with_graceful_shutdown(cancel.clone().cancelled_owned());
        let task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "fake tenant server failed");
            }
        });
        tracing::info!(%addr, dialect = ?state.settings.dialect, "fake tenant listening");
        Ok(FakeTenant {
            addr,
            cancel,
            task: Some(task),
            state,
        })
    }

    /// The address actually bound (the ephemeral port resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. "http://127.0.0.1:41234" (no trailing slash).
    ///
    /// A wildcard bind (0.0.0.0 or ::) is reported as the loopback address of the same family,
    /// because a wildcard is not something a client can be pointed at portably.
    pub fn url(&self) -> String {
        loopback_url(self.addr)
    }

    /// The settings it runs with: its dialect and, for `cxone`, the credentials and ids a
    /// client must be configured with.
    pub fn settings(&self) -> &FakeTenantSettings {
        &self.state.settings
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FakeTenantStats {
        self.state.counters.snapshot()
    }

    /// How many answers of each injected fault kind have been served.
    pub fn faults_served(&self) -> FaultsServed {
        self.state.faults.served()
    }

    /// Heals the tenant: from now on no fault is injected (the seeded ones and the older
    /// `failure_rate` and `rate_limited_rate` alike); latency stays. Answers already waiting
    /// out a hang still take their time. Also `POST /_fake/heal`.
    pub fn heal(&self) {
        self.state.faults.heal();
    }

    /// Graceful stop: stops accepting, lets in-flight answers finish (bounded to 5 s), awaits
    /// the task.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        let Some(mut task) = self.task.take() else {
            return;
        };
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            tracing::warn!(addr = %self.addr, "fake tenant did not drain in time; aborting");
            task.abort();
            let _ = task.await;
        }
    }
}

/// `http://` + `addr`, a wildcard address replaced by the loopback one of its family.
fn loopback_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl Drop for FakeTenant {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests;
