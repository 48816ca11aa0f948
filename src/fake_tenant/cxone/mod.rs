//! The `cxone` dialect: the parts of NICE CXone's own API that deliver a prompt to an agent
//! on a live contact, as NICE's public specs, SDK and test suite describe them.
//!
//! - Discovery: `/.well-known/openid-configuration` and `/.well-known/cxone-configuration`,
//!   both naming this fake as issuer and API host.
//! - `POST /auth/token`: the password grant a back-end app uses, JWT-shaped tokens.
//! - Under `/inContactAPI/services/vNN.0/`: agent messages, custom events and active
//!   contacts, each behind a bearer check and an `Accept: application/json` check.
//! - `GET /_fake/contacts/{contactId}/start?agentId=N` (test hook) and `GET /_fake/stats`.

mod agents;
mod auth;
mod contacts;
mod custom_events;
mod recent_map;
mod records;
mod settings;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{rejection::PathRejection, Path, Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post, put},
    Json, Router,
};
use serde_json::json;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::state::SharedState;
use records::Records;
pub use settings::{Dialect, FakeCxoneSettings};

/// The header CXone puts a short error description in ("Invalid Agent Id").
const STATUS_DESCRIPTION: HeaderName = HeaderName::from_static("icstatusdescription");

/// The text CXone answers with when the request does not accept JSON.
const NOT_RENDERABLE: &str = "No known way to render data";

/// What the handlers share: the dialect-neutral state (settings, counters, tokens) plus the
/// records only this dialect keeps.
#[derive(Debug)]
pub(crate) struct CxoneState {
    shared: Arc<SharedState>,
    /// The fake's own base URL, used when a request carries no usable `Host`.
    bound_url: String,
    records: Records,
}

type AppState = Arc<CxoneState>;

/// Builds the router over `shared`; `bound_url` is the address the fake listens on.
pub(crate) fn router(shared: Arc<SharedState>, bound_url: String) -> Router {
    routes(Arc::new(CxoneState {
        shared,
        bound_url,
        records: Records::default(),
    }))
}

fn routes(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/{api}/services/{version}/agents/messages",
            post(agents::post_messages),
        )
        .route(
            "/{api}/services/{version}/agents/messages/{messageId}",
            delete(agents::delete_message),
        )
        .route(
            "/{api}/services/{version}/agents/{agentId}/messages",
            get(agents::list_messages),
        )
        .route(
            "/{api}/services/{version}/agents/{agentId}/custom-event",
            put(custom_events::put_custom_event),
        )
        .route(
            "/{api}/services/{version}/contacts/active",
            get(contacts::active_contacts),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            api_guard,
        ));
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(auth::openid_configuration),
        )
        .route(
            "/.well-known/cxone-configuration",
            get(auth::cxone_configuration),
        )
        .route("/auth/token", post(auth::issue_token))
        .route(
            "/_fake/contacts/{contactId}/start",
            get(contacts::start_contact),
        )
        .route("/_fake/stats", get(stats))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The two leading path segments every API route shares.
#[derive(serde::Deserialize)]
struct ApiPrefix {
    api: String,
    version: String,
}

/// Runs before every API handler, in CXone's order: the path must name the API (any case,
/// as NICE's own SDK spells it both ways) and a `vNN.0` version, then the bearer token must
/// be one issued here and unexpired, then the client must accept JSON.
async fn api_guard(
    State(state): State<AppState>,
    prefix: Result<Path<ApiPrefix>, PathRejection>,
    request: Request,
    next: Next,
) -> Response {
    let known = prefix.is_ok_and(|Path(prefix)| {
        prefix.api.eq_ignore_ascii_case("inContactAPI") && is_version(&prefix.version)
    });
    if !known {
        return not_found().await;
    }
    if !bearer_valid(&state.shared, request.headers()) {
        let mut response = api_error(StatusCode::UNAUTHORIZED, "Unauthorized");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return response;
    }
    if !accepts_json(request.headers()) {
        let mut response = (StatusCode::NOT_ACCEPTABLE, NOT_RENDERABLE).into_response();
        response
            .headers_mut()
            .insert(STATUS_DESCRIPTION, HeaderValue::from_static(NOT_RENDERABLE));
        return response;
    }
    next.run(request).await
}

/// `v` then digits then `.0`, as in `v12.0` or `v34.0`.
fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .and_then(|rest| rest.strip_suffix(".0"))
        .is_some_and(|major| !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()))
}

fn bearer_valid(shared: &SharedState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, token)| shared.token_valid(token.trim()))
}

/// Whether `Accept` names `application/json` itself. A bare `*/*` (what curl and reqwest
/// send by default) is not enough: that is how clients get CXone's text answer.
fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|range| range.split(';').next())
        .any(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// A 4xx/5xx answer the way CXone gives one: the description in `icStatusDescription` and in
/// the body's `error_description`.
fn api_error(status: StatusCode, description: &'static str) -> Response {
    let mut response = (status, Json(json!({ "error_description": description }))).into_response();
    response
        .headers_mut()
        .insert(STATUS_DESCRIPTION, HeaderValue::from_static(description));
    response
}

/// The configured latency, before an API answer.
async fn simulate_latency(shared: &SharedState) {
    if shared.settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(shared.settings.latency_ms)).await;
    }
}

/// The failure and 429 knobs, rolled for a delivery call (agent message or custom event).
fn delivery_fault(shared: &SharedState) -> Option<Response> {
    let settings = &shared.settings;
    if rand::random::<f64>() < settings.rate_limited_rate {
        let mut response = api_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        if settings.retry_after_secs > 0 {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(settings.retry_after_secs),
            );
        }
        return Some(response);
    }
    if rand::random::<f64>() < settings.failure_rate {
        return Some(api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
        ));
    }
    None
}

/// The base URL a client used to reach this fake (`http://` + its `Host`), so discovery
/// points a client in a container at the name it already uses; the bound URL otherwise.
fn base_url(state: &CxoneState, headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| host.parse::<axum::http::uri::Authority>().is_ok())
        .map_or_else(|| state.bound_url.clone(), |host| format!("http://{host}"))
}

/// RFC 3339 text for `at`; formatting a valid time cannot fail, so an empty string (never a
/// panic) stands in for the impossible.
fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// A positive integer id from a path or query segment, as CXone's agent and contact ids are.
fn positive_id(text: &str) -> Option<u64> {
    // Digits only: `u64::from_str` would also take a leading `+`.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|id| *id > 0)
}

async fn stats(State(state): State<AppState>) -> Response {
    Json(state.shared.counters.snapshot()).into_response()
}

async fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not Found")
}

async fn method_not_allowed() -> Response {
    api_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

#[cfg(test)]
mod tests;
