//! The opportunity aggregate: what it holds, the figures derived from it (amount, margin,
//! probability, forecast category), its creation and update, and its moves between open stages.
//! Line items, gates and the close live beside it (`line_items`, `gates`, `closing`); every
//! change goes through a method that enforces the rules, and a closed opportunity refuses them
//! all.

use closeloop_kit::Problem;
use closeloop_kit::error::Violations;
use closeloop_kit::types::{CurrencyCode, Money};
use time::Date;

use super::gates::{self, HISTORY_LIMIT};
use super::policy::Policy;
use super::stage::{ForecastCategory, Stage};

pub use super::closing::MAX_BACKDATE_DAYS;
pub use super::commands::{
    Closing, LineItemPatch, NewLineItem, NewOpportunity, Patch, QualificationAnswers,
};
pub use super::line_items::{
    DiscountApproval, LineItem, MAX_APPROVALS, MAX_QUANTITY, MAX_UNIT_MINOR, check_quantity,
    clamp_bps,
};
pub use super::vocabulary::{
    Actor, CloseRecord, Contact, DisqualificationReason, EvaluationProcess, EvaluationStep, Kind,
    LossReason, NextStep, Objective, OpportunityId, Outcome, Party, Qualification, Source,
    StageChange, Stakeholder, StakeholderRole, competitor_key,
};

/// Most line items on one opportunity.
pub const MAX_LINE_ITEMS: usize = 200;
/// Largest opportunity amount (and prior contract value), in minor units.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;
/// Most stage changes one opportunity keeps. Moves between open stages stop one short of it, so
/// the close always fits.
pub const MAX_STAGE_CHANGES: usize = 500;

/// A sale from first contact to its close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opportunity {
    /// Id (the `{opportunity}` of the resource name).
    pub id: OpportunityId,
    /// The customer.
    pub account: Party,
    /// The salesperson.
    pub owner: String,
    /// Short description.
    pub title: String,
    /// Long description.
    pub description: String,
    /// Incremental or baseline.
    pub kind: Kind,
    /// Where it came from.
    pub source: Source,
    /// Current stage.
    pub stage: Stage,
    /// Currency of every amount.
    pub currency: CurrencyCode,
    /// Expected close.
    pub expected_close_date: Date,
    /// People in the decision.
    pub stakeholders: Vec<Stakeholder>,
    /// The client's desired outcomes.
    pub objectives: Vec<Objective>,
    /// How the client decides.
    pub evaluation: EvaluationProcess,
    /// Priced products.
    pub line_items: Vec<LineItem>,
    /// The qualification answers.
    pub qualification: Option<Qualification>,
    /// Next action.
    pub next_step: Option<NextStep>,
    /// Renewals: value of the contract renewed (minor units).
    pub prior_contract_value: Option<i64>,
    /// Referrals: who referred.
    pub referring_account: Option<Party>,
    /// Stage changes, oldest first.
    pub stage_history: Vec<StageChange>,
    /// Set when closed.
    pub close: Option<CloseRecord>,
    /// Probability override (percent, 1–99).
    pub probability_override: Option<i32>,
    /// Forecast category override.
    pub forecast_override: Option<ForecastCategory>,
    /// Times the expected close date moved later.
    pub push_count: i32,
    /// When the current stage was entered (µs).
    pub stage_entered: i64,
    /// Creation time (µs).
    pub create_time: i64,
    /// Last change (µs).
    pub update_time: i64,
    /// Optimistic-concurrency version; the etag.
    pub version: i64,
    /// Next line item number.
    pub next_line_item: u32,
}

fn to_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

impl Opportunity {
    /// Creates an opportunity from checked fields. `initial` is PROSPECTING or QUALIFICATION.
    ///
    /// # Errors
    /// INVALID_ARGUMENT when the fields are inconsistent with each other (e.g. a renewal without
    /// a prior contract value) or `initial` is not allowed.
    pub fn create(
        id: OpportunityId,
        new: NewOpportunity,
        owner: String,
        initial: Stage,
        now: i64,
    ) -> Result<Opportunity, Problem> {
        if !matches!(initial, Stage::Prospecting | Stage::Qualification) {
            return Err(Problem::invalid(
                "initial_stage",
                "an opportunity starts in PROSPECTING or QUALIFICATION",
            ));
        }
        let mut v = Violations::new();
        let prior_contract_value = new
            .prior_contract_value
            .and_then(|m| check_prior_value(&mut v, m, new.currency));
        v.into_result()?;
        let opportunity = Opportunity {
            id,
            account: new.account,
            owner,
            title: new.title,
            description: new.description,
            kind: new.kind,
            source: new.source,
            stage: initial,
            currency: new.currency,
            expected_close_date: new.expected_close_date,
            stakeholders: new.stakeholders,
            objectives: new.objectives,
            evaluation: new.evaluation,
            line_items: Vec::new(),
            qualification: None,
            next_step: new.next_step,
            prior_contract_value,
            referring_account: new.referring_account,
            stage_history: Vec::new(),
            close: None,
            probability_override: new.probability_override,
            forecast_override: new.forecast_override,
            push_count: 0,
            stage_entered: now,
            create_time: now,
            update_time: now,
            version: 1,
            next_line_item: 1,
        };
        opportunity.check_consistency()?;
        opportunity.check_overrides()?;
        Ok(opportunity)
    }

