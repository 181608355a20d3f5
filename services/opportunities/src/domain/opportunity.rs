//! The opportunity aggregate: what it holds, the figures derived from it (amount, margin,
//! discounts, probability, forecast category), and every change it allows. Changes go through
//! methods that enforce the rules; a closed opportunity refuses them all.

use closeloop_kit::error::{GateViolation, Violations};
use closeloop_kit::types::{CurrencyCode, Email, Money};
use closeloop_kit::{Principal, Problem};
use serde::{Deserialize, Serialize};
use time::Date;

use super::policy::Policy;
use super::stage::{ForecastCategory, Gate, Stage, Transition, transition};

/// Most line items on one opportunity.
pub const MAX_LINE_ITEMS: usize = 200;
/// Largest quantity on a line item.
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// Largest unit price or cost, in minor units.
pub const MAX_UNIT_MINOR: i64 = 1_000_000_000_000_000;
/// How far before its creation an opportunity may be closed (a deal entered after the fact).
pub const MAX_BACKDATE_DAYS: i64 = 366;
/// Largest opportunity amount (and prior contract value), in minor units.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Token subject.
    pub subject: String,
    /// Role acted in.
    pub role: String,
}

impl Actor {
    /// The actor behind a request.
    pub fn of(principal: &Principal) -> Actor {
        Actor {
            subject: principal.subject.clone(),
            role: principal.acting_role().as_str().to_owned(),
        }
    }
}

/// Incremental (new business, expansion) or baseline (renewal) business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// A new customer.
    NewBusiness,
    /// Upsell or cross-sell.
    Expansion,
    /// Renewal of an existing contract.
    Renewal,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 3] = [Kind::NewBusiness, Kind::Expansion, Kind::Renewal];

    /// Storage code.
    pub fn code(self) -> &'static str {
        match self {
            Kind::NewBusiness => "NEW_BUSINESS",
            Kind::Expansion => "EXPANSION",
            Kind::Renewal => "RENEWAL",
        }
    }

    /// Parses a storage code.
    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// Where an opportunity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// Outbound prospecting.
    Prospecting,
    /// The client came to us.
    Inbound,
    /// Another customer referred the client.
    Referral,
    /// Found while managing an account.
    AccountExpansion,
    /// A renewal coming up.
    Renewal,
}

/// A stakeholder's part in the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StakeholderRole {
    /// Makes the decision.
    DecisionMaker,
    /// Holds the budget.
    EconomicBuyer,
    /// Sells for us inside.
    Champion,
    /// Evaluates technically.
    TechnicalEvaluator,
    /// Sways the decision.
    Influencer,
    /// Will use the product.
    User,
}

/// Why a deal was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LossReason {
    /// Too expensive.
    Price,
    /// A competitor won.
    Competitor,
    /// The client did not decide.
    NoDecision,
    /// Wrong time.
    Timing,
    /// The product does not fit.
    ProductFit,
    /// Something else (notes say what).
    Other,
}

impl LossReason {
    /// Every reason.
    pub const ALL: [LossReason; 6] = [
        LossReason::Price,
        LossReason::Competitor,
        LossReason::NoDecision,
        LossReason::Timing,
        LossReason::ProductFit,
        LossReason::Other,
    ];

    /// Storage code.
    pub fn code(self) -> &'static str {
        match self {
            LossReason::Price => "PRICE",
            LossReason::Competitor => "COMPETITOR",
            LossReason::NoDecision => "NO_DECISION",
            LossReason::Timing => "TIMING",
            LossReason::ProductFit => "PRODUCT_FIT",
            LossReason::Other => "OTHER",
        }
    }

    /// Parses a storage code.
    pub fn from_code(code: &str) -> Option<LossReason> {
        LossReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Why we disqualified the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisqualificationReason {
    /// The client would not benefit.
    NoClientBenefit,
    /// Expectations cannot be met.
    UnrealisticExpectations,
    /// No profit possible.
    MarginTooLow,
    /// Not a mature partner.
    ImmaturePartner,
    /// No budget.
    NoBudget,
    /// Something else (notes say what).
    Other,
}

/// How an opportunity ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Bought.
    Won,
    /// Did not buy.
    Lost,
    /// Not a fit.
    Disqualified,
}

impl Outcome {
    /// The closed stage this outcome puts the opportunity in.
    pub fn stage(self) -> Stage {
        match self {
            Outcome::Won => Stage::ClosedWon,
            Outcome::Lost => Stage::ClosedLost,
            Outcome::Disqualified => Stage::Disqualified,
        }
    }

    /// Storage code.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Won => "WON",
            Outcome::Lost => "LOST",
            Outcome::Disqualified => "DISQUALIFIED",
        }
    }
}

/// A company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Id in the systems of record.
    pub account_id: String,
    /// Name.
    pub display_name: String,
}

/// A person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Name.
    pub display_name: String,
    /// Email.
    pub email: Email,
    /// Phone, as given.
    pub phone: String,
    /// Job title.
    pub title: String,
}

/// Someone in the client's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stakeholder {
    /// The person.
    pub contact: Contact,
    /// Their part.
    pub role: StakeholderRole,
    /// The main contact.
    pub primary: bool,
}

/// A desired outcome of the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objective {
    /// The outcome.
    pub description: String,
    /// How the client measures it.
    pub success_measure: String,
}

/// One step of the client's evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationStep {
    /// What happens.
    pub description: String,
    /// When.
    pub due_date: Option<Date>,
    /// Done.
    pub completed: bool,
}

/// How the client decides.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EvaluationProcess {
    /// Criteria.
    pub criteria: Vec<String>,
    /// Steps.
    pub steps: Vec<EvaluationStep>,
    /// When the decision is expected.
    pub time_frame: Option<(Date, Date)>,
}

/// The next agreed action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextStep {
    /// What.
    pub description: String,
    /// When.
    pub due_date: Option<Date>,
}

