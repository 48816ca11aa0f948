//! Waiting between attempts: exponential backoff with jitter, and the tenant's `Retry-After`.

use std::time::{Duration, SystemTime};

/// Exponential backoff: `base`, `2·base`, `4·base`, ... up to `max`, each jittered by ±20% so
/// replicas that failed together do not retry together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry number `retry` (1 = the first retry). `jitter` is a uniform
    /// sample in `0.0..1.0`, passed in so the arithmetic is testable.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let nominal = self.base.saturating_mul(1 << exponent).min(self.max);
        nominal.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
    }

    pub fn delay_random(&self, retry: u32) -> Duration {
        self.delay(retry, rand::random())
    }
}

/// Parses `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3). `None` for a
/// value that is neither, so the caller falls back to its own backoff. A date in the past
/// means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long values saturate; the caller clamps anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Caps a tenant-requested wait and adds up to 10% so a crowd of waiters does not return in
/// the same instant; never shortens what the tenant asked for below the cap.
pub fn clamp_retry_after(requested: Duration, max: Duration, jitter: f64) -> Duration {
    let capped = requested.min(max);
    capped + capped.mul_f64(0.1 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_millis(1_000),
    };

    #[test]
    fn backoff_doubles_from_base_and_caps() {
        assert_eq!(BACKOFF.delay(1, 0.5), Duration::from_millis(100));
        assert_eq!(BACKOFF.delay(2, 0.5), Duration::from_millis(200));
        assert_eq!(BACKOFF.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(BACKOFF.delay(5, 0.5), Duration::from_millis(1_000));
        assert_eq!(BACKOFF.delay(u32::MAX, 0.5), Duration::from_millis(1_000));
    }

    #[test]
    fn backoff_jitter_stays_within_twenty_percent() {
        assert_eq!(BACKOFF.delay(1, 0.0), Duration::from_millis(80));
        assert_eq!(BACKOFF.delay(1, 1.0), Duration::from_millis(120));
    }

    #[test]
    fn retry_after_in_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a past date means retry now"
        );
    }

    #[test]
    fn garbage_retry_after_is_none() {
        let now = SystemTime::now();
        for value in ["", "soon", "-5", "1.5", "Wed, 99 Foo 2015"] {
            assert_eq!(parse_retry_after(value, now), None, "{value}");
        }
    }

    #[test]
    fn retry_after_is_capped_and_only_lengthened_by_jitter() {
        let max = Duration::from_secs(30);
        assert_eq!(
            clamp_retry_after(Duration::from_secs(2), max, 0.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            clamp_retry_after(Duration::from_secs(2), max, 1.0),
            Duration::from_millis(2_200)
        );
        assert_eq!(clamp_retry_after(Duration::from_secs(600), max, 0.0), max);
    }
}
