//! Domain values into answers: accounts with their derived figures (contract value, annual
//! recurring revenue, next check-in, overdue obligations).

use closeloop_kit::convert::{date_to_proto, money_to_proto, timestamp};
use closeloop_kit::types::Money;
use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::common::v1 as common;

use super::enums::wire;
use crate::app::accounts::Seen;
use crate::domain::account::{AccountContact, ContractReference, Obligation, Outcome};
use crate::domain::check_ins::{CheckIn, DueCheckIn};
use crate::domain::health::{AccountHealth, PaymentStanding};
use crate::domain::lifetime_value::LifetimeValue;
use crate::domain::operations::{FeedEntry, OperationsUpdate, update_name};
use crate::domain::opportunities::{CREATE_OPPORTUNITY, Expansion, OpportunityRequest, Referral};
use crate::domain::portfolio::{PortfolioMetrics, PortfolioRow};
use crate::domain::vocabulary::{AccountId, Actor, Contact, Party, account_name};
use crate::owes;
use closeloop_kit::convert::owed_call_to_proto;
use closeloop_kit::outbox::{OwedState, OwedStatus};

fn money(m: Money) -> Option<common::Money> {
    Some(money_to_proto(m))
}

fn time(t: Option<i64>) -> Option<prost_types::Timestamp> {
    t.map(timestamp)
}

/// An actor on the wire.
pub fn actor(a: &Actor) -> common::Actor {
    common::Actor {
        subject: a.subject.clone(),
        role: a.role.clone(),
    }
}

/// A party on the wire.
pub fn party(p: &Party) -> common::Party {
    common::Party {
        account_id: p.account_id.clone(),
        display_name: p.display_name.clone(),
    }
}

/// A contact on the wire.
pub fn contact(c: &Contact) -> common::Contact {
    common::Contact {
        display_name: c.display_name.clone(),
        email: c
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        phone: c.phone.clone(),
        title: c.title.clone(),
    }
}

fn contract(seen: &Seen<'_>, c: &ContractReference) -> pb::ContractReference {
    pb::ContractReference {
        contract: c.contract.clone(),
        opportunity: c.opportunity.clone(),
        handoff: c.handoff.clone(),
        value: money(c.value),
        start_date: Some(date_to_proto(c.start_date)),
        end_date: c.end_date.map(date_to_proto),
        term_months: c.term_months,
        auto_renew: c.auto_renew,
        gross_margin_bps: c.gross_margin_bps,
        title: c.title.clone(),
        annual_value: money(c.annual_value()),
        in_force: seen.account.in_force(c, seen.today),
    }
}

fn outcome(o: &Outcome) -> pb::Outcome {
    pb::Outcome {
        outcome_id: o.id.clone(),
        goal: o.goal.clone(),
        success_criteria: o.success_criteria.clone(),
        target_date: o.target_date.map(date_to_proto),
        status: wire::<pb::OutcomeStatus, _>(o.status),
        progress_percent: o.progress_percent,
        progress_note: o.progress_note.clone(),
        progress_update_time: time(o.progress_update_time),
        last_check_in: o.last_check_in.clone(),
    }
}

fn obligation(seen: &Seen<'_>, o: &Obligation) -> pb::Obligation {
    pb::Obligation {
        obligation_id: o.id.clone(),
        party: wire::<pb::ObligationParty, _>(o.party),
        kind: wire::<common::ObligationKind, _>(o.kind),
        description: o.description.clone(),
        due_date: o.due_date.map(date_to_proto),
        amount: o.amount.and_then(money),
        contract: o.contract.clone(),
        external_id: o.external_id.clone(),
        status: wire::<common::ObligationStatus, _>(o.status),
        status_note: o.status_note.clone(),
        overdue: o.overdue(seen.today),
        status_update_time: time(o.status_update_time),
        status_updated_by: o.status_updated_by.as_ref().map(actor),
    }
}

fn account_contact(c: &AccountContact) -> pb::AccountContact {
    pb::AccountContact {
        contact: Some(contact(&c.contact)),
        role: wire::<pb::ContactRole, _>(c.role),
        primary: c.primary,
    }
}

