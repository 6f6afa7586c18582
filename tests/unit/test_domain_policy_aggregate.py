"""The Policy aggregate: deterministic id, upserts and the contract config shape."""

from decimal import Decimal
from uuid import uuid4

import pytest

from escrowgrid.domain.errors import ValidationError
from escrowgrid.domain.policies import PositionPolicy, policy_id
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.vocabulary import Region


def test_set_policy() -> None:
    institution_id = uuid4()
    limits = PositionPolicy(Decimal("10"), Decimal("500.25"), ("USD",))
    policy = Policy.set(institution_id, "EU_UK", limits)
    assert policy.id == policy_id(institution_id, Region.EU_UK)
    assert policy.institution_id == institution_id
    assert policy.region == "EU_UK"
    assert policy.position_policy == limits
    assert policy.config == {
        "region": "EU_UK",
        "position": {
            "minAmount": Decimal("10"),
            "maxAmount": Decimal("500.25"),
            "allowedCurrencies": ["USD"],
        },
    }
    assert [type(e).__qualname__ for e in policy.collect_events()] == ["Policy.Set"]


def test_empty_policy_config() -> None:
    policy = Policy.set(uuid4(), Region.US, PositionPolicy())
    assert policy.config == {"region": "US", "position": {}}


def test_bad_region() -> None:
    with pytest.raises(ValidationError) as caught:
        Policy.set(uuid4(), "MARS", PositionPolicy())
    assert caught.value.details[0].field == "region"


def test_update_replaces_limits() -> None:
    policy = Policy.set(uuid4(), "US", PositionPolicy(Decimal(1), None, None))
    policy.collect_events()
    assert policy.update(PositionPolicy(None, Decimal(9), ("EUR", "GBP")))
    assert policy.position_policy == PositionPolicy(None, Decimal(9), ("EUR", "GBP"))
    assert policy.version == 2
    assert [type(e).__qualname__ for e in policy.collect_events()] == ["Policy.Updated"]


def test_identical_update_records_nothing() -> None:
    policy = Policy.set(uuid4(), "US", PositionPolicy(Decimal("1.0"), None, ("USD",)))
    policy.collect_events()
    assert not policy.update(PositionPolicy(Decimal("1.0"), None, ("USD",)))
    assert policy.version == 1
    assert policy.collect_events() == []
