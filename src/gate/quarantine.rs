//! The low-conversion rule's decision, without AWS: a prefix's history (codes sent and entered, per judging
//! unit of time), its quarantine, and what that means for the next message. The DynamoDB adapter keeps the
//! history in one item per pool and prefix ([`super::dynamodb`]); the policy's settings are
//! [`super::policy::Quarantine`]. Why the rule works this way: docs/operating.md, "The low-conversion rule".

use std::collections::{BTreeMap, HashMap};

use super::policy::Quarantine;

/// Judging units of history a prefix is judged on: codes sent longer ago are forgotten.
pub const HORIZON: u64 = 24;

/// The judging unit when `SMS_QUARANTINE_UNIT_SECONDS` is unset: a code is judged once it is one to two units
/// old, so people who enter their code within the hour are counted.
pub const DEFAULT_UNIT_SECONDS: u64 = 3_600;

/// Codes sent to a prefix in one judging unit, and how many of them were entered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: u64,
    pub converted: u64,
}

/// What is known about a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Codes per judging unit, by unit number (epoch seconds / unit).
    pub units: BTreeMap<u64, Tally>,
    /// When its last quarantine ends (epoch seconds).
    pub until: Option<u64>,
    /// The first unit counted since that quarantine: what came before is forgotten.
    pub since: Option<u64>,
    /// How long that quarantine lasted (seconds).
    pub cooled: Option<u64>,
}

/// A quarantine a prefix enters: what its item keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// When it ends (epoch seconds).
    pub until: u64,
    /// The first judging unit counted after it.
    pub since: u64,
    /// How long it lasts (seconds).
    pub cooled: u64,
}

/// What the rule says about a message to a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The prefix is cooling off.
    Quarantined,
    /// The prefix's last judged codes were entered below the threshold: this quarantine starts with this message.
    Enter(Entry),
    /// The prefix is on probation and as many codes as it is judged on are not judged yet: this one waits.
    Probation,
}

impl Verdict {
    /// Whether the message is refused (enforce) or would be (monitor).
    pub fn blocks(self) -> bool {
        self != Verdict::Pass
    }
}

/// The verdict on a message to a prefix with `history` (which counts this message), at `now` (epoch seconds),
/// with judging units of `unit` seconds.
///
/// A unit's codes are judged once all of them are at least one unit old. The newest judged units are summed
/// until they hold at least `codes` codes (the "last N codes", to the unit); with fewer the prefix is never
/// quarantined. After a quarantine the prefix starts from nothing, on probation until `codes` codes are judged:
/// it is judged on as few as `probation` codes, may have that many out before they are judged (further ones
/// wait), and a probation it fails doubles the cooling-off ([`entry`]).
pub fn judge(history: &History, q: &Quarantine, unit: u64, now: u64) -> Verdict {
    if history.until.is_some_and(|until| until > now) {
        return Verdict::Quarantined;
    }
    let (judged, pending) = tallies(history, q, unit, now);
    let needed = if history.since.is_some() { q.probation } else { q.codes };
    if judged.sent >= needed {
        let below = judged.converted.saturating_mul(100) < q.min_conversion_percent.saturating_mul(judged.sent);
        return if below { Verdict::Enter(entry(history, q, unit, now, judged)) } else { Verdict::Pass };
    }
    if history.since.is_some() && judged.sent + pending > q.probation {
        return Verdict::Probation;
    }
    Verdict::Pass
}

/// The codes judged since the prefix's last quarantine (the newest units, until they hold `codes`), and the
/// codes not judged yet.
fn tallies(history: &History, q: &Quarantine, unit: u64, now: u64) -> (Tally, u64) {
    let unit = unit.max(1);
    let current = now / unit;
    let oldest = current.saturating_sub(HORIZON).max(history.since.unwrap_or(0));
    let judged_before = current.saturating_sub(1);
    let mut judged = Tally::default();
    // Right after a quarantine `since` can lie past the judged units: then none is judged (an empty range).
    for tally in history.units.range(oldest..judged_before.max(oldest)).rev().map(|(_, t)| t) {
        judged.sent += tally.sent;
        judged.converted += tally.converted;
        if judged.sent >= q.codes {
            break;
        }
    }
    let pending = history.units.range(oldest.max(judged_before)..).map(|(_, t)| t.sent).sum();
    (judged, pending)
}

