//! Retrying transient failures inside the invocation: exponential backoff with equal jitter, never past the
//! Lambda deadline. What is still failing when time runs out is returned, so Lambda's own retry takes over.
//!
//! Time is tokio's clock ([`tokio::time::Instant`]): the monotonic clock in the function, and a clock the
//! tests pause and advance, so every bound here is checked exactly.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::DEFAULT_BUDGET;

/// Time kept back before the deadline to log the outcome and answer the Runtime API.
pub const RESERVE: Duration = Duration::from_millis(500);
/// The longest one attempt may take (SDK attempts are bounded the same way in [`crate::aws::aws_config`]).
pub const ATTEMPT_CAP: Duration = Duration::from_secs(3);
/// No attempt starts with less time than this left: it could not finish.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(200);
const BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// At most this many attempts per call, however much time is left.
pub const MAX_ATTEMPTS: u32 = 6;
/// Lambda's longest timeout: a deadline further ahead is not a real one.
pub const MAX_LAMBDA_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The budget of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// From the Runtime API's deadline (wall clock). A deadline already passed, or further ahead than Lambda's
    /// 15-minute maximum, is not a real one (`cargo lambda watch` sends the time left where Lambda sends a
    /// date, which reads as a deadline in 1970): [`DEFAULT_BUDGET`] applies then, as when none is known.
    pub fn from_system_time(deadline: SystemTime) -> Self {
        let left = deadline.duration_since(SystemTime::now()).ok();
        let budget = plausible(left).unwrap_or_else(|| {
            tracing::debug!(left_ms = ?left.map(|l| l.as_millis()), "no plausible Lambda deadline; using the local budget");
            DEFAULT_BUDGET
        });
        Deadline::after(budget)
    }

    /// `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    /// Time left for work, the reserve already taken off.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now()).saturating_sub(RESERVE)
    }

    /// The deadline on the wall clock, for records that other invocations read (the ledger's lease).
    pub fn wall_clock(&self) -> SystemTime {
        SystemTime::now() + self.0.saturating_duration_since(Instant::now())
    }
}

/// The time left before a Lambda deadline, if it can be one: in the future and at most [`MAX_LAMBDA_TIMEOUT`]
/// away.
fn plausible(left: Option<Duration>) -> Option<Duration> {
    left.filter(|l| !l.is_zero() && *l <= MAX_LAMBDA_TIMEOUT)
}