/// An account as the caller sees it today.
pub fn account(seen: Seen<'_>) -> pb::Account {
    let a = seen.account;
    pb::Account {
        name: a.name(),
        customer: Some(party(&a.customer)),
        handoff: a.handoff.clone(),
        account_manager: a.account_manager.clone(),
        salesperson: a.salesperson.clone(),
        status: wire::<pb::AccountStatus, _>(a.status),
        currency_code: a.currency.as_str().to_owned(),
        start_date: Some(date_to_proto(a.start_date)),
        contracts: a.contracts.iter().map(|c| contract(&seen, c)).collect(),
        contract_value: money(a.contract_value(seen.today)),
        annual_contract_value: money(a.annual_contract_value(seen.today)),
        outcomes: a.outcomes.iter().map(outcome).collect(),
        obligations: a.obligations.iter().map(|o| obligation(&seen, o)).collect(),
        contacts: a.contacts.iter().map(account_contact).collect(),
        needs: a.needs.clone(),
        check_in_cadence_days: a.check_in_cadence_days.unwrap_or(0),
        last_check_in_time: a.last_check_in.map(|c| timestamp(c.time)),
        last_satisfaction: a.last_check_in.map_or(0, |c| c.satisfaction),
        next_check_in_date: a.next_check_in_date(seen.policy).map(date_to_proto),
        check_in_overdue: a.check_in_overdue(seen.policy, seen.today),
        open_issue_count: a.open_issue_count,
        status_reason: a.status_reason.clone(),
        churn: a.churn.as_ref().map(|c| pb::ChurnRecord {
            churn_date: Some(date_to_proto(c.churn_date)),
            reason: wire::<pb::ChurnReason, _>(c.reason),
            notes: c.notes.clone(),
        }),
        status_history: a
            .status_history
            .iter()
            .map(|h| pb::StatusChange {
                from_status: h.from.map_or(0, wire::<pb::AccountStatus, _>),
                to_status: wire::<pb::AccountStatus, _>(h.to),
                reason: h.reason.clone(),
                churn_reason: h.churn_reason.map_or(0, wire::<pb::ChurnReason, _>),
                effective_date: Some(date_to_proto(h.effective_date)),
                actor: Some(actor(&h.actor)),
                change_time: Some(timestamp(h.time)),
            })
            .collect(),
        notes: a.notes.clone(),
        create_time: Some(timestamp(a.create_time)),
        update_time: Some(timestamp(a.update_time)),
        etag: a.etag(),
    }
}

fn standing(s: &PaymentStanding) -> pb::PaymentStanding {
    let m = |minor: i64| money(Money::new(s.currency, minor));
    pb::PaymentStanding {
        paid_to_date: m(s.paid_to_date),
        outstanding: m(s.outstanding),
        overdue: m(s.overdue),
        next_due_date: s.next_due_date.map(date_to_proto),
        next_due_amount: m(s.next_due_amount),
        read_time: Some(timestamp(s.read_time)),
    }
}

fn name(id: &AccountId) -> String {
    account_name(id)
}

/// An account's health.
pub fn health(h: &AccountHealth) -> pb::AccountHealth {
    pb::AccountHealth {
        account: name(&h.account),
        score: h.score,
        band: wire::<pb::HealthBand, _>(h.band),
        factors: h
            .factors
            .iter()
            .map(|f| pb::HealthFactor {
                factor: wire::<pb::HealthFactorKind, _>(f.kind),
                available: f.available,
                score: f.score,
                weight_percent: f.weight_percent,
                applied_weight_bps: f.applied_weight_bps,
                contribution: f.contribution,
                explanation: f.explanation.clone(),
            })
            .collect(),
        payment_data_unavailable: h.payment_data_unavailable,
        payment_standing: h.payment_standing.as_ref().map(standing),
        account_status: wire::<pb::AccountStatus, _>(h.account_status),
        compute_time: Some(timestamp(h.compute_time)),
    }
}

/// A customer's lifetime value.
pub fn lifetime_value(v: &LifetimeValue) -> pb::CustomerLifetimeValue {
    pb::CustomerLifetimeValue {
        account: name(&v.account),
        currency_code: v.currency.as_str().to_owned(),
        realised_revenue: money(v.realised_revenue),
        realised_revenue_estimated: v.realised_revenue_estimated,
        expected_annual_revenue: money(v.expected_annual_revenue),
        gross_margin_bps: v.gross_margin_bps,
        gross_margin_default_used: v.gross_margin_default_used,
        annual_churn_rate_bps: v.annual_churn_rate_bps,
        churn_rate_default_used: v.churn_rate_default_used,
        expected_lifetime_years: v.expected_lifetime_years,
        tenure_years: v.tenure_years,
        realised_gross_profit: money(v.realised_gross_profit),
        expected_future_gross_profit: money(v.expected_future_gross_profit),
        lifetime_value: money(v.lifetime_value),
        formula: v.formula.to_owned(),
        payment_data_unavailable: v.payment_data_unavailable,
        payment_standing: v.payment_standing.as_ref().map(standing),
        notes: v.notes.clone(),
        compute_time: Some(timestamp(v.compute_time)),
    }
}

