//! The `/simulate-prompt` body as received, and its validation into a [`PromptRequest`].

use serde::Deserialize;

#[allow(unused_imports)] // named by the OpenAPI schema attribute
use super::Priority;
use crate::error::ApiError;

// Every field is optional here so a missing one gets a message naming it rather than serde's
// generic one; the schema documents the accepted values, `validate` enforces them.
/// A prompt for an agent during a live interaction.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulatePromptBody {
    #[schema(required = true, value_type = String, pattern = "^[A-Za-z0-9_.:-]{1,128}$", example = "int_98765432")]
    pub interaction_id: Option<String>,
    #[schema(required = true, value_type = String, pattern = "^[A-Za-z0-9_.:-]{1,128}$", example = "agt_12345678")]
    pub agent_id: Option<String>,
    /// Not blank; at most `delivery.max_content_chars` characters (2000 by default).
    #[schema(required = true, value_type = String, min_length = 1, max_length = 2000,
             example = "Customer has exceeded return window. Suggest loyalty credit instead.")]
    pub content: Option<String>,
    #[schema(required = true, value_type = Priority)]
    pub priority: Option<String>,
    /// The interaction's sentiment, -1 (negative) to 1 (positive).
    #[schema(required = true, value_type = f64, minimum = -1.0, maximum = 1.0, example = 0.2)]
    pub sentiment: Option<f64>,
    /// Sent as prompt context; without it, the configured vocabulary's words found in
    /// `content` are sent.
    #[schema(value_type = Option<Vec<String>>, max_items = 32)]
    pub keywords: Option<Vec<String>>,
    /// The caller's own id for the prompt (same characters as the other ids): used as the
    /// primary prompt's id, and delivered at most once within the idempotency window.
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    pub prompt_id: Option<String>,
}

/// A request that passed validation: every field present and in range. Serialises
/// canonically, which is what an idempotency key's body hash is computed from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PromptRequest {
    pub interaction_id: String,
    pub agent_id: String,
    pub content: String,
    pub priority: Priority,
    pub sentiment: f64,
    /// `None`: derive keywords from the content.
    pub keywords: Option<Vec<String>>,
    /// The caller's id for the primary prompt; `None`: one is generated.
    pub prompt_id: Option<String>,
}

/// Limits that come from configuration.
#[derive(Debug, Clone, Copy)]
pub struct ValidationLimits {
    pub max_content_chars: usize,
}

const MAX_ID_CHARS: usize = 128;
const MAX_KEYWORDS: usize = 32;
const MAX_KEYWORD_CHARS: usize = 64;

impl SimulatePromptBody {
    pub fn validate(self, limits: ValidationLimits) -> Result<PromptRequest, ApiError> {
        let interaction_id = identifier("interactionId", self.interaction_id)?;
        let agent_id = identifier("agentId", self.agent_id)?;

        let content = required("content", self.content)?;
        if content.trim().is_empty() {
            return Err(invalid("content", "content must not be empty"));
        }
        let chars = content.chars().count();
        if chars > limits.max_content_chars {
            return Err(invalid(
                "content",
                format!(
                    "content is {chars} characters; the limit is {}",
                    limits.max_content_chars
                ),
            ));
        }

        let raw_priority = required("priority", self.priority)?;
        let priority = Priority::parse(&raw_priority).ok_or_else(|| {
            invalid(
                "priority",
                format!("priority must be HIGH, MEDIUM or LOW, got {raw_priority:?}"),
            )
        })?;

        let sentiment = self
            .sentiment
            .ok_or_else(|| invalid("sentiment", "sentiment is required"))?;
        if !(-1.0..=1.0).contains(&sentiment) {
            return Err(invalid(
                "sentiment",
                format!("sentiment must be between -1 and 1, got {sentiment}"),
            ));
        }

        let keywords = self.keywords.map(check_keywords).transpose()?;
        let prompt_id = match self.prompt_id {
            Some(id) => Some(identifier("promptId", Some(id))?),
            None => None,
        };
        Ok(PromptRequest {
            interaction_id,
            agent_id,
            content,
            priority,
            sentiment,
            keywords,
            prompt_id,
        })
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidField {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn required(field: &str, value: Option<String>) -> Result<String, ApiError> {
    value.ok_or_else(|| invalid(field, format!("{field} is required")))
}

/// Ids end up in the tenant's URLs and in logs, so they are restricted to characters that
/// need no escaping anywhere.
fn identifier(field: &str, value: Option<String>) -> Result<String, ApiError> {
    let value = required(field, value)?;
    if value.is_empty() {
        return Err(invalid(field, format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_ID_CHARS {
        return Err(invalid(
            field,
            format!("{field} is longer than {MAX_ID_CHARS} characters"),
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    if !value.chars().all(allowed) {
        return Err(invalid(
            field,
            format!("{field} may contain only letters, digits and _ - . :"),
        ));
    }
    Ok(value)
}

fn check_keywords(keywords: Vec<String>) -> Result<Vec<String>, ApiError> {
    if keywords.len() > MAX_KEYWORDS {
        return Err(invalid(
            "keywords",
            format!("at most {MAX_KEYWORDS} keywords are accepted"),
        ));
    }
    if let Some(bad) = keywords
        .iter()
        .find(|k| k.trim().is_empty() || k.chars().count() > MAX_KEYWORD_CHARS)
    {
        return Err(invalid(
            "keywords",
            format!("keywords must be 1 to {MAX_KEYWORD_CHARS} characters, got {bad:?}"),
        ));
    }
    Ok(keywords)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ValidationLimits = ValidationLimits {
        max_content_chars: 20,
    };

    fn body() -> SimulatePromptBody {
        SimulatePromptBody {
            interaction_id: Some("int_1".into()),
            agent_id: Some("agt_1".into()),
            content: Some("Offer a refund".into()),
            priority: Some("HIGH".into()),
            sentiment: Some(0.2),
            keywords: None,
            prompt_id: None,
        }
    }

    fn field_of(result: Result<PromptRequest, ApiError>) -> String {
        match result {
            Err(ApiError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_complete_body() {
        let request = body().validate(LIMITS).unwrap();
        assert_eq!(request.priority, Priority::High);
        assert_eq!(request.sentiment, 0.2);
    }

    #[test]
    fn each_bad_field_is_named() {
        type Mutation = Box<dyn Fn(&mut SimulatePromptBody)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("interactionId", Box::new(|b| b.interaction_id = None)),
            (
                "interactionId",
                Box::new(|b| b.interaction_id = Some(String::new())),
            ),
            (
                "interactionId",
                Box::new(|b| b.interaction_id = Some("a/../b".into())),
            ),
            ("agentId", Box::new(|b| b.agent_id = Some("x".repeat(129)))),
            ("content", Box::new(|b| b.content = Some("   ".into()))),
            ("content", Box::new(|b| b.content = Some("x".repeat(21)))),
            ("priority", Box::new(|b| b.priority = Some("URGENT".into()))),
            ("priority", Box::new(|b| b.priority = Some("high".into()))),
            ("sentiment", Box::new(|b| b.sentiment = Some(1.5))),
            ("sentiment", Box::new(|b| b.sentiment = None)),
            (
                "keywords",
                Box::new(|b| b.keywords = Some(vec![String::new()])),
            ),
        ];
        for (field, mutate) in cases {
            let mut b = body();
            mutate(&mut b);
            assert_eq!(field_of(b.validate(LIMITS)), field);
        }
    }

    #[test]
    fn content_limit_counts_characters_not_bytes() {
        let mut b = body();
        b.content = Some("é".repeat(20));
        assert!(b.validate(LIMITS).is_ok());
    }
}
