//! The payments half of the domain, tested the way the service uses it: an invoice issued by
//! PlaceOrder, attempts recorded day after day, the follow-up saved after each change as the
//! store would, finance voiding or writing off, and the balance read at the end. The dunning
//! state machine on its own is tested in [`super::dunning`].

use closeloop_kit::Problem;
use closeloop_kit::time::{MICROS_PER_DAY, epoch_days};
use closeloop_kit::types::CurrencyCode;
use time::Date;
use time::macros::date;

use super::balance::{AccountBalance, AccountContract, default_currency};
use super::follow_up::{FollowUp, resolve_follow_up, summary};
use super::invoice::{Invoice, NewInvoice, Settled};
use super::payments::{AttemptIds, FollowUpChange, InvoiceChange, NewAttempt, Recorded, Service};
use super::policy::Policy;
use super::vocabulary::{
    Actor, AttemptId, ContractId, ContractStatus, DeclineType, DunningStatus, FollowUpId,
    FollowUpStatus, InvoiceId, InvoiceStatus, OverdueLevel, Party, PaymentResult,
};

const SERVICE_SUBJECT: &str = "contracts-payments";
const HOUR: i64 = 3_600_000_000;

fn eur() -> CurrencyCode {
    CurrencyCode::parse("EUR").unwrap()
}

fn usd() -> CurrencyCode {
    CurrencyCode::parse("USD").unwrap()
}

/// Midnight UTC of `day`, in microseconds.
fn at(day: Date) -> i64 {
    epoch_days(day) * MICROS_PER_DAY
}

fn finance() -> Actor {
    Actor {
        subject: "fiona".into(),
        role: "finance".into(),
    }
}

fn acme() -> Party {
    Party {
        account_id: "acme".into(),
        display_name: "Acme".into(),
    }
}

/// An invoice of `amount` minor units due on `due`, issued 30 days before, for `acme`.
fn invoice_due(amount: i64, due: Date) -> Invoice {
    invoice_with(amount, due, None, eur())
}

fn invoice_with(
    amount: i64,
    due: Date,
    period: Option<(Date, Date)>,
    currency: CurrencyCode,
) -> Invoice {
    let placed = date!(2026 - 01 - 01);
    Invoice::issue(
        InvoiceId::new(),
        NewInvoice {
            contract: ContractId::new(),
            number: "INV-1".into(),
            account: acme(),
            owner: "sam".into(),
            currency,
            installment_id: "installment-1".into(),
            description: "Q1 subscription".into(),
            amount_due: amount,
            due_date: due,
            service_period: period,
            payment_terms_days: 30,
        },
        placed,
        at(placed),
    )
}

/// EUR 2500.00 due on 2026-03-31, issued 2026-03-01.
fn invoice() -> Invoice {
    invoice_due(250_000, date!(2026 - 03 - 31))
}

fn succeeded(amount: i64) -> NewAttempt {
    NewAttempt {
        result: PaymentResult::Succeeded,
        currency: eur(),
        amount,
        decline_type: None,
        failure_code: String::new(),
        failure_message: String::new(),
        processor: "stripe".into(),
        processor_reference: String::new(),
        payment_method: "card".into(),
        attempt_time: None,
    }
}

fn failed(decline: DeclineType, code: &str) -> NewAttempt {
    NewAttempt {
        result: PaymentResult::Failed,
        decline_type: Some(decline),
        failure_code: code.into(),
        failure_message: "declined".into(),
        ..succeeded(250_000)
    }
}

fn soft() -> NewAttempt {
    failed(DeclineType::Soft, "insufficient_funds")
}

fn hard() -> NewAttempt {
    failed(DeclineType::Hard, "card_expired")
}

/// One invoice and its follow-ups as the store keeps them: each change is saved, and the next
/// one is given the invoice's open follow-up.
struct Books {
    invoice: Invoice,
    follow_ups: Vec<FollowUp>,
    policy: Policy,
}

impl Books {
    fn new(invoice: Invoice) -> Books {
        Books {
            invoice,
            follow_ups: Vec::new(),
            policy: Policy::default(),
        }
    }

    fn open_follow_up(&self) -> Option<FollowUp> {
        let id = self.invoice.open_follow_up.as_ref()?;
        self.follow_ups.iter().find(|f| &f.id == id).cloned()
    }

    fn save(&mut self, f: FollowUp) {
        match self.follow_ups.iter_mut().find(|x| x.id == f.id) {
            Some(old) => *old = f,
            None => self.follow_ups.push(f),
        }
    }

    fn record(&mut self, new: NewAttempt, now: i64) -> Result<Recorded, Problem> {
        let ids = AttemptIds {
            attempt: AttemptId::new(),
            follow_up: FollowUpId::new(),
        };
        let open = self.open_follow_up();
        let service = Service {
            policy: &self.policy,
            subject: SERVICE_SUBJECT,
        };
        let recorded = self
            .invoice
            .record_attempt(new, ids, open, finance(), service, now)?;
        if let Some(change) = &recorded.follow_up {
            self.save(change.follow_up().clone());
        }
        Ok(recorded)
    }

    /// A failure that happened at `time` and is recorded a minute later.
    fn fail_at(&mut self, new: NewAttempt, time: i64) -> Recorded {
        self.record(
            NewAttempt {
                attempt_time: Some(time),
                ..new
            },
            time + 60_000_000,
        )
        .unwrap()
    }

    fn void(&mut self, now: i64) -> Result<(), Problem> {
        let open = self.open_follow_up();
        if let Some(f) = self
            .invoice
            .void("billed twice", open, SERVICE_SUBJECT, now)?
        {
            self.save(f);
        }
        Ok(())
    }

    fn write_off(&mut self, now: i64) -> Result<(), Problem> {
        let open = self.open_follow_up();
        if let Some(f) =
            self.invoice
                .mark_uncollectible("client insolvent", open, SERVICE_SUBJECT, now)?
        {
            self.save(f);
        }
        Ok(())
    }
}

fn assert_gate<T: std::fmt::Debug>(result: Result<T, Problem>, gate: &str, subject: &str) {
    match result {
        Err(Problem::FailedPrecondition(v)) => {
            assert_eq!(v.len(), 1, "{v:?}");
            assert_eq!((v[0].gate.as_str(), v[0].subject.as_str()), (gate, subject));
        }
        other => panic!("expected gate {gate}, got {other:?}"),
    }
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Problem>, field: &str) {
    match result {
        Err(Problem::InvalidArgument(v)) => {
            assert!(v.iter().any(|f| f.field == field), "{v:?}");
        }
        other => panic!("expected INVALID_ARGUMENT on {field}, got {other:?}"),
    }
}