/// A check-in on the wire.
pub fn check_in(c: &CheckIn) -> pb::CheckIn {
    pb::CheckIn {
        name: c.name(),
        check_in_time: Some(timestamp(c.check_in_time)),
        satisfaction: c.satisfaction,
        outcome_progress: c
            .outcome_progress
            .iter()
            .map(|p| pb::OutcomeProgress {
                outcome_id: p.outcome_id.clone(),
                progress_percent: p.progress_percent,
                status: wire::<pb::OutcomeStatus, _>(p.status),
                note: p.note.clone(),
                goal: p.goal.clone(),
            })
            .collect(),
        notes: c.notes.clone(),
        channel: c.channel.map_or(0, wire::<pb::CheckInChannel, _>),
        attendees: c.attendees.iter().map(contact).collect(),
        recorded_by: Some(actor(&c.recorded_by)),
        create_time: Some(timestamp(c.create_time)),
        satisfaction_change: c.satisfaction_change,
    }
}

/// A due check-in on the wire.
pub fn due_check_in(d: &DueCheckIn) -> pb::DueCheckIn {
    pb::DueCheckIn {
        account: name(&d.account),
        customer: Some(party(&d.customer)),
        account_manager: d.account_manager.clone(),
        account_status: wire::<pb::AccountStatus, _>(d.account_status),
        last_check_in_time: d.last_check_in.map(|c| timestamp(c.time)),
        last_satisfaction: d.last_check_in.map_or(0, |c| c.satisfaction),
        due_date: Some(date_to_proto(d.due_date)),
        overdue: d.overdue,
        days_overdue: d.days_overdue,
        cadence_days: d.cadence_days,
    }
}

/// An operations update on the wire.
pub fn operations_update(u: &OperationsUpdate) -> pb::OperationsUpdate {
    pb::OperationsUpdate {
        name: u.name(),
        kind: wire::<pb::OperationsUpdateKind, _>(u.kind),
        severity: wire::<pb::Severity, _>(u.severity),
        title: u.title.clone(),
        body: u.body.clone(),
        occur_time: Some(timestamp(u.occur_time)),
        measurements: u
            .measurements
            .iter()
            .map(|m| pb::Measurement {
                metric: m.metric.clone(),
                value: m.value,
                unit: m.unit.clone(),
                target: m.target,
                target_met: m.target_met,
            })
            .collect(),
        resolves: u
            .resolves
            .as_ref()
            .map(|id| update_name(&u.account, id))
            .unwrap_or_default(),
        obligation_id: u.obligation_id.clone(),
        external_ref: u.external_ref.clone(),
        issue_state: u.issue_state.map_or(0, wire::<pb::IssueState, _>),
        resolved_by: u
            .resolved_by
            .as_ref()
            .map(|id| update_name(&u.account, id))
            .unwrap_or_default(),
        resolve_time: time(u.resolve_time),
        posted_by: Some(actor(&u.posted_by)),
        create_time: Some(timestamp(u.create_time)),
    }
}

/// A feed entry on the wire.
pub fn feed_entry(e: &FeedEntry) -> pb::FeedEntry {
    pb::FeedEntry {
        operations_update: Some(operations_update(&e.update)),
        account: e.account.clone(),
        customer: Some(party(&e.customer)),
        account_manager: e.account_manager.clone(),
        account_status: wire::<pb::AccountStatus, _>(e.account_status),
    }
}

