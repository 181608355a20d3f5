//! Expansions (upsell, cross-sell, renewal) and referrals: recorded on the account, each opens
//! the next opportunity in the opportunities service through this service's outbox. What each
//! owes that service is a [`CreateOpportunity`], built here when it is recorded, from which the
//! app builds the proto request and writes it to the outbox in the same transaction; its
//! request id (and outbox command id) is derived from the expansion or referral, so exactly one
//! opportunity is created however often it is delivered.
//!
//! Where a request stands
//! ([`OpportunityRequestStatus`](super::vocabulary::OpportunityRequestStatus)) follows the owed
//! call in the outbox: PENDING while it waits, OPENED once delivered, FAILED while refused for
//! good, and PENDING again when an operator retries it. The app reads the call's state from
//! the outbox ([`CallState`]) and asks [`OpportunityRequest::status`]; the opportunity's name
//! comes from the callee's answer, recorded by [`OpportunityRequest::record_opened`].

use closeloop_kit::time::date_of_micros;
use closeloop_kit::types::{CurrencyCode, Money, identifier, optional_text, required_text};
use closeloop_kit::{Principal, Problem, Violations};
use time::{Date, Duration};

use super::account::{ACCOUNT_STATUS_GATE, Account, STATUS_GATE};
use super::limits::{
    MAX_AMOUNT_MINOR, MAX_ID, MAX_OPPORTUNITY_DESCRIPTION, MAX_PHONE, MAX_TITLE, cut,
};
use super::policy::Policy;
use super::vocabulary::{
    AccountId, AccountStatus, Actor, CallState, Contact, ExpansionId, ExpansionKind,
    OpportunityKind, OpportunityRequestStatus as R, OpportunitySource, Party, ReferralId,
    StakeholderRole, account_name,
};

/// The method every expansion and referral owes.
pub const CREATE_OPPORTUNITY: &str =
    "closeloop.opportunities.v1.OpportunityService/CreateOpportunity";

/// Whether a request may go from `from` to `to`: PENDING -> OPENED (delivered), PENDING ->
/// FAILED (refused for good), FAILED -> PENDING (an operator retried the parked call). OPENED is
/// final; nothing else moves.
pub fn request_move_allowed(from: R, to: R) -> bool {
    matches!(
        (from, to),
        (R::Pending, R::Opened) | (R::Pending, R::Failed) | (R::Failed, R::Pending)
    )
}

/// Refuses a move of a request's status that [`request_move_allowed`] does not allow.
///
/// # Errors
/// FAILED_PRECONDITION gate "status", subject the current status.
pub fn check_request_move(from: R, to: R) -> Result<(), Problem> {
    if request_move_allowed(from, to) {
        Ok(())
    } else {
        Err(Problem::gate(
            STATUS_GATE,
            from.code(),
            format!(
                "an opportunity request {} cannot become {}",
                from.code(),
                to.code()
            ),
        ))
    }
}

/// The opportunity an expansion or a referral asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityRequest {
    /// The owed CreateOpportunity's command id in the outbox, also its `request_id`.
    pub command_id: String,
    /// `opportunities/{opportunity}` once the opportunities service confirmed and named it.
    pub opportunity: Option<String>,
    /// When it was confirmed (µs).
    pub open_time: Option<i64>,
}

impl OpportunityRequest {
    /// Where the request stands, from the state of the owed call in the outbox (`None` when
    /// the outbox no longer holds it: a delivered call is deleted after the retention period,
    /// and only delivered ones are). A recorded opportunity is OPENED whatever the outbox says.
    pub fn status(&self, call: Option<&CallState>) -> R {
        if self.opportunity.is_some() {
            return R::Opened;
        }
        match call {
            Some(CallState::Pending) => R::Pending,
            Some(CallState::Delivered) | None => R::Opened,
            Some(CallState::Refused { .. }) => R::Failed,
        }
    }

