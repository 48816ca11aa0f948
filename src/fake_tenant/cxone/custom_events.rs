//! `PUT /agents/{agentId}/custom-event`: an event into the agent's event stream, all of it in
//! the query (CXone's call has no body).

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::{
    agents::AgentPath, api_error, delivery_fault, positive_id, records::CustomEvent,
    simulate_latency, AppState,
};
use crate::fake_tenant::state::Counters;

/// Stores the last event per (agent, `eventName`): CXone names are case-sensitive and a later
/// event of the same name overwrites the earlier one.
pub(super) async fn put_custom_event(
    State(state): State<AppState>,
    Path(path): Path<AgentPath>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = &state.shared;
    Counters::bump(&shared.counters.custom_events);
    let Some(agent_id) = positive_id(&path.agent_id) else {
        return api_error(StatusCode::NOT_FOUND, "Invalid Agent Id");
    };
    let Some(name) = query.get("eventName").filter(|name| !name.is_empty()) else {
        return api_error(StatusCode::BAD_REQUEST, "Invalid EventName");
    };
    let persist_in_memory = match query.get("persistInMemory").map(String::as_str) {
        None | Some("") => false,
        Some(flag) if flag.eq_ignore_ascii_case("true") => true,
        Some(flag) if flag.eq_ignore_ascii_case("false") => false,
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "Invalid PersistInMemory"),
    };
    simulate_latency(shared).await;
    if let Some(response) = delivery_fault(shared) {
        return response;
    }
    let data = query.get("data").cloned().unwrap_or_default();
    if let Some(contact_id) = contact_in_data(&data) {
        state.records.start_contact(contact_id, agent_id, false);
    }
    let event = CustomEvent {
        data,
        persist_in_memory,
    };
    state.records.record_event(agent_id, name, event);
    Json(json!({})).into_response()
}

/// The contact an event is about: `interactionId` of the JSON in `data`, a number or a
/// string of digits.
fn contact_in_data(data: &str) -> Option<u64> {
    let data: Value = serde_json::from_str(data).ok()?;
    match data.get("interactionId")? {
        Value::Number(id) => id.as_u64().filter(|id| *id > 0),
        Value::String(id) => positive_id(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::contact_in_data;

    #[test]
    fn contact_id_is_read_from_interaction_id() {
        assert_eq!(contact_in_data(r#"{"interactionId":"991"}"#), Some(991));
        assert_eq!(contact_in_data(r#"{"interactionId":992,"x":1}"#), Some(992));
        assert_eq!(contact_in_data(r#"{"interactionId":"int_9"}"#), None);
        assert_eq!(contact_in_data(r#"{"contactId":5}"#), None);
        assert_eq!(contact_in_data("not json"), None);
    }
}