/// An expansion on the wire, with its owed call's state.
pub fn expansion(e: &Expansion, owed: &OwedStatus) -> pb::Expansion {
    let call = owes::call_state(owed);
    pb::Expansion {
        name: e.name(),
        kind: wire::<pb::ExpansionKind, _>(e.kind),
        title: e.title.clone(),
        description: e.description.clone(),
        estimated_value: e.estimated_value.and_then(money),
        expected_close_date: Some(date_to_proto(e.expected_close_date)),
        renews_contract: e.renews_contract.clone().unwrap_or_default(),
        prior_contract_value: e.prior_contract_value.and_then(money),
        owner: e.owner.clone(),
        status: wire::<pb::OpportunityRequestStatus, _>(e.request.status(Some(&call))),
        opportunity: opened(&e.request, owed).0,
        failure_reason: e.request.failure_reason(Some(&call)).to_owned(),
        identified_by: Some(actor(&e.identified_by)),
        create_time: Some(timestamp(e.create_time)),
        open_time: opened(&e.request, owed).1,
        create_opportunity_call: Some(owed_call_to_proto(
            CREATE_OPPORTUNITY,
            &e.request.command_id,
            owed,
        )),
    }
}

/// The opportunity a CreateOpportunity call opened, and when: recorded on the request, or else
/// read from the opportunities service's answer, which the outbox keeps with the delivery.
fn opened(
    request: &OpportunityRequest,
    owed: &OwedStatus,
) -> (String, Option<prost_types::Timestamp>) {
    if let Some(name) = &request.opportunity {
        return (name.clone(), time(request.open_time));
    }
    let answer = match (&owed.state, &owed.answer) {
        (OwedState::Delivered, Some(answer)) => answer,
        _ => return (String::new(), None),
    };
    match <closeloop_proto::opportunities::v1::Opportunity as prost::Message>::decode(
        answer.as_slice(),
    ) {
        Ok(o) => (
            o.name,
            (owed.state_change_time > 0).then(|| timestamp(owed.state_change_time)),
        ),
        Err(_) => (String::new(), None),
    }
}

/// A referral on the wire, with its owed call's state.
pub fn referral(r: &Referral, owed: &OwedStatus) -> pb::Referral {
    let call = owes::call_state(owed);
    pb::Referral {
        name: r.name(),
        referred_company: Some(party(&r.referred_company)),
        contact: Some(contact(&r.contact)),
        title: r.title.clone(),
        notes: r.notes.clone(),
        owner: r.owner.clone(),
        expected_close_date: Some(date_to_proto(r.expected_close_date)),
        status: wire::<pb::OpportunityRequestStatus, _>(r.request.status(Some(&call))),
        opportunity: opened(&r.request, owed).0,
        failure_reason: r.request.failure_reason(Some(&call)).to_owned(),
        recorded_by: Some(actor(&r.recorded_by)),
        create_time: Some(timestamp(r.create_time)),
        open_time: opened(&r.request, owed).1,
        create_opportunity_call: Some(owed_call_to_proto(
            CREATE_OPPORTUNITY,
            &r.request.command_id,
            owed,
        )),
        contact_role: owes::stakeholder_role(r.contact_role) as i32,
    }
}

fn portfolio_row(
    currency: closeloop_kit::types::CurrencyCode,
    r: &PortfolioRow,
) -> pb::PortfolioMetricsRow {
    let m = |minor: i64| money(Money::new(currency, minor));
    pb::PortfolioMetricsRow {
        account_manager: r.account_manager.clone(),
        starting_account_count: r.starting_account_count,
        retained_account_count: r.retained_account_count,
        churned_account_count: r.churned_account_count,
        new_account_count: r.new_account_count,
        starting_recurring_revenue: m(r.starting_recurring_revenue),
        ending_recurring_revenue: m(r.ending_recurring_revenue),
        expansion_revenue: m(r.expansion_revenue),
        contraction_revenue: m(r.contraction_revenue),
        churned_revenue: m(r.churned_revenue),
        new_recurring_revenue: m(r.new_recurring_revenue),
        net_revenue_retention_bps: r.net_revenue_retention_bps,
        gross_revenue_retention_bps: r.gross_revenue_retention_bps,
        logo_retention_bps: r.logo_retention_bps,
    }
}

/// Portfolio metrics on the wire.
pub fn portfolio(p: &PortfolioMetrics) -> pb::PortfolioMetrics {
    pb::PortfolioMetrics {
        account_managers: p.account_managers.clone(),
        period: Some(closeloop_kit::convert::date_range_to_proto((
            p.first_day,
            p.last_day,
        ))),
        currency_code: p.currency.as_str().to_owned(),
        rows: p
            .rows
            .iter()
            .map(|r| portfolio_row(p.currency, r))
            .collect(),
        total: Some(portfolio_row(p.currency, &p.total)),
    }
}
