//! The stage machine: which stage may follow which, and which gates each move must pass. One
//! table ([`transition`]), tested for every (from, to) pair.

use closeloop_kit::codes;

codes! {
    /// Where an opportunity stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Stage {
        /// Open: first contact.
        Prospecting = "PROSPECTING",
        /// Open: is this a good deal?
        Qualification = "QUALIFICATION",
        /// Open: a priced proposal is out.
        Proposal = "PROPOSAL",
        /// Open: negotiating terms and price.
        Negotiation = "NEGOTIATION",
        /// Closed: the client bought.
        ClosedWon = "CLOSED_WON",
        /// Closed: the client did not buy.
        ClosedLost = "CLOSED_LOST",
        /// Closed: not a fit for us.
        Disqualified = "DISQUALIFIED",
    }
}

/// A gate a move must pass (its name is what clients see in `PreconditionFailure.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// Benefit, realistic expectations and partner maturity confirmed; margin at the floor.
    Qualification,
    /// Every discount above the threshold approved.
    DiscountApproval,
    /// At least one line item.
    LineItems,
    /// A positive amount.
    PositiveAmount,
}

impl Gate {
    /// The stable code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Gate::Qualification => "qualification",
            Gate::DiscountApproval => "discount_approval",
            Gate::LineItems => "line_items",
            Gate::PositiveAmount => "amount",
        }
    }
}

/// What the table says about a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Allowed once these gates pass.
    Allowed(&'static [Gate]),
    /// Never allowed, for this reason.
    Forbidden(&'static str),
}

const NONE: &[Gate] = &[];
const LEAVE_QUALIFICATION: &[Gate] = &[Gate::Qualification];
// A deal past qualification must stay qualified: line items and answers can change after
// QUALIFICATION, so moving on again re-checks the qualification (margin included).
const ENTER_NEGOTIATION: &[Gate] = &[Gate::Qualification, Gate::DiscountApproval];
const CLOSE_WON: &[Gate] = &[
    Gate::Qualification,
    Gate::DiscountApproval,
    Gate::LineItems,
    Gate::PositiveAmount,
];

impl Stage {
    /// The open stages, in pipeline order.
    pub const OPEN: [Stage; 4] = [
        Stage::Prospecting,
        Stage::Qualification,
        Stage::Proposal,
        Stage::Negotiation,
    ];

    /// Whether the opportunity is still being pursued.
    pub fn is_open(self) -> bool {
        self.pipeline_position().is_some()
    }

    /// Position in the pipeline for open stages.
    fn pipeline_position(self) -> Option<u8> {
        match self {
            Stage::Prospecting => Some(0),
            Stage::Qualification => Some(1),
            Stage::Proposal => Some(2),
            Stage::Negotiation => Some(3),
            Stage::ClosedWon | Stage::ClosedLost | Stage::Disqualified => None,
        }
    }

    /// Whether the stage is past qualification (PROPOSAL or NEGOTIATION).
    pub fn is_past_qualification(self) -> bool {
        self.pipeline_position().is_some_and(|p| p >= 2)
    }
}

/// The transition table.
pub fn transition(from: Stage, to: Stage) -> Transition {
    use Stage::*;
    let Some(from_pos) = from.pipeline_position() else {
        return Transition::Forbidden(
            "the opportunity is closed; closed opportunities never change",
        );
    };
    if from == to {
        return Transition::Forbidden("the opportunity is already in that stage");
    }
    match to {
        ClosedLost | Disqualified => Transition::Allowed(NONE),
        ClosedWon if from.is_past_qualification() => Transition::Allowed(CLOSE_WON),
        ClosedWon => Transition::Forbidden(
            "an opportunity is won only after qualification: close it from PROPOSAL or NEGOTIATION",
        ),
        Prospecting | Qualification | Proposal | Negotiation => {
            let to_pos = to.pipeline_position().expect("open stage");
            if to_pos < from_pos {
                // Deals regress; moving back is always allowed and re-arms the gates ahead.
                Transition::Allowed(NONE)
            } else if to_pos > from_pos + 1 {
                Transition::Forbidden("stages cannot be skipped: move to the next stage first")
            } else {
                match to {
                    Proposal => Transition::Allowed(LEAVE_QUALIFICATION),
                    Negotiation => Transition::Allowed(ENTER_NEGOTIATION),
                    _ => Transition::Allowed(NONE),
                }
            }
        }
    }
}

codes! {
    /// Forecast category: where an opportunity's amount goes in a forecast.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum ForecastCategory {
        /// Early.
        Pipeline = "PIPELINE",
        /// Could close this period.
        BestCase = "BEST_CASE",
        /// Committed by the salesperson.
        Commit = "COMMIT",
        /// Won.
        Closed = "CLOSED",
        /// Left out.
        Omitted = "OMITTED",
    }
}

