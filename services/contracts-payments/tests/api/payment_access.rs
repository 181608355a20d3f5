//! Who may call what on PaymentService, as the proto's authorization table says: every role
//! against every method, and a `sales_rep` kept to its own invoices, attempts and follow-ups.

use closeloop_kit::Role;
use closeloop_proto::contracts::v1 as pb;
use tonic::{Code, Status};

use crate::helpers::*;

const MISSING_INVOICE: &str =
    "contracts/0190a4d2-0000-7000-8000-000000000000/invoices/0190a4d2-0000-7000-8000-000000000001";
const MISSING_FOLLOW_UP: &str = "followUps/0190a4d2-0000-7000-8000-000000000002";

/// Each method, the roles the proto lets call it, and one call of it.
type Call =
    fn(Payments) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Status>> + Send>>;

fn table() -> Vec<(&'static str, &'static [Role], Call)> {
    use Role::*;
    const ALL: &[Role] = &Role::ALL;
    vec![
        ("GetInvoice", ALL, |mut c| {
            Box::pin(async move {
                c.get_invoice(pb::GetInvoiceRequest {
                    name: MISSING_INVOICE.into(),
                })
                .await
                .map(drop)
            })
        }),
        ("ListInvoices", ALL, |mut c| {
            Box::pin(async move {
                c.list_invoices(pb::ListInvoicesRequest {
                    parent: "contracts/-".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
            })
        }),
        ("GetPaymentAttempt", ALL, |mut c| {
            Box::pin(async move {
                c.get_payment_attempt(pb::GetPaymentAttemptRequest {
                    name: format!(
                        "{MISSING_INVOICE}/paymentAttempts/0190a4d2-0000-7000-8000-000000000003"
                    ),
                })
                .await
                .map(drop)
            })
        }),
        ("ListPaymentAttempts", ALL, |mut c| {
            Box::pin(async move {
                c.list_payment_attempts(pb::ListPaymentAttemptsRequest {
                    parent: "contracts/-/invoices/-".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
            })
        }),
        ("RecordPaymentAttempt", &[Finance, Service], |mut c| {
            Box::pin(async move {
                c.record_payment_attempt(paid(MISSING_INVOICE, 100, "evt-access"))
                    .await
                    .map(drop)
            })
        }),
        ("VoidInvoice", &[Finance], |mut c| {
            Box::pin(async move {
                c.void_invoice(pb::VoidInvoiceRequest {
                    name: MISSING_INVOICE.into(),
                    reason: "access".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
            })
        }),
        ("MarkInvoiceUncollectible", &[Finance], |mut c| {
            Box::pin(async move {
                c.mark_invoice_uncollectible(pb::MarkInvoiceUncollectibleRequest {
                    name: MISSING_INVOICE.into(),
                    reason: "access".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
            })
        }),
        (
            "GetFollowUp",
            &[SalesRep, SalesManager, Finance, AccountManager],
            |mut c| {
                Box::pin(async move {
                    c.get_follow_up(pb::GetFollowUpRequest {
                        name: MISSING_FOLLOW_UP.into(),
                    })
                    .await
                    .map(drop)
                })
            },
        ),
        (
            "ListFollowUps",
            &[SalesRep, SalesManager, Finance, AccountManager],
            |mut c| {
                Box::pin(async move {
                    c.list_follow_ups(pb::ListFollowUpsRequest::default())
                        .await
                        .map(drop)
                })
            },
        ),
        (
            "ResolveFollowUp",
            &[SalesRep, SalesManager, Finance],
            |mut c| {
                Box::pin(async move {
                    c.resolve_follow_up(pb::ResolveFollowUpRequest {
                        name: MISSING_FOLLOW_UP.into(),
                        note: "access".into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
                })
            },
        ),
        (
            "GetAccountBalance",
            &[SalesRep, SalesManager, Finance, AccountManager, Service],
            |mut c| {
                Box::pin(async move {
                    c.get_account_balance(pb::GetAccountBalanceRequest {
                        account_id: "acme".into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
                })
            },
        ),
        ("GetPaymentPolicy", ALL, |mut c| {
            Box::pin(async move {
                c.get_payment_policy(pb::GetPaymentPolicyRequest {})
                    .await
                    .map(drop)
            })
        }),
    ]
}

#[tokio::test]
async fn every_role_against_every_payment_method() {
    let app = TestApp::spawn().await;
    // "ana" owns a contract of acme, so her balance read is allowed by ownership.
    app.active("opp-access", "ana").await;
    for (method, allowed, call) in table() {
        for role in Role::ALL {
            let client = app.payments("ana", &[role]);
            let answer = call(client).await;
            let denied = matches!(&answer, Err(s) if s.code() == Code::PermissionDenied);
            assert_eq!(
                denied,
                !allowed.contains(&role),
                "{method} as {}: {answer:?}",
                role.as_str()
            );
        }
    }
}

#[tokio::test]
async fn a_sales_rep_sees_only_its_own_invoices_attempts_and_follow_ups() {
    let app = TestApp::spawn().await;
    let placed = app.active("opp-own", "ana").await;
    let invoice = placed.invoices[0].name.clone();
    let answer = app
        .processor()
        .record_payment_attempt(failed(
            &invoice,
            100,
            pb::DeclineType::Soft,
            "insufficient_funds",
            "evt-own",
        ))
        .await
        .unwrap()
        .into_inner();
    let attempt = answer.payment_attempt.unwrap().name;
    let follow_up = answer.follow_up.unwrap().name;

    let mut bob = app.payments("bob", &[Role::SalesRep]);
    let status = bob
        .get_invoice(pb::GetInvoiceRequest {
            name: invoice.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.contracts.v1.Invoice", &invoice);
    let status = bob
        .get_payment_attempt(pb::GetPaymentAttemptRequest {
            name: attempt.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.contracts.v1.PaymentAttempt", &attempt);
    let status = bob
        .resolve_follow_up(pb::ResolveFollowUpRequest {
            name: follow_up.clone(),
            note: "not mine".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.contracts.v1.FollowUp", &follow_up);
    let listed = bob
        .list_invoices(pb::ListInvoicesRequest {
            parent: "contracts/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.invoices.is_empty(), "only its own, and it has none");
    let attempts = bob
        .list_payment_attempts(pb::ListPaymentAttemptsRequest {
            parent: "contracts/-/invoices/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(attempts.payment_attempts.is_empty());
    for status in [
        bob.list_invoices(pb::ListInvoicesRequest {
            parent: "contracts/-".into(),
            owner: "ana".into(),
            ..Default::default()
        })
        .await
        .unwrap_err(),
        bob.list_follow_ups(pb::ListFollowUpsRequest {
            assignee: "ana".into(),
            ..Default::default()
        })
        .await
        .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }

    // Ana sees hers.
    let mut ana = app.payments("ana", &[Role::SalesRep]);
    ana.get_invoice(pb::GetInvoiceRequest { name: invoice })
        .await
        .unwrap();
    ana.get_payment_attempt(pb::GetPaymentAttemptRequest { name: attempt })
        .await
        .unwrap();
    let listed = ana
        .list_follow_ups(pb::ListFollowUpsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.follow_ups.len(), 1);
}