// The days of the default invoice's life.
const ISSUED: Date = date!(2026 - 03 - 01);
const DUE: Date = date!(2026 - 03 - 31);

#[test]
fn the_status_table_is_the_proto_one() {
    use InvoiceChange as C;
    use InvoiceStatus as S;
    for change in InvoiceChange::ALL {
        for status in InvoiceStatus::ALL {
            let expected = match change {
                C::RecordAttempt => !matches!(status, S::Paid | S::Void),
                C::Void => matches!(status, S::Draft | S::Open | S::PastDue),
                C::MarkUncollectible => matches!(status, S::Open | S::PastDue),
            };
            assert_eq!(change.accepts(status), expected, "{change:?} {status:?}");
            assert_eq!(
                change.check(status).is_ok(),
                expected,
                "{change:?} {status:?}"
            );
        }
    }
    assert_gate(
        InvoiceChange::Void.check(InvoiceStatus::Paid),
        "invoice_status",
        "status",
    );
}

#[test]
fn attempts_are_accepted_from_draft_to_uncollectible() {
    // DRAFT: paid ahead of its issue date.
    let mut draft = Books::new(invoice());
    let before = at(ISSUED) - MICROS_PER_DAY;
    assert_eq!(
        draft.invoice.status(date!(2026 - 02 - 28)),
        InvoiceStatus::Draft
    );
    draft.record(succeeded(1_000), before).unwrap();
    assert_eq!(draft.invoice.amount_paid, 1_000);

    // OPEN and PAST_DUE.
    for day in [ISSUED, date!(2026 - 04 - 20)] {
        let mut books = Books::new(invoice());
        books.record(soft(), at(day)).unwrap();
        assert_eq!(books.invoice.attempt_count, 1);
    }

    // UNCOLLECTIBLE.
    let mut written_off = Books::new(invoice());
    written_off.write_off(at(date!(2026 - 05 - 01))).unwrap();
    written_off
        .record(succeeded(1_000), at(date!(2026 - 05 - 02)))
        .unwrap();
    assert_eq!(written_off.invoice.amount_paid, 1_000);
}

#[test]
fn attempts_on_paid_or_void_invoices_are_refused_and_change_nothing() {
    let mut paid = Books::new(invoice());
    paid.record(succeeded(250_000), at(ISSUED)).unwrap();
    let kept = paid.invoice.clone();
    assert_gate(
        paid.record(soft(), at(ISSUED) + HOUR),
        "invoice_status",
        "status",
    );
    assert_gate(
        paid.record(succeeded(1), at(ISSUED) + HOUR),
        "invoice_status",
        "status",
    );
    assert_eq!(paid.invoice, kept);

    let mut void = Books::new(invoice());
    void.void(at(ISSUED)).unwrap();
    let kept = void.invoice.clone();
    assert_gate(
        void.record(succeeded(1), at(ISSUED) + HOUR),
        "invoice_status",
        "status",
    );
    assert_eq!(void.invoice, kept);
    assert!(void.follow_ups.is_empty());
}

#[test]
fn partial_payments_add_up_to_paid() {
    let mut books = Books::new(invoice());
    let first = books
        .record(
            NewAttempt {
                attempt_time: Some(at(ISSUED) + HOUR),
                ..succeeded(100_000)
            },
            at(ISSUED) + 2 * HOUR,
        )
        .unwrap();
    assert_eq!(first.attempt.attempt_number, 1);
    assert!(first.follow_up.is_none());
    assert_eq!(books.invoice.amount_paid, 100_000);
    assert_eq!(books.invoice.amount_remaining(), 150_000);
    assert_eq!(books.invoice.status(ISSUED), InvoiceStatus::Open);
    assert_eq!(books.invoice.paid_time, None);
    assert_eq!(books.invoice.last_payment_time, Some(at(ISSUED) + HOUR));
    assert_eq!(books.invoice.last_attempt_time, Some(at(ISSUED) + 2 * HOUR));

    // Past due, with an amount remaining, until the rest is paid.
    assert_eq!(
        books.invoice.status(date!(2026 - 04 - 05)),
        InvoiceStatus::PastDue
    );
    let pay_day = at(date!(2026 - 04 - 05));
    let second = books.record(succeeded(150_000), pay_day).unwrap();
    assert_eq!(second.attempt.attempt_number, 2);
    assert_eq!(books.invoice.amount_paid, 250_000);
    assert_eq!(books.invoice.settled, Some(Settled::Paid));
    assert_eq!(
        books.invoice.status(date!(2026 - 04 - 05)),
        InvoiceStatus::Paid
    );
    assert_eq!(books.invoice.paid_time, Some(pay_day));
    assert_eq!(books.invoice.last_payment_time, Some(pay_day));
    // No failure ever: dunning never ran, and stays NONE.
    assert_eq!(books.invoice.dunning.state(), DunningStatus::None);
    assert_eq!(books.invoice.dunning.status, None);
}

