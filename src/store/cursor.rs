//! Keyset pagination cursors.

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use super::rows::{from_micros, micros};

/// Where a page of records ended: the last record's `(received_at, prompt_id)`.
///
/// Pages continue strictly after this key, so records inserted meanwhile never shift or repeat
/// the ones still to come. The encoded form is opaque to callers (hex, so it is URL-safe
/// without escaping); only [`Cursor::decode`] should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    received_at_micros: i64,
    prompt_id: String,
}

/// Bumped if the encoding ever changes, so old cursors are refused rather than misread.
const VERSION: &str = "1";

impl Cursor {
    /// The position just past the record received at `received_at` with `prompt_id`.
    pub fn new(received_at: OffsetDateTime, prompt_id: &str) -> Self {
        Self {
            received_at_micros: micros(received_at),
            prompt_id: prompt_id.to_owned(),
        }
    }

    /// The opaque, URL-safe form handed to callers.
    pub fn encode(&self) -> String {
        hex::encode(format!(
            "{VERSION}:{}:{}",
            self.received_at_micros, self.prompt_id
        ))
    }

    /// Reads [`Cursor::encode`]'s output; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Cursor> {
        let bytes = hex::decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let rest = text.strip_prefix(VERSION)?.strip_prefix(':')?;
        let (micros, prompt_id) = rest.split_once(':')?;
        let received_at_micros: i64 = micros.parse().ok()?;
        // Reject instants the time crate cannot represent, so later conversions cannot fail.
        from_micros(received_at_micros).ok()?;
        Some(Cursor {
            received_at_micros,
            prompt_id: prompt_id.to_owned(),
        })
    }

    /// The last record's `received_at`, in microseconds since the epoch.
    pub(super) fn received_at_micros(&self) -> i64 {
        self.received_at_micros
    }

    /// The last record's `received_at`.
    pub(super) fn received_at(&self) -> OffsetDateTime {
        // `decode` and `new` only build cursors whose instant converts.
        from_micros(self.received_at_micros).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The last record's `prompt_id`.
    pub(super) fn prompt_id(&self) -> &str {
        &self.prompt_id
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let cursor = Cursor::new(at, "prompt_int:1_ABC");
        let encoded = cursor.encode();
        assert!(encoded.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(Cursor::decode(&encoded), Some(cursor));
        for bad in ["", "zz", &hex::encode("2:1:x"), &hex::encode("1:abc:x")] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
