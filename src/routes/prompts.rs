use axum::{
    extract::{Path, State},
    Json,
};

use super::AppState;
use crate::{error::ApiError, store::PromptRecord};

pub async fn get_prompt(
    State(service): State<AppState>,
    Path(prompt_id): Path<String>,
) -> Result<Json<PromptRecord>, ApiError> {
    let record = service.find(&prompt_id).await.map_err(|error| {
        tracing::error!(%error, "record look-up failed");
        ApiError::Internal
    })?;
    record
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no prompt with id {prompt_id}")))
}