/// The quarantine a prefix enters at `now`, `judged` its judged codes: the cooling-off, or twice the last one
/// (up to `max_cooling_off`) when the prefix fails its probation, so an attack that outwaits each quarantine
/// gets `probation` codes out per ever longer wait.
fn entry(history: &History, q: &Quarantine, unit: u64, now: u64, judged: Tally) -> Entry {
    let base = q.cooling_off.as_secs();
    let failed_probation = history.since.is_some() && judged.sent < q.codes;
    let cooled = match history.cooled {
        Some(last) if failed_probation => last.saturating_mul(2).min(q.max_cooling_off.as_secs()).max(base),
        _ => base,
    };
    let until = now + cooled;
    Entry { until, since: until / unit.max(1), cooled }
}

/// Reads a history from an item's attributes: `s<unit>` and `c<unit>` (codes sent and entered in that unit),
/// `until`, `since` and `cooled`. `number` reads one attribute's number.
pub fn history_of<V>(item: &HashMap<String, V>, number: impl Fn(&V) -> Option<u64>) -> History {
    let mut history = History::default();
    for (name, value) in item {
        let Some(n) = number(value) else { continue };
        match name.as_str() {
            "until" => history.until = Some(n),
            "since" => history.since = Some(n),
            "cooled" => history.cooled = Some(n),
            _ => {
                let (kind, unit) = name.split_at(1.min(name.len()));
                let Ok(unit) = unit.parse::<u64>() else { continue };
                let tally = history.units.entry(unit).or_default();
                match kind {
                    "s" => tally.sent = n,
                    "c" => tally.converted = n,
                    _ => {}
                }
            }
        }
    }
    history
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::policy::DEFAULT_QUARANTINE;

    const UNIT: u64 = 3_600;
    /// An instant some way into unit 1000.
    const NOW: u64 = 1_000 * UNIT + 100;

    /// Whether the verdict starts a quarantine.
    fn enters(v: Verdict) -> bool {
        matches!(v, Verdict::Enter(_))
    }

    fn history(units: &[(u64, u64, u64)]) -> History {
        History {
            units: units
                .iter()
                .map(|(u, sent, converted)| (*u, Tally { sent: *sent, converted: *converted }))
                .collect(),
            ..History::default()
        }
    }

    #[test]
    fn the_boundary_is_n_codes_and_the_threshold() {
        let q = DEFAULT_QUARANTINE; // 10 codes, 20 %
        assert!(enters(judge(&history(&[(998, 10, 1)]), &q, UNIT, NOW)), "1 of 10 is below 20 %");
        assert_eq!(judge(&history(&[(998, 10, 2)]), &q, UNIT, NOW), Verdict::Pass, "2 of 10 is not below 20 %");
        assert_eq!(judge(&history(&[(998, 9, 0)]), &q, UNIT, NOW), Verdict::Pass, "9 codes are too little history");
        assert!(enters(judge(&history(&[(997, 5, 0), (998, 5, 0)]), &q, UNIT, NOW)));
    }

    #[test]
    fn young_and_old_codes_are_not_judged() {
        let q = DEFAULT_QUARANTINE;
        // Units 999 and 1000 hold codes less than one unit old: not judged yet.
        assert_eq!(judge(&history(&[(999, 50, 0), (1000, 50, 0)]), &q, UNIT, NOW), Verdict::Pass);
        // Past the horizon: forgotten.
        assert_eq!(judge(&history(&[(1000 - HORIZON - 1, 50, 0)]), &q, UNIT, NOW), Verdict::Pass);
        assert!(enters(judge(&history(&[(1000 - HORIZON, 50, 0)]), &q, UNIT, NOW)));
    }

    #[test]
    fn the_last_n_codes_count_not_older_ones() {
        let q = DEFAULT_QUARANTINE;
        // The newest judged unit holds 10 codes, mostly entered; an older bad unit does not matter.
        assert_eq!(judge(&history(&[(990, 40, 0), (998, 10, 9)]), &q, UNIT, NOW), Verdict::Pass);
        assert!(enters(judge(&history(&[(990, 40, 40), (998, 10, 0)]), &q, UNIT, NOW)));
    }

    /// The quarantine the default settings start on `h` at `now`.
    fn entered(h: &History, now: u64) -> Entry {
        match judge(h, &DEFAULT_QUARANTINE, UNIT, now) {
            Verdict::Enter(e) => e,
            other => panic!("expected a quarantine to start, got {other:?}"),
        }
    }

    #[test]
    fn quarantine_then_probation() {
        let q = DEFAULT_QUARANTINE; // probation of 3 codes
        let mut h = history(&[(998, 10, 0)]);
        let e = entered(&h, NOW);
        assert_eq!((e.until, e.cooled), (NOW + 86_400, 86_400));
        (h.until, h.since, h.cooled) = (Some(e.until), Some(e.since), Some(e.cooled));
        assert_eq!(judge(&h, &q, UNIT, e.until - 1), Verdict::Quarantined);
        // Released: the codes before the quarantine are forgotten.
        let later = e.until / UNIT;
        assert_eq!(judge(&h, &q, UNIT, e.until), Verdict::Pass);
        // On probation: three codes not yet judged pass (this message is the third), the fourth waits.
        h.units.insert(later, Tally { sent: 3, converted: 0 });
        assert_eq!(judge(&h, &q, UNIT, e.until), Verdict::Pass);
        h.units.insert(later, Tally { sent: 4, converted: 0 });
        assert_eq!(judge(&h, &q, UNIT, e.until), Verdict::Probation);
        // Once judged, on those three: one entered (33 %) → free; none entered → quarantined again.
        let judged_at = (later + 2) * UNIT;
        h.units.insert(later, Tally { sent: 3, converted: 1 });
        h.units.insert(later + 2, Tally { sent: 30, converted: 0 });
        assert_eq!(judge(&h, &q, UNIT, judged_at), Verdict::Pass);
        h.units.insert(later, Tally { sent: 3, converted: 0 });
        assert!(enters(judge(&h, &q, UNIT, judged_at)));
        // Two judged codes are too few even on probation: the third's pending one passes, a fourth waits.
        h.units.insert(later, Tally { sent: 2, converted: 0 });
        h.units.insert(later + 2, Tally { sent: 1, converted: 0 });
        assert_eq!(judge(&h, &q, UNIT, judged_at), Verdict::Pass);
        h.units.insert(later + 2, Tally { sent: 2, converted: 0 });
        assert_eq!(judge(&h, &q, UNIT, judged_at), Verdict::Probation);
    }

    #[test]
    fn each_failed_probation_doubles_the_cooling_off_up_to_the_most() {
        let day = 86_400;
        let failed = |cooled: u64| {
            let h = History { since: Some(990), cooled: Some(cooled), ..history(&[(995, 3, 0)]) };
            entered(&h, NOW).cooled
        };
        assert_eq!(failed(day), 2 * day);
        assert_eq!(failed(2 * day), 4 * day);
        assert_eq!(failed(4 * day), 7 * day, "the most is max_cooling_off");
        assert_eq!(failed(7 * day), 7 * day);
        let e = entered(&History { since: Some(990), cooled: Some(day), ..history(&[(995, 3, 0)]) }, NOW);
        assert_eq!((e.until, e.since), (NOW + 2 * day, (NOW + 2 * day) / UNIT));
        // A prefix past its probation (N codes judged since) that fails again starts over from the cooling-off.
        let past = History { since: Some(990), cooled: Some(4 * day), ..history(&[(995, 10, 1)]) };
        assert_eq!(entered(&past, NOW).cooled, day);
        // Never quarantined before (or written before `cooled` was kept): the cooling-off.
        assert_eq!(entered(&history(&[(995, 10, 0)]), NOW).cooled, day);
        assert_eq!(entered(&History { since: Some(990), ..history(&[(995, 3, 0)]) }, NOW).cooled, day);
    }

    #[test]
    fn the_boundaries_follow_the_settings() {
        let q = Quarantine { codes: 20, min_conversion_percent: 35, probation: 5, ..DEFAULT_QUARANTINE };
        assert!(enters(judge(&history(&[(998, 20, 6)]), &q, UNIT, NOW)), "6 of 20 is below 35 %");
        assert_eq!(judge(&history(&[(998, 20, 7)]), &q, UNIT, NOW), Verdict::Pass, "7 of 20 is 35 %");
        assert_eq!(judge(&history(&[(998, 19, 0)]), &q, UNIT, NOW), Verdict::Pass, "19 codes are too few");
        let released = History { since: Some(999), ..history(&[(999, 5, 0)]) };
        assert_eq!(judge(&released, &q, UNIT, NOW), Verdict::Pass, "the fifth probation code");
        let released = History { since: Some(999), ..history(&[(999, 6, 0)]) };
        assert_eq!(judge(&released, &q, UNIT, NOW), Verdict::Probation, "the sixth waits");
    }

    #[test]
    fn an_item_reads_as_a_history() {
        let item: HashMap<String, &str> = [
            ("s998", "10"),
            ("c998", "3"),
            ("until", "5"),
            ("since", "7"),
            ("cooled", "8"),
            ("pk", "x"),
            ("expires_at", "9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let h = history_of(&item, |v| v.parse().ok());
        assert_eq!(h.units[&998], Tally { sent: 10, converted: 3 });
        assert_eq!((h.until, h.since, h.cooled, h.units.len()), (Some(5), Some(7), Some(8), 1));
    }
}
