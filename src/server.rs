//! The accept loop. hyper directly rather than `axum::serve`, for a header-read timeout (a
//! client that opens a connection and sends nothing must not hold it forever) and a graceful
//! shutdown whose drain we can bound.

use std::time::Duration;

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::routes::App;

pub struct ServeOptions {
    pub header_read_timeout: Duration,
    /// How long open connections get to finish once `stop` is cancelled.
    pub grace: Duration,
}

/// Serves `app` on `listener` until `stop` is cancelled, then lets in-flight requests
/// finish within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: App,
    options: ServeOptions,
    stop: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Typically EMFILE: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => tracing::warn!(
            grace_ms = options.grace.as_millis() as u64,
            "in-flight requests did not finish within the grace period; closing them"
        ),
    }
}
