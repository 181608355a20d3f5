"""A client written in Python and compiled from proto/ alone, driving closeloop as another
company system would: create an opportunity, qualify it, price it, get a discount approved, move
it to negotiation, close it won, and read the forecast, win/loss and revenue mix that reflect it.
Refusals are read as such a client reads them: the `google.rpc` details in the
`grpc-status-details-bin` trailer, decoded with grpcio-status and googleapis-common-protos, the
packages common.proto points Python clients to.

Usage: client.py ADDRESS REP_TOKEN MANAGER_TOKEN (stubs generated into PYTHONPATH beforehand).
"""

import datetime
import sys
import uuid

import grpc
from google.rpc import error_details_pb2 as error_details
from grpc_status import rpc_status

from closeloop.common.v1 import common_pb2 as common
from closeloop.opportunities.v1 import opportunities_pb2 as pb
from closeloop.opportunities.v1 import opportunities_pb2_grpc as rpc


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok: {message}")


def money(minor):
    return common.Money(currency_code="EUR", amount_minor=minor)


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
    address, rep_token, manager_token = sys.argv[1:4]
    channel = grpc.insecure_channel(address)
    stub = rpc.OpportunityServiceStub(channel)
    rep = [("authorization", f"Bearer {rep_token}")]
    manager = [("authorization", f"Bearer {manager_token}")]
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
    print("interop: all checks passed")


if __name__ == "__main__":
    main()