#[test]
fn more_than_the_amount_remaining_is_refused() {
    let mut books = Books::new(invoice());
    books.record(succeeded(200_000), at(ISSUED)).unwrap();
    let kept = books.invoice.clone();
    let refused = books.record(succeeded(50_001), at(ISSUED) + HOUR);
    match &refused {
        Err(Problem::FailedPrecondition(v)) => {
            assert_eq!(v[0].gate, "amount_remaining");
            assert_eq!(
                v[0].description,
                "EUR 500.01 is more than the EUR 500.00 remaining on the invoice"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(books.invoice, kept);
    // A failed attempt may be for any amount: it is what was tried.
    books
        .record(
            NewAttempt {
                amount: 999_999,
                ..soft()
            },
            at(ISSUED) + HOUR,
        )
        .unwrap();
}

#[test]
fn arguments_that_do_not_fit_the_invoice_are_refused_and_change_nothing() {
    let mut books = Books::new(invoice());
    let now = at(ISSUED);
    let kept = books.invoice.clone();
    assert_invalid(
        books.record(
            NewAttempt {
                currency: usd(),
                ..succeeded(100)
            },
            now,
        ),
        "amount",
    );
    assert_invalid(books.record(succeeded(0), now), "amount");
    assert_invalid(books.record(succeeded(-5), now), "amount");
    assert_invalid(
        books.record(
            NewAttempt {
                decline_type: None,
                ..soft()
            },
            now,
        ),
        "decline_type",
    );
    assert_invalid(
        books.record(
            NewAttempt {
                decline_type: Some(DeclineType::Soft),
                ..succeeded(100)
            },
            now,
        ),
        "decline_type",
    );
    assert_invalid(
        books.record(
            NewAttempt {
                attempt_time: Some(now + 1),
                ..succeeded(100)
            },
            now,
        ),
        "attempt_time",
    );
    assert_eq!(books.invoice, kept);
    assert!(books.follow_ups.is_empty());
}

#[test]
fn extreme_amounts_do_not_panic() {
    let mut books = Books::new(invoice_due(i64::MAX, DUE));
    books.record(succeeded(i64::MAX - 1), at(ISSUED)).unwrap();
    assert_gate(
        books.record(succeeded(i64::MAX), at(ISSUED)),
        "amount_remaining",
        "amount_remaining",
    );
    books.record(succeeded(1), at(ISSUED)).unwrap();
    assert_eq!(books.invoice.settled, Some(Settled::Paid));

    // Books that say more was paid than was due (a corrupt row) refuse any payment.
    let mut corrupt = Books::new(invoice());
    corrupt.invoice.amount_paid = i64::MAX;
    assert_eq!(corrupt.invoice.amount_remaining(), 0);
    assert_gate(
        corrupt.record(succeeded(1), at(ISSUED)),
        "amount_remaining",
        "amount_remaining",
    );
    corrupt.invoice.amount_paid = i64::MIN;
    assert!(corrupt.record(succeeded(i64::MAX), at(ISSUED)).is_ok());
}

#[test]
fn attempts_are_numbered_from_the_invoice_count() {
    let mut inv = invoice();
    inv.attempt_count = 4;
    let mut books = Books::new(inv);
    let r = books.record(soft(), at(ISSUED)).unwrap();
    assert_eq!(r.attempt.attempt_number, 5);
    assert_eq!(books.invoice.attempt_count, 5);
    assert_eq!(r.attempt.create_time, at(ISSUED));
    assert_eq!(r.attempt.attempt_time, at(ISSUED));
    assert_eq!(r.attempt.recorded_by, finance());
    assert_eq!(r.attempt.owner, "sam");
    assert_eq!(
        r.attempt.name(),
        format!(
            "contracts/{}/invoices/{}/paymentAttempts/{}",
            books.invoice.contract, books.invoice.id, r.attempt.id
        )
    );
}

#[test]
fn soft_declines_follow_the_retry_days_then_exhaust() {
    // Retry days [1, 3, 7]: the first soft failure on day 0 plans day 1, 3 and 7.
    let mut books = Books::new(invoice());
    let day0 = at(date!(2026 - 04 - 02)) + 10 * HOUR;
    let day = |n: i64| day0 + n * MICROS_PER_DAY;

    let first = books.fail_at(soft(), day(0));
    assert!(!first.attempt.dunning_retry);
    let d = &books.invoice.dunning;
    assert_eq!(d.state(), DunningStatus::Retrying);
    assert_eq!(d.cycle_start_time, Some(day(0)));
    assert_eq!(d.retry_days, vec![1, 3, 7]);
    assert_eq!(d.retry_times, vec![day(1), day(3), day(7)]);
    assert_eq!(d.next_retry_time, Some(day(1)));
    assert_eq!(d.retries_remaining, 3);

    let second = books.fail_at(soft(), day(1));
    assert!(second.attempt.dunning_retry);
    assert_eq!(books.invoice.dunning.next_retry_time, Some(day(3)));
    assert_eq!(books.invoice.dunning.retries_remaining, 2);

    let third = books.fail_at(soft(), day(3));
    assert_eq!(books.invoice.dunning.next_retry_time, Some(day(7)));
    assert_eq!(books.invoice.dunning.retries_remaining, 1);

    let last = books.fail_at(soft(), day(7));
    assert!(last.attempt.dunning_retry);
    let d = &books.invoice.dunning;
    assert_eq!(d.state(), DunningStatus::Exhausted);
    assert_eq!(d.next_retry_time, None);
    assert_eq!(d.retries_remaining, 0);
    assert_eq!(d.failed_attempt_count, 4);
    assert_eq!(d.last_failure_time, Some(day(7)));

    // One follow-up collected the four attempts, oldest first.
    assert_eq!(books.follow_ups.len(), 1);
    let f = &books.follow_ups[0];
    assert_eq!(
        f.payment_attempts,
        vec![
            first.attempt.id.clone(),
            second.attempt.id.clone(),
            third.attempt.id.clone(),
            last.attempt.id.clone()
        ]
    );
    assert_eq!(f.next_retry_time, None);
    assert_eq!(last.attempt.follow_up, Some(f.id.clone()));
    assert_eq!(first.attempt.follow_up, Some(f.id.clone()));
    assert!(matches!(first.follow_up, Some(FollowUpChange::Opened(_))));
    assert!(matches!(last.follow_up, Some(FollowUpChange::Updated(_))));

    // After EXHAUSTED no retry is pending: the next soft decline starts a new cycle.
    let again = books.fail_at(soft(), day(20));
    assert!(!again.attempt.dunning_retry);
    let d = &books.invoice.dunning;
    assert_eq!(d.state(), DunningStatus::Retrying);
    assert_eq!(d.cycle_start_time, Some(day(20)));
    assert_eq!(d.next_retry_time, Some(day(21)));
    assert_eq!(d.retries_remaining, 3);
}

#[test]
fn a_failure_opens_a_follow_up_for_the_deal_owner() {
    let mut books = Books::new(invoice());
    let now = at(date!(2026 - 04 - 02));
    let r = books.record(hard(), now).unwrap();
    let f = r.answered_follow_up().unwrap();
    assert_eq!(f.status, FollowUpStatus::Open);
    assert_eq!(f.assignee, "sam");
    assert_eq!(f.invoice, books.invoice.id);
    assert_eq!(f.contract, books.invoice.contract);
    assert_eq!(f.account, acme());
    assert_eq!(
        f.summary,
        "Payment of EUR 2500.00 failed: hard decline (card_expired)"
    );
    assert_eq!(f.payment_attempts, vec![r.attempt.id.clone()]);
    assert_eq!(f.last_decline_type, Some(DeclineType::Hard));
    assert_eq!(f.last_failure_code, "card_expired");
    assert_eq!(f.amount_remaining, 250_000);
    assert_eq!(f.next_retry_time, None);
    assert_eq!((f.create_time, f.update_time, f.version), (now, now, 1));
    assert_eq!(f.name(), format!("followUps/{}", f.id));
    assert_eq!(books.invoice.open_follow_up, Some(f.id.clone()));
}

#[test]
fn a_second_failure_updates_the_open_follow_up() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 04 - 02));
    books.fail_at(soft(), t);
    assert_eq!(
        books.follow_ups[0].summary,
        "Payment of EUR 2500.00 failed: soft decline (insufficient_funds)"
    );
    assert_eq!(
        books.follow_ups[0].next_retry_time,
        Some(t + MICROS_PER_DAY)
    );
    let r = books.fail_at(
        NewAttempt {
            amount: 100_000,
            failure_code: String::new(),
            ..hard()
        },
        t + HOUR,
    );
    assert_eq!(books.follow_ups.len(), 1);
    let f = r.answered_follow_up().unwrap();
    assert_eq!(f.summary, "Payment of EUR 1000.00 failed: hard decline");
    assert_eq!(f.payment_attempts.len(), 2);
    assert_eq!(f.last_decline_type, Some(DeclineType::Hard));
    assert_eq!(f.last_failure_code, "");
    assert_eq!(f.next_retry_time, None);
    assert_eq!(f.create_time, t + 60_000_000);
    assert_eq!(f.update_time, t + HOUR + 60_000_000);
}

