//! What callers ask of an opportunity, already parsed into domain values: a new opportunity, the
//! replacements an update names, a new or changed line item, qualification answers, a close.

use closeloop_kit::types::{CurrencyCode, Money};
use time::Date;

use super::stage::ForecastCategory;
use super::vocabulary::{
    DisqualificationReason, EvaluationProcess, Kind, LossReason, NextStep, Objective, Outcome,
    Party, Source, Stakeholder,
};

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
