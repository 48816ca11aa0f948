//! The service's vocabulary: what a prompt request is once it has been checked.

mod prompt_id;
mod request;

pub use prompt_id::PromptId;
pub use request::{PromptRequest, SimulatePromptBody, ValidationLimits};

use serde::{Deserialize, Serialize};

/// How urgently the agent desktop should show a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    High,
    Medium,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "HIGH",
            Priority::Medium => "MEDIUM",
            Priority::Low => "LOW",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "HIGH" => Some(Priority::High),
            "MEDIUM" => Some(Priority::Medium),
            "LOW" => Some(Priority::Low),
            _ => None,
        }
    }
}
