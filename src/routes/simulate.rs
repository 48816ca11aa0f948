use axum::{extract::State, Extension, Json};
use serde::Serialize;

use super::AppState;
use crate::{
    domain::{PromptId, SimulatePromptBody},
    error::{ApiError, ErrorBody},
    extract::AppJson,
    middleware::RequestId,
    service::{PromptAccepted, RequestContext},
};

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
    /// `pending` (queued) or `skipped` (the correlation queue was full).
    #[schema(value_type = String, example = "pending")]
    correlation: &'static str,
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
        }
    }
}

/// Deliver a prompt to an agent's screen.
#[utoipa::path(
    post,
    path = "/simulate-prompt",
    tag = "prompts",
    request_body = SimulatePromptBody,
    params(("x-request-id" = Option<String>, Header, description = "Echoed back and passed to the tenant; generated when absent")),
    responses(
        (status = 200, description = "Delivered", body = SimulatePromptResponse),
        (status = 400, description = "Malformed JSON or an invalid field", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 403, description = "The agent or interaction is not eligible", body = ErrorBody),
        (status = 408, description = "The request did not arrive in time", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
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
    AppJson(body): AppJson<SimulatePromptBody>,
) -> Result<Json<SimulatePromptResponse>, ApiError> {
    let request = body.validate(service.limits)?;
    let context = RequestContext {
        request_id: request_id.map(|Extension(id)| id.0),
    };
    let accepted = service.submit(request, &context).await?;
    Ok(Json(accepted.into()))
}