    /// Once FAILED, the refusal for people (`failure_reason`): the callee's message; empty
    /// otherwise.
    pub fn failure_reason<'a>(&self, call: Option<&'a CallState>) -> &'a str {
        match call {
            Some(CallState::Refused { message, .. }) if self.opportunity.is_none() => message,
            _ => "",
        }
    }

    /// Records the opportunity the opportunities service created, from its answer. The first
    /// recorded name is kept: the callee dedupes by the request id, so a later delivery answers
    /// the same one. Returns whether anything changed.
    pub fn record_opened(&mut self, opportunity: String, time: i64) -> bool {
        if self.opportunity.is_some() {
            return false;
        }
        self.opportunity = Some(opportunity);
        self.open_time = Some(time);
        true
    }
}

/// A stakeholder of the opportunity to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stakeholder {
    /// With an email (the opportunities service requires one).
    pub contact: Contact,
    pub role: StakeholderRole,
    pub primary: bool,
}

/// Everything a CreateOpportunity owed to the opportunities service carries, in the domain's
/// words: the app builds the request from it (`opportunity` with these fields, `request_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOpportunity {
    /// Derived from the expansion or referral: the same on every delivery.
    pub request_id: String,
    /// The customer (expansion) or the referred company (referral).
    pub account: Party,
    /// A token subject; the opportunities service lets a `service` caller set it.
    pub owner: String,
    /// 1 to 200 bytes.
    pub title: String,
    /// At most 5000 bytes; may be empty.
    pub description: String,
    pub kind: OpportunityKind,
    pub source: OpportunitySource,
    /// The account's.
    pub currency: CurrencyCode,
    pub expected_close_date: Date,
    /// RENEWAL only.
    pub prior_contract_value: Option<Money>,
    /// Referrals only: this account's customer.
    pub referring_account: Option<Party>,
    /// Referrals: the contact, primary. Empty for expansions.
    pub stakeholders: Vec<Stakeholder>,
}

/// An upsell, cross-sell or renewal identified on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub id: ExpansionId,
    pub account: AccountId,
    pub kind: ExpansionKind,
    pub title: String,
    pub description: String,
    /// Positive, in the account's currency; kept here only.
    pub estimated_value: Option<Money>,
    /// As given, or the renewed contract's renewal date.
    pub expected_close_date: Date,
    /// RENEWAL: the contract renewed, one of the account's.
    pub renews_contract: Option<String>,
    /// RENEWAL: as given, or the renewed contract's value.
    pub prior_contract_value: Option<Money>,
    /// The salesperson who will own the opportunity.
    pub owner: String,
    pub identified_by: Actor,
    pub create_time: i64,
    pub request: OpportunityRequest,
}

impl Expansion {
    /// `accounts/{account}/expansions/{id}`.
    pub fn name(&self) -> String {
        format!("{}/expansions/{}", account_name(&self.account), self.id)
    }
}

/// The request id of the CreateOpportunity an expansion owes, derived from its id (the unique
/// part of its name), so that one expansion opens one opportunity.
pub fn expansion_request_id(id: &ExpansionId) -> String {
    format!("create-opportunity-expansion-{id}")
}

/// The request id of the CreateOpportunity a referral owes.
pub fn referral_request_id(id: &ReferralId) -> String {
    format!("create-opportunity-referral-{id}")
}

/// An expansion as IdentifyExpansion gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpansionInput {
    pub kind: ExpansionKind,
    pub title: String,
    pub description: String,
    pub estimated_value: Option<Money>,
    pub expected_close_date: Option<Date>,
    pub renews_contract: Option<String>,
    pub prior_contract_value: Option<Money>,
    /// `None`: the account's salesperson.
    pub owner: Option<String>,
}

/// Records the problems of an amount against `field`: another currency, not positive, above
/// [`MAX_AMOUNT_MINOR`].
fn check_amount(v: &mut Violations, field: &str, m: Money, currency: CurrencyCode) {
    if m.currency != currency {
        v.add(
            field,
            format!("must be in the account's currency {currency}"),
        );
    } else if m.minor <= 0 || m.minor > MAX_AMOUNT_MINOR {
        v.add(
            field,
            format!("must be positive and at most {MAX_AMOUNT_MINOR} minor units"),
        );
    }
}

