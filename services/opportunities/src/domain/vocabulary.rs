//! The words of a sale: who acted, what kind of business, where it came from, who decides on
//! the client's side, what they want, and the records a deal keeps (qualification, stage changes,
//! its close).

use closeloop_kit::Principal;
use closeloop_kit::codes;
use closeloop_kit::types::Email;
use time::Date;

use super::stage::Stage;

/// An opportunity's id (the `{opportunity}` of `opportunities/{opportunity}`): assigned by the
/// service (a UUIDv7, so ids sort by creation), 1 to 64 ASCII letters, digits or dashes. Only
/// [`OpportunityId::parse`] and [`OpportunityId::new`] make one, so code holding one never checks
/// its shape again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpportunityId(String);

impl OpportunityId {
    /// A new id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> OpportunityId {
        OpportunityId(uuid::Uuid::now_v7().to_string())
    }

    /// Checks an id's shape.
    ///
    /// # Errors
    /// A description when it is not an id this service assigns.
    pub fn parse(s: &str) -> Result<OpportunityId, String> {
        if !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            Ok(OpportunityId(s.to_owned()))
        } else {
            Err("not an opportunity id".into())
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OpportunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
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

codes! {
    /// Incremental (new business, expansion) or baseline (renewal) business.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Kind {
        /// A new customer.
        NewBusiness = "NEW_BUSINESS",
        /// Upsell or cross-sell.
        Expansion = "EXPANSION",
        /// Renewal of an existing contract.
        Renewal = "RENEWAL",
    }
}

codes! {
    /// Where an opportunity came from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Source {
        /// Outbound prospecting.
        Prospecting = "PROSPECTING",
        /// The client came to us.
        Inbound = "INBOUND",
        /// Another customer referred the client.
        Referral = "REFERRAL",
        /// Found while managing an account.
        AccountExpansion = "ACCOUNT_EXPANSION",
        /// A renewal coming up.
        Renewal = "RENEWAL",
    }
}

codes! {
    /// A stakeholder's part in the decision.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum StakeholderRole {
        /// Makes the decision.
        DecisionMaker = "DECISION_MAKER",
        /// Holds the budget.
        EconomicBuyer = "ECONOMIC_BUYER",
        /// Sells for us inside.
        Champion = "CHAMPION",
        /// Evaluates technically.
        TechnicalEvaluator = "TECHNICAL_EVALUATOR",
        /// Sways the decision.
        Influencer = "INFLUENCER",
        /// Will use the product.
        User = "USER",
    }
}

codes! {
    /// Why a deal was lost.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum LossReason {
        /// Too expensive.
        Price = "PRICE",
        /// A competitor won.
        Competitor = "COMPETITOR",
        /// The client did not decide.
        NoDecision = "NO_DECISION",
        /// Wrong time.
        Timing = "TIMING",
        /// The product does not fit.
        ProductFit = "PRODUCT_FIT",
        /// Something else (notes say what).
        Other = "OTHER",
    }
}

codes! {
    /// Why we disqualified the client.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum DisqualificationReason {
        /// The client would not benefit.
        NoClientBenefit = "NO_CLIENT_BENEFIT",
        /// Expectations cannot be met.
        UnrealisticExpectations = "UNREALISTIC_EXPECTATIONS",
        /// No profit possible.
        MarginTooLow = "MARGIN_TOO_LOW",
        /// Not a mature partner.
        ImmaturePartner = "IMMATURE_PARTNER",
        /// No budget.
        NoBudget = "NO_BUDGET",
        /// Something else (notes say what).
        Other = "OTHER",
    }
}

codes! {
    /// How an opportunity ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Outcome {
        /// Bought.
        Won = "WON",
        /// Did not buy.
        Lost = "LOST",
        /// Not a fit.
        Disqualified = "DISQUALIFIED",
    }
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
}

/// A company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Id in the systems of record.
    pub account_id: String,
    /// Name.
    pub display_name: String,
}

/// A person.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stakeholder {
    /// The person.
    pub contact: Contact,
    /// Their part.
    pub role: StakeholderRole,
    /// The main contact.
    pub primary: bool,
}

/// A desired outcome of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    /// The outcome.
    pub description: String,
    /// How the client measures it.
    pub success_measure: String,
}

/// One step of the client's evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationStep {
    /// What happens.
    pub description: String,
    /// When.
    pub due_date: Option<Date>,
    /// Done.
    pub completed: bool,
}

/// How the client decides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvaluationProcess {
    /// Criteria.
    pub criteria: Vec<String>,
    /// Steps.
    pub steps: Vec<EvaluationStep>,
    /// When the decision is expected.
    pub time_frame: Option<(Date, Date)>,
}

/// The next agreed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextStep {
    /// What.
    pub description: String,
    /// When.
    pub due_date: Option<Date>,
}

/// The qualification answers, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// When (µs).
    pub time: i64,
}

/// One stage change.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// How the opportunity ended.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The key competitors are grouped by: case-folded (Unicode), spaces collapsed, so "Globex",
/// "globex " and "GLOBEX" are one competitor.
pub fn competitor_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}
