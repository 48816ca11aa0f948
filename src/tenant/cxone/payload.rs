//! CXone's request and answer shapes for agent messages, custom events and active contacts.

use serde::{Deserialize, Serialize};

use crate::tenant::OutboundPrompt;

/// `POST .../agents/messages`: one message to one agent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgentMessages<'a> {
    agent_messages: [AgentMessage<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentMessage<'a> {
    target_type: &'static str,
    target_id: i64,
    subject: String,
    message: &'a str,
    expire_minutes: u64,
}

impl<'a> AgentMessages<'a> {
    /// `agent_id` is checked to be digits before anything is sent.
    pub fn new(prompt: &'a OutboundPrompt, agent_id: i64, display_ms: u64) -> Self {
        Self {
            agent_messages: [AgentMessage {
                target_type: "Agent",
                target_id: agent_id,
                subject: subject(prompt),
                message: &prompt.content,
                // The agent's panel drops the message once it has expired: never less than
                // the minute CXone counts in, never shorter than the display time.
                expire_minutes: display_ms.div_ceil(60_000).max(1),
            }],
        }
    }
}

/// What the agent sees as the message's title: the priority, the contact it is about and the
/// keywords that raised it.
fn subject(prompt: &OutboundPrompt) -> String {
    let mut subject = format!(
        "[{}] contact {}",
        prompt.priority.as_str(),
        prompt.interaction_id
    );
    if !prompt.keywords.is_empty() {
        subject.push_str(": ");
        subject.push_str(&prompt.keywords.join(", "));
    }
    subject
}

/// The answer to `POST .../agents/messages`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgentMessageResults {
    #[serde(default)]
    pub agent_message_results: Vec<AgentMessageResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgentMessageResult {
    pub agent_message_id: Option<i64>,
    #[serde(default)]
    pub success: bool,
    pub error: Option<String>,
}

/// A custom event's `data`: the prompt as compact JSON text, which the agent SDK parses.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CustomEventData<'a> {
    prompt_id: &'a str,
    interaction_id: &'a str,
    priority: &'static str,
    content: &'a str,
    keywords: &'a [String],
}

impl<'a> CustomEventData<'a> {
    pub fn new(prompt: &'a OutboundPrompt) -> Self {
        Self {
            prompt_id: prompt.prompt_id.as_str(),
            interaction_id: &prompt.interaction_id,
            priority: prompt.priority.as_str(),
            content: &prompt.content,
            keywords: &prompt.keywords,
        }
    }

    pub fn to_json(&self) -> String {
        // Strings and a list of strings: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The answer to `GET .../contacts/active`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActiveContacts {
    #[serde(default)]
    pub active_contacts: Vec<ActiveContact>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActiveContact {
    pub contact_id: i64,
    pub agent_id: Option<i64>,
    pub state_name: Option<String>,
}
