//! How much one account (and everything under it) may hold: the bound of every list and the
//! length of every text, so that an account stays within the message limit whatever callers
//! send and however many handoffs extend it.
//!
//! The domain enforces the list bounds and the account's total size ([`MAX_ACCOUNT_BYTES`]),
//! since only it knows what an account already holds: a request that would grow an account past
//! one of them fails with FAILED_PRECONDITION gate "account_limit"
//! ([`super::account::LIMIT_GATE`]), one whose own list is too long with INVALID_ARGUMENT. The
//! API checks texts against the lengths here, in bytes of UTF-8 like every text of the suite
//! (`closeloop_kit::types::required_text`), when it parses a request; the domain checks again
//! the texts that another service would refuse (a referral's, an expansion's), so that nothing
//! is recorded that cannot be sent on.

/// Most contracts on one account. Every handoff brings one; an account manager adds more.
pub const MAX_CONTRACTS: usize = 100;

/// Most handoffs one account records (the one that opened it and every later one that extended
/// it): a redelivered OpenAccount is recognised by them, so none may be forgotten.
pub const MAX_HANDOFFS: usize = MAX_CONTRACTS;

/// Most outcomes on one account. A handoff brings at most 100 goals. It bounds a check-in's
/// outcome progress too: each outcome of the account at most once.
pub const MAX_OUTCOMES: usize = 200;

/// Most success criteria per outcome (the handoff's bound per goal).
pub const MAX_CRITERIA: usize = 20;

/// Most obligations on one account. One handoff may bring up to 700 (200 deliverables, 200
/// client obligations, 200 installments, 100 verbal commitments), so the largest handoff fits
/// twice over; real contracts bring tens.
pub const MAX_OBLIGATIONS: usize = 2000;

/// Most contacts on one account. A handoff brings at most 200 (stakeholders and support
/// contacts).
pub const MAX_CONTACTS: usize = 400;

/// Most needs on one account. A handoff brings at most 100.
pub const MAX_NEEDS: usize = 400;

/// Most status changes an account keeps. Each churn and reactivation adds one; a change past it
/// fails with FAILED_PRECONDITION gate "history_limit".
pub const MAX_STATUS_CHANGES: usize = 1000;

/// Most attendees of one check-in.
pub const MAX_ATTENDEES: usize = 50;

/// Most measurements in one operations update.
pub const MAX_MEASUREMENTS: usize = 50;

/// Most account managers one portfolio report names (`account_managers`).
pub const MAX_REPORT_SUBJECTS: usize = 100;

/// Most bytes an account may take, counted as the sum of its texts plus a fixed allowance per
/// entry ([`super::account::Account::approximate_bytes`]). Below the 4 MiB message limit with
/// room for the rest of an answer: the list bounds alone would let a few large handoffs build
/// an account no call could return.
pub const MAX_ACCOUNT_BYTES: usize = 3 * 1024 * 1024;

/// Page size of a List call that asks for none (`page_size` 0).
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// Largest page of a List call; larger requests are capped to it.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The page size of a List call asking for `requested`: 0 (or less) means
/// [`DEFAULT_PAGE_SIZE`], more than [`MAX_PAGE_SIZE`] is capped to it. The API refuses negative
/// values before; they read as the default here so that nothing panics.
pub fn page_size(requested: i32) -> usize {
    match usize::try_from(requested) {
        Ok(0) | Err(_) => DEFAULT_PAGE_SIZE,
        Ok(n) => n.min(MAX_PAGE_SIZE),
    }
}

/// Longest check-in cadence and due check-in horizon, in days (the proto's "1 to 365", "0 to
/// 365").
pub const MAX_DAYS: i32 = 365;

/// Longest contract term, in months (the contracts service's bound).
pub const MAX_TERM_MONTHS: i32 = 120;

/// Largest amount in minor units: the opportunities service's bound on amounts, so a contract
/// value passed on as a renewal's prior contract value is never refused there for its size.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// Identifiers and token subjects (account manager, salesperson, owner, customer and referred
/// company ids, external ids and references): the kit's subject length.
pub const MAX_ID: usize = 128;

/// Resource names of other services (`contracts/{contract}`, `handoffs/{handoff}`,
/// `opportunities/{opportunity}`).
pub const MAX_RESOURCE_NAME: usize = 256;

/// Names of people and companies, titles (contract, operations update, expansion, referral,
/// job titles), measurement metrics.
pub const MAX_TITLE: usize = 200;

/// Phone numbers, measurement units.
pub const MAX_PHONE: usize = 50;

/// An outcome's goal (the proto's "1 to 500 characters").
pub const MAX_GOAL: usize = 500;

/// A success criterion, an obligation's description, a status reason (at risk, reactivation),
/// churn notes, an outcome progress note: the proto's "1 to 1000 characters".
pub const MAX_DESCRIPTION: usize = 1000;

/// An obligation's status note (the contracts service's bound on status notes).
pub const MAX_STATUS_NOTE: usize = 2000;

/// A customer need. The proto gives none; the handoff sends "{description} — {details}", up to
/// 1000 + 5 + 2000 bytes, so the bound leaves room for it.
pub const MAX_NEED: usize = 4000;

/// Free-form notes: the account's notes, a check-in's notes, an operations update's body.
pub const MAX_NOTES: usize = 10_000;

/// A referral's notes and an expansion's description, which become the opportunity's
/// description: the opportunities service's bound on it.
pub const MAX_OPPORTUNITY_DESCRIPTION: usize = 5000;

/// `s` cut to at most `max` bytes at a character boundary (never panics, whatever `s` holds).
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(-5), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(1), 1);
        assert_eq!(page_size(1000), 1000);
        assert_eq!(page_size(5000), MAX_PAGE_SIZE);
        assert_eq!(page_size(i32::MAX), MAX_PAGE_SIZE);
    }

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("é", 0), "");
    }

    #[test]
    fn the_largest_handoff_fits() {
        // 200 deliverables, 200 client obligations, 200 installments, 100 commitments.
        const { assert!(MAX_OBLIGATIONS >= 2 * 700) };
        // 100 stakeholders and 100 support contacts.
        const { assert!(MAX_CONTACTS >= 2 * 200) };
        const { assert!(MAX_OUTCOMES >= 100 && MAX_NEEDS >= 100) };
        // "{1000-byte need} — {2000-byte details}".
        const { assert!(MAX_NEED >= 1000 + " — ".len() + 2000) };
    }
}
