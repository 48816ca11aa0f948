//! The ledger over HTTP: agent feedback, statistics, listing and export.

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{export, query::Params, AppState};
use crate::{
    error::{ApiError, ErrorBody},
    extract::{AppJson, PathParam},
    store::{
        Cursor, Feedback, FeedbackKind, FeedbackOutcome, GroupBy, ListQuery, PromptRecord,
        RefusalCount, StatsQuery, StatsRow, StoreError,
    },
};

fn store_failed(error: StoreError) -> ApiError {
    tracing::error!(%error, "ledger request failed");
    ApiError::Internal
}

/// A report of what the agent did with a prompt.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackBody {
    /// `displayed`, `accepted`, `dismissed` or `ignored`.
    #[schema(required = true, value_type = String, example = "accepted")]
    outcome: Option<String>,
    /// When it happened (RFC 3339); now when absent.
    #[schema(value_type = Option<String>, format = DateTime)]
    at: Option<String>,
    /// The agent who reported it.
    agent_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackResponse {
    prompt_id: String,
    #[schema(value_type = String)]
    outcome: &'static str,
    /// `false` when this outcome had already been reported; the first report stands.
    recorded: bool,
}

/// Record agent feedback on a prompt; idempotent per (prompt, outcome).
#[utoipa::path(post, path = "/prompts/{prompt_id}/feedback", tag = "ledger",
    params(("prompt_id" = String, Path, description = "Either of the prompt's ids")),
    request_body = FeedbackBody,
    responses(
        (status = 201, description = "Recorded", body = FeedbackResponse),
        (status = 200, description = "Already recorded", body = FeedbackResponse),
        (status = 400, description = "Invalid outcome or time", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such prompt", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 503, description = "Too many requests in flight", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
pub async fn record_feedback(
    State(service): State<AppState>,
    PathParam(prompt_id): PathParam,
    AppJson(body): AppJson<FeedbackBody>,
) -> Result<Response, ApiError> {
    let invalid = |field: &str, message: String| ApiError::InvalidField {
        field: field.to_owned(),
        message,
    };
    let outcome = match body.outcome.as_deref() {
        Some("displayed") => FeedbackKind::Displayed,
        Some("accepted") => FeedbackKind::Accepted,
        Some("dismissed") => FeedbackKind::Dismissed,
        Some("ignored") => FeedbackKind::Ignored,
        other => {
            return Err(invalid(
                "outcome",
                format!("outcome must be displayed, accepted, dismissed or ignored, got {other:?}"),
            ))
        }
    };
    let at = match body.at {
        Some(at) => OffsetDateTime::parse(&at, &Rfc3339).map_err(|_| {
            invalid(
                "at",
                format!("at must be an RFC 3339 timestamp, got {at:?}"),
            )
        })?,
        None => OffsetDateTime::now_utc(),
    };
    let feedback = Feedback {
        outcome,
        at,
        agent_id: body.agent_id,
    };
    let result = service
        .store
        .record_feedback(&prompt_id, &feedback)
        .await
        .map_err(store_failed)?;
    let (status, recorded) = match result {
        FeedbackOutcome::Recorded => (StatusCode::CREATED, true),
        FeedbackOutcome::AlreadyRecorded => (StatusCode::OK, false),
        FeedbackOutcome::UnknownPrompt => {
            return Err(ApiError::NotFound(format!("no prompt with id {prompt_id}")))
        }
    };
    let body = FeedbackResponse {
        prompt_id,
        outcome: outcome.as_str(),
        recorded,
    };
    Ok((status, Json(body)).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsResponse {
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "time::serde::rfc3339::option")]
    from: Option<OffsetDateTime>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "time::serde::rfc3339::option")]
    to: Option<OffsetDateTime>,
    group_by: Option<String>,
    rows: Vec<StatsRow>,
    /// Requests turned away before delivery, per UTC day and reason.
    refusals: Vec<RefusalCount>,
}

/// Delivery and acceptance figures over `[from, to)`, computed in the database.
#[utoipa::path(get, path = "/stats", tag = "ledger",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339; inclusive"),
        ("to" = Option<String>, Query, description = "RFC 3339; exclusive"),
        ("groupBy" = Option<String>, Query, description = "agent, priority, fallback or day"),
    ),
    responses(
        (status = 200, description = "Figures per group", body = StatsResponse),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "Too many requests in flight", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
pub async fn stats(
    State(service): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<StatsResponse>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let from = params.time("from")?;
    let to = params.time("to")?;
    let group_by = params.choice("groupBy", &["agent", "priority", "fallback", "day"])?;
    let query = StatsQuery {
        from,
        to,
        group_by: group_by.as_deref().map(|g| match g {
            "agent" => GroupBy::Agent,
            "priority" => GroupBy::Priority,
            "fallback" => GroupBy::Fallback,
            _ => GroupBy::Day,
        }),
    };
    let rows = service.store.stats(&query).await.map_err(store_failed)?;
    let refusals = service
        .store
        .refusals(from, to)
        .await
        .map_err(store_failed)?;
    Ok(Json(StatsResponse {
        from,
        to,
        group_by,
        rows,
        refusals,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptList {
    items: Vec<PromptRecord>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Records, newest first, a page at a time (keyset pagination: stable under inserts).
#[utoipa::path(get, path = "/prompts", tag = "ledger",
    params(
        ("interactionId" = Option<String>, Query, description = "Only this interaction"),
        ("agentId" = Option<String>, Query, description = "Only this agent"),
        ("from" = Option<String>, Query, description = "RFC 3339; inclusive"),
        ("to" = Option<String>, Query, description = "RFC 3339; exclusive"),
        ("limit" = Option<u32>, Query, description = "1 to 500; 50 by default"),
        ("cursor" = Option<String>, Query, description = "nextCursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page", body = PromptList),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "Too many requests in flight", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
pub async fn list_prompts(
    State(service): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PromptList>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let cursor = match params.text("cursor") {
        Some(raw) => Some(Cursor::decode(&raw).ok_or_else(|| ApiError::InvalidField {
            field: "cursor".into(),
            message: "cursor is not one this service handed out".into(),
        })?),
        None => None,
    };
    let query = ListQuery {
        interaction_id: params.text("interactionId"),
        agent_id: params.text("agentId"),
        from: params.time("from")?,
        to: params.time("to")?,
        limit: params.number("limit", 1..=500)?.unwrap_or(50),
        cursor,
    };
    let page = service
        .store
        .list_prompts(&query)
        .await
        .map_err(store_failed)?;
    Ok(Json(PromptList {
        items: page.items,
        next_cursor: page.next_cursor.map(|c| c.encode()),
    }))
}

/// Every record in `[from, to)`, oldest first, streamed as JSON lines or CSV.
#[utoipa::path(get, path = "/prompts/export", tag = "ledger",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339; inclusive"),
        ("to" = Option<String>, Query, description = "RFC 3339; exclusive"),
        ("format" = Option<String>, Query, description = "jsonl (default) or csv"),
    ),
    responses(
        (status = 200, description = "One record per line (JSON lines), or a CSV table with a header row",
         content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "Too many requests in flight", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
pub async fn export_prompts(
    State(service): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let from = params.time("from")?;
    let to = params.time("to")?;
    let csv = params.choice("format", &["jsonl", "csv"])?.as_deref() == Some("csv");
    let lines = export::lines(service.store.clone(), from, to, csv);
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(lines),
    )
        .into_response())
}