/// A manager's approval of a discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountApproval {
    /// Who.
    pub approver: Actor,
    /// Why.
    pub reason: String,
    /// The deepest discount it covers, in basis points.
    pub approved_discount_bps: i32,
    /// When (µs since epoch).
    pub time: i64,
}

/// A priced product. Prices are minor units in the opportunity's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// Id within the opportunity (`li-1`, `li-2`, …).
    pub id: String,
    /// SKU.
    pub product_id: String,
    /// Name as quoted.
    pub product_name: String,
    /// Units, at least 1.
    pub quantity: i64,
    /// List unit price, positive.
    pub list_unit: i64,
    /// Sold unit price.
    pub sold_unit: i64,
    /// Our unit cost.
    pub unit_cost: i64,
    /// The manager's approval, if any.
    pub approval: Option<DiscountApproval>,
}

impl LineItem {
    /// quantity × sold price.
    pub fn amount(&self) -> i128 {
        i128::from(self.quantity) * i128::from(self.sold_unit)
    }

    /// quantity × list price.
    pub fn list_amount(&self) -> i128 {
        i128::from(self.quantity) * i128::from(self.list_unit)
    }

    /// quantity × unit cost.
    pub fn cost(&self) -> i128 {
        i128::from(self.quantity) * i128::from(self.unit_cost)
    }

    /// (list − sold) / list in basis points, rounded toward zero; negative above list.
    pub fn discount_bps(&self) -> i32 {
        clamp_bps(
            (i128::from(self.list_unit) - i128::from(self.sold_unit)) * 10_000
                / i128::from(self.list_unit.max(1)),
        )
    }

    /// Whether the exact discount is deeper than `bps`.
    fn discount_exceeds(&self, bps: i32) -> bool {
        (i128::from(self.list_unit) - i128::from(self.sold_unit)) * 10_000
            > i128::from(bps) * i128::from(self.list_unit)
    }

    /// Whether the discount is deeper than the approval threshold.
    pub fn requires_approval(&self, policy: &Policy) -> bool {
        self.discount_exceeds(policy.discount_approval_threshold_bps)
    }

    /// Whether the discount needs an approval it does not have.
    pub fn lacks_approval(&self, policy: &Policy) -> bool {
        self.requires_approval(policy)
            && self
                .approval
                .as_ref()
                .is_none_or(|a| self.discount_exceeds(a.approved_discount_bps))
    }

    /// The discount rounded up to a whole basis point: what an approval must cover.
    fn discount_bps_ceil(&self) -> i32 {
        let num = (i128::from(self.list_unit) - i128::from(self.sold_unit)) * 10_000;
        let den = i128::from(self.list_unit.max(1));
        clamp_bps(num / den + i128::from(num % den > 0))
    }
}

/// The qualification answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    /// The client benefits.
    pub client_benefit: bool,
    /// Expectations are realistic.
    pub realistic_expectations: bool,
    /// A mature partner.
    pub mature_partner: bool,
    /// Evidence.
    pub notes: String,
    /// Who assessed.
    pub assessed_by: Actor,
    /// When.
    pub time: i64,
}

/// One stage change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// Left.
    pub from: Stage,
    /// Entered.
    pub to: Stage,
    /// When (µs).
    pub time: i64,
    /// Who.
    pub actor: Actor,
    /// Time spent in `from` (µs).
    pub time_in_stage: i64,
}

/// The key competitors are grouped by: case-folded (Unicode), spaces collapsed, so "Globex",
/// "globex " and "GLOBEX" are one competitor.
pub fn competitor_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// How the opportunity ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRecord {
    /// Won, lost, disqualified.
    pub outcome: Outcome,
    /// Business close date.
    pub close_date: Date,
    /// Set when lost.
    pub loss_reason: Option<LossReason>,
    /// Set when disqualified.
    pub disqualification_reason: Option<DisqualificationReason>,
    /// The competitor that won, when known.
    pub competitor: String,
    /// Notes.
    pub notes: String,
    /// Who closed it.
    pub closed_by: Actor,
    /// When (µs).
    pub time: i64,
}

/// A sale from first contact to its close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opportunity {
    /// Id (the `{opportunity}` of the resource name).
    pub id: String,
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

/// The fields a client provides to create an opportunity (already parsed).
#[derive(Debug, Clone)]
pub struct NewOpportunity {
    /// See [`Opportunity`].
    pub account: Party,
    /// Owner; empty means "the caller".
    pub owner: String,
    /// See [`Opportunity`].
    pub title: String,
    /// See [`Opportunity`].
    pub description: String,
    /// See [`Opportunity`].
    pub kind: Kind,
    /// See [`Opportunity`].
    pub source: Source,
    /// See [`Opportunity`].
    pub currency: CurrencyCode,
    /// See [`Opportunity`].
    pub expected_close_date: Date,
    /// See [`Opportunity`].
    pub stakeholders: Vec<Stakeholder>,
    /// See [`Opportunity`].
    pub objectives: Vec<Objective>,
    /// See [`Opportunity`].
    pub evaluation: EvaluationProcess,
    /// See [`Opportunity`].
    pub next_step: Option<NextStep>,
    /// See [`Opportunity`].
    pub prior_contract_value: Option<Money>,
    /// See [`Opportunity`].
    pub referring_account: Option<Party>,
    /// See [`Opportunity`].
    pub probability_override: Option<i32>,
    /// See [`Opportunity`].
    pub forecast_override: Option<ForecastCategory>,
}