#[test]
fn a_follow_up_lists_only_the_most_recent_failures() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 04 - 02));
    let mut last = None;
    for i in 0..(crate::domain::follow_up::MAX_LISTED_ATTEMPTS as i64 + 5) {
        last = Some(books.fail_at(hard(), t + i * HOUR).attempt.id);
    }
    let f = &books.follow_ups[0];
    assert_eq!(books.follow_ups.len(), 1);
    assert_eq!(
        f.payment_attempts.len(),
        crate::domain::follow_up::MAX_LISTED_ATTEMPTS
    );
    assert_eq!(
        f.payment_attempts.last(),
        last.as_ref(),
        "the newest is kept"
    );
}

#[test]
fn a_hard_decline_stops_the_retries() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 04 - 02));
    books.fail_at(soft(), t);
    let r = books.fail_at(hard(), t + MICROS_PER_DAY);
    assert!(r.attempt.dunning_retry);
    let d = &books.invoice.dunning;
    assert_eq!(d.state(), DunningStatus::HardDeclined);
    assert_eq!(d.next_retry_time, None);
    assert_eq!(d.retries_remaining, 0);
    assert_eq!(d.last_decline_type, Some(DeclineType::Hard));
    assert_eq!(books.follow_ups[0].next_retry_time, None);

    // A new payment method, declined softly: no retry was pending, so a new cycle.
    let r = books.fail_at(soft(), t + 5 * MICROS_PER_DAY);
    assert!(!r.attempt.dunning_retry);
    assert_eq!(books.invoice.dunning.state(), DunningStatus::Retrying);
    assert_eq!(
        books.invoice.dunning.cycle_start_time,
        Some(t + 5 * MICROS_PER_DAY)
    );
    assert_eq!(books.follow_ups.len(), 1);
}

#[test]
fn a_partial_payment_keeps_the_schedule_and_updates_the_follow_up() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 04 - 02));
    books.fail_at(soft(), t);
    let schedule = books.invoice.dunning.clone();
    let r = books.record(succeeded(100_000), t + HOUR).unwrap();
    assert!(r.attempt.dunning_retry);
    assert_eq!(r.attempt.follow_up, None);
    assert!(r.answered_follow_up().is_none());
    assert!(matches!(r.follow_up, Some(FollowUpChange::Updated(_))));
    assert_eq!(books.invoice.dunning, schedule);
    let f = &books.follow_ups[0];
    assert_eq!(f.status, FollowUpStatus::Open);
    assert_eq!(f.amount_remaining, 150_000);
    assert_eq!(f.payment_attempts.len(), 1);
    // The retry continues for what remains.
    let r = books.fail_at(soft(), t + MICROS_PER_DAY);
    assert!(r.attempt.dunning_retry);
    assert_eq!(books.invoice.dunning.retries_remaining, 2);
}

#[test]
fn full_payment_ends_dunning_and_resolves_the_follow_up() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 04 - 02));
    books.fail_at(soft(), t);
    books.fail_at(soft(), t + MICROS_PER_DAY);
    let follow_up = books.invoice.open_follow_up.clone().unwrap();

    let paid_at = t + 2 * MICROS_PER_DAY;
    let r = books.record(succeeded(250_000), paid_at).unwrap();
    assert!(r.attempt.dunning_retry);
    assert!(r.answered_follow_up().is_none());
    assert!(matches!(r.follow_up, Some(FollowUpChange::Resolved(_))));

    let inv = &books.invoice;
    assert_eq!(inv.status(date!(2026 - 04 - 04)), InvoiceStatus::Paid);
    assert_eq!(inv.paid_time, Some(paid_at));
    assert_eq!(inv.open_follow_up, None);
    assert_eq!(inv.dunning.state(), DunningStatus::Ended);
    assert_eq!(inv.dunning.next_retry_time, None);
    assert_eq!(inv.dunning.retries_remaining, 0);
    assert_eq!(inv.dunning.failed_attempt_count, 2);

    let f = books.follow_ups.iter().find(|f| f.id == follow_up).unwrap();
    assert_eq!(f.status, FollowUpStatus::Resolved);
    assert_eq!(f.resolution_note, "paid");
    assert_eq!(f.resolved_by, Some(Actor::service(SERVICE_SUBJECT)));
    assert_eq!(f.resolve_time, Some(paid_at));
    assert_eq!(f.amount_remaining, 0);
    assert_eq!(f.next_retry_time, None);
}

#[test]
fn a_failure_on_a_written_off_invoice_is_only_counted() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 05 - 01));
    books.write_off(t).unwrap();
    let r = books.fail_at(soft(), t + HOUR);
    assert_eq!(r.attempt.follow_up, None);
    assert!(r.follow_up.is_none());
    assert!(books.follow_ups.is_empty());
    assert_eq!(books.invoice.open_follow_up, None);
    let d = &books.invoice.dunning;
    assert_eq!(d.state(), DunningStatus::Ended);
    assert!(d.retry_times.is_empty());
    assert_eq!(d.next_retry_time, None);
    assert_eq!(d.failed_attempt_count, 1);
    assert_eq!(books.invoice.attempt_count, 1);
    assert_eq!(
        books.invoice.status(date!(2026 - 05 - 02)),
        InvoiceStatus::Uncollectible
    );
}

#[test]
fn a_written_off_invoice_accepts_a_late_payment() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 04 - 02));
    books.fail_at(soft(), t);
    books.write_off(t + 30 * MICROS_PER_DAY).unwrap();
    assert_eq!(books.invoice.status_reason, "client insolvent");

    books
        .record(succeeded(50_000), t + 40 * MICROS_PER_DAY)
        .unwrap();
    assert_eq!(books.invoice.settled, Some(Settled::Uncollectible));
    assert_eq!(books.invoice.amount_remaining(), 200_000);

    let r = books
        .record(succeeded(200_000), t + 41 * MICROS_PER_DAY)
        .unwrap();
    assert!(r.follow_up.is_none());
    assert_eq!(books.invoice.settled, Some(Settled::Paid));
    assert_eq!(
        books.invoice.status(date!(2026 - 06 - 01)),
        InvoiceStatus::Paid
    );
    assert_eq!(books.invoice.paid_time, Some(t + 41 * MICROS_PER_DAY));
    assert_eq!(books.invoice.dunning.state(), DunningStatus::Ended);
}

