use std::convert::Infallible;

use axum::{
    extract::{FromRequestParts, State},
    http::{request::Parts, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::Serialize;
use tracing::Instrument;

use super::AppState;
use crate::{
    domain::{PromptId, PromptRequest, SimulatePromptBody},
    error::{ApiError, ErrorBody},
    extract::AppJson,
    middleware::{Caller, RequestId},
    service::{Admitted, IdempotencyKey, Keyed, PromptAccepted, RequestContext, SubmitError},
};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The tutorial's response, with the fields it promised but never filled.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulatePromptResponse {
    success: bool,
    prompt_id: PromptId,
    attempt: u32,
    fallback: bool,
    /// Always null here: correlation runs after the response; see `GET /prompts/{id}`.
    transcript_id: Option<String>,
    /// `pending`: the transcript look-up is queued in the ledger. A prompt answered from an
    /// earlier delivery's record reports where that record's correlation stands.
    #[schema(value_type = String, example = "pending")]
    correlation: &'static str,
    /// Whether the prompt's record had committed to the ledger when this answer left.
    /// `false`: the prompt was delivered, but its record is still to be written (the ledger
    /// was slow or stalled past the request deadline, or `store.acknowledge = "queued"`); it
    /// is written when the ledger recovers.
    recorded: bool,
}

impl From<PromptAccepted> for SimulatePromptResponse {
    fn from(accepted: PromptAccepted) -> Self {
        Self {
            success: true,
            prompt_id: accepted.prompt_id,
            attempt: accepted.attempt,
            fallback: accepted.fallback,
            transcript_id: None,
            correlation: accepted.correlation.as_str(),
            recorded: accepted.recorded,
        }
    }
}

/// Deliver a prompt to an agent's screen.
#[utoipa::path(
    post,
    path = "/simulate-prompt",
    tag = "prompts",
    request_body = SimulatePromptBody,
    params(
        ("x-request-id" = Option<String>, Header, description = "Echoed back and passed to the tenant; generated when absent"),
        ("idempotency-key" = Option<String>, Header, description = "Deliver at most once per key (1 to 255 printable characters) within the idempotency window; a repeat replays the first answer"),
    ),
    responses(
        (status = 200, description = "Delivered (or replayed, with `idempotent-replayed: true`)", body = SimulatePromptResponse),
        (status = 400, description = "Malformed JSON or an invalid field", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 403, description = "The agent or interaction is not eligible", body = ErrorBody),
        (status = 408, description = "The request did not arrive in time", body = ErrorBody),
        (status = 409, description = "A request with the same Idempotency-Key is in progress", body = ErrorBody,
         headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used with another body", body = ErrorBody),
        (status = 429, description = "Local or tenant rate limit", body = ErrorBody,
         headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 502, description = "The tenant refused or failed, and so did the fallback", body = ErrorBody),
        (status = 503, description = "Too many requests in flight", body = ErrorBody,
         headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 504, description = "The request deadline ran out", body = ErrorBody),
    ),
    security((), ("api_key" = [])),
)]
pub async fn simulate_prompt(
    State(service): State<AppState>,
    request_id: Option<Extension<RequestId>>,
    caller: Option<Extension<Caller>>,
    IdempotencyKeyHeader(key_header): IdempotencyKeyHeader,
    AppJson(body): AppJson<SimulatePromptBody>,
) -> Response {
    let request = match service.validate(body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let context = RequestContext {
        request_id: request_id.map(|Extension(id)| id.0),
    };
    let deadline = service.deadline();
    let key = match idempotency_key(key_header.as_ref()) {
        // A prompt the caller names is delivered at most once, whatever Idempotency-Key or
        // API key it comes with: its id is the key.
        Ok(header) => match &request.prompt_id {
            Some(prompt_id) => Some(IdempotencyKey::for_prompt(prompt_id)),
            None => header.map(|key| {
                let fingerprint = caller.as_ref().and_then(|Extension(Caller(f))| f.clone());
                IdempotencyKey::from_header(fingerprint.as_deref(), key)
            }),
        },
        Err(error) => return error.into_response(),
    };
    let submission = match key {
        Some(key) => Submission::Keyed(key),
        // Without a key nothing earlier can decide the answer, so a refusal (most requests
        // under a flood) is answered here, without a delivery task.
        None => match service.admit(&request, deadline).await {
            Ok(admitted) => Submission::Admitted(admitted),
            Err(error) => return ApiError::from(error).into_response(),
        },
    };
    // Delivery and its record run in a task the service owns: a caller that hangs up (or the
    // whole-request timeout) must not leave a delivered prompt unrecorded or a key claimed.
    let worker = service.clone();
    service
        .tasks
        .spawn(
            async move { deliver(&worker, request, context, submission, deadline).await }
                // The request's span (with its id) follows the work into the task.
                .instrument(tracing::Span::current()),
        )
        .await
        .unwrap_or_else(|_| ApiError::Internal.into_response())
}

/// What a delivery task starts from.
enum Submission {
    /// A request without a key, already past eligibility and the rate limit.
    Admitted(Admitted),
    /// A request whose key is checked first: it may be answered from an earlier delivery.
    Keyed(IdempotencyKey),
}

async fn deliver(
    service: &AppState,
    request: PromptRequest,
    context: RequestContext,
    submission: Submission,
    deadline: tokio::time::Instant,
) -> Response {
    let key = match submission {
        Submission::Admitted(admitted) => {
            return answer(service.send(request, &context, admitted).await);
        }
        Submission::Keyed(key) => key,
    };
    let (result, claim) = match service
        .submit_keyed(request, &context, &key, deadline)
        .await
    {
        Keyed::Unavailable => return ApiError::Internal.into_response(),
        Keyed::InProgress => return ApiError::IdempotencyInProgress.into_response(),
        Keyed::KeyReused => return ApiError::IdempotencyKeyReused.into_response(),
        Keyed::Replayed { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            return with_replayed((status, Json(body)).into_response(), true);
        }
        Keyed::Answered(result) => return answer(result),
        Keyed::Submitted { result, claim } => (result, claim),
    };
    // Only answers a retry could not change are kept for replay; a 5xx or the tenant's 429
    // frees the key so the caller's retry can still deliver.
    let (kept, response) = match result {
        Ok(accepted) => {
            let body =
                serde_json::to_value(SimulatePromptResponse::from(accepted)).unwrap_or_default();
            (
                Some((StatusCode::OK, body.clone())),
                Json(body).into_response(),
            )
        }
        Err(error) => {
            let error = ApiError::from(error);
            let kept =
                (error.status() == StatusCode::FORBIDDEN).then(|| (error.status(), error.body()));
            (kept, error.into_response())
        }
    };
    let kept = kept.as_ref().map(|(status, body)| (status.as_u16(), body));
    service.settle_key(claim, kept).await;
    response
}

/// The answer to a submission that holds no key.
fn answer(result: Result<PromptAccepted, SubmitError>) -> Response {
    match result {
        Ok(accepted) => {
            let replayed = accepted.replayed;
            with_replayed(
                Json(SimulatePromptResponse::from(accepted)).into_response(),
                replayed,
            )
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// Marks an answer that repeats an earlier delivery.
fn with_replayed(mut response: Response, replayed: bool) -> Response {
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// The request's `Idempotency-Key` as sent; the handler checks it after the body, so a bad
/// body is reported first. Only this header is taken: axum's `HeaderMap` extractor would
/// clone every header of every request.
pub struct IdempotencyKeyHeader(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.headers.get(IDEMPOTENCY_KEY).cloned()))
    }
}

fn idempotency_key(value: Option<&HeaderValue>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::InvalidField {
            field: "Idempotency-Key".into(),
            message: "Idempotency-Key must be 1 to 255 printable characters".into(),
        });
    }
    Ok(Some(key.to_owned()))
}
