//! Dunning: the retry schedule an invoice follows after failed payment attempts, as a small state
//! machine over [`Dunning`]. The invoice's changes ([`super::payments`]) call it; it knows nothing
//! of follow-ups or amounts.
//!
//! The rules, from `DunningState` in the proto:
//! - a soft decline when no retry is pending starts a cycle: retries are planned at the failure's
//!   `attempt_time` plus each configured retry day, and the first of them is `next_retry_time`;
//! - a later soft decline while a retry is pending moves `next_retry_time` to the first planned
//!   time after the attempt; with none left the cycle is EXHAUSTED;
//! - a hard decline cancels the pending retries (HARD_DECLINED);
//! - full payment, VOID and UNCOLLECTIBLE end dunning (ENDED after failures, NONE otherwise).
//!
//! A soft decline after EXHAUSTED or HARD_DECLINED starts a new cycle, with the retry days
//! configured then. The proto's rule is "a soft decline when no retry is pending starts a
//! cycle", and neither status has a retry pending. It is also what the situation asks for: the
//! processor runs retries only while one is due, so after EXHAUSTED or HARD_DECLINED a new
//! attempt is someone trying again (the client fixed the card, finance charged another payment
//! method), and when that one is declined softly it deserves its own retries.
//!
//! Times are the attempts' `attempt_time` (when the processor tried), not when they were
//! recorded: a failure reported late still plans its retries from when it happened, so a retry
//! already due is due at once.

use closeloop_kit::time::MICROS_PER_DAY;

use super::invoice::Dunning;
use super::vocabulary::{DeclineType, DunningStatus};

/// One failed attempt, as dunning sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure<'a> {
    pub decline: DeclineType,
    /// The processor's code, e.g. "insufficient_funds"; may be empty.
    pub code: &'a str,
    /// When the attempt happened.
    pub at: i64,
}

impl Dunning {
    /// Where dunning stands: NONE until the first failure (the stored `None`).
    pub fn state(&self) -> DunningStatus {
        self.status.unwrap_or(DunningStatus::None)
    }

    /// Whether a retry is planned and not yet reported: what `PaymentAttempt.dunning_retry`
    /// records, and what decides whether a soft decline continues the cycle or starts one.
    pub fn retry_pending(&self) -> bool {
        self.state() == DunningStatus::Retrying && self.next_retry_time.is_some()
    }

    /// Records a failed attempt on an invoice whose money is being collected (DRAFT, OPEN or
    /// PAST_DUE), with `retry_days` the configured days (used only when a cycle starts).
    pub fn fail(&mut self, failure: Failure<'_>, retry_days: &[i32]) {
        // Where the schedule stands: the later of this attempt and the cycle's latest failure,
        // so an attempt reported out of order never moves a retry back in time.
        let reference = self
            .last_failure_time
            .map_or(failure.at, |t| t.max(failure.at));
        self.note_failure(failure);
        match failure.decline {
            DeclineType::Hard => {
                self.status = Some(DunningStatus::HardDeclined);
                self.next_retry_time = None;
                self.retries_remaining = 0;
            }
            DeclineType::Soft if self.retry_pending() => self.advance(reference),
            DeclineType::Soft => self.start_cycle(failure.at, retry_days),
        }
    }

    /// Records a failed attempt on an UNCOLLECTIBLE invoice: counted, but nothing is scheduled
    /// (the debt is written off and finance handles it), and dunning is ENDED, since there are
    /// failures and it is over.
    pub fn fail_written_off(&mut self, failure: Failure<'_>) {
        self.note_failure(failure);
        self.status = Some(DunningStatus::Ended);
        self.next_retry_time = None;
        self.retries_remaining = 0;
    }