#[test]
fn void_is_refused_once_a_payment_was_applied() {
    let mut books = Books::new(invoice());
    books.record(succeeded(1), at(ISSUED)).unwrap();
    let kept = books.invoice.clone();
    let refused = books.void(at(ISSUED) + HOUR);
    assert_gate(refused, "payments_recorded", "amount_paid");
    assert_eq!(books.invoice, kept);
}

#[test]
fn void_ends_dunning_and_resolves_the_follow_up() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 04 - 02));
    books.fail_at(soft(), t);
    let now = t + HOUR;
    books.void(now).unwrap();
    let inv = &books.invoice;
    assert_eq!(inv.settled, Some(Settled::Void));
    assert_eq!(inv.status(date!(2026 - 04 - 02)), InvoiceStatus::Void);
    assert_eq!(inv.status_reason, "billed twice");
    assert_eq!(inv.open_follow_up, None);
    assert_eq!(inv.dunning.state(), DunningStatus::Ended);
    assert_eq!(inv.dunning.next_retry_time, None);
    assert_eq!(inv.update_time, now);
    let f = &books.follow_ups[0];
    assert_eq!(f.status, FollowUpStatus::Resolved);
    assert_eq!(f.resolution_note, "invoice voided");
    assert_eq!(f.resolved_by, Some(Actor::service(SERVICE_SUBJECT)));
    assert_eq!(f.next_retry_time, None);
}

#[test]
fn void_takes_draft_open_and_past_due_only() {
    for day in [date!(2026 - 02 - 01), ISSUED, date!(2026 - 04 - 15)] {
        let mut books = Books::new(invoice());
        books.void(at(day)).unwrap();
        // No failure ever: dunning stays NONE.
        assert_eq!(books.invoice.dunning.status, None);
    }
    let mut written_off = Books::new(invoice());
    written_off.write_off(at(ISSUED)).unwrap();
    assert_gate(written_off.void(at(ISSUED)), "invoice_status", "status");
    let mut void = Books::new(invoice());
    void.void(at(ISSUED)).unwrap();
    assert_gate(void.void(at(ISSUED)), "invoice_status", "status");
    // A paid invoice fails on its status before its payments.
    let mut paid = Books::new(invoice());
    paid.record(succeeded(250_000), at(ISSUED)).unwrap();
    assert_gate(paid.void(at(ISSUED)), "invoice_status", "status");
}

#[test]
fn write_off_takes_open_and_past_due_only() {
    let mut draft = Books::new(invoice());
    let kept = draft.invoice.clone();
    assert_gate(
        draft.write_off(at(date!(2026 - 02 - 01))),
        "invoice_status",
        "status",
    );
    assert_eq!(draft.invoice, kept);

    let mut paid = Books::new(invoice());
    paid.record(succeeded(250_000), at(ISSUED)).unwrap();
    assert_gate(paid.write_off(at(ISSUED)), "invoice_status", "status");

    let mut void = Books::new(invoice());
    void.void(at(ISSUED)).unwrap();
    assert_gate(void.write_off(at(ISSUED)), "invoice_status", "status");

    let mut twice = Books::new(invoice());
    twice.write_off(at(ISSUED)).unwrap();
    assert_gate(twice.write_off(at(ISSUED)), "invoice_status", "status");

    // PAST_DUE with a running cycle: dunning ends, the follow-up is resolved.
    let mut past_due = Books::new(invoice());
    let t = at(date!(2026 - 04 - 10));
    past_due.fail_at(soft(), t);
    past_due.write_off(t + HOUR).unwrap();
    assert_eq!(past_due.invoice.settled, Some(Settled::Uncollectible));
    assert_eq!(past_due.invoice.status_reason, "client insolvent");
    assert_eq!(past_due.invoice.dunning.state(), DunningStatus::Ended);
    assert_eq!(past_due.invoice.open_follow_up, None);
    let f = &past_due.follow_ups[0];
    assert_eq!(f.status, FollowUpStatus::Resolved);
    assert_eq!(f.resolution_note, "written off as uncollectible");
    assert_eq!(f.resolved_by, Some(Actor::service(SERVICE_SUBJECT)));
}

#[test]
fn a_person_resolves_a_follow_up_once_and_the_next_failure_opens_another() {
    let mut books = Books::new(invoice());
    let t = at(date!(2026 - 04 - 02));
    books.fail_at(soft(), t);
    let mut f = books.open_follow_up().unwrap();
    let sam = Actor {
        subject: "sam".into(),
        role: "sales_rep".into(),
    };
    resolve_follow_up(
        &mut f,
        &mut books.invoice,
        "Client updated the card; retry tomorrow",
        sam.clone(),
        t + HOUR,
    )
    .unwrap();
    assert_eq!(f.status, FollowUpStatus::Resolved);
    assert_eq!(f.resolution_note, "Client updated the card; retry tomorrow");
    assert_eq!(f.resolved_by, Some(sam.clone()));
    assert_eq!(f.resolve_time, Some(t + HOUR));
    assert_eq!(books.invoice.open_follow_up, None);
    // Dunning is not the follow-up's: the retry stays planned.
    assert_eq!(books.invoice.dunning.state(), DunningStatus::Retrying);
    books.save(f.clone());

    let kept = f.clone();
    assert_gate(f.resolve("again", sam, t + 2 * HOUR), "status", "status");
    assert_eq!(f, kept);
    // Nor does the service touch a resolved one.
    assert!(!f.auto_resolve(
        &books.invoice,
        super::follow_up::AutoResolution::Paid,
        SERVICE_SUBJECT,
        t
    ));
    assert_eq!(f, kept);

    let r = books.fail_at(soft(), t + MICROS_PER_DAY);
    let second = r.answered_follow_up().unwrap();
    assert_ne!(second.id, f.id);
    assert_eq!(second.payment_attempts.len(), 1);
    assert_eq!(books.follow_ups.len(), 2);
    assert_eq!(books.invoice.open_follow_up, Some(second.id.clone()));
}

#[test]
fn resolving_needs_the_follow_ups_own_invoice() {
    let mut books = Books::new(invoice());
    books.fail_at(soft(), at(DUE));
    let mut f = books.open_follow_up().unwrap();
    let mut other = invoice();
    let actor = finance();
    assert!(matches!(
        resolve_follow_up(&mut f, &mut other, "done", actor, at(DUE)),
        Err(Problem::Internal(_))
    ));
    assert!(f.is_open());
}

