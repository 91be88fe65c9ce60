//! The failure policy's arithmetic: exponential backoff with jitter, and an async retry loop
//! for in-process retries. Both take time from tokio, so tests run them on paused time.

use std::time::Duration;

use crate::config::RetryConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub factor: f64,
    pub max_retries: u32,
    pub max_delay: Duration,
    /// Fraction of the delay added or removed at random (0.25: +-25%).
    pub jitter: f64,
    pub max_crashes: u32,
}

impl RetryPolicy {
    pub fn from_config(c: &RetryConfig) -> Self {
        Self {
            base: Duration::from_secs_f64(c.base_secs),
            factor: c.factor,
            max_retries: c.max_retries,
            max_delay: Duration::from_secs_f64(c.max_delay_secs),
            jitter: c.jitter,
            max_crashes: c.max_crashes,
        }
    }

    /// The delay before retry number `retry` (1 = first retry) without jitter:
    /// `base * factor^(retry-1)`, capped at `max_delay`.
    pub fn nominal(&self, retry: u32) -> Duration {
        let exp = self.factor.powi(retry.saturating_sub(1).min(64) as i32);
        let secs = (self.base.as_secs_f64() * exp).min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The delay before retry `retry` with jitter: `sample` in [-1, 1] scales the +-jitter
    /// band. The cap holds after jitter too.
    pub fn delay_with(&self, retry: u32, sample: f64) -> Duration {
        let n = self.nominal(retry).as_secs_f64();
        let secs = n * (1.0 + self.jitter * sample.clamp(-1.0, 1.0));
        Duration::from_secs_f64(secs.clamp(0.0, self.max_delay.as_secs_f64()))
    }

    /// The delay before retry `retry`, jittered at random.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, rand::random::<f64>() * 2.0 - 1.0)
    }

    /// Whether a job that already used `retries` retries may have another.
    pub fn may_retry(&self, retries: u32) -> bool {
        retries < self.max_retries
    }
}

/// Run `op` until it succeeds, fails with an error `retryable` refuses, or has used the
/// policy's retries; waits `policy.delay(n)` on tokio's clock between attempts.
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut retry = 0u32;
    loop {
        match op(retry).await {
            Err(e) if retryable(&e) && policy.may_retry(retry) => {
                retry += 1;
                tokio::time::sleep(policy.delay(retry)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy::from_config(&RetryConfig::default())
    }

    #[test]
    fn defaults_double_from_a_minute_and_cap_at_ten() {
        let p = policy();
        assert_eq!(p.nominal(1), Duration::from_secs(60));
        assert_eq!(p.nominal(2), Duration::from_secs(120));
        assert_eq!(p.nominal(3), Duration::from_secs(240));
        assert_eq!(p.nominal(4), Duration::from_secs(480));
        assert_eq!(p.nominal(5), Duration::from_secs(600));
        assert_eq!(p.nominal(40), Duration::from_secs(600));
        assert_eq!(p.max_retries, 3);
    }

    #[test]
    fn jitter_stays_within_a_quarter_and_under_the_cap() {
        let p = policy();
        assert_eq!(p.delay_with(1, -1.0), Duration::from_secs(45));
        assert_eq!(p.delay_with(1, 1.0), Duration::from_secs(75));
        assert_eq!(p.delay_with(5, 1.0), Duration::from_secs(600));
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..2000 {
            let d = p.delay(2).as_secs_f64();
            assert!((90.0..=150.0).contains(&d), "{d}");
            seen_low |= d < 110.0;
            seen_high |= d > 130.0;
        }
        assert!(seen_low && seen_high, "jitter spreads both ways");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_the_backoff_on_tokio_time() {
        let p = policy();
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let r: Result<(), &str> = with_retries(
            &p,
            |_| true,
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err("store unreachable") }
            },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "one attempt and three retries"
        );
        let waited = start.elapsed().as_secs_f64();
        // 60 + 120 + 240 = 420 s nominal, each +-25%.
        assert!((315.0..=525.0).contains(&waited), "waited {waited}s");
    }

    #[tokio::test(start_paused = true)]
    async fn success_after_two_failures_stops_retrying() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..policy()
        };
        let start = tokio::time::Instant::now();
        let r = with_retries(
            &p,
            |_: &&str| true,
            |n| async move {
                if n < 2 {
                    Err("timeout")
                } else {
                    Ok(n)
                }
            },
        )
        .await;
        assert_eq!(r, Ok(2));
        assert_eq!(start.elapsed(), Duration::from_secs(180));
    }

    #[tokio::test(start_paused = true)]
    async fn errors_that_are_not_retryable_return_at_once() {
        let p = policy();
        let start = tokio::time::Instant::now();
        let r: Result<(), &str> =
            with_retries(&p, |e| *e != "bad input", |_| async { Err("bad input") }).await;
        assert_eq!(r, Err("bad input"));
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
