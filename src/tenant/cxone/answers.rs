//! How CXone's answers map onto the retry policy's outcomes, correlation and withdrawal.

use axum::http::StatusCode;

use super::payload::{ActiveContacts, AgentMessageResults, CustomEventData};
use crate::{
    config::CxoneDelivery,
    domain::{PromptId, PromptRequest},
    tenant::{
        upstream::retry_after, AttemptOutcome, AttemptReport, CorrelationLookup, CorrelationTarget,
        OutboundPrompt, Retraction, TransientKind, UpstreamResponse,
    },
};

/// Classifies the answer to one delivery call. An agent message is delivered only when the
/// 200's result for it says `success: true`; `success: false` is the tenant refusing this
/// message, which no retry changes (the fallback may still go). A custom event is delivered
/// on any 2xx (the documented 200; 202 and 204 are taken too).
pub(super) fn classify_delivery(response: &UpstreamResponse, mode: CxoneDelivery) -> AttemptReport {
    let status = response.status;
    let mut receipt = None;
    let outcome = match status {
        StatusCode::TOO_MANY_REQUESTS => AttemptOutcome::RateLimited {
            retry_after: retry_after(&response.headers),
        },
        StatusCode::UNAUTHORIZED => AttemptOutcome::Unauthorized,
        StatusCode::FORBIDDEN => AttemptOutcome::Forbidden,
        s if s.is_server_error() => AttemptOutcome::Transient(TransientKind::ServerError),
        s if s.is_success() && mode == CxoneDelivery::CustomEvent => AttemptOutcome::Delivered,
        StatusCode::OK => match serde_json::from_slice::<AgentMessageResults>(&response.body) {
            Ok(answer) => match answer.agent_message_results.first() {
                Some(result) if result.success => {
                    receipt = result.agent_message_id.map(|id| id.to_string());
                    AttemptOutcome::Delivered
                }
                result => {
                    let error = result.and_then(|r| r.error.as_deref());
                    tracing::warn!(error, "the tenant refused the agent message");
                    AttemptOutcome::Rejected
                }
            },
            Err(_) => {
                tracing::warn!("unreadable agent message answer");
                AttemptOutcome::Rejected
            }
        },
        _ => AttemptOutcome::Rejected,
    };
    AttemptReport {
        status: Some(status.as_u16()),
        outcome,
        receipt,
    }
}

/// A live contact with the prompt's agent is correlated (its state name kept); 204 (no such
/// live contact) or another agent is a failure that looking again will not change.
pub(super) fn classify_contacts(
    response: &UpstreamResponse,
    target: &CorrelationTarget<'_>,
) -> CorrelationLookup {
    let failed = |reason: String| CorrelationLookup::Failed {
        status: Some(response.status.as_u16()),
        reason: Some(reason),
    };
    match response.status {
        StatusCode::NO_CONTENT => failed("contact no longer active".into()),
        StatusCode::OK => {
            let Ok(answer) = serde_json::from_slice::<ActiveContacts>(&response.body) else {
                return failed("unreadable active contacts".into());
            };
            let contact = answer
                .active_contacts
                .into_iter()
                .find(|c| c.contact_id.to_string() == target.interaction_id);
            match contact {
                None => failed("contact no longer active".into()),
                Some(c)
                    if c.agent_id.map(|a| a.to_string()).as_deref() == Some(target.agent_id) =>
                {
                    CorrelationLookup::Found {
                        transcript_id: None,
                        detail: Some(c.state_name.unwrap_or_else(|| "Active".into())),
                    }
                }
                Some(c) => failed(match c.agent_id {
                    Some(agent) => format!("contact is with agent {agent}"),
                    None => "contact is with no agent".into(),
                }),
            }
        }
        StatusCode::TOO_MANY_REQUESTS => CorrelationLookup::Transient,
        s if s.is_server_error() => CorrelationLookup::Transient,
        s => CorrelationLookup::Failed {
            status: Some(s.as_u16()),
            reason: None,
        },
    }
}

/// Withdrawn on 2xx; a 404 means the message is already gone from the agent's screen.
pub(super) fn classify_retraction(response: &UpstreamResponse) -> Retraction {
    match response.status {
        s if s.is_success() || s == StatusCode::NOT_FOUND => Retraction::Withdrawn,
        s => Retraction::Failed {
            status: Some(s.as_u16()),
        },
    }
}

/// How many bytes a request's custom event takes in the URL's query, URL-encoded, with a
/// prompt id as long as the one it will get.
pub(super) fn event_data_bytes(request: &PromptRequest) -> usize {
    let prompt_id = request.prompt_id.clone().map_or_else(
        || PromptId::generate(&request.interaction_id),
        PromptId::from_existing,
    );
    let prompt = OutboundPrompt {
        prompt_id,
        interaction_id: request.interaction_id.clone(),
        agent_id: request.agent_id.clone(),
        content: request.content.clone(),
        priority: request.priority,
        sentiment: request.sentiment,
        keywords: request.keywords.clone().unwrap_or_default(),
        request_id: None,
    };
    let data = CustomEventData::new(&prompt).to_json();
    url::form_urlencoded::byte_serialize(data.as_bytes())
        .map(str::len)
        .sum()
}
