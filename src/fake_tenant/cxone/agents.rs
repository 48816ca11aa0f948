//! Agent messages (Admin API): post, delete and list the messages an agent's desktop shows.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::time::Instant;

use super::{
    api_error, delivery_fault, positive_id, records::AgentMessage, rfc3339, simulate_latency,
    AppState,
};
use crate::fake_tenant::state::Counters;

/// How long a message stays when the client names no `expireMinutes`.
const DEFAULT_EXPIRE_MINUTES: u64 = 5;

/// The path of the calls naming one agent.
#[derive(serde::Deserialize)]
pub(super) struct AgentPath {
    #[serde(rename = "agentId")]
    pub(super) agent_id: String,
}

#[derive(serde::Deserialize)]
pub(super) struct MessagePath {
    #[serde(rename = "messageId")]
    message_id: String,
}

/// One entry of `agentMessages`, checked before anything is stored.
struct Requested {
    subject: String,
    text: String,
    /// The agent it goes to; None when `targetType`/`targetId` name no agent.
    agent_id: Option<u64>,
    expire_minutes: u64,
    start_date: Option<String>,
    valid_until: Option<String>,
}

/// Reads one `agentMessages` entry; Err is the 400's description.
fn requested(entry: &Value) -> Result<Requested, &'static str> {
    let text_field = |key: &str| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let subject = text_field("subject").ok_or("Invalid Subject")?;
    let text = text_field("message").ok_or("Invalid Message")?;
    let expire_minutes = match entry.get("expireMinutes") {
        None | Some(Value::Null) => DEFAULT_EXPIRE_MINUTES,
        Some(minutes) => minutes.as_u64().ok_or("Invalid ExpireMinutes")?,
    };
    // CXone's agents are addressed by a positive integer id with targetType "Agent"; teams,
    // stations and everyone are not agents the service prompts.
    let agent_id = Some(entry)
        .filter(|entry| entry.get("targetType").and_then(Value::as_str) == Some("Agent"))
        .and_then(|entry| entry.get("targetId")?.as_u64())
        .filter(|id| *id > 0);
    Ok(Requested {
        subject,
        text,
        agent_id,
        expire_minutes,
        start_date: text_field("startDate"),
        valid_until: text_field("validUntil"),
    })
}

/// `contact {digits}` in a message subject: the contact a prompt is about, since an agent
/// message itself carries no contact id.
pub(super) fn contact_in_subject(subject: &str) -> Option<u64> {
    let lower = subject.to_ascii_lowercase();
    lower.match_indices("contact").find_map(|(at, word)| {
        let rest = &lower[at + word.len()..];
        let digits = rest.trim_start();
        if digits.len() == rest.len() {
            return None;
        }
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        positive_id(&digits[..end])
    })
}

/// `POST /agents/messages`: one result per message, a bad target failing only its own.
pub(super) async fn post_messages(State(state): State<AppState>, body: Bytes) -> Response {
    let shared = &state.shared;
    Counters::bump(&shared.counters.agent_message_posts);
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "Invalid Request Body");
    };
    let Some(entries) = body.get("agentMessages").and_then(Value::as_array) else {
        return api_error(StatusCode::BAD_REQUEST, "Invalid AgentMessages");
    };
    let requested = match entries.iter().map(requested).collect::<Result<Vec<_>, _>>() {
        Ok(requested) if !requested.is_empty() => requested,
        Ok(_) => return api_error(StatusCode::BAD_REQUEST, "Invalid AgentMessages"),
        Err(description) => return api_error(StatusCode::BAD_REQUEST, description),
    };
    simulate_latency(shared).await;
    if let Some(response) = delivery_fault(shared) {
        return response;
    }
    let mut results = Vec::with_capacity(requested.len());
    for message in requested {
        let Some(agent_id) = message.agent_id else {
            let failed =
                json!({"agentMessageId": 0, "success": false, "error": "Invalid Agent Id"});
            results.push(failed);
            continue;
        };
        if let Some(contact_id) = contact_in_subject(&message.subject) {
            state.records.start_contact(contact_id, agent_id, false);
        }
        let id = state.records.store_message(stored(agent_id, message));
        Counters::bump(&shared.counters.agent_messages_delivered);
        results.push(json!({"agentMessageId": id, "success": true, "error": null}));
    }
    let error_count = results
        .iter()
        .filter(|result| result["success"] == false)
        .count();
    Json(json!({ "errorCount": error_count, "agentMessageResults": results })).into_response()
}

/// The message as stored: shown from now for `expire_minutes`, whatever dates it names,
/// since CXone's desktop hides a message `ExpireTimer` minutes after it arrives.
fn stored(agent_id: u64, message: Requested) -> AgentMessage {
    let now = OffsetDateTime::now_utc();
    let minutes = message.expire_minutes.min(u64::from(u32::MAX));
    let lasts = std::time::Duration::from_secs(minutes * 60);
    let ends_utc = now
        .checked_add(time::Duration::minutes(
            i64::try_from(minutes).unwrap_or(i64::MAX),
        ))
        .unwrap_or(now);
    AgentMessage {
        agent_id,
        subject: message.subject,
        text: message.text,
        start_date: message.start_date.unwrap_or_else(|| rfc3339(now)),
        valid_until: message.valid_until.unwrap_or_else(|| rfc3339(ends_utc)),
        expire_minutes: message.expire_minutes,
        expires_at: Instant::now() + lasts,
    }
}

/// `DELETE /agents/messages/{messageId}`.
pub(super) async fn delete_message(
    State(state): State<AppState>,
    Path(path): Path<MessagePath>,
) -> Response {
    simulate_latency(&state.shared).await;
    let deleted = positive_id(&path.message_id).is_some_and(|id| state.records.delete_message(id));
    if !deleted {
        return api_error(StatusCode::NOT_FOUND, "Invalid Message Id");
    }
    Counters::bump(&state.shared.counters.agent_messages_deleted);
    Json(json!({})).into_response()
}

/// `GET /agents/{agentId}/messages`: the agent's messages not deleted and not expired.
pub(super) async fn list_messages(
    State(state): State<AppState>,
    Path(path): Path<AgentPath>,
) -> Response {
    Counters::bump(&state.shared.counters.agent_message_lists);
    let Some(agent_id) = positive_id(&path.agent_id) else {
        return api_error(StatusCode::NOT_FOUND, "Invalid Agent Id");
    };
    simulate_latency(&state.shared).await;
    let messages: Vec<Value> = state
        .records
        .live_messages(agent_id)
        .into_iter()
        .map(|(id, message)| {
            json!({
                "messageId": id,
                "messageText": message.text,
                "subject": message.subject,
                "expireTimer": message.expire_minutes,
                "validUntil": message.valid_until,
                "startDate": message.start_date,
            })
        })
        .collect();
    Json(json!({ "messages": messages })).into_response()
}

#[cfg(test)]
mod tests {
    use super::contact_in_subject;

    #[test]
    fn contact_id_is_read_from_the_subject() {
        assert_eq!(
            contact_in_subject("Prompt for contact 123456"),
            Some(123_456)
        );
        assert_eq!(contact_in_subject("Contact  42: offer a refund"), Some(42));
        assert_eq!(contact_in_subject("contacts 7, contact 8"), Some(8));
        assert_eq!(contact_in_subject("contact42"), None);
        assert_eq!(contact_in_subject("contact 0"), None);
        assert_eq!(contact_in_subject("Offer a refund"), None);
    }
}