/// Replacement values for the fields named in an update mask.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New customer.
    pub account: Option<Party>,
    /// New owner (managers only; checked by access rules).
    pub owner: Option<String>,
    /// New kind.
    pub kind: Option<Kind>,
    /// New source.
    pub source: Option<Source>,
    /// New currency (only without line items).
    pub currency: Option<CurrencyCode>,
    /// New expected close date.
    pub expected_close_date: Option<Date>,
    /// New stakeholders.
    pub stakeholders: Option<Vec<Stakeholder>>,
    /// New objectives.
    pub objectives: Option<Vec<Objective>>,
    /// New evaluation process.
    pub evaluation: Option<EvaluationProcess>,
    /// New next step (inner `None` clears it).
    pub next_step: Option<Option<NextStep>>,
    /// New prior contract value (inner `None` clears it).
    pub prior_contract_value: Option<Option<Money>>,
    /// New referring account (inner `None` clears it).
    pub referring_account: Option<Option<Party>>,
    /// New probability override (inner `None` clears it).
    pub probability_override: Option<Option<i32>>,
    /// New forecast override (inner `None` clears it).
    pub forecast_override: Option<Option<ForecastCategory>>,
}

/// A new line item's values (prices in the opportunity's currency, already checked).
#[derive(Debug, Clone)]
pub struct NewLineItem {
    /// SKU.
    pub product_id: String,
    /// Name.
    pub product_name: String,
    /// Units.
    pub quantity: i64,
    /// List unit price.
    pub list_unit: Money,
    /// Sold unit price.
    pub sold_unit: Money,
    /// Unit cost.
    pub unit_cost: Money,
}

/// Replacement values for a line item's masked fields.
#[derive(Debug, Clone, Default)]
pub struct LineItemPatch {
    /// SKU.
    pub product_id: Option<String>,
    /// Name.
    pub product_name: Option<String>,
    /// Units.
    pub quantity: Option<i64>,
    /// List unit price.
    pub list_unit: Option<Money>,
    /// Sold unit price.
    pub sold_unit: Option<Money>,
    /// Unit cost.
    pub unit_cost: Option<Money>,
}

/// The qualification answers a client sends.
#[derive(Debug, Clone)]
pub struct QualificationAnswers {
    /// The client benefits.
    pub client_benefit: bool,
    /// Expectations are realistic.
    pub realistic_expectations: bool,
    /// A mature partner.
    pub mature_partner: bool,
    /// Evidence.
    pub notes: String,
}

/// How the caller wants to close.
#[derive(Debug, Clone)]
pub struct Closing {
    /// The outcome.
    pub outcome: Outcome,
    /// Business close date; today when absent.
    pub close_date: Option<Date>,
    /// Required when lost.
    pub loss_reason: Option<LossReason>,
    /// Required when disqualified.
    pub disqualification_reason: Option<DisqualificationReason>,
    /// Required with a COMPETITOR loss.
    pub competitor: String,
    /// Required with OTHER reasons.
    pub notes: String,
}

/// Gate names used beyond the stage machine's own.
pub mod gates {
    /// The opportunity is closed and cannot change.
    pub const CLOSED: &str = "closed";
    /// The requested stage move is not in the table.
    pub const STAGE_TRANSITION: &str = "stage_transition";
    /// Currency is fixed once line items exist.
    pub const CURRENCY_LOCKED: &str = "currency_locked";
    /// A forecast override the current stage does not allow.
    pub const FORECAST_OVERRIDE: &str = "forecast_override";
    /// An approval asked for a line item that needs none.
    pub const NO_APPROVAL_NEEDED: &str = "discount_within_threshold";
    /// The etag does not match.
    pub const ETAG: &str = "etag";
}

fn gate(gate: &str, subject: impl Into<String>, description: impl Into<String>) -> GateViolation {
    GateViolation {
        gate: gate.into(),
        subject: subject.into(),
        description: description.into(),
    }
}

