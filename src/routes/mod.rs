//! HTTP routes. Handlers parse, call the service once, and map the result.

mod prompts;
mod simulate;

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    routing::{get, post},
    Extension, Router,
};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::{error::ApiError, extract::BodyLimit, service::PromptService};

pub type AppState = Arc<PromptService>;

pub fn router(service: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/simulate-prompt", post(simulate::simulate_prompt))
        .route("/prompts/{prompt_id}", get(prompts::get_prompt))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(Extension(BodyLimit(max_body_bytes)))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(service)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
