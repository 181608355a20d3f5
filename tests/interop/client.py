"""A client written in Python and compiled from proto/ alone, driving closeloop as another
company system would: create an opportunity, qualify it, price it, get a discount approved, move
it to negotiation, close it won, and read the forecast, win/loss and revenue mix that reflect it.
Then, on the contracts-and-payments service, it finds the contract the win created, fills the
draft until nothing blocks sending, sends it, records both signatures, places the order, pays the
first invoice in full and has a payment of the second one soft-declined: dunning plans a retry
and the salesperson gets a follow-up.
Refusals are read as such a client reads them: the `google.rpc` details in the
`grpc-status-details-bin` trailer, decoded with grpcio-status and googleapis-common-protos, the
packages common.proto points Python clients to.

Usage: client.py OPPORTUNITIES_ADDRESS CONTRACTS_ADDRESS REP_TOKEN MANAGER_TOKEN FINANCE_TOKEN
(stubs generated into PYTHONPATH beforehand).
"""

import base64
import datetime
import json
import sys
import time
import uuid

import grpc
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2 as error_details
from grpc_status import rpc_status

from closeloop.common.v1 import common_pb2 as common
from closeloop.contracts.v1 import contracts_pb2 as cpb
from closeloop.contracts.v1 import contracts_pb2_grpc as crpc
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
    address, contracts_address, rep_token, manager_token, finance_token = sys.argv[1:6]
    stub = rpc.OpportunityServiceStub(grpc.insecure_channel(address))
    contracts_channel = grpc.insecure_channel(contracts_address)
    contracts = crpc.ContractServiceStub(contracts_channel)
    payments = crpc.PaymentServiceStub(contracts_channel)
    rep = [("authorization", f"Bearer {rep_token}")]
    manager = [("authorization", f"Bearer {manager_token}")]
    finance = [("authorization", f"Bearer {finance_token}")]
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

    contract_to_payments(contracts, payments, o, today, rep, manager, finance, subject(rep_token))
    print("interop: all checks passed")


def contract_to_payments(contracts, payments, won, today, rep, manager, finance, rep_subject):
    """The won deal on the contracts-and-payments service: its contract, signed and ordered, and
    the invoices paid or followed up."""
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


if __name__ == "__main__":
    main()
