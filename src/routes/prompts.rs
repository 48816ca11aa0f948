use axum::{extract::State, Json};

use super::AppState;
use crate::{
    error::{ApiError, ErrorBody},
    extract::PathParam,
    store::PromptRecord,
};

/// The delivery record of a prompt, by its id or its primary's id.
#[utoipa::path(
    get,
    path = "/prompts/{prompt_id}",
    tag = "prompts",
    params(("prompt_id" = String, Path, description = "The promptId a delivery returned")),
    responses(
        (status = 200, description = "The record", body = PromptRecord),
        (status = 400, description = "A malformed id", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such prompt", body = ErrorBody),
        (status = 503, description = "Too many requests in flight", body = ErrorBody),
    ),
    security((), ("api_key" = [])),
)]
pub async fn get_prompt(
    State(service): State<AppState>,
    PathParam(prompt_id): PathParam,
) -> Result<Json<PromptRecord>, ApiError> {
    let record = service.find(&prompt_id).await.map_err(|error| {
        tracing::error!(%error, "record look-up failed");
        ApiError::Internal
    })?;
    record
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no prompt with id {prompt_id}")))
}

/// Withdraw a delivered prompt from the agent's screen (CXone agent messages).
#[utoipa::path(
    delete,
    path = "/prompts/{prompt_id}",
    tag = "prompts",
    params(("prompt_id" = String, Path, description = "The promptId a delivery returned")),
    responses(
        (status = 200, description = "Withdrawn (now or before): the record, with `retractedAt`", body = PromptRecord),
        (status = 400, description = "A malformed id", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such prompt", body = ErrorBody),
        (status = 409, description = "Not delivered, a custom event, or a dialect without withdrawal (`not_retractable`)", body = ErrorBody),
        (status = 500, description = "The ledger failed", body = ErrorBody),
        (status = 502, description = "The tenant did not withdraw it", body = ErrorBody),
        (status = 503, description = "Too many requests in flight", body = ErrorBody),
    ),
    security((), ("api_key" = [])),
)]
pub async fn retract_prompt(
    State(service): State<AppState>,
    PathParam(prompt_id): PathParam,
) -> Result<Json<PromptRecord>, ApiError> {
    service.retract(&prompt_id).await.map(Json)
}
