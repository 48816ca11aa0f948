use std::fmt;

use serde::{Deserialize, Serialize};

/// `prompt_<interactionId>_<ulid>`: the tutorial's prefix, so ids stay recognisable in the
/// tenant's logs, with a ULID instead of its nanosecond clock so two prompts for one
/// interaction in the same instant still get different ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "prompt_int_98765432_01M891NP641YYYV09G8H2WD17W")]
pub struct PromptId(String);

impl PromptId {
    pub fn generate(interaction_id: &str) -> Self {
        Self(format!("prompt_{interaction_id}_{}", ulid::Ulid::new()))
    }

    /// Wraps an id read back from a record or a URL; no format is enforced on lookups.
    pub fn from_existing(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn keeps_the_tutorial_prefix_and_never_repeats() {
        let ids: HashSet<_> = (0..10_000).map(|_| PromptId::generate("int_1")).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|id| id.as_str().starts_with("prompt_int_1_")));
    }
}