#[test]
fn a_follow_up_the_invoice_does_not_name_is_an_internal_error() {
    let mut books = Books::new(invoice());
    books.fail_at(soft(), at(DUE));
    let open = books.open_follow_up().unwrap();
    let policy = Policy::default();
    let service = Service {
        policy: &policy,
        subject: SERVICE_SUBJECT,
    };
    let ids = || AttemptIds {
        attempt: AttemptId::new(),
        follow_up: FollowUpId::new(),
    };
    let kept = books.invoice.clone();
    // Not loaded although the invoice has one.
    let missing =
        books
            .invoice
            .record_attempt(soft(), ids(), None, finance(), service, at(DUE) + HOUR);
    assert!(matches!(missing, Err(Problem::Internal(_))));
    // Another follow-up than the invoice's open one.
    let mut stranger = open.clone();
    stranger.id = FollowUpId::new();
    let wrong = books.invoice.record_attempt(
        soft(),
        ids(),
        Some(stranger),
        finance(),
        service,
        at(DUE) + HOUR,
    );
    assert!(matches!(wrong, Err(Problem::Internal(_))));
    // Loaded although the invoice has none.
    let mut fresh = invoice();
    assert!(matches!(
        fresh.void("x", Some(open), SERVICE_SUBJECT, at(DUE)),
        Err(Problem::Internal(_))
    ));
    assert_eq!(books.invoice, kept);
}

#[test]
fn etags_follow_the_version() {
    let mut inv = invoice();
    assert_eq!(inv.etag(), "\"1\"");
    assert!(inv.check_etag("").is_ok());
    assert!(inv.check_etag("\"1\"").is_ok());
    inv.version = 2;
    assert!(matches!(inv.check_etag("\"1\""), Err(Problem::Aborted(_))));

    let mut books = Books::new(invoice());
    books.fail_at(soft(), at(DUE));
    let f = &books.follow_ups[0];
    assert!(f.check_etag(&f.etag()).is_ok());
    assert!(matches!(f.check_etag("\"7\""), Err(Problem::Aborted(_))));
}

#[test]
fn summaries_read_in_major_units() {
    let jpy = CurrencyCode::parse("JPY").unwrap();
    assert_eq!(
        summary(jpy, 1200, DeclineType::Soft, "processor_down"),
        "Payment of JPY 1200 failed: soft decline (processor_down)"
    );
    assert_eq!(
        summary(eur(), 250_000, DeclineType::Hard, ""),
        "Payment of EUR 2500.00 failed: hard decline"
    );
}

// The overdue ladder, per invoice.

#[test]
fn each_invoice_climbs_the_ladder_by_its_own_days_past_due() {
    let policy = Policy::default(); // REMINDER 1, ESCALATED 15, SUSPENDED 30
    let inv = invoice();
    let on = |days: i64| DUE + time::Duration::days(days);
    assert_eq!(inv.overdue_level(ISSUED, &policy), OverdueLevel::None);
    assert_eq!(inv.overdue_level(DUE, &policy), OverdueLevel::None);
    assert_eq!(inv.overdue_level(on(1), &policy), OverdueLevel::Reminder);
    assert_eq!(inv.overdue_level(on(14), &policy), OverdueLevel::Reminder);
    assert_eq!(inv.overdue_level(on(15), &policy), OverdueLevel::Escalated);
    assert_eq!(inv.overdue_level(on(29), &policy), OverdueLevel::Escalated);
    assert_eq!(inv.overdue_level(on(30), &policy), OverdueLevel::Suspended);
    assert_eq!(inv.overdue_level(on(400), &policy), OverdueLevel::Suspended);

    // Below the lowest rung in use is NONE.
    let late_reminder = Policy {
        reminder_days: 3,
        ..Policy::default()
    };
    assert_eq!(inv.overdue_level(on(2), &late_reminder), OverdueLevel::None);
    assert_eq!(
        inv.overdue_level(on(3), &late_reminder),
        OverdueLevel::Reminder
    );

    // Settled invoices are off the ladder, however old.
    let mut paid = Books::new(invoice());
    paid.record(succeeded(250_000), at(on(40))).unwrap();
    assert_eq!(
        paid.invoice.overdue_level(on(40), &policy),
        OverdueLevel::None
    );
    let mut written_off = Books::new(invoice());
    written_off.write_off(at(on(40))).unwrap();
    assert_eq!(
        written_off.invoice.overdue_level(on(41), &policy),
        OverdueLevel::None
    );
    // A partial payment does not take an invoice off it.
    let mut partial = Books::new(invoice());
    partial.record(succeeded(1), at(on(20))).unwrap();
    assert_eq!(
        partial.invoice.overdue_level(on(20), &policy),
        OverdueLevel::Escalated
    );
}

// Balances.

fn contract(
    status: ContractStatus,
    currency: CurrencyCode,
    value: i64,
    day: Date,
) -> AccountContract {
    AccountContract {
        status,
        currency,
        value,
        create_time: at(day),
    }
}

fn balance(invoices: &[Invoice], today: Date) -> AccountBalance {
    AccountBalance::compute(
        "acme",
        Some(eur()),
        &[contract(
            ContractStatus::Active,
            eur(),
            1_000_000,
            date!(2025 - 12 - 01),
        )],
        invoices,
        0,
        &Policy::default(),
        at(today) + HOUR,
    )
}

/// A quarterly invoice of EUR 2500.00 for the service period of the quarter starting on
/// `start`, due on its first day.
fn quarter(start: Date, end: Date) -> Invoice {
    invoice_with(250_000, start, Some((start, end)), eur())
}

fn pay(inv: &mut Invoice, amount: i64, now: i64) {
    let mut books = Books::new(inv.clone());
    books.record(succeeded(amount), now).unwrap();
    *inv = books.invoice;
}

