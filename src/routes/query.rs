//! Query-string parsing with the service's error shape (axum's `Query` rejects with text).

use std::collections::HashMap;

use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::error::ApiError;

pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// An RFC 3339 timestamp.
    pub fn time(&self, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
        self.text(name)
            .map(|v| {
                OffsetDateTime::parse(&v, &Rfc3339).map_err(|_| ApiError::InvalidField {
                    field: name.to_owned(),
                    message: format!("{name} must be an RFC 3339 timestamp, got {v:?}"),
                })
            })
            .transpose()
    }

    /// One of `allowed`, exactly.
    pub fn choice(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.text(name) {
            Some(v) if !allowed.contains(&v.as_str()) => Err(ApiError::InvalidField {
                field: name.to_owned(),
                message: format!("{name} must be one of {}, got {v:?}", allowed.join(", ")),
            }),
            other => Ok(other),
        }
    }

    /// A whole number in `range`.
    pub fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<Option<u32>, ApiError> {
        self.text(name)
            .map(|v| match v.parse::<u32>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(ApiError::InvalidField {
                    field: name.to_owned(),
                    message: format!(
                        "{name} must be a whole number from {} to {}, got {v:?}",
                        range.start(),
                        range.end()
                    ),
                }),
            })
            .transpose()
    }
}
