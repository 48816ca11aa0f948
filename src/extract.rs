//! `AppJson`: like `axum::Json`, but every rejection is an [`ApiError`], so malformed bodies
//! get the service's error shape and name the offending field.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, StatusCode},
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(usize::MAX, |l| l.0);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedJson("the body could not be read".into())
            }
        })?;
        parse(&bytes).map(AppJson)
    }
}

/// A path parameter; a malformed one (not UTF-8) gets the service's 400, not axum's text.
pub struct PathParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParam(value))
            .map_err(|_| ApiError::InvalidField {
                field: "promptId".into(),
                message: "the prompt id in the path is not valid".into(),
            })
    }
}

/// The configured body limit, made visible to the extractor so its 413 can say the number.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn is_json(req: &Request) -> bool {
    let Some(content_type) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(content_type) = content_type.to_str() else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.as_bytes();
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case(b"json")
            || subtype.len() >= 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// Deserialises a body; a failure names the path of the failing field, so "sentiment:
/// invalid type..." rather than an error about the whole body.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs on every field, so only a body that fails is parsed again
    // to say where.
    serde_json::from_slice(bytes).or_else(|_| parse_for_error(bytes))
}

fn parse_for_error<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = strip_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => ApiError::InvalidField {
                message: format!("{path}: {message}"),
                field: path,
            },
            _ => ApiError::MalformedJson(message),
        }
    })?;
    de.end()
        .map_err(|_| ApiError::MalformedJson("trailing characters after the JSON value".into()))?;
    Ok(value)
}

/// serde_json appends " at line L column C"; keep the message and drop the position for
/// data errors where the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        sentiment: Option<f64>,
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = parse::<Body>(br#"{"sentiment": "sad"}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
        assert!(err.to_string().contains("sentiment: invalid type"), "{err}");
    }

    #[test]
    fn json_media_types_are_recognised_in_any_case() {
        let with = |content_type: &str| {
            Request::builder()
                .header(header::CONTENT_TYPE, content_type)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        for accepted in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " application/problem+JSON ",
        ] {
            assert!(is_json(&with(accepted)), "{accepted}");
        }
        for refused in [
            "text/json",
            "application/jsonp",
            "application",
            "multipart/x+json",
        ] {
            assert!(!is_json(&with(refused)), "{refused}");
        }
        assert!(!is_json(&Request::new(axum::body::Body::empty())));
    }

    #[test]
    fn a_valid_body_parses_whole() {
        let body = parse::<Body>(br#"{"sentiment": -0.5}"#).unwrap();
        assert_eq!(body.sentiment, Some(-0.5));
    }

    #[test]
    fn syntax_errors_and_trailing_garbage_are_malformed() {
        assert!(parse::<Body>(b"{").is_err());
        assert!(parse::<Body>(br#"{"sentiment": 1} x"#).is_err());
        assert!(parse::<Body>(b"").is_err());
    }
}
