//! Liveness and readiness, for the load balancer and the orchestrator.

use std::{sync::Arc, time::Duration};

use axum::{extract::State, http::StatusCode, Json};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{
    circuit_breaker::CircuitBreaker,
    store::{PromptStore, WriterHealth},
    tenant::Tenant,
};

/// Bound on the readiness probe's own tenant check.
const TENANT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A commit running longer than this makes the replica not ready: a healthy group commit
/// takes milliseconds, and past the request deadline answers leave before their records.
const COMMIT_STALL_LIMIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Health {
    /// Cancelled as soon as shutdown begins.
    pub stopping: CancellationToken,
    pub tenant: Arc<dyn Tenant>,
    pub store: Arc<dyn PromptStore>,
    /// Whether the ledger's writer is committing: a database that answers reads may still
    /// be unable to take writes (a locked table).
    pub ledger: WriterHealth,
    pub breaker: Arc<CircuitBreaker>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Liveness {
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, `not_ready` or `stopping`.
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Checks {
    config: &'static str,
    store: String,
    tenant: String,
    /// `closed`, `half_open` or `open`; informative: an open breaker means the tenant is
    /// failing, which taking this replica out of rotation would not fix.
    breaker: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Serving", body = Liveness)))]
pub async fn healthz() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// Readiness: not shutting down, records can be stored (the ledger answers and its commits
/// are neither stalled nor failing), and the tenant can be reached (a valid token is cached
/// or one can be fetched).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready, or shutting down", body = Readiness),
    ))]
pub async fn readyz(State(health): State<Health>) -> (StatusCode, Json<Readiness>) {
    let breaker = health.breaker.state().as_str();
    if health.stopping.is_cancelled() {
        let checks = Checks {
            config: "ok",
            store: "ok".into(),
            tenant: "not checked".into(),
            breaker,
        };
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "stopping",
                checks,
            }),
        );
    }
    let (tenant, store) = tokio::join!(
        health.tenant.check_ready(TENANT_CHECK_TIMEOUT),
        tokio::time::timeout(TENANT_CHECK_TIMEOUT, health.store.ping()),
    );
    let store = match store {
        Ok(Ok(())) => match health.ledger.problem(COMMIT_STALL_LIMIT) {
            Some(problem) => Err(format!("cannot commit: {problem}")),
            None => Ok(()),
        },
        // The database's own message can name users or hosts: log it, show a fixed word.
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the ledger is unreachable");
            Err("unreachable: error".to_owned())
        }
        Err(_) => Err("unreachable: no answer within 2 s".to_owned()),
    };
    let ready = tenant.is_ok() && store.is_ok();
    let checks = Checks {
        config: "ok",
        store: store.map_or_else(|e| e, |()| "ok".into()),
        tenant: tenant.map_or_else(|e| format!("unreachable: {e}"), |()| "ok".into()),
        breaker,
    };
    let (status, label) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        status,
        Json(Readiness {
            status: label,
            checks,
        }),
    )
}