    /// Ends dunning when the invoice becomes PAID, VOID or UNCOLLECTIBLE: ENDED when there were
    /// failures, otherwise it stays NONE (nothing ever ran). The last cycle's days and times stay,
    /// as the proto keeps those of "the current or last cycle".
    pub fn end(&mut self) {
        if self.failed_attempt_count > 0 {
            self.status = Some(DunningStatus::Ended);
        }
        self.next_retry_time = None;
        self.retries_remaining = 0;
    }

    fn note_failure(&mut self, failure: Failure<'_>) {
        self.failed_attempt_count = self.failed_attempt_count.saturating_add(1);
        self.last_failure_time = Some(
            self.last_failure_time
                .map_or(failure.at, |t| t.max(failure.at)),
        );
        self.last_decline_type = Some(failure.decline);
        failure.code.clone_into(&mut self.last_failure_code);
    }

    fn start_cycle(&mut self, at: i64, retry_days: &[i32]) {
        self.retry_days = retry_days.to_vec();
        self.cycle_start_time = Some(at);
        // A day so far ahead that the time overflows is dropped rather than wrapped: the
        // settings allow at most 365 days, so this only guards against a corrupt policy.
        let mut times: Vec<i64> = retry_days
            .iter()
            .filter_map(|d| {
                i64::from(*d)
                    .checked_mul(MICROS_PER_DAY)
                    .and_then(|offset| at.checked_add(offset))
            })
            .collect();
        times.sort_unstable();
        times.dedup();
        self.retry_times = times;
        self.advance(at);
    }