/// The delay before attempt `n + 1` (n ≥ 1): half of `min(cap, base · 2ⁿ)`, plus a uniformly random part up
/// to the other half ("equal jitter"). The fixed half bounds it from below: a retry never follows at once
/// (full jitter can draw a delay near zero and hit a throttled service again straight away), and each delay is
/// at least the one before while the ceiling doubles. The random half still spreads out callers that failed together.
pub fn backoff(n: u32) -> Duration {
    let half = BASE.saturating_mul(1u32 << n.min(16)).min(BACKOFF_CAP) / 2;
    // Whole milliseconds: tokio's timer rounds a sleep up to the next one.
    let half_ms = half.as_millis() as u64;
    Duration::from_millis(half_ms + fastrand::u64(0..=half_ms))
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
    use std::sync::Mutex;

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

    /// What one run did: its result, and when each attempt started (on the test's paused clock).
    struct Run {
        result: Result<u32, E>,
        starts: Vec<Instant>,
        ended: Instant,
    }

    /// Runs `with_retries` over `script` (its last entry repeats), each attempt taking `takes`.
    async fn run_slow(deadline: Deadline, takes: Duration, script: &[Result<u32, E>]) -> Run {
        let starts = Mutex::new(Vec::new());
        let result = with_retries(
            "test",
            deadline,
            || {
                let n = {
                    let mut starts = starts.lock().unwrap();
                    starts.push(Instant::now());
                    starts.len() - 1
                };
                let r = match script.get(n).unwrap_or(script.last().unwrap()) {
                    Ok(v) => Ok(*v),
                    Err(E::Transient) => Err(E::Transient),
                    Err(E::Permanent) => Err(E::Permanent),
                    Err(E::Timeout) => Err(E::Timeout),
                };
                async move {
                    tokio::time::sleep(takes).await;
                    r
                }
            },
            |e| matches!(e, E::Transient | E::Timeout),
            || E::Timeout,
        )
        .await;
        Run { result, starts: starts.into_inner().unwrap(), ended: Instant::now() }
    }

    async fn run(deadline: Deadline, script: &[Result<u32, E>]) -> (Result<u32, E>, u32) {
        let r = run_slow(deadline, Duration::ZERO, script).await;
        (r.result, r.starts.len() as u32)
    }

    /// The bounds of [`backoff`]`(n)`: the fixed half and the whole ceiling.
    fn backoff_bounds(n: u32) -> (Duration, Duration) {
        let ceiling = (BASE * 2u32.pow(n.min(16))).min(BACKOFF_CAP);
        (ceiling / 2, ceiling)
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
        let takes = Duration::from_millis(300);
        let unbound = run_slow(Deadline::after(Duration::from_secs(600)), takes, &[Err(E::Transient)]).await;
        assert_eq!(unbound.starts.len() as u32, MAX_ATTEMPTS);
        // Many draws of the jitter, each reproducible.
        for seed in 0..200 {
            fastrand::seed(seed);
            let deadline = Deadline::after(Duration::from_secs(2));
            let last_start = deadline.0 - RESERVE - MIN_ATTEMPT;
            let bound = run_slow(deadline, takes, &[Err(E::Transient)]).await;
            // The last attempt either failed or was cut off at the deadline.
            assert!(matches!(bound.result, Err(E::Transient | E::Timeout)), "seed {seed}");
            assert!((2..MAX_ATTEMPTS as usize).contains(&bound.starts.len()), "seed {seed}: {}", bound.starts.len());
            assert!(bound.starts.iter().all(|s| *s <= last_start), "seed {seed}: an attempt started too late");
            assert!(bound.ended <= deadline.0 - RESERVE, "seed {seed}: returned inside the reserve");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_needs_min_attempt_left_to_start() {
        let (r, calls) = run(Deadline::after(RESERVE + MIN_ATTEMPT), &[Ok(1)]).await;
        assert_eq!((r, calls), (Ok(1), 1), "exactly MIN_ATTEMPT left: the attempt runs");
        let (r, calls) = run(Deadline::after(RESERVE + MIN_ATTEMPT - Duration::from_millis(1)), &[Ok(1)]).await;
        assert_eq!((r, calls), (Err(E::Timeout), 0), "less: it is not started");
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_needs_its_wait_and_min_attempt_left() {
        fastrand::seed(7);
        let wait = backoff(1);
        for (budget, expected) in
            [(RESERVE + wait + MIN_ATTEMPT, 2), (RESERVE + wait + MIN_ATTEMPT - Duration::from_millis(1), 1)]
        {
            fastrand::seed(7);
            let (r, calls) = run(Deadline::after(budget), &[Err(E::Transient), Ok(2)]).await;
            assert_eq!(calls, expected, "budget {budget:?}");
            assert_eq!(r, if expected == 2 { Ok(2) } else { Err(E::Transient) });
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_is_cut_off_at_the_deadline() {
        let deadline = Deadline::after(Duration::from_secs(2));
        let started = Instant::now();
        let run = run_slow(deadline, Duration::from_secs(60), &[Ok(1)]).await;
        assert_eq!((run.result, run.starts.len()), (Err(E::Timeout), 1));
        assert_eq!(run.ended - started, Duration::from_secs(2) - RESERVE);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_attempts_are_cut_off_at_the_cap_and_backoff_grows() {
        fastrand::seed(3);
        let run = run_slow(Deadline::after(Duration::from_secs(600)), Duration::from_secs(60), &[Ok(1)]).await;
        assert_eq!((run.result, run.starts.len() as u32), (Err(E::Timeout), MAX_ATTEMPTS));
        let waits: Vec<Duration> = run.starts.windows(2).map(|w| w[1] - w[0] - ATTEMPT_CAP).collect();
        for (n, wait) in (1..).zip(&waits) {
            let (low, high) = backoff_bounds(n);
            assert!(low <= *wait && *wait <= high, "wait {n}: {wait:?} not in {low:?}..={high:?}");
        }
        assert!(waits.windows(2).all(|w| w[0] < w[1]), "backoff grows: {waits:?}");
        assert_eq!(run.ended - run.starts[MAX_ATTEMPTS as usize - 1], ATTEMPT_CAP);
    }

    #[test]
    fn backoff_keeps_half_its_ceiling_and_grows_until_the_cap() {
        for _ in 0..1000 {
            for n in 1..20 {
                let (low, high) = backoff_bounds(n);
                let b = backoff(n);
                assert!(low <= b && b <= high, "backoff({n}) = {b:?} not in {low:?}..={high:?}");
                if high * 2 <= BACKOFF_CAP {
                    assert!(backoff(n + 1) >= b, "backoff({}) < backoff({n})", n + 1);
                }
            }
        }
        assert_eq!(backoff_bounds(1), (BASE, BASE * 2));
        assert_eq!(backoff_bounds(30), (BACKOFF_CAP / 2, BACKOFF_CAP));
    }

    #[test]
    fn only_a_plausible_lambda_deadline_is_used() {
        let ms = Duration::from_millis;
        assert_eq!(plausible(Some(ms(1))), Some(ms(1)));
        assert_eq!(plausible(Some(MAX_LAMBDA_TIMEOUT)), Some(MAX_LAMBDA_TIMEOUT));
        assert_eq!(plausible(Some(MAX_LAMBDA_TIMEOUT + ms(1))), None, "further than Lambda allows");
        assert_eq!(plausible(Some(Duration::ZERO)), None, "already here");
        assert_eq!(plausible(None), None, "already passed");
    }

    #[tokio::test(start_paused = true)]
    async fn an_implausible_deadline_gives_the_local_budget() {
        let now = SystemTime::now();
        let epoch = SystemTime::UNIX_EPOCH;
        // `cargo lambda watch` sends the time left (30 s) where Lambda sends a date: a deadline in 1970.
        for deadline in [epoch + Duration::from_secs(30), now - Duration::from_secs(1), now + Duration::from_secs(901)]
        {
            assert_eq!(Deadline::from_system_time(deadline).remaining(), DEFAULT_BUDGET - RESERVE, "{deadline:?}");
        }
        let real = Deadline::from_system_time(now + Duration::from_secs(300)).remaining();
        let expected = Duration::from_secs(300) - RESERVE;
        assert!(real <= expected && real > expected - Duration::from_secs(1), "{real:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_wall_clock_deadline_is_the_deadline() {
        let deadline = Deadline::after(Duration::from_secs(42));
        let left = deadline.wall_clock().duration_since(SystemTime::now()).unwrap();
        assert!(left <= Duration::from_secs(42) && left > Duration::from_secs(41), "{left:?}");
    }
}