    /// The resource name.
    pub fn name(&self) -> String {
        format!("opportunities/{}", self.id)
    }

    /// The etag clients send back.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    /// Refuses when `etag` is set and does not match.
    ///
    /// # Errors
    /// ABORTED on mismatch.
    pub fn check_etag(&self, etag: &str) -> Result<(), Problem> {
        if etag.is_empty() || etag == self.etag() {
            Ok(())
        } else {
            Err(Problem::Aborted(format!(
                "etag {etag} does not match the current {}: the opportunity changed; read it again",
                self.etag()
            )))
        }
    }

    // ---- derived figures -------------------------------------------------------------------

    /// Sum of line amounts (minor units).
    pub fn amount(&self) -> i64 {
        to_i64(self.line_items.iter().map(LineItem::amount).sum())
    }

    /// Sum of list amounts.
    pub fn list_amount(&self) -> i64 {
        to_i64(self.line_items.iter().map(LineItem::list_amount).sum())
    }

    /// Gross margin in basis points (0 without revenue).
    pub fn margin_bps(&self) -> i32 {
        let revenue: i128 = self.line_items.iter().map(LineItem::amount).sum();
        let cost: i128 = self.line_items.iter().map(LineItem::cost).sum();
        if revenue <= 0 {
            return 0;
        }
        clamp_bps((revenue - cost) * 10_000 / revenue)
    }

    /// Win probability in percent.
    pub fn probability(&self, policy: &Policy) -> i32 {
        match self.probability_override {
            Some(p) if self.stage.is_open() => p,
            _ => policy.probability(self.stage),
        }
    }

    /// Forecast category.
    pub fn forecast_category(&self) -> ForecastCategory {
        match self.forecast_override {
            Some(c) if self.stage.is_open() => c,
            _ => ForecastCategory::default_for(self.stage),
        }
    }

    /// amount × probability.
    pub fn weighted_amount(&self, policy: &Policy) -> i64 {
        to_i64(i128::from(self.amount()) * i128::from(self.probability(policy)) / 100)
    }

    /// The date the opportunity counts on in a forecast: close date when closed, else expected.
    pub fn forecast_date(&self) -> Date {
        self.close
            .as_ref()
            .map_or(self.expected_close_date, |c| c.close_date)
    }

    // ---- changes ---------------------------------------------------------------------------

    pub(super) fn touch(&mut self, now: i64) {
        self.update_time = now;
    }

    /// Applies an update.
    ///
    /// # Errors
    /// FAILED_PRECONDITION when closed, when changing currency with line items, or an override
    /// does not fit the stage; INVALID_ARGUMENT when the result is inconsistent.
    pub fn update(&mut self, patch: Patch, now: i64) -> Result<(), Problem> {
        self.ensure_open()?;
        let mut next = self.clone();
        if let Some(v) = patch.title {
            next.title = v;
        }
        if let Some(v) = patch.description {
            next.description = v;
        }
        if let Some(v) = patch.account {
            next.account = v;
        }
        if let Some(v) = patch.owner {
            next.owner = v;
        }
        if let Some(v) = patch.kind {
            next.kind = v;
        }
        if let Some(v) = patch.source {
            next.source = v;
        }
        if let Some(v) = patch.currency
            && v != next.currency
        {
            if !next.line_items.is_empty() {
                return Err(Problem::gate(
                    gates::CURRENCY_LOCKED,
                    "currency_code",
                    "the currency is fixed once line items exist; remove them first",
                ));
            }
            if next.prior_contract_value.is_some() && patch.prior_contract_value.is_none() {
                return Err(Problem::invalid(
                    "prior_contract_value",
                    format!(
                        "is in {}; changing the currency needs a new prior contract value in {v} \
                         (name both in the update mask)",
                        next.currency
                    ),
                ));
            }
            next.currency = v;
        }
        if let Some(v) = patch.expected_close_date {
            if v > next.expected_close_date {
                next.push_count += 1;
            }
            next.expected_close_date = v;
        }
        if let Some(v) = patch.stakeholders {
            next.stakeholders = v;
        }
        if let Some(v) = patch.objectives {
            next.objectives = v;
        }
        if let Some(v) = patch.evaluation {
            next.evaluation = v;
        }
        if let Some(v) = patch.next_step {
            next.next_step = v;
        }
        if let Some(v) = patch.prior_contract_value {
            let mut violations = Violations::new();
            next.prior_contract_value =
                v.and_then(|m| check_prior_value(&mut violations, m, next.currency));
            violations.into_result()?;
        }
        if let Some(v) = patch.referring_account {
            next.referring_account = v;
        }
        if let Some(v) = patch.probability_override {
            next.probability_override = v;
        }
        if let Some(v) = patch.forecast_override {
            next.forecast_override = v;
        }
        next.check_consistency()?;
        next.check_overrides()?;
        next.touch(now);
        *self = next;
        Ok(())
    }

