//! What the cxone dialect remembers between calls: agent messages, custom events and
//! active contacts, each bounded so a long benchmark keeps a flat memory profile.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use time::OffsetDateTime;
use tokio::time::Instant;

use super::recent_map::RecentMap;
use crate::fake_tenant::state::{lock, MAX_ENTRIES};

/// A delivered agent message, as `GET /agents/{agentId}/messages` lists it.
#[derive(Debug, Clone)]
pub(crate) struct AgentMessage {
    pub(crate) agent_id: u64,
    pub(crate) subject: String,
    pub(crate) text: String,
    /// `startDate` as the client sent it, or the delivery time.
    pub(crate) start_date: String,
    /// `validUntil` as the client sent it, or the delivery time plus `expire_minutes`.
    pub(crate) valid_until: String,
    pub(crate) expire_minutes: u64,
    /// When the agent's desktop stops showing it (monotonic, so tests can pause the clock).
    pub(crate) expires_at: Instant,
}

/// The last custom event of one name sent to one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CustomEvent {
    pub(crate) data: String,
    pub(crate) persist_in_memory: bool,
}

/// A contact handled by an agent since `started`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActiveContact {
    pub(crate) agent_id: u64,
    pub(crate) started: Instant,
    pub(crate) started_utc: OffsetDateTime,
}

#[derive(Debug)]
pub(crate) struct Records {
    /// Message id → message; ids only grow, so the oldest message is evicted first.
    messages: Mutex<RecentMap<u64, AgentMessage>>,
    next_message_id: AtomicU64,
    /// (agent id, event name) → the last event; a later one of the same name replaces it.
    events: Mutex<RecentMap<(u64, String), CustomEvent>>,
    /// Contact id → when it started; kept after it ends, so a delivery naming an ended
    /// contact does not bring it back.
    contacts: Mutex<RecentMap<u64, ActiveContact>>,
}

impl Default for Records {
    fn default() -> Self {
        Self {
            messages: Mutex::new(RecentMap::new(MAX_ENTRIES)),
            next_message_id: AtomicU64::new(1),
            events: Mutex::new(RecentMap::new(MAX_ENTRIES)),
            contacts: Mutex::new(RecentMap::new(MAX_ENTRIES)),
        }
    }
}

impl Records {
    /// Stores `message` and returns its id.
    pub(crate) fn store_message(&self, message: AgentMessage) -> u64 {
        let id = self.next_message_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.messages).insert(id, message);
        id
    }

    /// Removes a message; false when no such message is stored.
    pub(crate) fn delete_message(&self, id: u64) -> bool {
        lock(&self.messages).remove(&id).is_some()
    }

    /// The agent's messages not yet expired, oldest first.
    pub(crate) fn live_messages(&self, agent_id: u64) -> Vec<(u64, AgentMessage)> {
        let now = Instant::now();
        lock(&self.messages)
            .iter()
            .filter(|(_, message)| message.agent_id == agent_id && message.expires_at > now)
            .map(|(id, message)| (*id, message.clone()))
            .collect()
    }

    pub(crate) fn record_event(&self, agent_id: u64, name: &str, event: CustomEvent) {
        lock(&self.events).insert((agent_id, name.to_owned()), event);
    }

    #[cfg(test)]
    pub(crate) fn event(&self, agent_id: u64, name: &str) -> Option<CustomEvent> {
        lock(&self.events)
            .get(&(agent_id, name.to_owned()))
            .cloned()
    }

    /// Starts `contact_id` with `agent_id` now. With `restart` false (a delivery naming the
    /// contact) a contact seen before is left alone: only its first delivery starts it.
    pub(crate) fn start_contact(&self, contact_id: u64, agent_id: u64, restart: bool) {
        let mut contacts = lock(&self.contacts);
        if !restart && contacts.get(&contact_id).is_some() {
            return;
        }
        let contact = ActiveContact {
            agent_id,
            started: Instant::now(),
            started_utc: OffsetDateTime::now_utc(),
        };
        contacts.insert(contact_id, contact);
    }

    /// Contacts started less than `active_for` ago, `only` one of them if given, oldest
    /// start first.
    pub(crate) fn active_contacts(
        &self,
        only: Option<u64>,
        active_for: Duration,
    ) -> Vec<(u64, ActiveContact)> {
        let contacts = lock(&self.contacts);
        let active = |contact: &ActiveContact| contact.started.elapsed() < active_for;
        match only {
            Some(id) => contacts
                .get(&id)
                .filter(|contact| active(contact))
                .map(|contact| vec![(id, *contact)])
                .unwrap_or_default(),
            None => contacts
                .iter()
                .filter(|(_, contact)| active(contact))
                .map(|(id, contact)| (*id, *contact))
                .collect(),
        }
    }
}
