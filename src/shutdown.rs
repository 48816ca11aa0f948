//! The stop signal: ctrl-c or SIGTERM (what container runtimes send to stop a process).

use std::future::Future;

/// Installs the handlers now and returns a future that resolves on the first signal.
///
/// Installing is done before start-up work begins: as PID 1 in a container, a process with
/// no SIGTERM handler ignores the signal, so a pod stopped while (say) the database is still
/// unreachable would wait for SIGKILL.
pub fn listen() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let (mut interrupt, mut terminate) = match (interrupt, terminate) {
                (Ok(i), Ok(t)) => (i, t),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot listen for stop signals");
                    return std::future::pending().await;
                }
            };
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("ctrl-c received"),
                _ = terminate.recv() => tracing::info!("SIGTERM received"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
        tracing::info!("ctrl-c received");
    }
}
