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
    pub account: Party,
    /// Owner; empty means "the caller".
    pub owner: String,
    pub title: String,
    pub description: String,
    pub kind: Kind,
    pub source: Source,
    pub currency: CurrencyCode,
    pub expected_close_date: Date,
    pub stakeholders: Vec<Stakeholder>,
    pub objectives: Vec<Objective>,
    pub evaluation: EvaluationProcess,
    pub next_step: Option<NextStep>,
    pub prior_contract_value: Option<Money>,
    pub referring_account: Option<Party>,
    pub probability_override: Option<i32>,
    pub forecast_override: Option<ForecastCategory>,
}

/// Replacement values for the fields named in an update mask.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub account: Option<Party>,
    /// New owner (managers only; checked by access rules).
    pub owner: Option<String>,
    pub kind: Option<Kind>,
    pub source: Option<Source>,
    /// New currency (only without line items).
    pub currency: Option<CurrencyCode>,
    pub expected_close_date: Option<Date>,
    pub stakeholders: Option<Vec<Stakeholder>>,
    pub objectives: Option<Vec<Objective>>,
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
    pub product_id: String,
    pub product_name: String,
    pub quantity: i64,
    /// List unit price.
    pub list_unit: Money,
    /// Sold unit price.
    pub sold_unit: Money,
    pub unit_cost: Money,
}

/// Replacement values for a line item's masked fields.
#[derive(Debug, Clone, Default)]
pub struct LineItemPatch {
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub quantity: Option<i64>,
    /// List unit price.
    pub list_unit: Option<Money>,
    /// Sold unit price.
    pub sold_unit: Option<Money>,
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
    pub notes: String,
}

/// How the caller wants to close.
#[derive(Debug, Clone)]
pub struct Closing {
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
