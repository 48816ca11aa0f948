use axum::{extract::State, Json};
use serde::Serialize;

use super::AppState;
use crate::{
    domain::{PromptId, SimulatePromptBody},
    error::ApiError,
    extract::AppJson,
    service::PromptAccepted,
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
    AppJson(body): AppJson<SimulatePromptBody>,
) -> Result<Json<SimulatePromptResponse>, ApiError> {
    let request = body.validate(service.limits)?;
    let accepted = service.submit(request).await?;
    Ok(Json(accepted.into()))
}
