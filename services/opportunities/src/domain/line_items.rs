//! Priced products on an opportunity: their amounts, discounts and margins, the manager's
//! approvals of deep discounts (kept whole, oldest first), and the changes to them.

use closeloop_kit::Problem;
use closeloop_kit::error::Violations;
use closeloop_kit::types::{CurrencyCode, Money};

use super::commands::{LineItemPatch, NewLineItem};
use super::gates;
use super::opportunity::{MAX_AMOUNT_MINOR, MAX_LINE_ITEMS, Opportunity};
use super::policy::Policy;
use super::vocabulary::Actor;

/// Largest quantity on a line item.
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// Largest unit price or cost, in minor units.
pub const MAX_UNIT_MINOR: i64 = 1_000_000_000_000_000;
/// Most approvals one line item keeps. With at most 200 line items and 1,000-byte reasons, the
/// approvals of one opportunity stay under 2.5 MB, inside the 4 MiB default message limit.
pub const MAX_APPROVALS: usize = 10;

/// A manager's approval of a discount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountApproval {
    pub approver: Actor,
    pub reason: String,
    /// The deepest discount it covers, in basis points.
    pub approved_discount_bps: i32,
    /// When (µs since epoch).
    pub time: i64,
}

/// A priced product. Prices are minor units in the opportunity's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    /// Id within the opportunity (`li-1`, `li-2`, …).
    pub id: String,
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
    /// Every approval given, oldest first, including those a deeper discount has outgrown.
    pub approvals: Vec<DiscountApproval>,
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

    /// The approval in effect: the latest, while it still covers the discount.
    pub fn approval(&self) -> Option<&DiscountApproval> {
        self.approvals
            .last()
            .filter(|a| !self.discount_exceeds(a.approved_discount_bps))
    }

    /// Whether the discount needs an approval it does not have.
    pub fn lacks_approval(&self, policy: &Policy) -> bool {
        self.requires_approval(policy) && self.approval().is_none()
    }

    /// The discount rounded up to a whole basis point: what an approval must cover.
    pub(super) fn discount_bps_ceil(&self) -> i32 {
        let num = (i128::from(self.list_unit) - i128::from(self.sold_unit)) * 10_000;
        let den = i128::from(self.list_unit.max(1));
        clamp_bps(num / den + i128::from(num % den > 0))
    }
}

/// A ratio in basis points, clamped to what an `int32` field carries (a line sold at a
/// thousand times its list price is "-99,990,000 bps", not a wrapped-around number).
pub fn clamp_bps(v: i128) -> i32 {
    v.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
}

impl Opportunity {
    fn line_item_index(&self, id: &str) -> Result<usize, Problem> {
        self.line_items
            .iter()
            .position(|li| li.id == id)
            .ok_or_else(|| Problem::NotFound {
                resource: "line_item",
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
            "line_item.list_price",
            true,
        );
        let sold = check_price(
            &mut v,
            item.sold_unit,
            self.currency,
            "line_item.sold_price",
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
            approvals: Vec::new(),
        });
        next.next_line_item += 1;
        next.check_total("line_item")?;
        next.touch(now);
        *self = next;
        Ok(id)
    }

    /// Changes a line item. Its approvals stay on record; the latest is in effect only while it
    /// still covers the new discount.
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
            && let Some(p) = check_price(&mut v, m, currency, "line_item.list_price", true)
        {
            li.list_unit = p;
        }
        if let Some(m) = patch.sold_unit
            && let Some(p) = check_price(&mut v, m, currency, "line_item.sold_price", false)
        {
            li.sold_unit = p;
        }
        if let Some(m) = patch.unit_cost
            && let Some(p) = check_price(&mut v, m, currency, "line_item.unit_cost", false)
        {
            li.unit_cost = p;
        }
        v.into_result()?;
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
        if li.approvals.len() >= MAX_APPROVALS {
            return Err(Problem::gate(
                gates::APPROVAL_LIMIT,
                format!("line_items/{line_item_id}"),
                format!(
                    "the line item holds {MAX_APPROVALS} approvals, the most it keeps; \
                     replace it with a new line item to approve again"
                ),
            ));
        }
        li.approvals.push(DiscountApproval {
            approver,
            reason,
            approved_discount_bps: li.discount_bps_ceil(),
            time: now,
        });
        self.touch(now);
        Ok(())
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