/// The owner: as given (a token subject, as the opportunities service checks it), or the
/// account's salesperson.
fn owner(v: &mut Violations, field: &str, given: Option<String>, account: &Account) -> String {
    match given {
        None => account.salesperson.clone(),
        Some(o) => v.check(field, identifier(&o, MAX_ID)).unwrap_or_default(),
    }
}

/// Records `field` when `date` is before `today`.
fn not_past(v: &mut Violations, field: &str, date: Date, today: Date) {
    if date < today {
        v.add(field, format!("must be today ({today}) or later"));
    }
}

impl Account {
    /// IdentifyExpansion: the expansion `id` identified by `by`, and the CreateOpportunity it
    /// owes (kind EXPANSION or RENEWAL, source ACCOUNT_EXPANSION or RENEWAL, the account's
    /// customer and currency, the prior contract value for a renewal). The account itself does
    /// not change; the app inserts the expansion and writes the call to the outbox together.
    ///
    /// Defaults: the owner is the account's salesperson; a renewal's prior contract value is
    /// the renewed contract's value, and its expected close date the contract's renewal date
    /// ([`super::account::ContractReference::renewal_date`]: its end date, or for an
    /// auto-renewing contract already past it the end of the term running today). A close date
    /// given must be today or later for every kind: the proto says so for upsells and
    /// cross-sells, and a renewal closing in the past is no more sensible.
    ///
    /// # Errors
    /// Nothing is recorded on any of them:
    /// - FAILED_PRECONDITION gate "account_status" (subject "CHURNED") on a CHURNED account;
    /// - INVALID_ARGUMENT naming `expansion.title` (empty or over 200 bytes),
    ///   `expansion.description` (over 5000 bytes), `expansion.estimated_value` and
    ///   `expansion.prior_contract_value` (another currency, not positive, too large),
    ///   `expansion.owner` (not a subject), `expansion.expected_close_date` (missing for an
    ///   upsell or cross-sell, or for a renewal of an open-ended contract; in the past),
    ///   `expansion.renews_contract` (missing or unknown on a renewal, given on another kind),
    ///   `expansion.prior_contract_value` given on another kind.
    pub fn identify_expansion(
        &self,
        id: ExpansionId,
        input: ExpansionInput,
        by: &Principal,
        now: i64,
    ) -> Result<(Expansion, CreateOpportunity), Problem> {
        if self.status == AccountStatus::Churned {
            return Err(Problem::gate(
                ACCOUNT_STATUS_GATE,
                self.status.code(),
                "the account is CHURNED: expansions are identified on ACTIVE and AT_RISK \
                 accounts",
            ));
        }
        const E: &str = "expansion";
        let today = date_of_micros(now);
        let mut v = Violations::new();
        let title = v
            .check(format!("{E}.title"), required_text(&input.title, MAX_TITLE))
            .unwrap_or_default();
        let description = v
            .check(
                format!("{E}.description"),
                optional_text(&input.description, MAX_OPPORTUNITY_DESCRIPTION),
            )
            .unwrap_or_default();
        if let Some(m) = input.estimated_value {
            check_amount(&mut v, &format!("{E}.estimated_value"), m, self.currency);
        }
        let owner = owner(&mut v, &format!("{E}.owner"), input.owner, self);
        if let Some(d) = input.expected_close_date {
            not_past(&mut v, &format!("{E}.expected_close_date"), d, today);
        }
        let mut expected = input.expected_close_date;
        let mut prior = None;
        match input.kind {
            ExpansionKind::Upsell | ExpansionKind::CrossSell => {
                if expected.is_none() {
                    v.add(
                        format!("{E}.expected_close_date"),
                        format!("required for {}", input.kind.code()),
                    );
                }
                if input.renews_contract.is_some() {
                    v.add(format!("{E}.renews_contract"), "only for RENEWAL");
                }
                if input.prior_contract_value.is_some() {
                    v.add(format!("{E}.prior_contract_value"), "only for RENEWAL");
                }
            }
            ExpansionKind::Renewal => match &input.renews_contract {
                None => v.add(
                    format!("{E}.renews_contract"),
                    "required for RENEWAL: the contract renewed",
                ),
                Some(name) => match self.contracts.iter().find(|c| &c.contract == name) {
                    None => v.add(
                        format!("{E}.renews_contract"),
                        format!("{name} is not one of the account's contracts"),
                    ),
                    Some(contract) => {
                        let value = input.prior_contract_value.unwrap_or(contract.value);
                        check_amount(
                            &mut v,
                            &format!("{E}.prior_contract_value"),
                            value,
                            self.currency,
                        );
                        prior = Some(value);
                        if expected.is_none() {
                            expected = contract.renewal_date(today);
                            if expected.is_none() {
                                v.add(
                                    format!("{E}.expected_close_date"),
                                    format!(
                                        "required: {name} is open-ended, so it has no end date \
                                         to renew on"
                                    ),
                                );
                            }
                        }
                    }
                },
            },
        }
        v.into_result()?;
        let Some(expected_close_date) = expected else {
            return Err(Problem::internal(
                "an expansion passed its checks without a close date",
            ));
        };
        let expansion = Expansion {
            id: id.clone(),
            account: self.id.clone(),
            kind: input.kind,
            title,
            description,
            estimated_value: input.estimated_value,
            expected_close_date,
            renews_contract: input.renews_contract,
            prior_contract_value: prior,
            owner,
            identified_by: Actor::of(by),
            create_time: now,
            request: OpportunityRequest {
                command_id: expansion_request_id(&id),
                opportunity: None,
                open_time: None,
            },
        };
        let call = CreateOpportunity {
            request_id: expansion.request.command_id.clone(),
            account: self.customer.clone(),
            owner: expansion.owner.clone(),
            title: expansion.title.clone(),
            description: expansion.description.clone(),
            kind: expansion.kind.opportunity_kind(),
            source: expansion.kind.opportunity_source(),
            currency: self.currency,
            expected_close_date,
            prior_contract_value: expansion.prior_contract_value,
            referring_account: None,
            stakeholders: Vec::new(),
        };
        Ok((expansion, call))
    }
}

