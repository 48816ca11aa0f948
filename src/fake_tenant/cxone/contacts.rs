//! Real-time data: which contacts are active and with which agent, plus the test hook that
//! starts a contact without a delivery.

use std::{collections::HashMap, time::Duration};

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{api_error, positive_id, rfc3339, simulate_latency, AppState};
use crate::fake_tenant::state::Counters;

/// The fixed parts of an active contact: an inbound phone call on one skill.
const STATE_ID: u64 = 4;
const MEDIA_TYPE_ID: u64 = 4;
const SKILL_ID: u64 = 4_100_001;

#[derive(serde::Deserialize)]
pub(super) struct ContactPath {
    #[serde(rename = "contactId")]
    contact_id: String,
}

/// `GET /contacts/active[?contactId=N]`: 200 with the active contacts, 204 with an empty
/// body when none match (CXone's "No Contacts for the specified period").
pub(super) async fn active_contacts(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = &state.shared;
    Counters::bump(&shared.counters.contact_lookups);
    let only = match query.get("contactId") {
        None => None,
        Some(id) => match positive_id(id) {
            Some(id) => Some(id),
            None => return api_error(StatusCode::BAD_REQUEST, "InvalidContactId"),
        },
    };
    simulate_latency(shared).await;
    let active_for = Duration::from_secs(shared.settings.cxone.contact_active_secs);
    let contacts: Vec<Value> = state
        .records
        .active_contacts(only, active_for)
        .into_iter()
        .map(|(contact_id, contact)| {
            json!({
                "contactId": contact_id,
                "masterContactId": contact_id,
                "agentId": contact.agent_id,
                "stateId": STATE_ID,
                "stateName": "Active",
                "contactStateCategory": "With Agent",
                "mediaTypeId": MEDIA_TYPE_ID,
                "mediaTypeName": "Call",
                "skillId": SKILL_ID,
                "isOutbound": false,
                "lastUpdateTime": rfc3339(contact.started_utc),
            })
        })
        .collect();
    if contacts.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    Json(json!({
        "totalRecords": contacts.len(),
        "businessUnitId": shared.settings.cxone.business_unit_id,
        "lastPollTime": rfc3339(OffsetDateTime::now_utc()),
        "activeContacts": contacts,
    }))
    .into_response()
}

/// `GET /_fake/contacts/{contactId}/start?agentId=N` (test hook, no auth): starts, or starts
/// again, a contact with an agent, for `contact_active_secs` from now.
pub(super) async fn start_contact(
    State(state): State<AppState>,
    Path(path): Path<ContactPath>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(contact_id) = positive_id(&path.contact_id) else {
        return api_error(StatusCode::BAD_REQUEST, "InvalidContactId");
    };
    let Some(agent_id) = query.get("agentId").and_then(|id| positive_id(id)) else {
        return api_error(StatusCode::BAD_REQUEST, "Invalid Agent Id");
    };
    state.records.start_contact(contact_id, agent_id, true);
    let active_secs = state.shared.settings.cxone.contact_active_secs;
    Json(json!({ "contactId": contact_id, "agentId": agent_id, "activeSecs": active_secs }))
        .into_response()
}
