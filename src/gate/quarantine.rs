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
}

/// What the rule says about a message to a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The prefix is cooling off.
    Quarantined,
    /// The prefix's last judged codes were entered below the threshold: its quarantine starts with this message.
    Enter,
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
/// quarantined. After a quarantine the prefix starts from nothing, on probation: it may receive `codes` codes,
/// and further ones wait until those are judged.
pub fn judge(history: &History, q: &Quarantine, unit: u64, now: u64) -> Verdict {
    if history.until.is_some_and(|until| until > now) {
        return Verdict::Quarantined;
    }
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
    if judged.sent >= q.codes {
        let below = judged.converted.saturating_mul(100) < q.min_conversion_percent.saturating_mul(judged.sent);
        return if below { Verdict::Enter } else { Verdict::Pass };
    }
    let pending: u64 = history.units.range(oldest.max(judged_before)..).map(|(_, t)| t.sent).sum();
    if history.since.is_some() && judged.sent + pending > q.codes {
        return Verdict::Probation;
    }
    Verdict::Pass
}

/// The quarantine a prefix enters at `now`: (until, since).
pub fn quarantine_from(q: &Quarantine, unit: u64, now: u64) -> (u64, u64) {
    let until = now + q.cooling_off.as_secs();
    (until, until / unit.max(1))
}

/// Reads a history from an item's attributes: `s<unit>` and `c<unit>` (codes sent and entered in that unit),
/// `until` and `since`. `number` reads one attribute's number.
pub fn history_of<V>(item: &HashMap<String, V>, number: impl Fn(&V) -> Option<u64>) -> History {
    let mut history = History::default();
    for (name, value) in item {
        let Some(n) = number(value) else { continue };
        match name.as_str() {
            "until" => history.until = Some(n),
            "since" => history.since = Some(n),
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
        assert_eq!(judge(&history(&[(998, 10, 1)]), &q, UNIT, NOW), Verdict::Enter, "1 of 10 is below 20 %");
        assert_eq!(judge(&history(&[(998, 10, 2)]), &q, UNIT, NOW), Verdict::Pass, "2 of 10 is not below 20 %");
        assert_eq!(judge(&history(&[(998, 9, 0)]), &q, UNIT, NOW), Verdict::Pass, "9 codes are too little history");
        assert_eq!(judge(&history(&[(997, 5, 0), (998, 5, 0)]), &q, UNIT, NOW), Verdict::Enter);
    }

    #[test]
    fn young_and_old_codes_are_not_judged() {
        let q = DEFAULT_QUARANTINE;
        // Units 999 and 1000 hold codes less than one unit old: not judged yet.
        assert_eq!(judge(&history(&[(999, 50, 0), (1000, 50, 0)]), &q, UNIT, NOW), Verdict::Pass);
        // Past the horizon: forgotten.
        assert_eq!(judge(&history(&[(1000 - HORIZON - 1, 50, 0)]), &q, UNIT, NOW), Verdict::Pass);
        assert_eq!(judge(&history(&[(1000 - HORIZON, 50, 0)]), &q, UNIT, NOW), Verdict::Enter);
    }

    #[test]
    fn the_last_n_codes_count_not_older_ones() {
        let q = DEFAULT_QUARANTINE;
        // The newest judged unit holds 10 codes, mostly entered; an older bad unit does not matter.
        assert_eq!(judge(&history(&[(990, 40, 0), (998, 10, 9)]), &q, UNIT, NOW), Verdict::Pass);
        assert_eq!(judge(&history(&[(990, 40, 40), (998, 10, 0)]), &q, UNIT, NOW), Verdict::Enter);
    }

    #[test]
    fn quarantine_then_probation() {
        let q = DEFAULT_QUARANTINE;
        let (until, since) = quarantine_from(&q, UNIT, NOW);
        assert_eq!(until, NOW + 86_400);
        let mut h = history(&[(998, 10, 0)]);
        (h.until, h.since) = (Some(until), Some(since));
        assert_eq!(judge(&h, &q, UNIT, until - 1), Verdict::Quarantined);
        // Released: the codes before the quarantine are forgotten.
        let later = until / UNIT;
        assert_eq!(judge(&h, &q, UNIT, until), Verdict::Pass);
        // On probation: ten codes not yet judged pass (this message is the tenth), the eleventh waits.
        h.units.insert(later, Tally { sent: 10, converted: 0 });
        assert_eq!(judge(&h, &q, UNIT, until), Verdict::Pass);
        h.units.insert(later, Tally { sent: 11, converted: 0 });
        assert_eq!(judge(&h, &q, UNIT, until), Verdict::Probation);
        // Once judged: entered → free; not entered → quarantined again.
        let judged_at = (later + 2) * UNIT;
        h.units.insert(later, Tally { sent: 10, converted: 8 });
        h.units.insert(later + 2, Tally { sent: 30, converted: 0 });
        assert_eq!(judge(&h, &q, UNIT, judged_at), Verdict::Pass);
        h.units.insert(later, Tally { sent: 10, converted: 1 });
        assert_eq!(judge(&h, &q, UNIT, judged_at), Verdict::Enter);
    }

    #[test]
    fn an_item_reads_as_a_history() {
        let item: HashMap<String, &str> =
            [("s998", "10"), ("c998", "3"), ("until", "5"), ("since", "7"), ("pk", "x"), ("expires_at", "9")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        let h = history_of(&item, |v| v.parse().ok());
        assert_eq!(h.units[&998], Tally { sent: 10, converted: 3 });
        assert_eq!((h.until, h.since, h.units.len()), (Some(5), Some(7), 1));
    }
}
