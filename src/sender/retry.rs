//! Retrying transient failures inside the invocation: exponential backoff with full jitter, never past the
//! Lambda deadline. What is still failing when time runs out is returned, so Lambda's own retry takes over.

use std::future::Future;
use std::time::{Duration, Instant};

/// Time kept back before the deadline to log the outcome and answer the Runtime API.
pub const RESERVE: Duration = Duration::from_millis(500);
/// The longest one attempt may take (SDK attempts are bounded the same way in [`crate::app::aws_config`]).
pub const ATTEMPT_CAP: Duration = Duration::from_secs(3);
/// No attempt starts with less time than this left: it could not finish.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(200);
const BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// At most this many attempts per call, however much time is left.
pub const MAX_ATTEMPTS: u32 = 6;

/// The budget of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// From the Runtime API's deadline (wall clock).
    pub fn from_system_time(deadline: std::time::SystemTime) -> Self {
        let left = deadline.duration_since(std::time::SystemTime::now()).unwrap_or_default();
        Deadline(Instant::now() + left)
    }

    pub fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    /// Time left for work, the reserve already taken off.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now()).saturating_sub(RESERVE)
    }
}

/// The delay before attempt `n + 1` (n ≥ 1): uniformly random up to `min(cap, base · 2ⁿ)` ("full jitter").
pub fn backoff(n: u32) -> Duration {
    let ceiling = BASE.saturating_mul(1u32 << n.min(16)).min(BACKOFF_CAP);
    ceiling.mul_f64(fastrand::f64())
}

/// Runs `op` until it succeeds, fails permanently, or the deadline (or [`MAX_ATTEMPTS`]) leaves no room for
/// another attempt. Each attempt is cut off at [`ATTEMPT_CAP`] or the time left, whichever is sooner, and a
/// cut-off attempt counts as the transient error `on_timeout()`.
pub async fn with_retries<T, E, F, Fut>(
    what: &'static str,
    deadline: Deadline,
    mut op: F,
    is_transient: impl Fn(&E) -> bool,
    on_timeout: impl Fn() -> E,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut attempt = 1;
    loop {
        let budget = deadline.remaining().min(ATTEMPT_CAP);
        let result = if budget < MIN_ATTEMPT {
            Err(on_timeout())
        } else {
            tokio::time::timeout(budget, op()).await.unwrap_or_else(|_| Err(on_timeout()))
        };
        let err = match result {
            Err(e) if is_transient(&e) => e,
            done => return done,
        };
        let wait = backoff(attempt);
        if attempt >= MAX_ATTEMPTS || deadline.remaining() < wait + MIN_ATTEMPT {
            return Err(err);
        }
        tracing::warn!(call = what, attempt, reason = %err, wait_ms = wait.as_millis() as u64, "transient failure, retrying");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, PartialEq)]
    enum E {
        Transient,
        Permanent,
        Timeout,
    }
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    async fn run(deadline: Deadline, script: &[Result<u32, E>]) -> (Result<u32, E>, u32) {
        let calls = AtomicU32::new(0);
        let result = with_retries(
            "test",
            deadline,
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
                let r = match script.get(n).unwrap_or(script.last().unwrap()) {
                    Ok(v) => Ok(*v),
                    Err(E::Transient) => Err(E::Transient),
                    Err(E::Permanent) => Err(E::Permanent),
                    Err(E::Timeout) => Err(E::Timeout),
                };
                async move { r }
            },
            |e| matches!(e, E::Transient | E::Timeout),
            || E::Timeout,
        )
        .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_success() {
        let (r, calls) =
            run(Deadline::after(Duration::from_secs(10)), &[Err(E::Transient), Err(E::Transient), Ok(7)]).await;
        assert_eq!((r, calls), (Ok(7), 3));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let (r, calls) = run(Deadline::after(Duration::from_secs(10)), &[Err(E::Permanent), Ok(1)]).await;
        assert_eq!((r, calls), (Err(E::Permanent), 1));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_capped() {
        let (r, calls) = run(Deadline::after(Duration::from_secs(600)), &[Err(E::Transient)]).await;
        assert_eq!((r, calls), (Err(E::Transient), MAX_ATTEMPTS));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_retries_before_it_passes() {
        let deadline = Deadline::after(Duration::from_millis(900));
        let (r, calls) = run(deadline, &[Err(E::Transient)]).await;
        assert_eq!(r, Err(E::Transient));
        assert!((1..MAX_ATTEMPTS).contains(&calls), "{calls}");
        assert!(Instant::now() <= deadline.0 - RESERVE + MIN_ATTEMPT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_is_cut_off_at_the_deadline() {
        let deadline = Deadline::after(Duration::from_secs(2));
        let started = Instant::now();
        let r: Result<(), E> = with_retries(
            "slow",
            deadline,
            || async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            },
            |_| true,
            || E::Timeout,
        )
        .await;
        assert_eq!(r, Err(E::Timeout));
        assert!(started.elapsed() <= Duration::from_secs(2) - RESERVE + Duration::from_millis(1));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for n in 1..20 {
            let b = backoff(n);
            assert!(b <= BACKOFF_CAP && b <= BASE * 2u32.pow(n.min(16)));
        }
    }
}
