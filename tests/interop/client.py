"""A client written in Python and compiled from proto/ alone, driving closeloop as another
company system would: create an opportunity, qualify it, price it, get a discount approved, move
it to negotiation, close it won, and read the forecast, win/loss and revenue mix that reflect it.
Then, on the contracts-and-payments service, it finds the contract the win created, fills the
draft until nothing blocks sending, sends it, records both signatures, places the order, pays the
first invoice in full and has a payment of the second one soft-declined: dunning plans a retry
and the salesperson gets a follow-up.
Then, on the handoff service, it finds the handoff the placed order started (delivered by the
contracts service's outbox), prefilled from the opportunity's stakeholders and objectives and its
timeline from the contract's deliverable; reads its readiness checklist and has a premature submit
refused item by item; completes it, lets an account manager take it from the unassigned queue,
schedules the introduction, submits it (READY), has the account manager complete the introduction
and accept it (ACCEPTED). Accepting opens the account on the account-management service
(OpenAccount, delivered by the handoff service's outbox): the client waits for the handoff to say
so and finds the account, managed by the account manager, with the handoff's goals as outcomes.
On the account, the account manager records a check-in and lists it; operations post an ISSUE and
its RESOLUTION, which the salesperson finds in that order (newest posted first) in its feed; the
salesperson reads the account's health (score, band, and the payment factor read from
contracts-and-payments: one invoice paid, one outstanding) and lifetime value; the account manager
identifies an upsell, whose CreateOpportunity (delivered by the account service's outbox) the
salesperson finds on the opportunities service. Refusals checked there: a salesperson recording a
check-in (PERMISSION_DENIED), a satisfaction out of range (BadRequest), resolving an issue twice
(the "issue_open" gate).
Refusals are read as such a client reads them: the `google.rpc` details in the
`grpc-status-details-bin` trailer, decoded with grpcio-status and googleapis-common-protos, the
packages common.proto points Python clients to.

Usage: client.py OPPORTUNITIES_ADDRESS CONTRACTS_ADDRESS HANDOFF_ADDRESS ACCOUNTS_ADDRESS REP_TOKEN
MANAGER_TOKEN FINANCE_TOKEN ACCOUNT_MANAGER_TOKEN OPERATIONS_TOKEN (stubs generated into PYTHONPATH
beforehand).
"""

import base64
import datetime
import json
import sys
import time
import uuid

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2 as error_details
from grpc_status import rpc_status

from closeloop.accounts.v1 import accounts_pb2 as apb
from closeloop.accounts.v1 import accounts_pb2_grpc as arpc
from closeloop.common.v1 import common_pb2 as common
from closeloop.contracts.v1 import contracts_pb2 as cpb
from closeloop.contracts.v1 import contracts_pb2_grpc as crpc
from closeloop.handoff.v1 import handoff_pb2 as hpb
from closeloop.handoff.v1 import handoff_pb2_grpc as hrpc
from closeloop.opportunities.v1 import opportunities_pb2 as pb
from closeloop.opportunities.v1 import opportunities_pb2_grpc as rpc


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok: {message}")


def money(minor):
    return common.Money(currency_code="EUR", amount_minor=minor)


def date(d):
    return common.Date(year=d.year, month=d.month, day=d.day)


