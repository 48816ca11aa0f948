//! Serving, and the order in which a stopping service finishes its work.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::Application;
use crate::server::{self, ServeOptions};

impl Application {
    /// Serves until `shutdown` resolves. Then: readiness turns 503 at once; connections are
    /// still accepted for the drain delay (so the load balancer notices first); in-flight
    /// requests get the grace period; correlation work is drained; the ledger's last writes
    /// get the drain timeout each; the sandbox stops.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop_accepting = CancellationToken::new();
        let options = || ServeOptions {
            header_read_timeout: self.header_read_timeout,
            grace: self.shutdown_grace,
        };
        tracing::info!(addr = %self.listener.local_addr()?, "listening");
        let mut servers = vec![tokio::spawn(server::serve(
            self.listener,
            self.app,
            options(),
            stop_accepting.clone(),
        ))];
        if let Some((listener, app)) = self.metrics {
            tracing::info!(addr = %listener.local_addr()?, "metrics listening");
            servers.push(tokio::spawn(server::serve(
                listener,
                app,
                options(),
                stop_accepting.clone(),
            )));
        }

        shutdown.await;
        tracing::info!("shutting down: readiness is now 503");
        self.stopping.cancel();
        tokio::time::sleep(self.drain_delay).await;
        tracing::info!("no new connections; finishing in-flight requests");
        stop_accepting.cancel();
        for server in servers {
            if let Err(error) = server.await {
                tracing::error!(%error, "server task failed");
            }
        }
        // Deliveries whose callers hung up still finish and record (bounded by their deadline).
        self.deliveries.close();
        if tokio::time::timeout(self.shutdown_grace, self.deliveries.wait())
            .await
            .is_err()
        {
            tracing::warn!("deliveries still running at the end of the grace period");
        }
        let leases = self.correlation.shutdown().await;
        // Each ledger step below waits at most the drain timeout: a ledger that cannot commit
        // must not keep the process from exiting. What it could not take is logged.
        let bound = self.ledger_drain_timeout;
        // Deliveries and look-ups have stopped: commit the last of their writes.
        let lost = self.ledger_writer.shutdown(bound).await;
        if lost > 0 {
            tracing::error!(lost, "the ledger could not commit these writes before exit");
            self.metrics_registry
                .ledger_writes_lost("shutdown", lost as u64);
        }
        // Nothing more is written leased to this process: what it holds is free to take.
        leases.release(bound).await;
        // Servers and deliveries have stopped, so nothing more is refused: the last flush.
        let unflushed = self.refusals_flusher.finish(bound).await;
        if unflushed > 0 {
            tracing::error!(
                unflushed,
                "refusal counts not added to the ledger before exit"
            );
        }
        if let Some(mut retention) = self.retention {
            // It stops at its next batch boundary: `stopping` is already cancelled.
            if tokio::time::timeout(bound, &mut retention).await.is_err() {
                retention.abort();
            }
        }
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}