    /// Points at the first planned retry after `reference`. The retries remaining are the
    /// planned times after it: after the first failure all of them (3 with [1, 3, 7]), one less
    /// after each failed retry, and none once the last retry has failed (EXHAUSTED). Counting
    /// what is left rather than decrementing keeps the two in agreement when a retry is reported
    /// late (past the next planned time) or an extra attempt comes between two retries.
    fn advance(&mut self, reference: i64) {
        let left: Vec<i64> = self
            .retry_times
            .iter()
            .copied()
            .filter(|t| *t > reference)
            .collect();
        match left.first() {
            Some(next) => {
                self.status = Some(DunningStatus::Retrying);
                self.next_retry_time = Some(*next);
                self.retries_remaining = i32::try_from(left.len()).unwrap_or(i32::MAX);
            }
            None => {
                self.status = Some(DunningStatus::Exhausted);
                self.next_retry_time = None;
                self.retries_remaining = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MICROS_PER_DAY;
    const HOUR: i64 = 3_600_000_000;
    /// 2026-03-02T00:00:00Z.
    const T0: i64 = 1_772_409_600_000_000;

    fn soft(at: i64) -> Failure<'static> {
        Failure {
            decline: DeclineType::Soft,
            code: "insufficient_funds",
            at,
        }
    }

    fn hard(at: i64) -> Failure<'static> {
        Failure {
            decline: DeclineType::Hard,
            code: "card_expired",
            at,
        }
    }

    #[test]
    fn nothing_runs_before_the_first_failure() {
        let d = Dunning::default();
        assert_eq!(d.state(), DunningStatus::None);
        assert!(!d.retry_pending());
        assert_eq!(d.retries_remaining, 0);
    }

    #[test]
    fn soft_declines_walk_the_schedule_then_exhaust_it() {
        let days = [1, 3, 7];
        let mut d = Dunning::default();

        d.fail(soft(T0), &days);
        assert_eq!(d.state(), DunningStatus::Retrying);
        assert_eq!(d.retry_days, vec![1, 3, 7]);
        assert_eq!(d.cycle_start_time, Some(T0));
        assert_eq!(d.retry_times, vec![T0 + DAY, T0 + 3 * DAY, T0 + 7 * DAY]);
        assert_eq!(d.next_retry_time, Some(T0 + DAY));
        assert_eq!(d.retries_remaining, 3);

        // The processor runs the retry a little after it is due.
        assert!(d.retry_pending());
        d.fail(soft(T0 + DAY + HOUR), &days);
        assert_eq!(d.next_retry_time, Some(T0 + 3 * DAY));
        assert_eq!(d.retries_remaining, 2);

        d.fail(soft(T0 + 3 * DAY + HOUR), &days);
        assert_eq!(d.next_retry_time, Some(T0 + 7 * DAY));
        assert_eq!(d.retries_remaining, 1);

        d.fail(soft(T0 + 7 * DAY + HOUR), &days);
        assert_eq!(d.state(), DunningStatus::Exhausted);
        assert_eq!(d.next_retry_time, None);
        assert_eq!(d.retries_remaining, 0);
        assert!(!d.retry_pending());
        // The cycle's plan stays readable.
        assert_eq!(d.retry_times.len(), 3);
        assert_eq!(d.cycle_start_time, Some(T0));
        assert_eq!(d.failed_attempt_count, 4);
        assert_eq!(d.last_failure_time, Some(T0 + 7 * DAY + HOUR));
        assert_eq!(d.last_decline_type, Some(DeclineType::Soft));
        assert_eq!(d.last_failure_code, "insufficient_funds");
    }

    #[test]
    fn a_retry_at_exactly_its_planned_time_consumes_it() {
        let mut d = Dunning::default();
        d.fail(soft(T0), &[1, 3]);
        d.fail(soft(T0 + DAY), &[1, 3]);
        assert_eq!(d.next_retry_time, Some(T0 + 3 * DAY));
        assert_eq!(d.retries_remaining, 1);
    }

    #[test]
    fn an_extra_attempt_between_retries_keeps_the_pending_one() {
        let mut d = Dunning::default();
        d.fail(soft(T0), &[1, 3, 7]);
        // Finance tries by hand after twelve hours: the day-1 retry is still ahead.
        d.fail(soft(T0 + 12 * HOUR), &[1, 3, 7]);
        assert_eq!(d.next_retry_time, Some(T0 + DAY));
        assert_eq!(d.retries_remaining, 3);
        assert_eq!(d.failed_attempt_count, 2);
    }

    #[test]
    fn a_retry_reported_late_skips_the_times_already_past() {
        let mut d = Dunning::default();
        d.fail(soft(T0), &[1, 3, 7]);
        d.fail(soft(T0 + 4 * DAY), &[1, 3, 7]);
        assert_eq!(d.next_retry_time, Some(T0 + 7 * DAY));
        assert_eq!(d.retries_remaining, 1);
    }

    #[test]
    fn an_attempt_reported_out_of_order_never_moves_the_schedule_back() {
        let mut d = Dunning::default();
        d.fail(soft(T0), &[1, 3, 7]);
        d.fail(soft(T0 + 3 * DAY + HOUR), &[1, 3, 7]);
        assert_eq!(d.next_retry_time, Some(T0 + 7 * DAY));
        // The day-1 retry is reported after the day-3 one.
        d.fail(soft(T0 + DAY + HOUR), &[1, 3, 7]);
        assert_eq!(d.next_retry_time, Some(T0 + 7 * DAY));
        assert_eq!(d.retries_remaining, 1);
        assert_eq!(d.last_failure_time, Some(T0 + 3 * DAY + HOUR));
    }

    #[test]
    fn a_hard_decline_cancels_the_pending_retries() {
        let mut d = Dunning::default();
        d.fail(soft(T0), &[1, 3, 7]);
        d.fail(hard(T0 + DAY), &[1, 3, 7]);
        assert_eq!(d.state(), DunningStatus::HardDeclined);
        assert_eq!(d.next_retry_time, None);
        assert_eq!(d.retries_remaining, 0);
        assert!(!d.retry_pending());
        assert_eq!(d.last_decline_type, Some(DeclineType::Hard));
        assert_eq!(d.last_failure_code, "card_expired");
        assert_eq!(d.failed_attempt_count, 2);
    }

    #[test]
    fn a_first_hard_decline_plans_nothing() {
        let mut d = Dunning::default();
        d.fail(hard(T0), &[1, 3, 7]);
        assert_eq!(d.state(), DunningStatus::HardDeclined);
        assert!(d.retry_times.is_empty());
        assert_eq!(d.cycle_start_time, None);
    }

    #[test]
    fn a_soft_decline_after_a_hard_one_starts_a_new_cycle() {
        let mut d = Dunning::default();
        d.fail(hard(T0), &[1, 3, 7]);
        // The client gave another card; it is declined softly ten days later.
        d.fail(soft(T0 + 10 * DAY), &[2, 5]);
        assert_eq!(d.state(), DunningStatus::Retrying);
        assert_eq!(d.cycle_start_time, Some(T0 + 10 * DAY));
        assert_eq!(d.retry_days, vec![2, 5]);
        assert_eq!(d.next_retry_time, Some(T0 + 12 * DAY));
        assert_eq!(d.retries_remaining, 2);
    }

    #[test]
    fn a_soft_decline_after_exhaustion_starts_a_new_cycle() {
        let mut d = Dunning::default();
        d.fail(soft(T0), &[1]);
        d.fail(soft(T0 + DAY), &[1]);
        assert_eq!(d.state(), DunningStatus::Exhausted);
        d.fail(soft(T0 + 20 * DAY), &[1]);
        assert_eq!(d.state(), DunningStatus::Retrying);
        assert_eq!(d.cycle_start_time, Some(T0 + 20 * DAY));
        assert_eq!(d.retry_times, vec![T0 + 21 * DAY]);
        assert_eq!(d.retries_remaining, 1);
        assert_eq!(d.failed_attempt_count, 3);
    }

    #[test]
    fn no_configured_retries_exhausts_at_once() {
        let mut d = Dunning::default();
        d.fail(soft(T0), &[]);
        assert_eq!(d.state(), DunningStatus::Exhausted);
        assert_eq!(d.cycle_start_time, Some(T0));
        assert!(d.retry_times.is_empty());
        assert_eq!(d.retries_remaining, 0);
    }

    #[test]
    fn times_past_the_end_of_time_are_dropped_not_wrapped() {
        let mut d = Dunning::default();
        d.fail(soft(i64::MAX - DAY), &[i32::MAX, 1, 1]);
        assert_eq!(d.retry_times, vec![i64::MAX]);
        assert_eq!(d.retries_remaining, 1);
        let mut d = Dunning::default();
        d.fail(soft(i64::MAX), &[1]);
        assert_eq!(d.state(), DunningStatus::Exhausted);
    }

    #[test]
    fn counters_saturate() {
        let mut d = Dunning {
            failed_attempt_count: i32::MAX,
            ..Dunning::default()
        };
        d.fail(soft(T0), &[1]);
        assert_eq!(d.failed_attempt_count, i32::MAX);
    }

    #[test]
    fn ending_marks_ended_only_after_failures() {
        let mut untouched = Dunning::default();
        untouched.end();
        assert_eq!(untouched.state(), DunningStatus::None);
        assert_eq!(untouched.status, None);

        let mut d = Dunning::default();
        d.fail(soft(T0), &[1, 3, 7]);
        d.end();
        assert_eq!(d.state(), DunningStatus::Ended);
        assert_eq!(d.next_retry_time, None);
        assert_eq!(d.retries_remaining, 0);
        assert_eq!(d.retry_times.len(), 3);
    }

    #[test]
    fn a_written_off_failure_schedules_nothing() {
        let mut d = Dunning::default();
        d.fail_written_off(soft(T0));
        assert_eq!(d.state(), DunningStatus::Ended);
        assert!(d.retry_times.is_empty());
        assert_eq!(d.next_retry_time, None);
        assert_eq!(d.failed_attempt_count, 1);
        assert_eq!(d.last_failure_time, Some(T0));
    }
}