def subject(token):
    """The `sub` claim of a bearer token (read, not verified: the server verifies it)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def gates(error):
    """The (type, subject) of each PreconditionFailure violation of a failed call."""
    return [(v.type, v.subject) for d in details(error, error_details.PreconditionFailure) for v in d.violations]


def details(error, kind):
    """The `kind` messages (a google.rpc error detail type) in the rich status of a failed call.
    `from_call` also checks that the trailer's code and message are the call's."""
    status = rpc_status.from_call(error)
    if status is None:
        raise SystemExit(f"FAILED: {error.code().name} carries no grpc-status-details-bin trailer")
    found = []
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            message = kind()
            packed.Unpack(message)
            found.append(message)
    return found


def refusal(what, call, code):
    """The error of a call that must fail with `code`."""
    try:
        call()
    except grpc.RpcError as e:
        got = "" if e.code() == code else f" (got {e.code().name}: {e.details()})"
        check(e.code() == code, f"{what} is {code.name}{got}")
        return e
    raise SystemExit(f"FAILED: {what} succeeded; {code.name} was expected")


def main():
    (
        address,
        contracts_address,
        handoff_address,
        accounts_address,
        rep_token,
        manager_token,
        finance_token,
        am_token,
        ops_token,
    ) = sys.argv[1:10]
    stub = rpc.OpportunityServiceStub(grpc.insecure_channel(address))
    contracts_channel = grpc.insecure_channel(contracts_address)
    contracts = crpc.ContractServiceStub(contracts_channel)
    payments = crpc.PaymentServiceStub(contracts_channel)
    handoffs = hrpc.HandoffServiceStub(grpc.insecure_channel(handoff_address))
    accounts = arpc.AccountServiceStub(grpc.insecure_channel(accounts_address))
    rep = [("authorization", f"Bearer {rep_token}")]
    manager = [("authorization", f"Bearer {manager_token}")]
    finance = [("authorization", f"Bearer {finance_token}")]
    am = [("authorization", f"Bearer {am_token}")]
    ops = [("authorization", f"Bearer {ops_token}")]
    today = datetime.date.today()
    close = common.Date(year=today.year, month=today.month, day=today.day)

    refusal(
        "a call without a token",
        lambda: stub.ListOpportunities(pb.ListOpportunitiesRequest()),
        grpc.StatusCode.UNAUTHENTICATED,
    )

    e = refusal(
        "an invalid opportunity",
        lambda: stub.CreateOpportunity(pb.CreateOpportunityRequest(opportunity=pb.Opportunity(title="")), metadata=rep),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    # Every required field of the opportunity is missing; owner may be empty (the caller).
    fields = sorted(v.field for d in details(e, error_details.BadRequest) for v in d.field_violations)
    expected = sorted(
        f"opportunity.{f}" for f in ("account", "title", "kind", "source", "currency_code", "expected_close_date")
    )
    check(fields == expected, f"its BadRequest names each bad field: {', '.join(fields)}")

    unknown = f"opportunities/{uuid.uuid4()}"
    e = refusal(
        "a Get of an unknown opportunity",
        lambda: stub.GetOpportunity(pb.GetOpportunityRequest(name=unknown), metadata=rep),
        grpc.StatusCode.NOT_FOUND,
    )
    info = [(i.resource_type, i.resource_name) for i in details(e, error_details.ResourceInfo)]
    check(info == [("closeloop.opportunities.v1.Opportunity", unknown)], f"its ResourceInfo names it: {info}")

    o = stub.CreateOpportunity(
        pb.CreateOpportunityRequest(
            opportunity=pb.Opportunity(
                account=common.Party(account_id="interop-acme", display_name="Interop Acme"),
                title="Interop rollout",
                kind=pb.OPPORTUNITY_KIND_NEW_BUSINESS,
                source=pb.OPPORTUNITY_SOURCE_INBOUND,
                currency_code="EUR",
                expected_close_date=close,
                # What the handoff is prefilled from: its stakeholders and its goals (one per
                # objective; the success measure, when given, becomes the goal's criterion).
                stakeholders=[
                    pb.Stakeholder(
                        contact=common.Contact(display_name="Ines Client", email="ines@interop-acme.example"),
                        role=pb.STAKEHOLDER_ROLE_DECISION_MAKER,
                        primary=True,
                    )
                ],
                objectives=[
                    pb.ClientObjective(description="Cut invoice processing time", success_measure="under 2 days"),
                    pb.ClientObjective(description="One view of every supplier"),
                ],
            ),
            request_id="interop-create-1",
        ),
        metadata=rep,
    )
    check(o.stage == pb.STAGE_PROSPECTING, f"created {o.name} in PROSPECTING")

    o = stub.MoveOpportunityStage(pb.MoveOpportunityStageRequest(name=o.name, stage=pb.STAGE_QUALIFICATION), metadata=rep)
    e = refusal(
        "leaving QUALIFICATION before qualifying",
        lambda: stub.MoveOpportunityStage(pb.MoveOpportunityStageRequest(name=o.name, stage=pb.STAGE_PROPOSAL), metadata=rep),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    gates = [(v.type, v.subject) for d in details(e, error_details.PreconditionFailure) for v in d.violations]
    check(
        ("qualification", "qualification") in gates and all(t == "qualification" for t, _ in gates),
        f"its PreconditionFailure names the gate: {gates}",
    )
    o = stub.QualifyOpportunity(
        pb.QualifyOpportunityRequest(
            name=o.name,
            qualification=pb.Qualification(
                client_benefit_confirmed=True,
                realistic_expectations_confirmed=True,
                mature_partner_confirmed=True,
            ),
        ),
        metadata=rep,
    )
    o = stub.AddLineItem(
        pb.AddLineItemRequest(
            name=o.name,
            line_item=pb.LineItem(
                product_id="seat",
                product_name="Seat licence",
                quantity=10,
                list_unit_price=money(10000),
                sold_unit_price=money(8500),
                unit_cost=money(4000),
            ),
        ),
        metadata=rep,
    )
    check(o.line_items[0].requires_approval, "a 15% discount needs approval")
    o = stub.MoveOpportunityStage(pb.MoveOpportunityStageRequest(name=o.name, stage=pb.STAGE_PROPOSAL), metadata=rep)
    check(o.stage == pb.STAGE_PROPOSAL, "qualified and priced: moved to PROPOSAL")

    e = refusal(
        "negotiation without approval",
        lambda: stub.MoveOpportunityStage(pb.MoveOpportunityStageRequest(name=o.name, stage=pb.STAGE_NEGOTIATION), metadata=rep),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    gates = [(v.type, v.subject) for d in details(e, error_details.PreconditionFailure) for v in d.violations]
    check(
        gates == [("discount_approval", f"line_items/{o.line_items[0].line_item_id}")],
        f"its PreconditionFailure names the gate and the line item: {gates}",
    )

    o = stub.ApproveDiscount(
        pb.ApproveDiscountRequest(name=o.name, line_item_id=o.line_items[0].line_item_id, reason="strategic logo"),
        metadata=manager,
    )
    check(o.line_items[0].approval.approver.subject != "", "the manager approved the discount")
    o = stub.MoveOpportunityStage(pb.MoveOpportunityStageRequest(name=o.name, stage=pb.STAGE_NEGOTIATION), metadata=rep)
    check(o.stage == pb.STAGE_NEGOTIATION, "moved to NEGOTIATION")
    o = stub.CloseOpportunity(pb.CloseOpportunityRequest(name=o.name, outcome=pb.OUTCOME_WON, close_date=close), metadata=rep)
    check(o.stage == pb.STAGE_CLOSED_WON, "closed won")

    period = common.DateRange(start_date=close, end_date=close)
    forecast = stub.GetForecast(pb.GetForecastRequest(period=period, currency_code="EUR"), metadata=manager)
    closed = [b for b in forecast.buckets if b.category == pb.FORECAST_CATEGORY_CLOSED][0]
    check(closed.count >= 1 and closed.amount.amount_minor >= 85000, "the forecast shows the won amount as CLOSED")

    analysis = stub.GetWinLossAnalysis(pb.GetWinLossAnalysisRequest(period=period, currency_code="EUR"), metadata=manager)
    check(analysis.overall.won_count >= 1, "win/loss counts the win")

    mix = stub.GetRevenueMix(pb.GetRevenueMixRequest(period=period, currency_code="EUR"), metadata=manager)
    check(mix.total.incremental.amount_minor >= 85000, "the revenue mix counts it as incremental")
    check(mix.total.discount_given.amount_minor >= 15000, "the revenue mix shows the discount given")

    placed = contract_to_payments(contracts, payments, o, today, rep, manager, finance, subject(rep_token))
    accepted = order_to_handoff(handoffs, o, placed, today, rep, am, subject(rep_token), subject(am_token))
    account = handoff_to_account(handoffs, accounts, accepted, rep, am, subject(am_token))
    account_life(
        accounts, stub, account, placed, today, rep, am, ops, subject(rep_token), subject(am_token)
    )
    print("interop: all checks passed")


def contract_to_payments(contracts, payments, won, today, rep, manager, finance, rep_subject):
    """The won deal on the contracts-and-payments service: its contract, signed and ordered, and
    the invoices paid or followed up. Returns the placed order (PlaceOrder's answer)."""
    # The opportunities relay delivers CreateContract in the background: wait for it briefly.
    deadline = time.monotonic() + 10
    while True:
        found = contracts.ListContracts(cpb.ListContractsRequest(opportunity=won.name), metadata=manager).contracts
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(len(found) == 1, f"the win created one contract for {won.name} within 10 s (found {len(found)})")
    c = found[0]
    check(c.status == cpb.CONTRACT_STATUS_DRAFT, f"{c.name} is a DRAFT")
    check(c.opportunity_snapshot.owner == rep_subject, f"owned by the salesperson {rep_subject}")
    check(
        c.value.currency_code == "EUR" and c.value.amount_minor == won.amount.amount_minor,
        f"worth the won amount, EUR {c.value.amount_minor / 100:.2f}",
    )
    check(len(c.deliverables) == 1, f"one deliverable prefilled from the line item: {c.deliverables[0].description!r}")
    blockers = [b.subject for b in c.send_blockers]
    check(blockers != [], f"sending is blocked until the draft is filled in: {blockers}")

    first = c.value.amount_minor // 2
    signer = lambda side, name, email: cpb.Signer(side=side, contact=common.Contact(display_name=name, email=email))
    later = lambda days: date(today + datetime.timedelta(days=days))
    draft = cpb.Contract(
        name=c.name,
        deliverables=[
            cpb.Deliverable(
                deliverable_id=c.deliverables[0].deliverable_id,
                description=c.deliverables[0].description,
                due_date=later(30),
            )
        ],
        # Due within the 30 payment-terms days: both invoices are issued when the order is placed.
        payment_schedule=[
            cpb.Installment(description="Setup", amount=money(first), due_date=later(14)),
            cpb.Installment(description="Rest", amount=money(c.value.amount_minor - first), due_date=later(28)),
        ],
        terms=cpb.Terms(payment_terms_days=30, start_date=later(14), term_months=12),
        signers=[
            signer(cpb.SIGNER_SIDE_CLIENT, "Ines Client", "ines@interop-acme.example"),
            signer(cpb.SIGNER_SIDE_COMPANY, "Max Manager", "max@closeloop.example"),
        ],
    )
    c = contracts.UpdateContract(
        cpb.UpdateContractRequest(
            contract=draft,
            update_mask=field_mask_pb2.FieldMask(paths=["deliverables", "payment_schedule", "terms", "signers"]),
        ),
        metadata=rep,
    )
    blockers = [(b.gate, b.subject) for b in c.send_blockers]
    check(blockers == [], f"filled in, nothing blocks sending: {blockers}")
    check(c.scheduled_total == c.value, "two installments sum to the contract value")
    check(c.terms.HasField("end_date"), "the term has an end date")

    c = contracts.SendContract(cpb.SendContractRequest(name=c.name), metadata=rep)
    check(c.status == cpb.CONTRACT_STATUS_SENT and c.HasField("expire_time"), "sent, with an expiry time")
    e = refusal(
        "sending it again",
        lambda: contracts.SendContract(cpb.SendContractRequest(name=c.name), metadata=rep),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    found = gates(e)
    check(found == [("status", "status")], f"its PreconditionFailure names the gate: {found}")

    c = contracts.SignContract(
        cpb.SignContractRequest(name=c.name, signer_email="INES@interop-acme.example"), metadata=manager
    )
    check(c.status == cpb.CONTRACT_STATUS_SENT, "the client signed (email matched case-insensitively)")
    e = refusal(
        "an order before every signature",
        lambda: contracts.PlaceOrder(cpb.PlaceOrderRequest(name=c.name), metadata=rep),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    found = gates(e)
    check(found == [("signatures", "signers[1]")], f"its PreconditionFailure names the signer awaited: {found}")
    c = contracts.SignContract(cpb.SignContractRequest(name=c.name, signer_email="max@closeloop.example"), metadata=manager)
    check(c.status == cpb.CONTRACT_STATUS_SIGNED, "both signed: SIGNED")

    placed = contracts.PlaceOrder(cpb.PlaceOrderRequest(name=c.name, notes="interop"), metadata=rep)
    check(placed.contract.status == cpb.CONTRACT_STATUS_ACTIVE, f"order {placed.order.order_number} placed: ACTIVE")
    invoices = list(placed.invoices)
    check(
        [(i.amount_due.amount_minor, i.status) for i in invoices]
        == [(first, cpb.INVOICE_STATUS_OPEN), (c.value.amount_minor - first, cpb.INVOICE_STATUS_OPEN)],
        "one OPEN invoice per installment",
    )
    check(all(i.owner == rep_subject for i in invoices), "the invoices belong to the salesperson's deal")

    paid = payments.RecordPaymentAttempt(
        cpb.RecordPaymentAttemptRequest(
            parent=invoices[0].name,
            payment_attempt=cpb.PaymentAttempt(
                result=cpb.PAYMENT_RESULT_SUCCEEDED,
                amount=invoices[0].amount_remaining,
                processor="bank_transfer",
                payment_method="wire",
            ),
            request_id="interop-pay-1",
        ),
        metadata=finance,
    )
    check(
        paid.invoice.status == cpb.INVOICE_STATUS_PAID and paid.invoice.amount_remaining.amount_minor == 0,
        "finance recorded the first invoice paid in full: PAID",
    )
    check(not paid.HasField("follow_up"), "a payment opens no follow-up")

    failed = payments.RecordPaymentAttempt(
        cpb.RecordPaymentAttemptRequest(
            parent=invoices[1].name,
            payment_attempt=cpb.PaymentAttempt(
                result=cpb.PAYMENT_RESULT_FAILED,
                amount=invoices[1].amount_remaining,
                decline_type=cpb.DECLINE_TYPE_SOFT,
                failure_code="insufficient_funds",
                processor="stripe",
                payment_method="card",
            ),
            request_id="interop-fail-2",
        ),
        metadata=finance,
    )
    follow_up = failed.follow_up
    check(
        follow_up.assignee == rep_subject and follow_up.status == cpb.FOLLOW_UP_STATUS_OPEN,
        f"a soft decline on the second invoice opens a follow-up for {follow_up.assignee!r}",
    )
    listed = payments.ListFollowUps(cpb.ListFollowUpsRequest(open_only=True), metadata=rep).follow_ups
    check([f.name for f in listed] == [follow_up.name], "the salesperson finds it in its follow-ups")

    invoice = payments.GetInvoice(cpb.GetInvoiceRequest(name=invoices[1].name), metadata=finance)
    dunning = invoice.dunning
    check(
        dunning.status == cpb.DUNNING_STATUS_RETRYING and dunning.HasField("next_retry_time"),
        f"dunning plans a retry (days {list(dunning.retry_days)})",
    )
    check(
        len(dunning.retry_times) > 0 and dunning.next_retry_time == dunning.retry_times[0],
        f"the next retry is the first planned: {dunning.next_retry_time.ToJsonString()}",
    )
    check(invoice.open_follow_up == follow_up.name, "the invoice points to its open follow-up")
    return placed


# The readiness checklist's codes, in ReadinessCheck order (handoff.proto).
READINESS_CODES = [
    "account_manager",
    "customer_needs",
    "goals",
    "goal_success_criteria",
    "verbal_commitments",
    "stakeholders",
    "primary_stakeholder",
    "delivery_timeline",
    "day_to_day_contact",
    "billing_contact",
    "onboarding_plan",
    "onboarding_step_details",
    "introduction",
]


def timestamp(moment):
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(moment)
    return t


def order_to_handoff(handoffs, won, placed, today, rep, am, rep_subject, am_subject):
    """The placed order on the handoff service: its handoff, prefilled, completed, submitted and
    accepted by the account manager."""
    order = placed.order.name
    contract = placed.contract
    # The contracts service's outbox delivers StartHandoff in the background: wait for it briefly
    # (and for the prefill, which the handoff service retries in the background if it has to).
    deadline = time.monotonic() + 10
    while True:
        found = handoffs.ListHandoffs(hpb.ListHandoffsRequest(order=order), metadata=rep).handoffs
        if (found and found[0].prefill.state != hpb.PREFILL_STATE_PENDING) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(len(found) == 1, f"the order started one handoff within 10 s (found {len(found)})")
    h = found[0]
    check(h.status == hpb.HANDOFF_STATUS_DRAFT, f"{h.name} is a DRAFT")
    check(
        (h.order, h.contract, h.opportunity, h.salesperson) == (order, contract.name, won.name, rep_subject),
        f"for {order} of {contract.name}, from {won.name}, handed off by {rep_subject}",
    )
    snapshot = h.contract_snapshot
    check(
        snapshot.contract_value == contract.value
        and snapshot.term_months == 12
        and len(snapshot.payment_schedule) == 2
        and snapshot.salesperson == rep_subject,
        "its contract snapshot carries the value, the term and the payment schedule",
    )
    check(
        h.prefill.state == hpb.PREFILL_STATE_DONE,
        f"prefilled from the opportunity: {hpb.PrefillState.Name(h.prefill.state)} {h.prefill.failure!r}",
    )
    people = [(s.contact.email, hpb.StakeholderRole.Name(s.role), s.primary) for s in h.stakeholders]
    check(
        people == [("ines@interop-acme.example", "STAKEHOLDER_ROLE_DECISION_MAKER", True)],
        f"the opportunity's stakeholder, primary: {people}",
    )
    goals = [
        (g.description, [c.description for c in g.success_criteria], hpb.GoalOrigin.Name(g.origin)) for g in h.goals
    ]
    objective = "GOAL_ORIGIN_OPPORTUNITY_OBJECTIVE"
    check(
        goals
        == [("Cut invoice processing time", ["under 2 days"], objective), ("One view of every supplier", [], objective)],
        f"one goal per objective, the success measure as criterion, none invented: {goals}",
    )
    deliverable = contract.deliverables[0]
    milestones = [(m.title, m.due_date, list(m.deliverable_ids), m.origin) for m in h.delivery_timeline]
    check(
        milestones
        == [(deliverable.description, deliverable.due_date, [deliverable.deliverable_id], hpb.MILESTONE_ORIGIN_CONTRACT)],
        f"the delivery timeline has one milestone per deliverable: {[m[0] for m in milestones]}",
    )

    readiness = handoffs.GetHandoffReadiness(hpb.GetHandoffReadinessRequest(name=h.name), metadata=rep)
    missing = [(m.code, m.field) for m in readiness.missing]
    codes = [code for code, _ in missing]
    check(
        codes
        == [
            "account_manager",
            "customer_needs",
            "goal_success_criteria",
            "verbal_commitments",
            "day_to_day_contact",
            "billing_contact",
            "onboarding_plan",
            "introduction",
        ]
        and ("goal_success_criteria", "goals[1].success_criteria") in missing
        and not readiness.ready,
        f"the readiness checklist lists what is missing: {missing}",
    )
    checks = [(c.code, c.met) for c in readiness.checks]
    check(
        checks == [(code, code not in codes) for code in READINESS_CODES]
        and [c.check for c in readiness.checks] == list(range(1, len(READINESS_CODES) + 1)),
        "every check, in order, with its result",
    )
    check(
        [(m.code, m.field) for m in h.readiness.missing] == missing,
        "the handoff read shows the same missing items",
    )

    e = refusal(
        "submitting it incomplete",
        lambda: handoffs.SubmitHandoff(hpb.SubmitHandoffRequest(name=h.name, etag=h.etag), metadata=rep),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    violations = [v for d in details(e, error_details.PreconditionFailure) for v in d.violations]
    found = [(v.type, v.subject) for v in violations]
    check(found == [("readiness", code) for code in codes], f"one readiness violation per missing item: {found}")
    check(
        [v.description for v in violations] == [f"{m.field}: {m.description}" for m in readiness.missing],
        "each violation describes the field and what is missing",
    )

    later = lambda days: date(today + datetime.timedelta(days=days))
    contact = lambda name, email: common.Contact(display_name=name, email=email)
    completed = hpb.Handoff(
        name=h.name,
        etag=h.etag,
        customer_needs=[hpb.CustomerNeed(description="Invoices approved without paper", details="Finance team of 12")],
        # The prefilled goals keep their ids (and origin); the second one gets its criterion.
        goals=[
            h.goals[0],
            hpb.Goal(
                goal_id=h.goals[1].goal_id,
                description=h.goals[1].description,
                success_criteria=[hpb.SuccessCriterion(description="every supplier in one list", target_date=later(90))],
            ),
        ],
        verbal_commitments=[
            hpb.VerbalCommitment(
                description="Two extra training sessions",
                promised_by=contact("Interop Rep", "rep@closeloop.example"),
                promised_to=contact("Ines Client", "ines@interop-acme.example"),
                due_date=later(60),
            )
        ],
        support_contacts=[
            hpb.SupportContact(
                kind=hpb.SUPPORT_CONTACT_KIND_DAY_TO_DAY, contact=contact("Dan Daily", "dan@interop-acme.example")
            ),
            hpb.SupportContact(
                kind=hpb.SUPPORT_CONTACT_KIND_BILLING, contact=contact("Bea Billing", "bea@interop-acme.example")
            ),
        ],
        onboarding_plan=[hpb.OnboardingStep(title="Kick-off workshop", owner=am_subject, due_date=later(21))],
    )
    prefilled = [(g.goal_id, g.origin) for g in h.goals]
    h = handoffs.UpdateHandoff(
        hpb.UpdateHandoffRequest(
            handoff=completed,
            update_mask=field_mask_pb2.FieldMask(
                paths=["customer_needs", "goals", "verbal_commitments", "support_contacts", "onboarding_plan"]
            ),
        ),
        metadata=rep,
    )
    check(
        [(g.goal_id, g.origin) for g in h.goals] == prefilled and all(g.success_criteria for g in h.goals),
        "the salesperson completed it; the prefilled goals kept their ids and origin",
    )
    left = [m.code for m in h.readiness.missing]
    check(left == ["account_manager", "introduction"], f"left for readiness: {left}")

    queue = handoffs.ListHandoffs(hpb.ListHandoffsRequest(unassigned_only=True), metadata=am).handoffs
    check(h.name in [q.name for q in queue], "the account manager finds it in the unassigned queue")
    refusal(
        "an account manager assigning someone else",
        lambda: handoffs.AssignAccountManager(
            hpb.AssignAccountManagerRequest(name=h.name, account_manager=rep_subject), metadata=am
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    h = handoffs.AssignAccountManager(
        hpb.AssignAccountManagerRequest(name=h.name, account_manager=am_subject, etag=h.etag), metadata=am
    )
    check(h.account_manager == am_subject, f"the account manager {am_subject} assigned itself")

    now = datetime.datetime.now(datetime.timezone.utc)
    h = handoffs.ScheduleIntroduction(
        hpb.ScheduleIntroductionRequest(
            name=h.name,
            kind=hpb.INTRODUCTION_KIND_JOINT_CALL,
            schedule_time=timestamp(now + datetime.timedelta(days=2)),
            attendees=[
                hpb.IntroductionAttendee(
                    contact=contact("Ines Client", "ines@interop-acme.example"), side=hpb.PARTY_SIDE_CLIENT
                ),
                hpb.IntroductionAttendee(
                    contact=contact("Interop AM", "am@closeloop.example"), side=hpb.PARTY_SIDE_COMPANY, subject=am_subject
                ),
            ],
            location="https://meet.example.com/interop",
            etag=h.etag,
        ),
        metadata=rep,
    )
    check(h.introduction.state == hpb.INTRODUCTION_STATE_SCHEDULED, "the salesperson scheduled a joint call")
    check(h.readiness.ready and not h.readiness.missing, "nothing is missing any more")

    h = handoffs.SubmitHandoff(hpb.SubmitHandoffRequest(name=h.name, etag=h.etag), metadata=rep)
    check(h.status == hpb.HANDOFF_STATUS_READY and h.HasField("submit_time"), "submitted: READY")

    e = refusal(
        "accepting before the introduction took place",
        lambda: handoffs.AcceptHandoff(hpb.AcceptHandoffRequest(name=h.name), metadata=am),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    found = gates(e)
    check(
        found != [] and all(t == "introduction_completed" for t, _ in found),
        f"its PreconditionFailure names the gate: {found}",
    )

    h = handoffs.CompleteIntroduction(
        hpb.CompleteIntroductionRequest(name=h.name, notes="Goals and onboarding agreed", etag=h.etag), metadata=am
    )
    intro = h.introduction
    check(
        intro.state == hpb.INTRODUCTION_STATE_COMPLETED
        and intro.completed_by.subject == am_subject
        and intro.account_manager == am_subject,
        "the account manager recorded the introduction: COMPLETED",
    )

    h = handoffs.AcceptHandoff(hpb.AcceptHandoffRequest(name=h.name, etag=h.etag), metadata=am)
    check(
        h.status == hpb.HANDOFF_STATUS_ACCEPTED and h.HasField("accept_time"), "the account manager accepted it: ACCEPTED"
    )
    moves = [hpb.HandoffStatus.Name(c.to_status) for c in h.status_history]
    check(
        moves == ["HANDOFF_STATUS_DRAFT", "HANDOFF_STATUS_READY", "HANDOFF_STATUS_ACCEPTED"],
        f"its status history: {moves}",
    )
    return h


def handoff_to_account(handoffs, accounts, h, rep, am, am_subject):
    """The accepted handoff opens the account: the call is delivered through the handoff service's
    outbox, and the account is there, managed by the account manager."""
    deadline = time.monotonic() + 10
    while True:
        call = handoffs.GetHandoff(hpb.GetHandoffRequest(name=h.name), metadata=rep)
        owed = call.open_account_call
        if owed.state != common.OWED_CALL_STATE_PENDING or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(
        owed.state == common.OWED_CALL_STATE_DELIVERED
        and call.account_opening.state == hpb.ACCOUNT_OPENING_STATE_OPENED
        and owed.method == "closeloop.accounts.v1.AccountService/OpenAccount"
        and owed.command_id == f"open-account-{h.name.split('/')[-1]}",
        f"OpenAccount delivered to account-management: {common.OwedCallState.Name(owed.state)} {owed.command_id}",
    )
    found = accounts.ListAccounts(
        apb.ListAccountsRequest(customer_account_id="interop-acme"), metadata=am
    ).accounts
    check(len(found) == 1, f"the account manager finds one account for the customer ({len(found)})")
    account = found[0]
    check(
        account.account_manager == am_subject
        and account.handoff == h.name
        and account.status == apb.ACCOUNT_STATUS_ACTIVE,
        f"it is ACTIVE, managed by {account.account_manager}, opened by {account.handoff}",
    )
    goals = {o.goal for o in account.outcomes}
    check(
        {g.description for g in h.goals} <= goals,
        f"the handoff's goals are its outcomes: {sorted(goals)}",
    )
    return account


def account_life(accounts, stub, account, placed, today, rep, am, ops, rep_subject, am_subject):
    """Life on the account: a check-in, an operations issue and its resolution in the salesperson's
    feed, health with the payment factor from contracts-and-payments, lifetime value, and an
    expansion whose opportunity is created through the account service's outbox."""
    e = refusal(
        "a salesperson recording a check-in",
        lambda: accounts.RecordCheckIn(
            apb.RecordCheckInRequest(parent=account.name, check_in=apb.CheckIn(satisfaction=8)), metadata=rep
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    check(
        rpc_status.from_call(e) is None and e.details() != "",
        f"before the account is looked at, with the status message only: {e.details()!r}",
    )

    # The contract starts in 14 days, and so does the account; a check-in may not precede it.
    # The relationship began with the signature: the account manager says so.
    account = accounts.UpdateAccount(
        apb.UpdateAccountRequest(
            account=apb.Account(name=account.name, start_date=date(today), etag=account.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["start_date"]),
        ),
        metadata=am,
    )
    check(account.start_date == date(today), "the account manager dated the relationship from today")

    e = refusal(
        "a check-in with satisfaction 11",
        lambda: accounts.RecordCheckIn(
            apb.RecordCheckInRequest(parent=account.name, check_in=apb.CheckIn(satisfaction=11)), metadata=am
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    fields = [v.field for d in details(e, error_details.BadRequest) for v in d.field_violations]
    check(fields == ["check_in.satisfaction"], f"its BadRequest names the field: {fields}")

    outcome = account.outcomes[0]
    check_in = accounts.RecordCheckIn(
        apb.RecordCheckInRequest(
            parent=account.name,
            check_in=apb.CheckIn(
                satisfaction=8,
                channel=apb.CHECK_IN_CHANNEL_VIDEO_CALL,
                notes="Onboarding on track",
                outcome_progress=[apb.OutcomeProgress(outcome_id=outcome.outcome_id, progress_percent=25)],
            ),
            request_id="interop-check-in-1",
        ),
        metadata=am,
    )
    check(
        check_in.name.startswith(account.name + "/checkIns/")
        and check_in.recorded_by.subject == am_subject
        and check_in.satisfaction == 8,
        f"the account manager recorded a check-in: {check_in.name}",
    )
    listed = accounts.ListCheckIns(apb.ListCheckInsRequest(parent=account.name), metadata=am).check_ins
    check([c.name for c in listed] == [check_in.name], "it is the account's one check-in")
    a = accounts.GetAccount(apb.GetAccountRequest(name=account.name), metadata=am)
    progressed = [o for o in a.outcomes if o.outcome_id == outcome.outcome_id][0]
    check(
        a.last_satisfaction == 8
        and progressed.progress_percent == 25
        and progressed.status == apb.OUTCOME_STATUS_ON_TRACK
        and progressed.last_check_in == check_in.name,
        f"the account shows it: satisfaction 8, outcome {progressed.progress_percent}% ON_TRACK",
    )

    issue = accounts.PostOperationsUpdate(
        apb.PostOperationsUpdateRequest(
            parent=account.name,
            operations_update=apb.OperationsUpdate(
                kind=apb.OPERATIONS_UPDATE_KIND_ISSUE,
                severity=apb.SEVERITY_HIGH,
                title="Invoice import failing",
                external_ref="INC-1",
            ),
            request_id="interop-ops-issue",
        ),
        metadata=ops,
    )
    check(issue.issue_state == apb.ISSUE_STATE_OPEN, f"operations posted an ISSUE: OPEN ({issue.name})")
    resolution = accounts.PostOperationsUpdate(
        apb.PostOperationsUpdateRequest(
            parent=account.name,
            operations_update=apb.OperationsUpdate(
                kind=apb.OPERATIONS_UPDATE_KIND_RESOLUTION, title="Import fixed", resolves=issue.name
            ),
            request_id="interop-ops-resolution",
        ),
        metadata=ops,
    )
    check(
        resolution.severity == apb.SEVERITY_HIGH,
        f"and its RESOLUTION, with the issue's severity: {apb.Severity.Name(resolution.severity)}",
    )
    issue = accounts.GetOperationsUpdate(apb.GetOperationsUpdateRequest(name=issue.name), metadata=ops)
    check(
        issue.issue_state == apb.ISSUE_STATE_RESOLVED and issue.resolved_by == resolution.name,
        "the issue is RESOLVED by it",
    )
    e = refusal(
        "resolving the issue again",
        lambda: accounts.PostOperationsUpdate(
            apb.PostOperationsUpdateRequest(
                parent=account.name,
                operations_update=apb.OperationsUpdate(
                    kind=apb.OPERATIONS_UPDATE_KIND_RESOLUTION, title="Fixed again", resolves=issue.name
                ),
            ),
            metadata=ops,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    found = gates(e)
    check(found == [("issue_open", issue.name)], f"its PreconditionFailure names the gate: {found}")

    feed = accounts.ListSalespersonFeed(apb.ListSalespersonFeedRequest(), metadata=rep).entries
    posted = [(f.operations_update.name, f.account) for f in feed]
    check(
        posted == [(resolution.name, account.name), (issue.name, account.name)],
        "the salesperson's feed has the resolution, then the issue (newest posted first)",
    )
    check(
        all(f.account_manager == am_subject and f.customer.account_id == "interop-acme" for f in feed),
        "each entry names the customer and the account manager to talk to",
    )

    invoices = list(placed.invoices)
    health = accounts.GetAccountHealth(apb.GetAccountHealthRequest(name=account.name), metadata=rep)
    kinds = [apb.HealthFactorKind.Name(f.factor) for f in health.factors]
    check(
        kinds == [apb.HealthFactorKind.Name(k) for k in range(1, 6)],
        f"health has every factor in enum order: {kinds}",
    )
    check(
        0 <= health.score <= 100 and health.band != apb.HEALTH_BAND_UNSPECIFIED,
        f"health score {health.score}, band {apb.HealthBand.Name(health.band)}",
    )
    payment = [f for f in health.factors if f.factor == apb.HEALTH_FACTOR_KIND_PAYMENT_STANDING][0]
    standing = health.payment_standing
    check(
        not health.payment_data_unavailable and payment.available and health.HasField("payment_standing"),
        f"the payment factor is available: {payment.score} ({payment.explanation})",
    )
    check(
        standing.paid_to_date.amount_minor == invoices[0].amount_due.amount_minor
        and standing.outstanding.amount_minor == invoices[1].amount_due.amount_minor,
        f"read from contracts-and-payments: paid {standing.paid_to_date.amount_minor}, "
        f"outstanding {standing.outstanding.amount_minor}",
    )
    open_issues = [f for f in health.factors if f.factor == apb.HEALTH_FACTOR_KIND_OPEN_ISSUES][0]
    check(open_issues.score == 100, f"no open issue: {open_issues.score} ({open_issues.explanation})")

    clv = accounts.GetCustomerLifetimeValue(apb.GetCustomerLifetimeValueRequest(name=account.name), metadata=rep)
    check(
        not clv.payment_data_unavailable
        and not clv.realised_revenue_estimated
        and clv.realised_revenue.amount_minor == invoices[0].amount_due.amount_minor,
        f"lifetime value realised revenue is what was paid: {clv.realised_revenue.amount_minor}",
    )
    check(
        clv.lifetime_value.amount_minor
        == clv.realised_gross_profit.amount_minor + clv.expected_future_gross_profit.amount_minor
        and clv.lifetime_value.amount_minor > 0,
        f"lifetime value {clv.lifetime_value.amount_minor} {clv.currency_code} "
        f"over {clv.expected_lifetime_years:.1f} expected years",
    )

    expansion = accounts.IdentifyExpansion(
        apb.IdentifyExpansionRequest(
            parent=account.name,
            expansion=apb.Expansion(
                kind=apb.EXPANSION_KIND_UPSELL,
                title="Interop: more seats",
                description="Another team wants in",
                estimated_value=money(500000),
                expected_close_date=date(today + datetime.timedelta(days=60)),
            ),
            request_id="interop-expansion-1",
        ),
        metadata=am,
    )
    check(
        expansion.owner == rep_subject
        and expansion.status == apb.OPPORTUNITY_REQUEST_STATUS_PENDING
        and expansion.identified_by.subject == am_subject,
        f"the account manager identified an upsell for the salesperson: "
        f"{apb.OpportunityRequestStatus.Name(expansion.status)}",
    )
    deadline = time.monotonic() + 10
    while True:
        expansion = accounts.GetExpansion(apb.GetExpansionRequest(name=expansion.name), metadata=rep)
        owed = expansion.create_opportunity_call
        if owed.state != common.OWED_CALL_STATE_PENDING or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(
        owed.state == common.OWED_CALL_STATE_DELIVERED
        and expansion.status == apb.OPPORTUNITY_REQUEST_STATUS_OPENED
        and owed.method == "closeloop.opportunities.v1.OpportunityService/CreateOpportunity"
        and owed.command_id == f"create-opportunity-expansion-{expansion.name.split('/')[-1]}",
        f"CreateOpportunity delivered to opportunities: {common.OwedCallState.Name(owed.state)} {owed.command_id}, "
        f"the expansion is {apb.OpportunityRequestStatus.Name(expansion.status)}",
    )
    found = [
        o
        for o in stub.ListOpportunities(
            pb.ListOpportunitiesRequest(account_id="interop-acme", kind=pb.OPPORTUNITY_KIND_EXPANSION), metadata=rep
        ).opportunities
        if o.title == "Interop: more seats"
    ]
    check(len(found) == 1, f"the salesperson finds one new opportunity on the opportunities service ({len(found)})")
    o = found[0]
    check(
        o.owner == rep_subject
        and o.kind == pb.OPPORTUNITY_KIND_EXPANSION
        and o.source == pb.OPPORTUNITY_SOURCE_ACCOUNT_EXPANSION
        and o.description == "Another team wants in"
        and o.currency_code == "EUR"
        and o.expected_close_date == expansion.expected_close_date,
        f"{o.name}: EXPANSION from ACCOUNT_EXPANSION, {pb.Stage.Name(o.stage)}, owned by {o.owner}",
    )
    # accounts.proto: "Once OPENED, the opportunity, `opportunities/{opportunity}`", with `open_time`.
    check(
        expansion.opportunity == o.name and expansion.HasField("open_time"),
        f"the expansion names the opportunity it opened: {expansion.opportunity}",
    )


if __name__ == "__main__":
    main()
