//! A small async token bucket for per-provider rate limits: `per_second` tokens flow in,
//! at most `burst` are kept. A caller takes what it needs and, if the bucket runs short,
//! sleeps until the debt is repaid, so callers are served in arrival order and a request
//! larger than the burst (an SMS batch of 200 numbers) still goes through at the rate.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// A rate limit from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Tokens (messages) per second.
    pub per_second: f64,
    /// Tokens that may be taken at once after a quiet period.
    pub burst: u32,
}

impl RateLimit {
    /// Why this limit is unusable, if it is.
    pub fn problem(&self) -> Option<&'static str> {
        if !self.per_second.is_finite() || self.per_second <= 0.0 {
            Some("per_second must be a positive number")
        } else if self.burst == 0 {
            Some("burst must be at least 1")
        } else {
            None
        }
    }
}

/// The bucket. Time is tokio's, so tests can pause it.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// May go negative: tokens promised to callers that are still sleeping.
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket. `limit` must have passed [`RateLimit::problem`].
    pub fn new(limit: RateLimit) -> Self {
        let burst = f64::from(limit.burst.max(1));
        Self {
            per_second: limit.per_second.max(f64::MIN_POSITIVE),
            burst,
            state: Mutex::new(State {
                tokens: burst,
                updated: Instant::now(),
            }),
        }
    }

    /// How long a caller taking `tokens` now has to wait; the tokens are reserved.
    pub fn reserve(&self, tokens: u32) -> Duration {
        let now = Instant::now();
        // A poisoned lock only means another caller panicked mid-update of two numbers;
        // the numbers are still usable.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.per_second).min(self.burst);
        state.updated = now;
        state.tokens -= f64::from(tokens);
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / self.per_second)
        }
    }

    /// Takes `tokens`, sleeping as long as needed.
    pub async fn acquire(&self, tokens: u32) {
        let wait = self.reserve(tokens);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// An optional bucket: `None` is unlimited.
#[derive(Debug, Default)]
pub(crate) struct Limiter(Option<TokenBucket>);

impl Limiter {
    pub(crate) fn new(limit: Option<RateLimit>) -> Self {
        Self(limit.map(TokenBucket::new))
    }

    pub(crate) async fn acquire(&self, tokens: usize) {
        if let Some(bucket) = &self.0 {
            bucket
                .acquire(u32::try_from(tokens).unwrap_or(u32::MAX))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_is_free_then_callers_wait_for_the_rate() {
        let bucket = TokenBucket::new(RateLimit {
            per_second: 10.0,
            burst: 5,
        });
        assert_eq!(bucket.reserve(5), Duration::ZERO);
        assert_eq!(bucket.reserve(1), Duration::from_millis(100));
        assert_eq!(bucket.reserve(1), Duration::from_millis(200));
        tokio::time::advance(Duration::from_secs(10)).await;
        // Refilled to the burst, not beyond.
        assert_eq!(bucket.reserve(5), Duration::ZERO);
        assert!(bucket.reserve(1) > Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_larger_than_the_burst_waits_for_its_share() {
        let bucket = TokenBucket::new(RateLimit {
            per_second: 100.0,
            burst: 10,
        });
        assert_eq!(bucket.reserve(210), Duration::from_secs(2));
    }

    #[test]
    fn unusable_limits_are_named() {
        let bad = RateLimit {
            per_second: 0.0,
            burst: 1,
        };
        assert!(bad.problem().is_some());
        let bad = RateLimit {
            per_second: 1.0,
            burst: 0,
        };
        assert!(bad.problem().is_some());
    }
}
