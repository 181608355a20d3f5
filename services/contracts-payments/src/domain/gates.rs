//! What must hold before a contract moves: the sending gates ("signers", "deliverables",
//! "payment_schedule", "terms"), the signatures an order waits for, and the completion gates
//! ("deliverables", "invoices"). Each unmet item is one violation with a stable gate and
//! subject, so a client can point at what is missing.

use closeloop_kit::error::GateViolation;
use closeloop_kit::types::Money;

use super::contract::Contract;
use super::vocabulary::{InvoiceStatus, SignerSide, SignerStatus};

fn blocker(gate: &str, subject: String, description: impl Into<String>) -> GateViolation {
    GateViolation {
        gate: gate.to_owned(),
        subject,
        description: description.into(),
    }
}

/// What prevents sending `contract` now, in the order of the package comment: empty when it
/// could be sent.
pub fn send_blockers(contract: &Contract) -> Vec<GateViolation> {
    let mut out = Vec::new();
    let c = contract;

    for (side, subject) in [
        (SignerSide::Client, "signers.client"),
        (SignerSide::Company, "signers.company"),
    ] {
        if !c.signers.iter().any(|s| s.side == side) {
            let who = if side == SignerSide::Client {
                "client"
            } else {
                "company"
            };
            out.push(blocker(
                "signers",
                subject.to_owned(),
                format!("at least one {who} signer is needed"),
            ));
        }
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, s) in c.signers.iter().enumerate() {
        match &s.contact.email {
            None => out.push(blocker(
                "signers",
                format!("signers[{i}].contact.email"),
                "the signer has no email",
            )),
            Some(email) => {
                let key = email.as_str().to_lowercase();
                if seen.contains(&key) {
                    out.push(blocker(
                        "signers",
                        format!("signers[{i}].contact.email"),
                        format!("{} is the email of an earlier signer", email.as_str()),
                    ));
                }
                seen.push(key);
            }
        }
    }

    if c.deliverables.is_empty() {
        out.push(blocker(
            "deliverables",
            "deliverables".into(),
            "at least one deliverable is needed",
        ));
    }
    for (i, d) in c.deliverables.iter().enumerate() {
        if d.due_date.is_none() {
            out.push(blocker(
                "deliverables",
                format!("deliverables[{i}].due_date"),
                "the deliverable has no due date",
            ));
        }
    }

    if c.schedule.is_empty() {
        out.push(blocker(
            "payment_schedule",
            "payment_schedule".into(),
            "at least one installment is needed",
        ));
    } else {
        let total = c
            .schedule
            .iter()
            .try_fold(0i64, |sum, i| sum.checked_add(i.amount));
        if total != Some(c.value()) {
            let money = |minor| Money::new(c.currency, minor);
            let sum = total.map_or_else(
                || "more than can be counted".to_owned(),
                |t| money(t).to_string(),
            );
            out.push(blocker(
                "payment_schedule",
                "payment_schedule.total".into(),
                format!(
                    "installments sum to {sum}, contract value is {}",
                    money(c.value())
                ),
            ));
        }
    }

    if c.terms.start_date.is_none() {
        out.push(blocker(
            "terms",
            "terms.start_date".into(),
            "the contract has no start date",
        ));
    }
    if c.terms.term_months.is_none() {
        out.push(blocker(
            "terms",
            "terms.term_months".into(),
            "the contract has no term",
        ));
    }
    out
}

/// The signers a SENT contract still waits for: one violation of gate "signatures" per
/// signer still PENDING.
pub fn pending_signatures(contract: &Contract) -> Vec<GateViolation> {
    contract
        .signers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status == SignerStatus::Pending)
        .map(|(i, s)| {
            blocker(
                "signatures",
                format!("signers[{i}]"),
                format!("{} has not signed yet", s.contact.display_name),
            )
        })
        .collect()
}

/// What prevents completing `contract`: deliverables not DELIVERED, ACCEPTED or CANCELLED
/// (gate "deliverables", subject `deliverables[i]`), and invoices not PAID, VOID or
/// UNCOLLECTIBLE (gate "invoices", subject the invoice's name). `invoices` are the contract's
/// invoices with their status today.
pub fn completion_blockers(
    contract: &Contract,
    invoices: &[(String, InvoiceStatus)],
) -> Vec<GateViolation> {
    let mut out: Vec<GateViolation> = contract
        .deliverables
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.status.is_done())
        .map(|(i, d)| {
            blocker(
                "deliverables",
                format!("deliverables[{i}]"),
                format!("{:?} is {}", d.description, d.status.code()),
            )
        })
        .collect();
    out.extend(
        invoices
            .iter()
            .filter(|(_, s)| {
                !matches!(
                    s,
                    InvoiceStatus::Paid | InvoiceStatus::Void | InvoiceStatus::Uncollectible
                )
            })
            .map(|(name, s)| {
                blocker(
                    "invoices",
                    name.clone(),
                    format!("the invoice is {}", s.code()),
                )
            }),
    );
    out
}