/// A ratio in basis points, clamped to what an `int32` field carries (a line sold at a
/// thousand times its list price is "-99,990,000 bps", not a wrapped-around number).
pub fn clamp_bps(v: i128) -> i32 {
    v.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
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
        id: String,
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
            .and_then(|m| check_prior_value(&mut v, m, new.currency, "opportunity"));
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

    /// What fails the qualification gate now (empty = passes).
    pub fn qualification_unmet(&self, policy: &Policy) -> Vec<GateViolation> {
        let code = Gate::Qualification.code();
        let mut unmet = Vec::new();
        let q = self.qualification.as_ref();
        if q.is_none() {
            unmet.push(gate(
                code,
                "qualification",
                "no qualification assessment recorded (QualifyOpportunity)",
            ));
        }
        if !q.is_some_and(|q| q.client_benefit) {
            unmet.push(gate(
                code,
                "client_benefit_confirmed",
                "the client's benefit is not confirmed",
            ));
        }
        if !q.is_some_and(|q| q.realistic_expectations) {
            unmet.push(gate(
                code,
                "realistic_expectations_confirmed",
                "the client's expectations are not confirmed realistic",
            ));
        }
        if !q.is_some_and(|q| q.mature_partner) {
            unmet.push(gate(
                code,
                "mature_partner_confirmed",
                "the client is not confirmed as a mature partner",
            ));
        }
        let revenue: i128 = self.line_items.iter().map(LineItem::amount).sum();
        if revenue <= 0 {
            unmet.push(gate(
                code,
                "margin",
                "no priced line items: the margin cannot be assessed",
            ));
        } else {
            let cost: i128 = self.line_items.iter().map(LineItem::cost).sum();
            if (revenue - cost) * 10_000 < i128::from(policy.margin_floor_bps) * revenue {
                unmet.push(gate(
                    code,
                    "margin",
                    format!(
                        "margin {:.2}% is below the floor of {:.2}%",
                        f64::from(self.margin_bps()) / 100.0,
                        f64::from(policy.margin_floor_bps) / 100.0
                    ),
                ));
            }
        }
        unmet
    }

    fn gate_violations(&self, g: Gate, policy: &Policy) -> Vec<GateViolation> {
        match g {
            Gate::Qualification => self.qualification_unmet(policy),
            Gate::DiscountApproval => self
                .line_items
                .iter()
                .filter(|li| li.lacks_approval(policy))
                .map(|li| {
                    gate(
                        g.code(),
                        format!("line_items/{}", li.id),
                        format!(
                            "discount of {:.2}% exceeds the {:.2}% threshold and needs a sales manager's approval",
                            f64::from(li.discount_bps()) / 100.0,
                            f64::from(policy.discount_approval_threshold_bps) / 100.0
                        ),
                    )
                })
                .collect(),
            Gate::LineItems if self.line_items.is_empty() => vec![gate(
                g.code(),
                "line_items",
                "a won opportunity needs at least one line item",
            )],
            Gate::PositiveAmount if self.amount() <= 0 => vec![gate(
                g.code(),
                "amount",
                "a won opportunity needs a positive amount",
            )],
            Gate::LineItems | Gate::PositiveAmount => Vec::new(),
        }
    }

    // ---- changes ---------------------------------------------------------------------------

    fn ensure_open(&self) -> Result<(), Problem> {
        if self.stage.is_open() {
            Ok(())
        } else {
            Err(Problem::gate(
                gates::CLOSED,
                "stage",
                format!(
                    "the opportunity is {} and closed opportunities never change; open a new opportunity to pursue the account again",
                    self.stage.code()
                ),
            ))
        }
    }

    fn touch(&mut self, now: i64) {
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
                    "opportunity.prior_contract_value",
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
                v.and_then(|m| check_prior_value(&mut violations, m, next.currency, "opportunity"));
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
                "opportunity.prior_contract_value",
                "required for a RENEWAL: the value of the contract being renewed",
            );
        }
        if self.source == Source::Referral && self.referring_account.is_none() {
            v.add(
                "opportunity.referring_account",
                "required when the source is REFERRAL",
            );
        }
        if self.stakeholders.iter().filter(|s| s.primary).count() > 1 {
            v.add(
                "opportunity.stakeholders",
                "at most one stakeholder can be primary",
            );
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

    fn line_item_index(&self, id: &str) -> Result<usize, Problem> {
        self.line_items
            .iter()
            .position(|li| li.id == id)
            .ok_or_else(|| Problem::NotFound {
                resource: "closeloop.opportunities.v1.LineItem",
                name: format!("{}/lineItems/{id}", self.name()),
            })
    }

    /// Adds a line item; returns its id.
    ///
    /// # Errors
    /// FAILED_PRECONDITION when closed; INVALID_ARGUMENT when a price is in another currency or
    /// the amount would exceed the supported maximum, or there are too many items.
    pub fn add_line_item(&mut self, item: NewLineItem, now: i64) -> Result<String, Problem> {
        self.ensure_open()?;
        if self.line_items.len() >= MAX_LINE_ITEMS {
            return Err(Problem::invalid(
                "line_item",
                format!("an opportunity holds at most {MAX_LINE_ITEMS} line items"),
            ));
        }
        let mut v = Violations::new();
        let list = check_price(
            &mut v,
            item.list_unit,
            self.currency,
            "line_item.list_unit_price",
            true,
        );
        let sold = check_price(
            &mut v,
            item.sold_unit,
            self.currency,
            "line_item.sold_unit_price",
            false,
        );
        let cost = check_price(
            &mut v,
            item.unit_cost,
            self.currency,
            "line_item.unit_cost",
            false,
        );
        v.into_result()?;
        let id = format!("li-{}", self.next_line_item);
        let mut next = self.clone();
        next.line_items.push(LineItem {
            id: id.clone(),
            product_id: item.product_id,
            product_name: item.product_name,
            quantity: item.quantity,
            list_unit: list.unwrap_or_default(),
            sold_unit: sold.unwrap_or_default(),
            unit_cost: cost.unwrap_or_default(),
            approval: None,
        });
        next.next_line_item += 1;
        next.check_total("line_item")?;
        next.touch(now);
        *self = next;
        Ok(id)
    }

    /// Changes a line item. An approval stays only while it still covers the new discount.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown id; otherwise as [`Opportunity::add_line_item`].
    pub fn update_line_item(
        &mut self,
        id: &str,
        patch: LineItemPatch,
        now: i64,
    ) -> Result<(), Problem> {
        self.ensure_open()?;
        let index = self.line_item_index(id)?;
        let mut v = Violations::new();
        let currency = self.currency;
        let mut next = self.clone();
        let li = &mut next.line_items[index];
        if let Some(p) = patch.product_id {
            li.product_id = p;
        }
        if let Some(p) = patch.product_name {
            li.product_name = p;
        }
        if let Some(q) = patch.quantity {
            li.quantity = q;
        }
        if let Some(m) = patch.list_unit
            && let Some(p) = check_price(&mut v, m, currency, "line_item.list_unit_price", true)
        {
            li.list_unit = p;
        }
        if let Some(m) = patch.sold_unit
            && let Some(p) = check_price(&mut v, m, currency, "line_item.sold_unit_price", false)
        {
            li.sold_unit = p;
        }
        if let Some(m) = patch.unit_cost
            && let Some(p) = check_price(&mut v, m, currency, "line_item.unit_cost", false)
        {
            li.unit_cost = p;
        }
        v.into_result()?;
        if li
            .approval
            .as_ref()
            .is_some_and(|a| li.discount_exceeds(a.approved_discount_bps))
        {
            // The discount got deeper than what was approved: the approval no longer holds.
            li.approval = None;
        }
        next.check_total("line_item")?;
        next.touch(now);
        *self = next;
        Ok(())
    }

    /// Removes a line item.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown id; FAILED_PRECONDITION when closed.
    pub fn remove_line_item(&mut self, id: &str, now: i64) -> Result<(), Problem> {
        self.ensure_open()?;
        let index = self.line_item_index(id)?;
        self.line_items.remove(index);
        self.touch(now);
        Ok(())
    }

    fn check_total(&self, field: &str) -> Result<(), Problem> {
        let total: i128 = self.line_items.iter().map(LineItem::amount).sum();
        let list: i128 = self.line_items.iter().map(LineItem::list_amount).sum();
        let cost: i128 = self.line_items.iter().map(LineItem::cost).sum();
        let max = i128::from(MAX_AMOUNT_MINOR);
        if total > max || list > max || cost > max {
            return Err(Problem::invalid(
                field,
                format!("the opportunity's amounts would exceed {MAX_AMOUNT_MINOR} minor units"),
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

    /// Approves the current discount of a line item.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown id; FAILED_PRECONDITION when closed or the discount is within
    /// the threshold (nothing to approve).
    pub fn approve_discount(
        &mut self,
        line_item_id: &str,
        reason: String,
        approver: Actor,
        policy: &Policy,
        now: i64,
    ) -> Result<(), Problem> {
        self.ensure_open()?;
        let index = self.line_item_index(line_item_id)?;
        let li = &mut self.line_items[index];
        if !li.requires_approval(policy) {
            return Err(Problem::gate(
                gates::NO_APPROVAL_NEEDED,
                format!("line_items/{line_item_id}"),
                format!(
                    "the discount of {:.2}% is within the {:.2}% threshold; no approval is needed",
                    f64::from(li.discount_bps()) / 100.0,
                    f64::from(policy.discount_approval_threshold_bps) / 100.0
                ),
            ));
        }
        li.approval = Some(DiscountApproval {
            approver,
            reason,
            approved_discount_bps: li.discount_bps_ceil(),
            time: now,
        });
        self.touch(now);
        Ok(())
    }

    fn check_transition(&self, to: Stage, policy: &Policy) -> Result<(), Problem> {
        match transition(self.stage, to) {
            Transition::Forbidden(why) => {
                if !self.stage.is_open() {
                    self.ensure_open()
                } else {
                    Err(Problem::gate(
                        gates::STAGE_TRANSITION,
                        format!("{} -> {}", self.stage.code(), to.code()),
                        why,
                    ))
                }
            }
            Transition::Allowed(required) => {
                let unmet: Vec<GateViolation> = required
                    .iter()
                    .flat_map(|g| self.gate_violations(*g, policy))
                    .collect();
                if unmet.is_empty() {
                    Ok(())
                } else {
                    Err(Problem::FailedPrecondition(unmet))
                }
            }
        }
    }

    fn enter(&mut self, to: Stage, actor: Actor, now: i64) {
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
        self.check_transition(to, policy)?;
        self.enter(to, actor, now);
        Ok(())
    }

    /// Closes the opportunity.
    ///
    /// # Errors
    /// INVALID_ARGUMENT when a required reason is missing; FAILED_PRECONDITION naming each unmet
    /// gate, or when already closed.
    pub fn close(
        &mut self,
        closing: Closing,
        actor: Actor,
        policy: &Policy,
        today: Date,
        now: i64,
    ) -> Result<(), Problem> {
        self.ensure_open()?;
        let mut v = Violations::new();
        let competitor = closing.competitor.trim().to_owned();
        let notes = closing.notes.trim().to_owned();
        match closing.outcome {
            Outcome::Won => {
                if closing.loss_reason.is_some() {
                    v.add("loss_reason", "only for a LOST outcome");
                }
                if closing.disqualification_reason.is_some() {
                    v.add("disqualification_reason", "only for a DISQUALIFIED outcome");
                }
            }
            Outcome::Lost => {
                match closing.loss_reason {
                    None => v.add(
                        "loss_reason",
                        "required when lost: PRICE, COMPETITOR, NO_DECISION, TIMING, PRODUCT_FIT or OTHER",
                    ),
                    Some(LossReason::Competitor) if competitor.is_empty() => {
                        v.add("competitor", "required when the loss reason is COMPETITOR")
                    }
                    Some(LossReason::Other) if notes.is_empty() => {
                        v.add("notes", "required when the loss reason is OTHER")
                    }
                    Some(_) => {}
                }
                if closing.disqualification_reason.is_some() {
                    v.add("disqualification_reason", "only for a DISQUALIFIED outcome");
                }
            }
            Outcome::Disqualified => {
                match closing.disqualification_reason {
                    None => v.add("disqualification_reason", "required when disqualifying"),
                    Some(DisqualificationReason::Other) if notes.is_empty() => v.add(
                        "notes",
                        "required when the disqualification reason is OTHER",
                    ),
                    Some(_) => {}
                }
                if closing.loss_reason.is_some() {
                    v.add("loss_reason", "only for a LOST outcome");
                }
            }
        }
        if let Some(date) = closing.close_date {
            let created = closeloop_kit::time::date_of_micros(self.create_time);
            let earliest = created.saturating_sub(time::Duration::days(MAX_BACKDATE_DAYS));
            // A day of slack for callers whose local date is ahead of UTC.
            let latest = today.saturating_add(time::Duration::days(1));
            if date > latest {
                v.add("close_date", "must not be in the future");
            } else if date < earliest {
                v.add(
                    "close_date",
                    format!(
                        "must be at most {MAX_BACKDATE_DAYS} days before the opportunity was created ({created})"
                    ),
                );
            }
        }
        v.into_result()?;
        let to = closing.outcome.stage();
        self.check_transition(to, policy)?;
        self.close = Some(CloseRecord {
            outcome: closing.outcome,
            close_date: closing.close_date.unwrap_or(today),
            loss_reason: closing.loss_reason,
            disqualification_reason: closing.disqualification_reason,
            competitor,
            notes,
            closed_by: actor.clone(),
            time: now,
        });
        self.enter(to, actor, now);
        Ok(())
    }
}

fn check_prior_value(
    v: &mut Violations,
    m: Money,
    currency: CurrencyCode,
    prefix: &str,
) -> Option<i64> {
    let field = format!("{prefix}.prior_contract_value");
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

fn check_price(
    v: &mut Violations,
    m: Money,
    currency: CurrencyCode,
    field: &str,
    positive: bool,
) -> Option<i64> {
    if m.currency != currency {
        v.add(
            field,
            format!("must be in the opportunity's currency {currency}"),
        );
        None
    } else if positive && m.minor <= 0 {
        v.add(field, "must be positive");
        None
    } else if m.minor < 0 {
        v.add(field, "must not be negative");
        None
    } else if m.minor > MAX_UNIT_MINOR {
        v.add(field, format!("at most {MAX_UNIT_MINOR} minor units"));
        None
    } else {
        Some(m.minor)
    }
}

/// Checks a line item quantity.
///
/// # Errors
/// A description when out of range.
pub fn check_quantity(q: i64) -> Result<i64, String> {
    if (1..=MAX_QUANTITY).contains(&q) {
        Ok(q)
    } else {
        Err(format!("must be 1 to {MAX_QUANTITY}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").unwrap()
    }

    fn actor(role: &str) -> Actor {
        Actor {
            subject: "ana".into(),
            role: role.into(),
        }
    }

    fn new_opportunity() -> NewOpportunity {
        NewOpportunity {
            account: Party {
                account_id: "acme".into(),
                display_name: "Acme".into(),
            },
            owner: String::new(),
            title: "Acme rollout".into(),
            description: String::new(),
            kind: Kind::NewBusiness,
            source: Source::Inbound,
            currency: eur(),
            expected_close_date: date!(2026 - 12 - 31),
            stakeholders: vec![],
            objectives: vec![],
            evaluation: EvaluationProcess::default(),
            next_step: None,
            prior_contract_value: None,
            referring_account: None,
            probability_override: None,
            forecast_override: None,
        }
    }

    fn opp() -> Opportunity {
        Opportunity::create(
            "o1".into(),
            new_opportunity(),
            "ana".into(),
            Stage::Prospecting,
            0,
        )
        .unwrap()
    }

    fn item(list: i64, sold: i64, cost: i64) -> NewLineItem {
        NewLineItem {
            product_id: "sku".into(),
            product_name: "Seat".into(),
            quantity: 10,
            list_unit: Money::new(eur(), list),
            sold_unit: Money::new(eur(), sold),
            unit_cost: Money::new(eur(), cost),
        }
    }

    fn qualified(o: &mut Opportunity) {
        o.qualify(
            QualificationAnswers {
                client_benefit: true,
                realistic_expectations: true,
                mature_partner: true,
                notes: String::new(),
            },
            actor("sales_rep"),
            1,
        )
        .unwrap();
    }

    fn gates_of(err: Problem) -> Vec<(String, String)> {
        match err {
            Problem::FailedPrecondition(v) => v.into_iter().map(|g| (g.gate, g.subject)).collect(),
            other => panic!("expected a gate failure, got {other:?}"),
        }
    }

    #[test]
    fn leaving_qualification_needs_answers_and_margin() {
        let p = Policy::default();
        let mut o = opp();
        o.move_to(Stage::Qualification, actor("sales_rep"), &p, 10)
            .unwrap();
        let unmet = gates_of(
            o.move_to(Stage::Proposal, actor("sales_rep"), &p, 20)
                .unwrap_err(),
        );
        let subjects: Vec<&str> = unmet.iter().map(|(_, s)| s.as_str()).collect();
        assert!(subjects.contains(&"client_benefit_confirmed"));
        assert!(subjects.contains(&"margin"));
        assert!(unmet.iter().all(|(g, _)| g == "qualification"));
        assert_eq!(
            o.stage,
            Stage::Qualification,
            "a refused move changes nothing"
        );

        qualified(&mut o);
        // 10% margin: below the 20% floor.
        o.add_line_item(item(100, 100, 90), 30).unwrap();
        let unmet = gates_of(
            o.move_to(Stage::Proposal, actor("sales_rep"), &p, 40)
                .unwrap_err(),
        );
        assert_eq!(unmet, vec![("qualification".into(), "margin".into())]);

        o.update_line_item(
            "li-1",
            LineItemPatch {
                unit_cost: Some(Money::new(eur(), 80)),
                ..Default::default()
            },
            50,
        )
        .unwrap();
        o.move_to(Stage::Proposal, actor("sales_rep"), &p, 60)
            .unwrap();
        assert_eq!(o.stage_history.len(), 2);
        assert_eq!(o.stage_history[1].time_in_stage, 50);
    }

    #[test]
    fn deep_discounts_need_an_approval_that_covers_them() {
        let p = Policy::default();
        let mut o = opp();
        o.move_to(Stage::Qualification, actor("sales_rep"), &p, 1)
            .unwrap();
        qualified(&mut o);
        // 15% discount, 40% margin.
        o.add_line_item(item(100, 85, 50), 2).unwrap();
        o.move_to(Stage::Proposal, actor("sales_rep"), &p, 3)
            .unwrap();
        let unmet = gates_of(
            o.move_to(Stage::Negotiation, actor("sales_rep"), &p, 4)
                .unwrap_err(),
        );
        assert_eq!(
            unmet,
            vec![("discount_approval".into(), "line_items/li-1".into())]
        );

        o.approve_discount(
            "li-1",
            "strategic logo".into(),
            actor("sales_manager"),
            &p,
            5,
        )
        .unwrap();
        o.move_to(Stage::Negotiation, actor("sales_rep"), &p, 6)
            .unwrap();

        // A deeper discount voids the approval; a shallower one keeps it.
        o.update_line_item(
            "li-1",
            LineItemPatch {
                sold_unit: Some(Money::new(eur(), 88)),
                ..Default::default()
            },
            7,
        )
        .unwrap();
        assert!(o.line_items[0].approval.is_some());
        o.update_line_item(
            "li-1",
            LineItemPatch {
                sold_unit: Some(Money::new(eur(), 80)),
                ..Default::default()
            },
            8,
        )
        .unwrap();
        assert!(o.line_items[0].approval.is_none());
        let closing = Closing {
            outcome: Outcome::Won,
            close_date: None,
            loss_reason: None,
            disqualification_reason: None,
            competitor: String::new(),
            notes: String::new(),
        };
        let unmet = gates_of(
            o.close(closing, actor("sales_rep"), &p, date!(2026 - 11 - 23), 9)
                .unwrap_err(),
        );
        assert_eq!(
            unmet,
            vec![("discount_approval".into(), "line_items/li-1".into())]
        );
    }

    #[test]
    fn approving_a_discount_within_threshold_is_refused() {
        let p = Policy::default();
        let mut o = opp();
        o.add_line_item(item(100, 95, 50), 1).unwrap();
        let err = o
            .approve_discount("li-1", "x".into(), actor("sales_manager"), &p, 2)
            .unwrap_err();
        assert_eq!(gates_of(err)[0].0, gates::NO_APPROVAL_NEEDED);
        assert!(matches!(
            o.approve_discount("li-9", "x".into(), actor("sales_manager"), &p, 2),
            Err(Problem::NotFound { .. })
        ));
    }

    #[test]
    fn threshold_is_exact_not_rounded() {
        let p = Policy::default();
        let li = LineItem {
            id: "li-1".into(),
            product_id: "s".into(),
            product_name: "s".into(),
            quantity: 1,
            list_unit: 100_000,
            sold_unit: 89_999, // 10.001%
            unit_cost: 0,
            approval: None,
        };
        assert!(li.requires_approval(&p));
        assert_eq!(li.discount_bps(), 1000);
        assert_eq!(li.discount_bps_ceil(), 1001);
        let at = LineItem {
            sold_unit: 90_000,
            ..li
        };
        assert!(!at.requires_approval(&p));
    }

    #[test]
    fn losing_needs_a_reason_and_closed_is_final() {
        let p = Policy::default();
        let mut o = opp();
        let lost = |reason, competitor: &str, notes: &str| Closing {
            outcome: Outcome::Lost,
            close_date: None,
            loss_reason: reason,
            disqualification_reason: None,
            competitor: competitor.into(),
            notes: notes.into(),
        };
        let today = date!(2026 - 11 - 23);
        assert!(matches!(
            o.close(lost(None, "", ""), actor("r"), &p, today, 1),
            Err(Problem::InvalidArgument(_))
        ));
        assert!(matches!(
            o.close(
                lost(Some(LossReason::Competitor), "", ""),
                actor("r"),
                &p,
                today,
                1
            ),
            Err(Problem::InvalidArgument(_))
        ));
        assert!(matches!(
            o.close(
                lost(Some(LossReason::Other), "", " "),
                actor("r"),
                &p,
                today,
                1
            ),
            Err(Problem::InvalidArgument(_))
        ));
        assert!(o.stage.is_open());
        o.close(
            lost(Some(LossReason::Competitor), "Globex", ""),
            actor("r"),
            &p,
            today,
            2,
        )
        .unwrap();
        assert_eq!(o.stage, Stage::ClosedLost);
        assert_eq!(o.close.as_ref().unwrap().close_date, today);
        assert_eq!(o.forecast_category(), ForecastCategory::Omitted);

        let before = o.clone();
        let closed = |e: Problem| gates_of(e)[0].0 == gates::CLOSED;
        assert!(closed(
            o.update(
                Patch {
                    title: Some("x".into()),
                    ..Default::default()
                },
                3
            )
            .unwrap_err()
        ));
        assert!(closed(o.add_line_item(item(1, 1, 1), 3).unwrap_err()));
        assert!(closed(
            o.move_to(Stage::Prospecting, actor("r"), &p, 3)
                .unwrap_err()
        ));
        assert!(closed(
            o.close(
                lost(Some(LossReason::Price), "", ""),
                actor("r"),
                &p,
                today,
                3
            )
            .unwrap_err()
        ));
        assert_eq!(o, before);
    }

    #[test]
    fn winning_needs_items_and_positive_amount() {
        let p = Policy::default();
        let mut o = opp();
        o.move_to(Stage::Qualification, actor("r"), &p, 1).unwrap();
        qualified(&mut o);
        o.add_line_item(item(100, 0, 0), 2).unwrap();
        // Free of charge: 100% discount. Approve it so only the amount gate remains.
        o.approve_discount("li-1", "pilot".into(), actor("m"), &p, 3)
            .unwrap();
        let won = Closing {
            outcome: Outcome::Won,
            close_date: Some(date!(2026 - 11 - 20)),
            loss_reason: None,
            disqualification_reason: None,
            competitor: String::new(),
            notes: String::new(),
        };
        // Margin gate fails with zero revenue, so qualification blocks PROPOSAL: give it a price.
        o.update_line_item(
            "li-1",
            LineItemPatch {
                sold_unit: Some(Money::new(eur(), 100)),
                ..Default::default()
            },
            4,
        )
        .unwrap();
        o.move_to(Stage::Proposal, actor("r"), &p, 5).unwrap();
        o.remove_line_item("li-1", 6).unwrap();
        let unmet = gates_of(
            o.close(won.clone(), actor("r"), &p, date!(2026 - 11 - 23), 7)
                .unwrap_err(),
        );
        assert_eq!(
            unmet,
            vec![
                ("qualification".into(), "margin".into()),
                ("line_items".into(), "line_items".into()),
                ("amount".into(), "amount".into())
            ]
        );
        o.add_line_item(item(100, 100, 10), 8).unwrap();
        o.close(won, actor("r"), &p, date!(2026 - 11 - 23), 9)
            .unwrap();
        assert_eq!(o.stage, Stage::ClosedWon);
        assert_eq!(o.probability(&p), 100);
        assert_eq!(o.weighted_amount(&p), 1000);
        assert_eq!(o.forecast_date(), date!(2026 - 11 - 20));
    }

    #[test]
    fn pushes_count_only_later_dates_and_overrides_reset_on_stage_change() {
        let p = Policy::default();
        let mut o = opp();
        let later = Patch {
            expected_close_date: Some(date!(2027 - 01 - 31)),
            ..Default::default()
        };
        let earlier = Patch {
            expected_close_date: Some(date!(2026 - 12 - 01)),
            ..Default::default()
        };
        o.update(later, 1).unwrap();
        o.update(earlier, 2).unwrap();
        assert_eq!(o.push_count, 1);

        o.update(
            Patch {
                probability_override: Some(Some(35)),
                ..Default::default()
            },
            3,
        )
        .unwrap();
        assert_eq!(o.probability(&p), 35);
        let commit = Patch {
            forecast_override: Some(Some(ForecastCategory::Commit)),
            ..Default::default()
        };
        assert_eq!(
            gates_of(o.update(commit, 4).unwrap_err())[0].0,
            gates::FORECAST_OVERRIDE
        );
        o.move_to(Stage::Qualification, actor("r"), &p, 5).unwrap();
        assert_eq!(o.probability(&p), 20);
    }

    #[test]
    fn renewals_and_referrals_need_their_links() {
        let mut n = new_opportunity();
        n.kind = Kind::Renewal;
        n.source = Source::Referral;
        let err = Opportunity::create("x".into(), n.clone(), "a".into(), Stage::Prospecting, 0)
            .unwrap_err();
        match err {
            Problem::InvalidArgument(v) => {
                let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(
                    fields,
                    [
                        "opportunity.prior_contract_value",
                        "opportunity.referring_account"
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        n.prior_contract_value = Some(Money::new(CurrencyCode::parse("USD").unwrap(), 5));
        n.referring_account = Some(Party {
            account_id: "r".into(),
            display_name: "R".into(),
        });
        assert!(
            Opportunity::create("x".into(), n.clone(), "a".into(), Stage::Prospecting, 0).is_err()
        );
        n.prior_contract_value = Some(Money::new(eur(), 5));
        assert!(Opportunity::create("x".into(), n, "a".into(), Stage::Prospecting, 0).is_ok());
    }

    #[test]
    fn currency_is_locked_by_line_items() {
        let mut o = opp();
        o.add_line_item(item(10, 10, 1), 1).unwrap();
        let usd = Patch {
            currency: Some(CurrencyCode::parse("USD").unwrap()),
            ..Default::default()
        };
        assert_eq!(
            gates_of(o.update(usd.clone(), 2).unwrap_err())[0].0,
            gates::CURRENCY_LOCKED
        );
        let wrong = NewLineItem {
            list_unit: Money::new(CurrencyCode::parse("USD").unwrap(), 1),
            ..item(1, 1, 1)
        };
        assert!(matches!(
            o.add_line_item(wrong, 3),
            Err(Problem::InvalidArgument(_))
        ));
        o.remove_line_item("li-1", 4).unwrap();
        o.update(usd, 5).unwrap();
        assert_eq!(o.currency.as_str(), "USD");
        // Ids are never reused.
        o.add_line_item(
            NewLineItem {
                list_unit: Money::new(o.currency, 1),
                sold_unit: Money::new(o.currency, 1),
                unit_cost: Money::new(o.currency, 0),
                ..item(1, 1, 1)
            },
            6,
        )
        .unwrap();
        assert_eq!(o.line_items[0].id, "li-2");
    }

    #[test]
    fn close_dates_are_bounded() {
        let p = Policy::default();
        let lost = |date| Closing {
            outcome: Outcome::Lost,
            close_date: Some(date),
            loss_reason: Some(LossReason::Price),
            disqualification_reason: None,
            competitor: String::new(),
            notes: String::new(),
        };
        // Created 2023-11-14.
        let mut o = Opportunity::create(
            "o".into(),
            new_opportunity(),
            "a".into(),
            Stage::Prospecting,
            1_700_000_000_000_000,
        )
        .unwrap();
        let today = date!(2026 - 11 - 23);
        for bad in [date!(2022 - 11 - 01), date!(2026 - 11 - 25)] {
            let refused = o.close(lost(bad), actor("r"), &p, today, 2);
            assert!(matches!(refused, Err(Problem::InvalidArgument(_))), "{bad}");
        }
        assert!(o.stage.is_open());
        o.close(lost(date!(2026 - 11 - 24)), actor("r"), &p, today, 2)
            .unwrap();
    }

    #[test]
    fn a_currency_change_needs_a_new_prior_value() {
        let mut n = new_opportunity();
        n.kind = Kind::Renewal;
        n.prior_contract_value = Some(Money::new(eur(), 100_000));
        let mut o = Opportunity::create("o".into(), n, "a".into(), Stage::Prospecting, 0).unwrap();
        let jpy = CurrencyCode::parse("JPY").unwrap();
        let only_currency = Patch {
            currency: Some(jpy),
            ..Default::default()
        };
        assert!(matches!(
            o.update(only_currency, 1),
            Err(Problem::InvalidArgument(_))
        ));
        let both = Patch {
            currency: Some(jpy),
            prior_contract_value: Some(Some(Money::new(jpy, 15_000_000))),
            ..Default::default()
        };
        o.update(both, 2).unwrap();
        assert_eq!(
            (o.currency, o.prior_contract_value),
            (jpy, Some(15_000_000))
        );
    }

    #[test]
    fn basis_points_saturate_instead_of_wrapping() {
        let li = LineItem {
            id: "li-1".into(),
            product_id: "s".into(),
            product_name: "s".into(),
            quantity: 1,
            list_unit: 1,
            sold_unit: MAX_UNIT_MINOR,
            unit_cost: 0,
            approval: None,
        };
        assert_eq!(li.discount_bps(), i32::MIN);
    }

    #[test]
    fn huge_amounts_are_refused_not_overflowed() {
        let mut o = opp();
        let big = NewLineItem {
            quantity: MAX_QUANTITY,
            ..item(MAX_UNIT_MINOR, MAX_UNIT_MINOR, 0)
        };
        assert!(matches!(
            o.add_line_item(big, 1),
            Err(Problem::InvalidArgument(_))
        ));
        assert!(o.line_items.is_empty());
    }
}