    /// Cross-field rules that hold for every opportunity.
    fn check_consistency(&self) -> Result<(), Problem> {
        let mut v = Violations::new();
        if self.kind == Kind::Renewal && self.prior_contract_value.is_none() {
            v.add(
                "prior_contract_value",
                "required for a RENEWAL: the value of the contract being renewed",
            );
        }
        if self.source == Source::Referral && self.referring_account.is_none() {
            v.add("referring_account", "required when the source is REFERRAL");
        }
        if self.stakeholders.iter().filter(|s| s.primary).count() > 1 {
            v.add("stakeholders", "at most one stakeholder can be primary");
        }
        v.into_result()
    }

    fn check_overrides(&self) -> Result<(), Problem> {
        if let Some(category) = self.forecast_override
            && let Some(why) = category.override_refused(self.stage)
        {
            return Err(Problem::gate(
                gates::FORECAST_OVERRIDE,
                "forecast_category_override",
                why,
            ));
        }
        Ok(())
    }

    /// Records the qualification answers.
    ///
    /// # Errors
    /// FAILED_PRECONDITION when closed.
    pub fn qualify(
        &mut self,
        answers: QualificationAnswers,
        actor: Actor,
        now: i64,
    ) -> Result<(), Problem> {
        self.ensure_open()?;
        self.qualification = Some(Qualification {
            client_benefit: answers.client_benefit,
            realistic_expectations: answers.realistic_expectations,
            mature_partner: answers.mature_partner,
            notes: answers.notes,
            assessed_by: actor,
            time: now,
        });
        self.touch(now);
        Ok(())
    }

    /// Enters `to`, recording the change; overrides reset.
    pub(super) fn enter(&mut self, to: Stage, actor: Actor, now: i64) {
        self.stage_history.push(StageChange {
            from: self.stage,
            to,
            time: now,
            actor,
            time_in_stage: (now - self.stage_entered).max(0),
        });
        self.stage = to;
        self.stage_entered = now;
        // Overrides were judgements about the old stage.
        self.probability_override = None;
        self.forecast_override = None;
        self.touch(now);
    }

    /// Moves to another open stage, subject to the gates.
    ///
    /// # Errors
    /// INVALID_ARGUMENT for a closed target (use [`Opportunity::close`]); FAILED_PRECONDITION
    /// naming each unmet gate or the forbidden move.
    pub fn move_to(
        &mut self,
        to: Stage,
        actor: Actor,
        policy: &Policy,
        now: i64,
    ) -> Result<(), Problem> {
        if !to.is_open() {
            return Err(Problem::invalid(
                "stage",
                "must be an open stage; use CloseOpportunity to close",
            ));
        }
        if self.stage_history.len() + 1 >= MAX_STAGE_CHANGES {
            return Err(Problem::gate(
                HISTORY_LIMIT,
                "stage_history",
                format!(
                    "the opportunity has moved {} times, the most it records before its close; \
                     close it, or open a new opportunity",
                    self.stage_history.len()
                ),
            ));
        }
        self.check_transition(to, policy)?;
        self.enter(to, actor, now);
        Ok(())
    }
}

fn check_prior_value(v: &mut Violations, m: Money, currency: CurrencyCode) -> Option<i64> {
    let field = "prior_contract_value";
    if m.currency != currency {
        v.add(
            field,
            format!("must be in the opportunity's currency {currency}"),
        );
        None
    } else if m.minor <= 0 || m.minor > MAX_AMOUNT_MINOR {
        v.add(
            field,
            format!("must be positive and at most {MAX_AMOUNT_MINOR}"),
        );
        None
    } else {
        Some(m.minor)
    }
}
