use axum::{extract::State, Extension, Json};
use serde::Serialize;

use super::AppState;
use crate::{
    domain::{PromptId, SimulatePromptBody},
    error::ApiError,
    extract::AppJson,
    middleware::RequestId,
    service::{PromptAccepted, RequestContext},
};

/// The tutorial's response, with the fields it promised but never filled.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatePromptResponse {
    success: bool,
    prompt_id: PromptId,
    attempt: u32,
    fallback: bool,
    /// Always null here: correlation runs after the response; see `GET /prompts/{id}`.
    transcript_id: Option<String>,
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
