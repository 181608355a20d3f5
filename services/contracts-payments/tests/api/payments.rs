//! Invoices and payments over real gRPC: statuses across days (the service's clock moved by
//! the test), partial payments, a repeated `request_id`, dunning, follow-ups for the
//! salesperson, the overdue ladder, voiding and writing off, account balances.

use closeloop_kit::Role;
use closeloop_proto::contracts::v1 as pb;
use tonic::Code;

use crate::helpers::*;

/// The invoices of an order just placed: the first (EUR 4,000, due in 10 days, payment terms 14:
/// issued at once) is OPEN, the second (EUR 6,000, due in 40 days: issued in 26) is DRAFT.
async fn placed(app: &TestApp, opportunity: &str) -> (pb::Contract, pb::Invoice, pb::Invoice) {
    let placed = app.active(opportunity, "ana").await;
    let contract = placed.contract.unwrap();
    let [first, second]: [pb::Invoice; 2] = placed.invoices.try_into().unwrap();
    (contract, first, second)
}

async fn invoice(app: &TestApp, name: &str) -> pb::Invoice {
    app.finance()
        .get_invoice(pb::GetInvoiceRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

fn status(i: &pb::Invoice) -> pb::InvoiceStatus {
    pb::InvoiceStatus::try_from(i.status).unwrap()
}

#[tokio::test]
async fn invoices_issue_fall_due_and_climb_the_ladder_by_the_clock() {
    let app = TestApp::spawn().await;
    let (_, first, second) = placed(&app, "opp-ladder").await;
    assert_eq!(status(&first), pb::InvoiceStatus::Open);
    assert_eq!(status(&second), pb::InvoiceStatus::Draft);
    assert_eq!(first.overdue_level, pb::OverdueLevel::None as i32);

    app.clock.advance_days(10);
    assert_eq!(
        status(&invoice(&app, &first.name).await),
        pb::InvoiceStatus::Open,
        "due today"
    );
    app.clock.advance_days(1);
    let late = invoice(&app, &first.name).await;
    assert_eq!(status(&late), pb::InvoiceStatus::PastDue);
    assert_eq!(late.days_past_due, 1);
    assert_eq!(late.overdue_level, pb::OverdueLevel::Reminder as i32);

    app.clock.advance_days(14);
    let escalated = invoice(&app, &first.name).await;
    assert_eq!(escalated.days_past_due, 15);
    assert_eq!(escalated.overdue_level, pb::OverdueLevel::Escalated as i32);
    assert_eq!(
        status(&invoice(&app, &second.name).await),
        pb::InvoiceStatus::Draft,
        "issued 14 days before its due date, on day 26"
    );

    // Listing by status agrees with reading one invoice.
    let mut fin = app.finance();
    let past_due = fin
        .list_invoices(pb::ListInvoicesRequest {
            parent: "contracts/-".into(),
            status: pb::InvoiceStatus::PastDue as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invoices;
    assert_eq!(past_due.len(), 1);
    assert_eq!(past_due[0].name, first.name);
    let escalated_or_worse = fin
        .list_invoices(pb::ListInvoicesRequest {
            parent: "contracts/-".into(),
            min_overdue_level: pb::OverdueLevel::Escalated as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invoices;
    assert_eq!(escalated_or_worse.len(), 1);
    let suspended = fin
        .list_invoices(pb::ListInvoicesRequest {
            parent: "contracts/-".into(),
            min_overdue_level: pb::OverdueLevel::Suspended as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invoices;
    assert!(suspended.is_empty());

    app.clock.advance_days(15);
    assert_eq!(
        status(&invoice(&app, &second.name).await),
        pb::InvoiceStatus::Open
    );
    let balance = fin
        .get_account_balance(pb::GetAccountBalanceRequest {
            account_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        balance.worst_overdue_level,
        pb::OverdueLevel::Suspended as i32
    );
    assert_eq!(balance.max_days_past_due, 30);
    assert_eq!(balance.overdue, money(400_000));
    assert_eq!(balance.outstanding, money(1_000_000));
    assert_eq!(balance.past_due_invoice_count, 1);
    assert!(balance.suspension_effective_date.is_some());

    // Paying the oldest invoice lowers the account's worst level: a paid period never
    // escalates.
    app.processor()
        .record_payment_attempt(paid(&first.name, 400_000, "evt-pay-1"))
        .await
        .unwrap();
    let after = fin
        .get_account_balance(pb::GetAccountBalanceRequest {
            account_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.worst_overdue_level, pb::OverdueLevel::None as i32);
    assert_eq!(after.paid_to_date, money(400_000));
    assert_eq!(after.overdue, money(0));
    assert!(after.suspension_effective_date.is_none());
}

#[tokio::test]
async fn partial_payments_add_up_and_a_repeat_is_applied_once() {
    let app = TestApp::spawn().await;
    let (contract, first, _) = placed(&app, "opp-partial").await;
    let mut processor = app.processor();
    let part = processor
        .record_payment_attempt(paid(&first.name, 150_000, "evt-1"))
        .await
        .unwrap()
        .into_inner();
    let inv = part.invoice.unwrap();
    assert_eq!(inv.amount_paid, money(150_000));
    assert_eq!(inv.amount_remaining, money(250_000));
    assert_eq!(status(&inv), pb::InvoiceStatus::Open);
    assert!(part.follow_up.is_none());
    let attempt = part.payment_attempt.unwrap();
    assert_eq!(attempt.attempt_number, 1);

    // The processor reports the same event again: the first answer, nothing applied twice.
    let again = processor
        .record_payment_attempt(paid(&first.name, 150_000, "evt-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.payment_attempt.unwrap().name, attempt.name);
    assert_eq!(invoice(&app, &first.name).await.amount_paid, money(150_000));

    // More than remains is refused and changes nothing.
    let over = processor
        .record_payment_attempt(paid(&first.name, 300_000, "evt-2"))
        .await
        .unwrap_err();
    assert_gate(&over, "amount_remaining", None);

    let rest = processor
        .record_payment_attempt(paid(&first.name, 250_000, "evt-3"))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(status(&rest), pb::InvoiceStatus::Paid);
    assert!(rest.paid_time.is_some());

    let attempts = app
        .finance()
        .list_payment_attempts(pb::ListPaymentAttemptsRequest {
            parent: first.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .payment_attempts;
    assert_eq!(attempts.len(), 2, "the refused one is not recorded");

    let read = app
        .manager()
        .get_contract(pb::GetContractRequest {
            name: contract.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.amount_paid, money(400_000));
    assert_eq!(
        read.payment_schedule[0].invoice_status,
        pb::InvoiceStatus::Paid as i32
    );

    // A reference the processor used before, under another request id: ALREADY_EXISTS.
    let mut dup = paid(&first.name, 1, "evt-4");
    dup.payment_attempt.as_mut().unwrap().processor_reference = "ch_1".into();
    let mut second = dup.clone();
    second.request_id = "evt-5".into();
    let (_, other, _) = placed(&app, "opp-partial-2").await;
    dup.parent = other.name.clone();
    second.parent = other.name.clone();
    processor.record_payment_attempt(dup).await.unwrap();
    let refused = processor.record_payment_attempt(second).await.unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
}

#[tokio::test]
async fn a_soft_decline_runs_the_dunning_schedule_and_the_salesperson_follows_up() {
    let app = TestApp::spawn().await;
    let (_, first, _) = placed(&app, "opp-dunning").await;
    let mut processor = app.processor();
    let failed_once = processor
        .record_payment_attempt(failed(
            &first.name,
            400_000,
            pb::DeclineType::Soft,
            "insufficient_funds",
            "evt-f1",
        ))
        .await
        .unwrap()
        .into_inner();
    let dunning = failed_once.invoice.unwrap().dunning.unwrap();
    assert_eq!(dunning.status, pb::DunningStatus::Retrying as i32);
    assert_eq!(dunning.retry_days, [1, 3, 7]);
    assert_eq!(dunning.retries_remaining, 3);
    assert_eq!(dunning.retry_times.len(), 3);
    assert_eq!(dunning.next_retry_time, Some(dunning.retry_times[0]));
    let follow_up = failed_once.follow_up.unwrap();
    assert_eq!(follow_up.assignee, "ana");
    assert_eq!(follow_up.status, pb::FollowUpStatus::Open as i32);
    assert_eq!(
        follow_up.summary,
        "Payment of EUR 4000.00 failed: soft decline (insufficient_funds)"
    );

    // The salesperson sees it; another salesperson does not.
    let mine = app
        .payments("ana", &[Role::SalesRep])
        .list_follow_ups(pb::ListFollowUpsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .follow_ups;
    assert_eq!(mine.len(), 1);
    let theirs = app
        .payments("bob", &[Role::SalesRep])
        .list_follow_ups(pb::ListFollowUpsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .follow_ups;
    assert!(theirs.is_empty());
    let hidden = app
        .payments("bob", &[Role::SalesRep])
        .get_follow_up(pb::GetFollowUpRequest {
            name: follow_up.name.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&hidden, "closeloop.contracts.v1.FollowUp", &follow_up.name);

    // Nothing is due for a retry before the first retry day; a day later it is.
    let due = |app: &TestApp| {
        let mut fin = app.finance();
        let now = app.clock.now_micros();
        async move {
            fin.list_invoices(pb::ListInvoicesRequest {
                parent: "contracts/-".into(),
                retry_due_before: Some(prost_types::Timestamp {
                    seconds: now / 1_000_000,
                    nanos: (now % 1_000_000) as i32 * 1000,
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .invoices
        }
    };
    assert!(due(&app).await.is_empty());
    app.clock.advance_days(1);
    assert_eq!(due(&app).await.len(), 1);

    let retried = processor
        .record_payment_attempt(failed(
            &first.name,
            400_000,
            pb::DeclineType::Soft,
            "insufficient_funds",
            "evt-f2",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(retried.payment_attempt.unwrap().dunning_retry);
    let dunning2 = retried.invoice.unwrap().dunning.unwrap();
    assert_eq!(dunning2.retries_remaining, 2);
    assert_eq!(dunning2.next_retry_time, Some(dunning.retry_times[1]));
    let same = retried.follow_up.unwrap();
    assert_eq!(same.name, follow_up.name, "one open follow-up per invoice");
    assert_eq!(same.payment_attempts.len(), 2);
    assert!(due(&app).await.is_empty(), "the next retry is on day 3");

    // Paid: the cycle ends and the follow-up resolves by itself.
    app.clock.advance_days(2);
    let settled = processor
        .record_payment_attempt(paid(&first.name, 400_000, "evt-p"))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(
        settled.dunning.unwrap().status,
        pb::DunningStatus::Ended as i32
    );
    assert!(settled.open_follow_up.is_empty());
    let resolved = app
        .finance()
        .get_follow_up(pb::GetFollowUpRequest {
            name: follow_up.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.status, pb::FollowUpStatus::Resolved as i32);
    assert_eq!(resolved.resolution_note, "paid");
    assert_eq!(
        resolved.resolved_by.unwrap().subject,
        "closeloop-contracts-payments"
    );
}

#[tokio::test]
async fn a_hard_decline_stops_retries_and_the_salesperson_resolves_the_task() {
    let app = TestApp::spawn().await;
    let (_, first, _) = placed(&app, "opp-hard").await;
    let answer = app
        .processor()
        .record_payment_attempt(failed(
            &first.name,
            400_000,
            pb::DeclineType::Hard,
            "card_expired",
            "evt-h",
        ))
        .await
        .unwrap()
        .into_inner();
    let dunning = answer.invoice.unwrap().dunning.unwrap();
    assert_eq!(dunning.status, pb::DunningStatus::HardDeclined as i32);
    assert_eq!(dunning.retries_remaining, 0);
    assert!(dunning.next_retry_time.is_none());
    let follow_up = answer.follow_up.unwrap();

    let mut ana = app.payments("ana", &[Role::SalesRep]);
    let empty = ana
        .resolve_follow_up(pb::ResolveFollowUpRequest {
            name: follow_up.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&empty, &["note"]);
    let done = ana
        .resolve_follow_up(pb::ResolveFollowUpRequest {
            name: follow_up.name.clone(),
            note: "Client sent a new card".into(),
            etag: follow_up.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, pb::FollowUpStatus::Resolved as i32);
    let twice = ana
        .resolve_follow_up(pb::ResolveFollowUpRequest {
            name: follow_up.name.clone(),
            note: "again".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&twice, "status", None);
    assert!(invoice(&app, &first.name).await.open_follow_up.is_empty());
}

#[tokio::test]
async fn void_and_write_off_follow_what_was_paid() {
    let app = TestApp::spawn().await;
    let (_, first, second) = placed(&app, "opp-void").await;
    let mut fin = app.finance();
    app.processor()
        .record_payment_attempt(paid(&first.name, 100_000, "evt-v1"))
        .await
        .unwrap();
    let refused = fin
        .void_invoice(pb::VoidInvoiceRequest {
            name: first.name.clone(),
            reason: "billed by mistake".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&refused, "payments_recorded", Some("amount_paid"));

    let voided = fin
        .void_invoice(pb::VoidInvoiceRequest {
            name: second.name.clone(),
            reason: "billed by mistake".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&voided), pb::InvoiceStatus::Void);
    assert_eq!(voided.status_reason, "billed by mistake");

    let written_off = fin
        .mark_invoice_uncollectible(pb::MarkInvoiceUncollectibleRequest {
            name: first.name.clone(),
            reason: "client insolvent".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&written_off), pb::InvoiceStatus::Uncollectible);
    let late = app
        .processor()
        .record_payment_attempt(paid(&first.name, 300_000, "evt-v2"))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(
        status(&late),
        pb::InvoiceStatus::Paid,
        "a late payment still counts"
    );

    let rep = app
        .payments("ana", &[Role::SalesRep])
        .void_invoice(pb::VoidInvoiceRequest {
            name: first.name.clone(),
            reason: "no".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(rep.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_contract_completes_once_delivered_and_paid() {
    let app = TestApp::spawn().await;
    let (contract, first, second) = placed(&app, "opp-complete").await;
    let mut ops = app.contracts("olga", &[Role::Operations]);
    ops.update_deliverable_status(pb::UpdateDeliverableStatusRequest {
        name: contract.name.clone(),
        deliverable_id: contract.deliverables[0].deliverable_id.clone(),
        status: pb::DeliverableStatus::Accepted as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut processor = app.processor();
    processor
        .record_payment_attempt(paid(&first.name, 400_000, "evt-c1"))
        .await
        .unwrap();
    let waiting = ops
        .complete_contract(pb::CompleteContractRequest {
            name: contract.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&waiting, "invoices", Some(second.name.as_str()));
    processor
        .record_payment_attempt(paid(&second.name, 600_000, "evt-c2"))
        .await
        .unwrap();
    let done = ops
        .complete_contract(pb::CompleteContractRequest {
            name: contract.name.clone(),
            notes: "all delivered".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, pb::ContractStatus::Completed as i32);
    assert!(done.close_time.is_some());
}

#[tokio::test]
async fn balances_are_zero_without_contracts_and_private_to_other_reps() {
    let app = TestApp::spawn().await;
    let zero = app
        .payments("acct-svc", &[Role::Service])
        .get_account_balance(pb::GetAccountBalanceRequest {
            account_id: "nobody".into(),
            currency_code: "EUR".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(zero.outstanding, money(0));
    assert_eq!(zero.worst_overdue_level, pb::OverdueLevel::None as i32);

    placed(&app, "opp-balance").await;
    let ana = app
        .payments("ana", &[Role::SalesRep])
        .get_account_balance(pb::GetAccountBalanceRequest {
            account_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ana.currency_code, "EUR");
    assert_eq!(ana.outstanding, money(400_000));
    assert_eq!(ana.scheduled, money(600_000));
    assert_eq!(ana.next_due_amount, money(400_000));
    assert_eq!(ana.active_contract_count, 1);
    assert_eq!(ana.contract_value_total, money(1_000_000));
    let bob = app
        .payments("bob", &[Role::SalesRep])
        .get_account_balance(pb::GetAccountBalanceRequest {
            account_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bob.code(), Code::PermissionDenied);

    let policy = app
        .payments("olga", &[Role::Operations])
        .get_payment_policy(pb::GetPaymentPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(policy.dunning_retry_days, [1, 3, 7]);
    assert_eq!(policy.overdue_ladder.len(), 3);
}

#[tokio::test]
async fn bad_payment_reports_name_every_field() {
    let app = TestApp::spawn().await;
    let (_, first, _) = placed(&app, "opp-bad").await;
    let refused = app
        .processor()
        .record_payment_attempt(pb::RecordPaymentAttemptRequest {
            parent: first.name.clone(),
            payment_attempt: Some(pb::PaymentAttempt {
                result: 0,
                amount: None,
                processor: String::new(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(
        &refused,
        &[
            "payment_attempt.amount",
            "payment_attempt.processor",
            "payment_attempt.result",
            "request_id",
        ],
    );
    let wrong_currency = app
        .processor()
        .record_payment_attempt(pb::RecordPaymentAttemptRequest {
            parent: first.name.clone(),
            payment_attempt: Some(pb::PaymentAttempt {
                result: pb::PaymentResult::Succeeded as i32,
                amount: Some(closeloop_proto::common::v1::Money {
                    currency_code: "USD".into(),
                    amount_minor: 100,
                }),
                processor: "stripe".into(),
                ..Default::default()
            }),
            request_id: "evt-usd".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(&wrong_currency, &["payment_attempt.amount"]);
}