/// A company the customer referred to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub id: ReferralId,
    /// The referring account.
    pub account: AccountId,
    pub referred_company: Party,
    /// With an email.
    pub contact: Contact,
    /// The contact's part in the buying decision; the opportunity's primary stakeholder's role.
    pub contact_role: StakeholderRole,
    /// As given, or "Referral from {customer display name}" (cut to 200 bytes).
    pub title: String,
    pub notes: String,
    pub owner: String,
    /// As given, or today plus [`Policy::referral_close_days`].
    pub expected_close_date: Date,
    pub recorded_by: Actor,
    pub create_time: i64,
    pub request: OpportunityRequest,
}

impl Referral {
    /// `accounts/{account}/referrals/{id}`.
    pub fn name(&self) -> String {
        format!("{}/referrals/{}", account_name(&self.account), self.id)
    }
}

/// A referral as RecordReferral gives it. The contact role is required (not an `Option`): the
/// API refuses an unspecified one naming `referral.contact_role`, since the opportunities
/// service refuses a stakeholder without a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralInput {
    pub referred_company: Party,
    pub contact: Contact,
    pub contact_role: StakeholderRole,
    /// Empty: the default title.
    pub title: String,
    pub notes: String,
    pub owner: Option<String>,
    pub expected_close_date: Option<Date>,
}