impl ForecastCategory {
    /// The category a stage puts an opportunity in by default.
    pub fn default_for(stage: Stage) -> ForecastCategory {
        match stage {
            Stage::Prospecting | Stage::Qualification => ForecastCategory::Pipeline,
            Stage::Proposal => ForecastCategory::BestCase,
            Stage::Negotiation => ForecastCategory::Commit,
            Stage::ClosedWon => ForecastCategory::Closed,
            Stage::ClosedLost | Stage::Disqualified => ForecastCategory::Omitted,
        }
    }

    /// Why an open opportunity in `stage` may not be put in this category by override, if so.
    pub fn override_refused(self, stage: Stage) -> Option<&'static str> {
        match self {
            _ if !stage.is_open() => Some("closed opportunities keep their category"),
            ForecastCategory::Closed => Some("CLOSED is reserved for won opportunities"),
            ForecastCategory::Commit if !stage.is_past_qualification() => {
                Some("COMMIT is allowed from PROPOSAL on")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Stage::*;

    /// The whole table, written out: every (from, to) pair and its expected answer.
    /// `None` = forbidden, `Some(gates)` = allowed with those gates.
    fn expected(from: Stage, to: Stage) -> Option<&'static [Gate]> {
        const Q: &[Gate] = &[Gate::Qualification];
        const D: &[Gate] = &[Gate::Qualification, Gate::DiscountApproval];
        const W: &[Gate] = &[
            Gate::Qualification,
            Gate::DiscountApproval,
            Gate::LineItems,
            Gate::PositiveAmount,
        ];
        const N: &[Gate] = &[];
        match (from, to) {
            (ClosedWon | ClosedLost | Disqualified, _) => None,
            (a, b) if a == b => None,
            (Prospecting, Qualification) => Some(N),
            (Prospecting, Proposal | Negotiation | ClosedWon) => None,
            (Prospecting, ClosedLost | Disqualified) => Some(N),
            (Qualification, Prospecting) => Some(N),
            (Qualification, Proposal) => Some(Q),
            (Qualification, Negotiation | ClosedWon) => None,
            (Qualification, ClosedLost | Disqualified) => Some(N),
            (Proposal, Prospecting | Qualification) => Some(N),
            (Proposal, Negotiation) => Some(D),
            (Proposal, ClosedWon) => Some(W),
            (Proposal, ClosedLost | Disqualified) => Some(N),
            (Negotiation, Prospecting | Qualification | Proposal) => Some(N),
            (Negotiation, ClosedWon) => Some(W),
            (Negotiation, ClosedLost | Disqualified) => Some(N),
            (a, b) => unreachable!("pair not covered: {a:?} -> {b:?}"),
        }
    }

    #[test]
    fn every_pair_matches_the_written_table() {
        for from in Stage::ALL {
            for to in Stage::ALL {
                let got = match transition(from, to) {
                    Transition::Allowed(g) => Some(g),
                    Transition::Forbidden(_) => None,
                };
                assert_eq!(got, expected(from, to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn codes_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::from_code(s.code()), Some(s));
        }
        for c in ForecastCategory::ALL {
            assert_eq!(ForecastCategory::from_code(c.code()), Some(c));
        }
    }

    #[test]
    fn forecast_overrides_follow_the_rules() {
        use ForecastCategory::*;
        assert!(Commit.override_refused(Prospecting).is_some());
        assert!(Commit.override_refused(Proposal).is_none());
        assert!(Closed.override_refused(Negotiation).is_some());
        assert!(Omitted.override_refused(Qualification).is_none());
        assert!(Pipeline.override_refused(ClosedWon).is_some());
    }
}
