"""Events survive the library's JSON mapper exactly; topics are stable; v1 payloads upcast."""

import json
from decimal import Decimal
from typing import Any, TypeVar
from uuid import uuid4

from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.policies import PositionPolicy
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import Position
from escrowgrid.eventlog.codec import make_mapper
from tests.unit.domain_builders import make_asset, make_template, open_position

A = TypeVar("A", bound=Aggregate)


def replay(aggregate: A) -> tuple[A, list[StoredEvent]]:
    """Store every pending event, load them back and rebuild the aggregate from them."""
    mapper = make_mapper()
    stored = [mapper.to_stored_event(event) for event in aggregate.collect_events()]
    rebuilt: Any = None
    for record in stored:
        event = mapper.to_domain_event(record)
        assert isinstance(event, CanMutateAggregate)
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, type(aggregate))
    return rebuilt, stored


def test_institution_round_trip() -> None:
    institution = Institution.register("Acme", ["US", "SG"], ["CONSTRUCTION"])
    institution.issue_api_key("k1", "ops", "admin", "0" * 64)
    institution.issue_api_key("k2", "ro", "read_only", "f" * 64)
    institution.revoke_api_key("k1")
    rebuilt, _ = replay(institution)
    assert rebuilt == institution
    assert rebuilt.api_keys["k1"].revoked_at == institution.api_keys["k1"].revoked_at


def test_template_and_asset_round_trip_keep_decimals() -> None:
    owner = uuid4()
    template = make_template(
        owner,
        config={"currency": "USD", "region": "US", "minAmount": Decimal("10.50"), "maxAmount": 99},
    )
    asset = Asset.register(owner, template, "Lot 7", {"price": Decimal("1.10"), "tags": ["a"]})
    rebuilt_template, _ = replay(template)
    rebuilt_asset, _ = replay(asset)
    assert rebuilt_template == template
    assert rebuilt_asset == asset
    assert type(rebuilt_template.config["minAmount"]) is Decimal
    assert str(rebuilt_template.config["minAmount"]) == "10.50"
    assert str(rebuilt_asset.metadata["price"]) == "1.10"


def test_position_round_trip_keeps_exact_decimals() -> None:
    position = open_position("1000.50", external_reference="EXT")
    position.move("FUNDED", reason="in", metadata={"fx": Decimal("1.0800")})
    position.move("PARTIALLY_RELEASED", amount="0.00000001")
    position.move("PARTIALLY_RELEASED", amount="250.25")
    position.move("RELEASED")
    rebuilt, stored = replay(position)
    assert rebuilt == position
    assert len(stored) == 5
    assert type(rebuilt.amount) is Decimal and str(rebuilt.amount) == "1000.50"
    assert type(rebuilt.released_amount) is Decimal
    assert rebuilt.remaining_amount == 0
    assert [e.amount for e in rebuilt.lifecycle] == [e.amount for e in position.lifecycle]
    assert all(type(e.amount) is Decimal for e in rebuilt.lifecycle[1:])
    metadata = rebuilt.lifecycle[0].metadata
    assert metadata is not None and str(metadata["fx"]) == "1.0800"


def test_policy_round_trip() -> None:
    policy = Policy.set(uuid4(), "UAE", PositionPolicy(Decimal("5.5"), None, ("AED", "USD")))
    policy.update(PositionPolicy(None, Decimal("1E+3"), None))
    rebuilt, _ = replay(policy)
    assert rebuilt == policy
    assert rebuilt.id == policy.id


def test_event_topics_are_module_and_qualname() -> None:
    owner = uuid4()
    template = make_template(owner)
    asset = make_asset(owner, template)
    expected = {
        Institution.Registered: "escrowgrid.domain.institution:Institution.Registered",
        Institution.ApiKeyIssued: "escrowgrid.domain.institution:Institution.ApiKeyIssued",
        Institution.ApiKeyRevoked: "escrowgrid.domain.institution:Institution.ApiKeyRevoked",
        AssetTemplate.Defined: "escrowgrid.domain.asset_template:AssetTemplate.Defined",
        Asset.Registered: "escrowgrid.domain.asset:Asset.Registered",
        Position.Created: "escrowgrid.domain.position:Position.Created",
        Position.Moved: "escrowgrid.domain.position:Position.Moved",
        Policy.Set: "escrowgrid.domain.policy:Policy.Set",
        Policy.Updated: "escrowgrid.domain.policy:Policy.Updated",
    }
    for event_class, topic in expected.items():
        assert get_topic(event_class) == topic
        assert resolve_topic(topic) is event_class
    assert {type(e) for e in [*template.collect_events(), *asset.collect_events()]} == {
        AssetTemplate.Defined,
        Asset.Registered,
    }


def test_position_created_is_version_2() -> None:
    position = open_position()
    record = make_mapper().to_stored_event(position.collect_events()[0])
    assert json.loads(record.state)["class_version"] == 2


def test_upcast_v1_state_dict() -> None:
    state: dict[str, Any] = {"holder_reference": "h", "amount": Decimal("1")}
    Position.Created.upcast_v1_v2(state)
    assert state == {"holder_reference": "h", "amount": Decimal("1"), "external_reference": None}


def test_stored_v1_payload_loads_as_v2() -> None:
    position = open_position("12.50", external_reference="EXT")
    mapper = make_mapper()
    current = mapper.to_stored_event(position.collect_events()[0])
    payload = json.loads(current.state)
    # A v1 writer had neither the field nor a class_version marker.
    del payload["external_reference"]
    del payload["class_version"]
    v1 = StoredEvent(
        originator_id=current.originator_id,
        originator_version=current.originator_version,
        topic=current.topic,
        state=json.dumps(payload).encode(),
    )
    event = mapper.to_domain_event(v1)
    assert isinstance(event, Position.Created)
    assert event.external_reference is None
    rebuilt = event.mutate(None)
    assert isinstance(rebuilt, Position)
    assert rebuilt.external_reference is None
    assert rebuilt.amount == Decimal("12.50") and rebuilt.state == "CREATED"
