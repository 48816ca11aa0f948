//! The fake tenant's HTTP surface: the three upstream calls of the tutorial plus a stats page.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{rejection::FormRejection, Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Form, Json, Router,
};
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tokio::time::Instant;

use super::{
    fault_answers,
    state::{Counters, Delivery, SharedState},
};

/// Scope granted when the token request names none: what the service needs.
const DEFAULT_SCOPE: &str = "agentassist:prompt:write interactions:read users:read";

type AppState = Arc<SharedState>;

/// Builds the router over `state`.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v2/oauth/token", post(issue_token))
        .route("/api/v2/agentassist/prompts", post(deliver_prompt))
        .route(
            "/api/v2/interactions/{interaction_id}/transcripts",
            get(fetch_transcript),
        )
        .route("/_fake/stats", get(stats))
        .route("/_fake/heal", post(heal))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// A JSON error body in the OAuth2 (RFC 6749 §5.2) shape the real tenant uses.
fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

fn error_with_message(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

/// RFC 3339 text for `at`; formatting cannot realistically fail, but a 500 beats a panic.
fn rfc3339(at: OffsetDateTime) -> Result<String, Box<Response>> {
    at.format(&Rfc3339).map_err(|_| {
        Box::new(error_with_message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "timestamp formatting failed",
        ))
    })
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found")
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
}

async fn stats(State(state): State<AppState>) -> Response {
    Json(state.counters.snapshot()).into_response()
}

/// `POST /_fake/heal`: stops every injected fault (see `FakeTenant::heal`).
async fn heal(State(state): State<AppState>) -> StatusCode {
    state.faults.heal();
    StatusCode::NO_CONTENT
}

/// The configured latency, so clients see round trips closer to a real tenant's.
async fn simulate_latency(state: &SharedState) {
    if state.settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(state.settings.latency_ms)).await;
    }
}

/// `POST /api/v2/oauth/token`: the client-credentials grant, accepting any credentials.
async fn issue_token(
    State(state): State<AppState>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    Counters::bump(&state.counters.token_requests);
    if state.settings.token_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(state.settings.token_latency_ms)).await;
    }
    if state.faults.next_token_unavailable() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    }
    let Ok(Form(form)) = form else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    match form.get("grant_type").map(String::as_str) {
        None | Some("") => return error(StatusCode::BAD_REQUEST, "invalid_request"),
        Some("client_credentials") => {}
        Some(_) => return error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
    let present = |key: &str| form.get(key).is_some_and(|value| !value.is_empty());
    if !present("client_id") || !present("client_secret") {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let scope = form
        .get("scope")
        .filter(|scope| !scope.is_empty())
        .map_or(DEFAULT_SCOPE, String::as_str);
    let lifetime = state.settings.token_lifetime_secs;
    let access_token = format!("fake_{}", ulid::Ulid::new());
    // Saturate rather than overflow if someone configures an absurd lifetime.
    let expires_at = Instant::now()
        .checked_add(Duration::from_secs(lifetime))
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400));
    state.issue_token(&access_token, expires_at);
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    });
    // Token responses must not be cached (RFC 6749 §5.1).
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

/// Checks `Authorization: Bearer <token>` against issued, unexpired tokens.
fn authorised(state: &SharedState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        Some(token) if state.token_valid(token) => Ok(()),
        _ => {
            let mut response = error(StatusCode::UNAUTHORIZED, "invalid_token");
            // RFC 6750 §3: a 401 names the scheme the client should use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            Err(Box::new(response))
        }
    }
}

/// The string field `key` of `body`, if present and non-empty.
fn required_str<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
}

/// `POST /api/v2/agentassist/prompts`: delivers (or, per the knobs, refuses) a prompt.
async fn deliver_prompt(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authorised(&state, &headers) {
        return *response;
    }
    Counters::bump(&state.counters.prompts);
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error_with_message(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "body is not valid JSON",
        );
    };
    let missing = ["interactionId", "promptId", "content"]
        .into_iter()
        .filter(|key| required_str(&body, key).is_none())
        .collect::<Vec<_>>();
    let (Some(interaction_id), Some(prompt_id), true) = (
        required_str(&body, "interactionId"),
        required_str(&body, "promptId"),
        missing.is_empty(),
    ) else {
        let message = format!("missing or empty string field(s): {}", missing.join(", "));
        return error_with_message(StatusCode::BAD_REQUEST, "invalid_request", &message);
    };
    simulate_latency(&state).await;
    let settings = &state.settings;
    if let Some(fault) = state.faults.next_prompt_fault() {
        match fault_answers::answer(fault, settings.retry_after_secs) {
            Some(response) => return response,
            None => tokio::time::sleep(Duration::from_millis(state.faults.settings.hang_ms)).await,
        }
    }
    // The older unseeded knobs; healing stops them too.
    let healed = state.faults.healed();
    if !healed && rand::random::<f64>() < settings.rate_limited_rate {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(settings.retry_after_secs),
        );
        return response;
    }
    if !healed && rand::random::<f64>() < settings.failure_rate {
        return error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    }
    let now = OffsetDateTime::now_utc();
    let delivered_at = match rfc3339(now) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    state.record_delivery(
        interaction_id,
        Delivery {
            at: Instant::now(),
            at_utc: now,
        },
    );
    let body = json!({
        "promptId": prompt_id,
        "status": "DELIVERED",
        "deliveredAt": delivered_at,
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `GET /api/v2/interactions/{interactionId}/transcripts`: 404 until the transcript "exists".
async fn fetch_transcript(
    State(state): State<AppState>,
    Path(interaction_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorised(&state, &headers) {
        return *response;
    }
    Counters::bump(&state.counters.transcripts);
    simulate_latency(&state).await;
    let delay = Duration::from_millis(state.settings.transcript_delay_ms);
    let Some(delivery) = state
        .first_delivery(&interaction_id)
        .filter(|delivery| delivery.at.elapsed() >= delay)
    else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    // The transcript was "created" when its delay ran out, not when it was asked for.
    let created = delivery
        .at_utc
        .checked_add(time::Duration::milliseconds(
            i64::try_from(state.settings.transcript_delay_ms).unwrap_or(i64::MAX),
        ))
        .unwrap_or(delivery.at_utc);
    let created_at = match rfc3339(created) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    let body = json!({
        "id": format!("tr_{interaction_id}"),
        "interactionId": interaction_id,
        "status": "AVAILABLE",
        "createdAt": created_at,
        "segments": [
            { "speaker": "AGENT", "text": "Thank you for calling. How can I help you today?" },
            { "speaker": "CUSTOMER", "text": "I was charged twice for my order and I'd like a refund." },
        ],
    });
    (StatusCode::OK, Json(body)).into_response()
}
