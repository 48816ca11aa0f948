//! The tutorial's request and response bodies.

use serde::{Deserialize, Serialize};

use crate::{config::UiSettings, tenant::OutboundPrompt};

/// The tutorial's `PromptPayload`, field for field.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptPayload<'a> {
    interaction_id: &'a str,
    prompt_id: &'a str,
    content: &'a str,
    priority: &'static str,
    ui_config: UiConfig<'a>,
    context: PromptContext<'a>,
    target_agent_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UiConfig<'a> {
    component_type: &'a str,
    position: &'a str,
    timeout_ms: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PromptContext<'a> {
    sentiment_score: f64,
    keywords: &'a [String],
}

#[derive(Deserialize)]
pub(super) struct TranscriptBody {
    pub(super) id: String,
}

impl<'a> PromptPayload<'a> {
    pub(super) fn new(prompt: &'a OutboundPrompt, ui: &'a UiSettings) -> Self {
        Self {
            interaction_id: &prompt.interaction_id,
            prompt_id: prompt.prompt_id.as_str(),
            content: &prompt.content,
            priority: prompt.priority.as_str(),
            ui_config: UiConfig {
                component_type: &ui.component_type,
                position: &ui.position,
                timeout_ms: ui.timeout_ms,
            },
            context: PromptContext {
                sentiment_score: prompt.sentiment,
                keywords: &prompt.keywords,
            },
            target_agent_id: &prompt.agent_id,
        }
    }
}
