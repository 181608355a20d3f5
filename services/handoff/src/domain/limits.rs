//! How much one handoff may hold: the bound of every list and the length of every text, so that a
//! handoff (and the OpenAccount call it owes) stays within the message limit whatever callers
//! send. The domain enforces the list bounds it can meet on its own (edits, rejections, voided
//! introductions); the API checks texts against the lengths here, in bytes of UTF-8 like every
//! text of the suite (`closeloop_kit::types::required_text`), when it parses a request.

/// Most entries in each list the salesperson completes: customer needs, goals, verbal
/// commitments, stakeholders, support contacts, onboarding steps. The opportunity the prefill
/// reads holds at most 50 stakeholders and 50 objectives, so prefill always fits.
pub const MAX_ENTRIES: usize = 100;

/// Most milestones in the delivery timeline. As many as a contract may have deliverables, so the
/// timeline StartHandoff builds (one milestone per deliverable) always fits.
pub const MAX_MILESTONES: usize = MAX_SNAPSHOT_PARTS;

/// Most deliverables, client obligations, installments, line items and signers in a contract
/// snapshot: the contracts service's own bound for each of them.
pub const MAX_SNAPSHOT_PARTS: usize = 200;

/// Most success criteria per goal.
pub const MAX_CRITERIA: usize = 20;

/// Most deliverable ids one milestone covers.
pub const MAX_MILESTONE_DELIVERABLES: usize = MAX_SNAPSHOT_PARTS;

/// Most attendees of the introduction.
pub const MAX_ATTENDEES: usize = 50;

/// Most reasons in one rejection (the proto's "1 to 20 entries").
pub const MAX_REASONS: usize = 20;

/// Most rejections a handoff keeps. Each rejection adds two status changes (submit, reject), so
/// this also bounds `status_history` (at most 2 x 100 + 3 entries). A READY handoff that has been
/// rejected this often can still be accepted; one more rejection is refused (gate
/// "history_limit").
pub const MAX_REJECTIONS: usize = 100;

/// Most completed introductions voided by a change of account manager
/// (`previous_introductions`). One more change of account manager after a completed
/// introduction is refused (gate "history_limit").
pub const MAX_PREVIOUS_INTRODUCTIONS: usize = 20;

/// Identifiers and token subjects (salesperson, account manager, step owner, attendee subject,
/// ids of the snapshot's parts): the kit's subject length.
pub const MAX_ID: usize = 128;

/// Names of people and companies, titles (milestone, onboarding step, contract), job titles.
pub const MAX_TITLE: usize = 200;

/// Phone numbers.
pub const MAX_PHONE: usize = 50;

/// A customer need, a success criterion, a rejection reason, a deliverable's and a client
/// obligation's description (the proto's "1 to 1000 characters").
pub const MAX_DESCRIPTION: usize = 1000;

/// A goal's description: the longest outcome account-management accepts ([`ACCOUNT_GOAL`]), so
/// that a goal the handoff took is never what makes OpenAccount refused after acceptance, when
/// it can no longer be corrected. The API refuses a longer one (INVALID_ARGUMENT naming it);
/// prefill cuts an objective's description to it.
pub const MAX_GOAL: usize = ACCOUNT_GOAL;

/// A verbal commitment's description: the longest obligation account-management accepts
/// ([`ACCOUNT_OBLIGATION`]; the commitment becomes a COMPANY COMMITMENT obligation of the
/// account). The API refuses a longer one.
pub const MAX_COMMITMENT: usize = ACCOUNT_OBLIGATION;

/// Details and descriptions that explain (a need's details, a milestone's and a step's
/// description, a support contact's and a commitment's notes), a step's status note, the
/// introduction's location.
pub const MAX_NOTE: usize = 2000;

/// Free-form notes: the handoff's notes, the account manager's notes, the introduction's notes.
pub const MAX_NOTES: usize = 10_000;

/// A milestone's title is cut to this many bytes when it is built from a deliverable's
/// description (the proto: "cut to the title's limit at a character boundary").
pub const MILESTONE_TITLE: usize = MAX_TITLE;

/// Longest goal account-management accepts as an outcome (its `Outcome.goal`, "1 to 500
/// characters"): what [`MAX_GOAL`] is. The OpenAccount call still cuts to it (see
/// [`super::account_opening`]), for goals stored before the bound.
pub const ACCOUNT_GOAL: usize = 500;

/// Longest obligation description account-management accepts (its `Obligation.description`,
/// "1 to 1000 characters"): what [`MAX_COMMITMENT`] is, and no longer than a deliverable's or a
/// client obligation's description ([`MAX_DESCRIPTION`]). The OpenAccount call still cuts to it.
pub const ACCOUNT_OBLIGATION: usize = 1000;

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
    fn cuts_at_a_character_boundary() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
        // "é" is two bytes: a cut in its middle steps back before it.
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("éé", 3), "é");
        assert_eq!(cut("é", 0), "");
    }

    #[test]
    fn prefill_and_the_contracts_bounds_fit() {
        // The opportunity holds at most 50 stakeholders and objectives.
        const { assert!(MAX_ENTRIES >= 50) };
        // One milestone per deliverable of the largest contract.
        const { assert!(MAX_MILESTONES >= MAX_SNAPSHOT_PARTS) };
        // What the handoff accepts, account-management accepts: OpenAccount is never refused
        // for a goal, a commitment or a contract's description.
        const { assert!(MAX_GOAL <= ACCOUNT_GOAL) };
        const { assert!(MAX_COMMITMENT <= ACCOUNT_OBLIGATION) };
        const { assert!(MAX_DESCRIPTION <= ACCOUNT_OBLIGATION) };
    }
}