#[test]
fn an_account_without_anything_has_a_zero_balance() {
    let b = AccountBalance::compute("nobody", None, &[], &[], 0, &Policy::default(), 42);
    assert_eq!(b.account_id, "nobody");
    assert_eq!(b.currency, None);
    assert_eq!(
        (
            b.paid_to_date,
            b.outstanding,
            b.overdue,
            b.scheduled,
            b.uncollectible
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(b.next_due_date, None);
    assert_eq!(b.next_due_amount, 0);
    assert_eq!(b.worst_overdue_level, OverdueLevel::None);
    assert_eq!(b.max_days_past_due, 0);
    assert_eq!(
        (
            b.open_invoice_count,
            b.past_due_invoice_count,
            b.active_contract_count
        ),
        (0, 0, 0)
    );
    assert_eq!(b.paid_through_date, None);
    assert_eq!(b.suspension_effective_date, None);
    assert_eq!(b.last_payment_time, None);
    assert!(b.other_currencies.is_empty());
    assert_eq!(b.compute_time, 42);

    let asked = AccountBalance::compute("nobody", Some(usd()), &[], &[], 0, &Policy::default(), 42);
    assert_eq!(asked.currency, Some(usd()));
}

#[test]
fn the_balance_sums_each_status_where_it_belongs() {
    let today = date!(2026 - 05 - 10);
    let paid_at = at(date!(2026 - 02 - 10));
    let mut paid = invoice_due(100_000, date!(2026 - 02 - 15));
    pay(&mut paid, 100_000, paid_at);
    // Partly paid and 40 days past due (SUSPENDED).
    let mut old = invoice_due(200_000, date!(2026 - 03 - 31));
    let partial_at = at(date!(2026 - 04 - 20));
    pay(&mut old, 50_000, partial_at);
    // 10 days past due (REMINDER).
    let recent = invoice_due(30_000, date!(2026 - 04 - 30));
    // OPEN, due on the same day twice.
    let open_a = invoice_due(40_000, date!(2026 - 05 - 20));
    let open_b = invoice_due(5_000, date!(2026 - 05 - 20));
    let open_later = invoice_due(7_000, date!(2026 - 06 - 01));
    // DRAFT (issued 30 days before its due date), paid in part ahead.
    let mut draft = invoice_due(80_000, date!(2026 - 08 - 01));
    pay(&mut draft, 10_000, at(date!(2026 - 05 - 01)));
    // Written off with something paid.
    let mut written_off = invoice_due(60_000, date!(2026 - 01 - 31));
    pay(&mut written_off, 20_000, at(date!(2026 - 02 - 01)));
    let mut books = Books::new(written_off);
    books.write_off(at(date!(2026 - 04 - 01))).unwrap();
    let written_off = books.invoice;
    // VOID.
    let mut books = Books::new(invoice_due(999_000, date!(2026 - 04 - 01)));
    books.void(at(date!(2026 - 03 - 15))).unwrap();
    let void = books.invoice;
    // Another currency and another account: left out.
    let dollars = invoice_with(1_000, date!(2026 - 04 - 01), None, usd());
    let mut stranger = invoice_due(1_000, date!(2026 - 04 - 01));
    stranger.account.account_id = "globex".into();

    let all = [
        paid,
        old,
        recent,
        open_a,
        open_b,
        open_later,
        draft,
        written_off,
        void,
        dollars,
        stranger,
    ];
    let contracts = [
        contract(
            ContractStatus::Active,
            eur(),
            1_000_000,
            date!(2025 - 11 - 01),
        ),
        contract(
            ContractStatus::Completed,
            eur(),
            200_000,
            date!(2025 - 01 - 01),
        ),
        contract(ContractStatus::Draft, eur(), 50_000, date!(2026 - 01 - 01)),
        contract(ContractStatus::Active, usd(), 70_000, date!(2025 - 10 - 01)),
    ];
    let b = AccountBalance::compute(
        "acme",
        None,
        &contracts,
        &all,
        3,
        &Policy::default(),
        at(today) + HOUR,
    );
    // The most recent contract (the EUR draft) sets the currency.
    assert_eq!(b.currency, Some(eur()));
    assert_eq!(b.paid_to_date, 100_000 + 50_000 + 10_000 + 20_000);
    assert_eq!(b.outstanding, 150_000 + 30_000 + 40_000 + 5_000 + 7_000);
    assert_eq!(b.overdue, 150_000 + 30_000);
    assert_eq!(b.next_due_date, Some(date!(2026 - 05 - 20)));
    assert_eq!(b.next_due_amount, 45_000);
    assert_eq!(b.worst_overdue_level, OverdueLevel::Suspended);
    assert_eq!(b.max_days_past_due, 40);
    assert_eq!(b.scheduled, 70_000);
    assert_eq!(b.uncollectible, 40_000);
    assert_eq!(b.open_invoice_count, 5);
    assert_eq!(b.past_due_invoice_count, 2);
    assert_eq!(b.open_follow_up_count, 3);
    assert_eq!(b.active_contract_count, 2);
    assert_eq!(b.contract_value_total, 1_200_000);
    assert_eq!(b.last_payment_time, Some(at(date!(2026 - 05 - 01))));
    assert_eq!(b.other_currencies, vec![usd()]);
    // No service periods: nothing is paid through; the suspension starts the day the oldest
    // invoice reached 30 days past due.
    assert_eq!(b.paid_through_date, None);
    assert_eq!(b.suspension_effective_date, Some(date!(2026 - 04 - 30)));

    // Asked in dollars, the euros are the other currency.
    let in_usd = AccountBalance::compute(
        "acme",
        Some(usd()),
        &contracts,
        &all,
        3,
        &Policy::default(),
        at(today),
    );
    assert_eq!(in_usd.outstanding, 1_000);
    assert_eq!(in_usd.overdue, 1_000);
    assert_eq!(in_usd.contract_value_total, 70_000);
    assert_eq!(in_usd.other_currencies, vec![eur()]);
    assert_eq!(in_usd.worst_overdue_level, OverdueLevel::Suspended);
    assert_eq!(
        in_usd.suspension_effective_date,
        Some(date!(2026 - 05 - 01))
    );
}

#[test]
fn past_due_invoices_are_next_due_only_when_none_is_open() {
    let today = date!(2026 - 05 - 10);
    let a = invoice_due(10_000, date!(2026 - 04 - 01));
    let b = invoice_due(20_000, date!(2026 - 04 - 01));
    let c = invoice_due(40_000, date!(2026 - 04 - 20));
    let bal = balance(&[a, b, c], today);
    assert_eq!(bal.next_due_date, Some(date!(2026 - 04 - 01)));
    assert_eq!(bal.next_due_amount, 30_000);
}

#[test]
fn paying_the_oldest_invoice_lowers_the_worst_level() {
    let today = date!(2026 - 05 - 10);
    let mut oldest = invoice_due(10_000, date!(2026 - 04 - 01)); // 39 days: SUSPENDED
    let newer = invoice_due(10_000, date!(2026 - 04 - 20)); // 20 days: ESCALATED
    assert_eq!(
        balance(&[oldest.clone(), newer.clone()], today).worst_overdue_level,
        OverdueLevel::Suspended
    );
    pay(&mut oldest, 10_000, at(today));
    let b = balance(&[oldest, newer], today);
    assert_eq!(b.worst_overdue_level, OverdueLevel::Escalated);
    assert_eq!(b.max_days_past_due, 20);
    assert_eq!(b.suspension_effective_date, None);
}

#[test]
fn paid_through_is_the_end_of_the_paid_periods_without_gap() {
    let today = date!(2026 - 05 - 10);
    let mut q1 = quarter(date!(2026 - 01 - 01), date!(2026 - 03 - 31));
    let mut q2 = quarter(date!(2026 - 04 - 01), date!(2026 - 06 - 30));
    let mut q3 = quarter(date!(2026 - 07 - 01), date!(2026 - 09 - 30));
    let setup = invoice_due(5_000, date!(2026 - 01 - 01)); // no period, unpaid

    // Nothing paid: unset.
    assert_eq!(
        balance(&[q1.clone(), q2.clone(), q3.clone()], today).paid_through_date,
        None
    );
    // Q1 paid.
    pay(&mut q1, 250_000, at(date!(2026 - 01 - 02)));
    assert_eq!(
        balance(&[q1.clone(), q2.clone(), q3.clone()], today).paid_through_date,
        Some(date!(2026 - 03 - 31))
    );
    // Q3 paid ahead while Q2 is unpaid: the gap stops at Q1.
    pay(&mut q3, 250_000, at(date!(2026 - 05 - 01)));
    assert_eq!(
        balance(&[q1.clone(), q2.clone(), q3.clone()], today).paid_through_date,
        Some(date!(2026 - 03 - 31))
    );
    // Q2 voided: it no longer stands in the way, though it was not paid for.
    let mut voided = Books::new(q2.clone());
    voided.void(at(today)).unwrap();
    assert_eq!(
        balance(&[q1.clone(), voided.invoice.clone(), q3.clone()], today).paid_through_date,
        Some(date!(2026 - 09 - 30))
    );
    // Q2 paid in part only: still a gap.
    pay(&mut q2, 100_000, at(today));
    assert_eq!(
        balance(&[q1.clone(), q2.clone(), q3.clone()], today).paid_through_date,
        Some(date!(2026 - 03 - 31))
    );
    // Q2 written off: not paid, still a gap.
    let mut written_off = Books::new(q2.clone());
    written_off.write_off(at(today)).unwrap();
    assert_eq!(
        balance(
            &[q1.clone(), written_off.invoice.clone(), q3.clone()],
            today
        )
        .paid_through_date,
        Some(date!(2026 - 03 - 31))
    );
    // All paid; an unpaid invoice without a service period does not matter.
    pay(&mut q2, 150_000, at(today));
    assert_eq!(
        balance(&[q1.clone(), q2.clone(), q3.clone(), setup], today).paid_through_date,
        Some(date!(2026 - 09 - 30))
    );
    // Only voided periods: none paid, unset.
    let mut voided_q1 = Books::new(quarter(date!(2026 - 01 - 01), date!(2026 - 03 - 31)));
    voided_q1.void(at(date!(2025 - 12 - 15))).unwrap();
    assert_eq!(balance(&[voided_q1.invoice], today).paid_through_date, None);
}

#[test]
fn a_suspension_never_reaches_into_a_paid_period() {
    let policy = Policy::default();
    let today = date!(2026 - 05 - 10);
    // A setup fee 40 days past due: SUSPENDED since 2026-04-30.
    let setup = invoice_due(5_000, date!(2026 - 03 - 31));
    // The client prepaid the service through June.
    let mut q2 = quarter(date!(2026 - 04 - 01), date!(2026 - 06 - 30));
    pay(&mut q2, 250_000, at(date!(2026 - 03 - 20)));
    let b = balance(&[setup.clone(), q2.clone()], today);
    assert_eq!(b.worst_overdue_level, OverdueLevel::Suspended);
    assert_eq!(b.paid_through_date, Some(date!(2026 - 06 - 30)));
    assert_eq!(b.suspension_effective_date, Some(date!(2026 - 07 - 01)));

    // With no paid period, the day the rung was reached; it stays the same day after day.
    for later in [today, date!(2026 - 06 - 01)] {
        let b = balance(std::slice::from_ref(&setup), later);
        assert_eq!(b.suspension_effective_date, Some(date!(2026 - 04 - 30)));
    }
    // A paid period ending before that day does not move it.
    let mut q1 = quarter(date!(2026 - 01 - 01), date!(2026 - 03 - 31));
    pay(&mut q1, 250_000, at(date!(2026 - 01 - 02)));
    let b = balance(&[setup.clone(), q1], today);
    assert_eq!(b.paid_through_date, Some(date!(2026 - 03 - 31)));
    assert_eq!(b.suspension_effective_date, Some(date!(2026 - 04 - 30)));

    // ESCALATED is not SUSPENDED: unset.
    let b = balance(std::slice::from_ref(&setup), date!(2026 - 04 - 29));
    assert_eq!(b.worst_overdue_level, OverdueLevel::Escalated);
    assert_eq!(b.suspension_effective_date, None);
    // Without a SUSPENDED rung nobody is ever suspended.
    let no_suspension = Policy {
        suspended_days: 0,
        ..policy
    };
    let b = AccountBalance::compute(
        "acme",
        Some(eur()),
        &[],
        &[setup],
        0,
        &no_suspension,
        at(date!(2027 - 01 - 01)),
    );
    assert_eq!(b.worst_overdue_level, OverdueLevel::Escalated);
    assert_eq!(b.suspension_effective_date, None);
}

#[test]
fn the_default_currency_is_the_most_recent_contracts() {
    assert_eq!(default_currency(&[]), None);
    let contracts = [
        contract(ContractStatus::Active, eur(), 1, date!(2026 - 01 - 01)),
        contract(ContractStatus::Declined, usd(), 1, date!(2026 - 02 - 01)),
        contract(ContractStatus::Active, eur(), 1, date!(2025 - 01 - 01)),
    ];
    assert_eq!(default_currency(&contracts), Some(usd()));
}

#[test]
fn balance_sums_saturate_instead_of_overflowing() {
    let today = date!(2026 - 05 - 10);
    let a = invoice_due(i64::MAX, date!(2026 - 04 - 01));
    let b = invoice_due(i64::MAX, date!(2026 - 04 - 01));
    let bal = balance(&[a, b], today);
    assert_eq!(bal.outstanding, i64::MAX);
    assert_eq!(bal.overdue, i64::MAX);
    assert_eq!(bal.next_due_amount, i64::MAX);
    let huge = [
        contract(
            ContractStatus::Active,
            eur(),
            i64::MAX,
            date!(2026 - 01 - 01),
        ),
        contract(
            ContractStatus::Signed,
            eur(),
            i64::MAX,
            date!(2026 - 01 - 01),
        ),
    ];
    let bal = AccountBalance::compute("acme", None, &huge, &[], 0, &Policy::default(), at(today));
    assert_eq!(bal.contract_value_total, i64::MAX);
}