impl Account {
    /// RecordReferral: the referral `id` recorded by `by`, in any account status, and the
    /// CreateOpportunity it owes: the referred company as the account, kind NEW_BUSINESS,
    /// source REFERRAL, this customer as the referring account, the account's currency, the
    /// notes as the description, one stakeholder (the contact, primary, with the contact role).
    ///
    /// Everything the opportunities service would refuse in that content is refused here, so
    /// that a referral which is recorded is one its opportunity can be opened from.
    ///
    /// # Errors
    /// INVALID_ARGUMENT naming `referral.referred_company.account_id` (not a subject-like id,
    /// or the account's own customer), `referral.referred_company.display_name`,
    /// `referral.contact.display_name` (empty or over 200 bytes), `referral.contact.email`
    /// (missing), `referral.contact.phone` (over 50 bytes), `referral.contact.title` (over 200),
    /// `referral.title` (over 200 bytes), `referral.notes` (over 5000), `referral.owner`,
    /// `referral.expected_close_date` (in the past). Nothing is recorded.
    pub fn record_referral(
        &self,
        id: ReferralId,
        input: ReferralInput,
        by: &Principal,
        policy: &Policy,
        now: i64,
    ) -> Result<(Referral, CreateOpportunity), Problem> {
        const F: &str = "referral";
        let today = date_of_micros(now);
        let mut v = Violations::new();
        let company = &input.referred_company;
        if v.check(
            format!("{F}.referred_company.account_id"),
            identifier(&company.account_id, MAX_ID),
        )
        .is_some()
            && company.account_id == self.customer.account_id
        {
            v.add(
                format!("{F}.referred_company.account_id"),
                "must differ from the account's own customer: a customer does not refer itself",
            );
        }
        v.check(
            format!("{F}.referred_company.display_name"),
            required_text(&company.display_name, MAX_TITLE),
        );
        let c = &input.contact;
        v.check(
            format!("{F}.contact.display_name"),
            required_text(&c.display_name, MAX_TITLE),
        );
        if c.email.is_none() {
            v.add(
                format!("{F}.contact.email"),
                "required: the contact becomes the opportunity's stakeholder",
            );
        }
        v.check(
            format!("{F}.contact.phone"),
            optional_text(&c.phone, MAX_PHONE),
        );
        v.check(
            format!("{F}.contact.title"),
            optional_text(&c.title, MAX_TITLE),
        );
        let title = if input.title.trim().is_empty() {
            let default = format!("Referral from {}", self.customer.display_name.trim());
            cut(&default, MAX_TITLE).trim_end().to_owned()
        } else {
            v.check(format!("{F}.title"), required_text(&input.title, MAX_TITLE))
                .unwrap_or_default()
        };
        let notes = v
            .check(
                format!("{F}.notes"),
                optional_text(&input.notes, MAX_OPPORTUNITY_DESCRIPTION),
            )
            .unwrap_or_default();
        let owner = owner(&mut v, &format!("{F}.owner"), input.owner, self);
        let expected_close_date = match input.expected_close_date {
            Some(d) => {
                not_past(&mut v, &format!("{F}.expected_close_date"), d, today);
                d
            }
            None => today
                .checked_add(Duration::days(i64::from(policy.referral_close_days.max(0))))
                .unwrap_or(today),
        };
        v.into_result()?;
        let referral = Referral {
            id: id.clone(),
            account: self.id.clone(),
            referred_company: input.referred_company,
            contact: input.contact,
            contact_role: input.contact_role,
            title,
            notes,
            owner,
            expected_close_date,
            recorded_by: Actor::of(by),
            create_time: now,
            request: OpportunityRequest {
                command_id: referral_request_id(&id),
                opportunity: None,
                open_time: None,
            },
        };
        let call = CreateOpportunity {
            request_id: referral.request.command_id.clone(),
            account: referral.referred_company.clone(),
            owner: referral.owner.clone(),
            title: referral.title.clone(),
            description: referral.notes.clone(),
            kind: OpportunityKind::NewBusiness,
            source: OpportunitySource::Referral,
            currency: self.currency,
            expected_close_date,
            prior_contract_value: None,
            referring_account: Some(self.customer.clone()),
            stakeholders: vec![Stakeholder {
                contact: referral.contact.clone(),
                role: referral.contact_role,
                primary: true,
            }],
        };
        Ok((referral, call))
    }
}
