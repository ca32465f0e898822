//! When a credential is due: its deadline from its period, the start of
//! its warning window, and when the schedule rotates it, spread per
//! credential. Pure; the view and the reactor compute the same plan from
//! the same events.
//!
//! Every deadline has a *generation*: the stream sequence of the event
//! that set it (credentials stored, rotated, or a policy). The schedule puts
//! in one work item per crossing of a generation (due soon, overdue, rotate,
//! and a retry after a failure), each once: an item whose generation is
//! no longer the credential's finds it stale and does nothing, so a
//! rotation clears every warning of the deadline it met.

use crate::settings::RotationSettings;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

const DAY: u64 = 86_400;

/// The times of one deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The credential must be rotated by then.
    pub(crate) deadline: SystemTime,
    /// From then it is due soon.
    pub(crate) due_soon_at: SystemTime,
    /// The schedule rotates it then.
    pub(crate) rotate_at: SystemTime,
}

/// How far before its deadline a credential is rotated: the configured
/// lead plus this credential's own offset (a stable fraction of the spread,
/// from its request id), at most half its period.
fn lead(request_id: Uuid, period: Duration, settings: &RotationSettings) -> Duration {
    let spread = settings.spread_minutes.saturating_mul(60);
    let offset = if spread == 0 { 0 } else { (request_id.as_u128() % u128::from(spread)) as u64 };
    let lead = Duration::from_secs(settings.rotate_before_hours.saturating_mul(3600).saturating_add(offset));
    lead.min(period / 2)
}

/// The plan of a credential last rotated (or stored) at `since` with a
/// period of `period_days`.
pub(crate) fn plan(request_id: Uuid, since: SystemTime, period_days: u32, settings: &RotationSettings) -> Plan {
    let period = Duration::from_secs(u64::from(period_days.max(1)) * DAY);
    let deadline = since + period;
    let window = Duration::from_secs(u64::from(settings.due_soon_days) * DAY).min(period);
    Plan { deadline, due_soon_at: deadline - window, rotate_at: deadline - lead(request_id, period, settings) }
}

/// The period in force: the credential's own when set, else its tier's.
pub(crate) fn effective_period(tier_days: u32, own_days: u32) -> u32 {
    if own_days > 0 { own_days.min(tier_days.max(1)) } else { tier_days }
}

/// What a scheduled work item does when it comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    /// Report the credential due soon.
    DueSoon,
    /// Report it overdue.
    Overdue,
    /// Rotate it.
    Rotate,
    /// Rotate it again after a failed rotation (the next cycle).
    Retry,
}

impl Item {
    fn word(self) -> &'static str {
        match self {
            Self::DueSoon => "due_soon",
            Self::Overdue => "overdue",
            Self::Rotate => "rotate",
            Self::Retry => "retry",
        }
    }

    /// The work payload of this item for `generation`.
    pub(crate) fn payload(self, generation: u64) -> Vec<u8> {
        format!("{}/{generation}", self.word()).into_bytes()
    }

    /// The item and generation of a payload; `None` for anything else.
    pub(crate) fn parse(payload: &[u8]) -> Option<(Self, u64)> {
        let (word, generation) = std::str::from_utf8(payload).ok()?.split_once('/')?;
        let item =
            [Self::DueSoon, Self::Overdue, Self::Rotate, Self::Retry].into_iter().find(|item| item.word() == word)?;
        Some((item, generation.parse().ok()?))
    }

    /// The occurrence name of this item (unique per credential).
    pub(crate) fn occurrence(self, generation: u64, extra: u64) -> String {
        format!("g{generation}/{}/{extra}", self.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RotationSettings {
        RotationSettings { due_soon_days: 7, rotate_before_hours: 72, spread_minutes: 1440, ..Default::default() }
    }

    #[test]
    fn the_deadline_is_one_period_after_the_last_rotation() {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let plan = plan(Uuid::now_v7(), since, 14, &settings());
        assert_eq!(plan.deadline, since + Duration::from_secs(14 * DAY));
        assert_eq!(plan.due_soon_at, plan.deadline - Duration::from_secs(7 * DAY));
        let lead = plan.deadline.duration_since(plan.rotate_at).unwrap();
        assert!(lead >= Duration::from_secs(72 * 3600) && lead < Duration::from_secs(96 * 3600), "{lead:?}");
    }

    #[test]
    fn credentials_stored_together_are_rotated_at_different_times() {
        let since = SystemTime::now();
        let mut times: Vec<SystemTime> =
            (0..100).map(|_| plan(Uuid::now_v7(), since, 30, &settings()).rotate_at).collect();
        times.sort();
        times.dedup();
        assert!(times.len() > 95, "{} distinct times of 100", times.len());
        let id = Uuid::now_v7();
        assert_eq!(plan(id, since, 30, &settings()), plan(id, since, 30, &settings()), "stable per credential");
    }

    #[test]
    fn short_periods_keep_their_lead_and_window_inside_the_period() {
        let since = SystemTime::now();
        let plan = plan(Uuid::now_v7(), since, 1, &settings());
        assert_eq!(plan.due_soon_at, since, "a one-day period is due soon from the start");
        assert!(plan.rotate_at >= since + Duration::from_secs(DAY / 2));
    }

    #[test]
    fn an_own_period_never_exceeds_the_tier() {
        assert_eq!(effective_period(30, 0), 30);
        assert_eq!(effective_period(30, 7), 7);
        assert_eq!(effective_period(14, 90), 14);
    }

    #[test]
    fn payloads_round_trip() {
        for item in [Item::DueSoon, Item::Overdue, Item::Rotate, Item::Retry] {
            assert_eq!(Item::parse(&item.payload(42)), Some((item, 42)));
        }
        assert_eq!(Item::parse(b"nonsense"), None);
        assert_eq!(Item::parse(b"rotate/x"), None);
    }
}
