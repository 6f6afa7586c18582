"""The read side's payload decoders read exactly what the library's Mapper reads."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
import pytest
from eventsourcing.domain import Aggregate
from hypothesis import given, settings
from hypothesis import strategies as st

from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.policies import PositionPolicy
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import Position
from escrowgrid.eventlog.codec import make_mapper
from projections.framework import payloads
from projections.framework.base import array_literal

MAPPER = make_mapper()
texts = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.decimals(allow_nan=False, allow_infinity=False, places=6)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)
metadata = st.dictionaries(texts, json_values, max_size=4)
amounts = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("10") ** 15, places=8)


def stored(aggregate: Aggregate) -> list[Any]:
    return [MAPPER.to_stored_event(e) for e in aggregate.collect_events()]


def plain(value: Any) -> Any:
    """A domain value with every number as Decimal, as free_form reads JSON numbers."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def check_common(event: Any, payload: Any) -> None:
    assert datetime.fromisoformat(payload.timestamp.data) == event.timestamp


def decoded(stored_event: Any) -> tuple[Any, Any]:
    event = MAPPER.to_domain_event(stored_event)
    return event, payloads.decode(stored_event.topic, stored_event.state)


def free_form(raw: msgspec.Raw) -> Any:
    text = payloads.plain_json(raw)
    return None if text is None else json.loads(text, parse_float=Decimal, parse_int=Decimal)


@settings(max_examples=60, deadline=None)
@given(
    meta=metadata,
    config_extra=metadata,
    amount=amounts,
    released=amounts,
    reason=st.none() | texts,
    external=st.none() | texts,
)
def test_every_event_class_decodes_as_the_library_decodes_it(
    meta: dict[str, Any],
    config_extra: dict[str, Any],
    amount: Decimal,
    released: Decimal,
    reason: str | None,
    external: str | None,
) -> None:
    institution = Institution.register('Bank \t \\ "q"', ["US", "SG"], ["CONSTRUCTION"])
    record = institution.issue_api_key("key-1", "label", "admin", "a" * 64)
    institution.revoke_api_key(record.id)
    template = AssetTemplate.define(
        institution.id, code="CONSTR_ESCROW", name="E", vertical="CONSTRUCTION", region="US",
        config={
            **{f"x{key}": value for key, value in config_extra.items()},
            **{"currency": "USD", "region": "US", "scale": Decimal("1E+3")},
        },
    )  # fmt: skip
    asset = Asset.register(institution.id, template, "A", meta)
    position = Position.open(
        institution.id, asset=asset, template=template, holder_reference="h",
        currency="USD", amount=amount, external_reference=external,
    )  # fmt: skip
    position.move("FUNDED", reason=reason, metadata=meta or None)
    position.move("PARTIALLY_RELEASED", amount=min(released, amount))
    policy = Policy.set(institution.id, "US", PositionPolicy(amount, None, ("USD",)))
    policy.update(PositionPolicy(None, amount, None))

    registered, issued, revoked = (decoded(s) for s in stored(institution))
    event, payload = registered
    check_common(event, payload)
    assert (payload.name, payload.regions, payload.verticals) == (
        event.name, event.regions, event.verticals,
    )  # fmt: skip
    event, payload = issued
    check_common(event, payload)
    assert (payload.key_id, payload.label, payload.role, payload.key_hash) == (
        event.key_id, event.label, event.role, event.key_hash,
    )  # fmt: skip
    event, payload = revoked
    assert payload.key_id == event.key_id

    [(event, payload)] = [decoded(s) for s in stored(template)]
    check_common(event, payload)
    assert UUID(payload.institution_id.data) == event.institution_id
    assert (payload.code, payload.name, payload.vertical, payload.region) == (
        event.code, event.name, event.vertical, event.region,
    )  # fmt: skip
    assert free_form(payload.config) == plain(event.config)

    [(event, payload)] = [decoded(s) for s in stored(asset)]
    assert UUID(payload.template_id.data) == event.template_id
    assert free_form(payload.metadata) == plain(event.metadata)

    created, funded, partial = (decoded(s) for s in stored(position))
    event, payload = created
    check_common(event, payload)
    ids = (payload.institution_id, payload.asset_id, payload.template_id)
    assert [UUID(t.data) for t in ids] == [event.institution_id, event.asset_id, event.template_id]
    assert Decimal(payload.amount.data) == event.amount and payload.amount.data == str(event.amount)
    assert (payload.holder_reference, payload.currency, payload.external_reference) == (
        event.holder_reference, event.currency, event.external_reference,
    )  # fmt: skip
    assert payload.entry_id == event.entry_id
    for event, payload in (funded, partial):
        check_common(event, payload)
        assert (payload.entry_id, payload.from_state, payload.to_state, payload.reason) == (
            event.entry_id, event.from_state, event.to_state, event.reason,
        )  # fmt: skip
        assert free_form(payload.metadata) == plain(event.metadata)
        assert Decimal(payload.released.data) == event.released

    for event, payload in (decoded(s) for s in stored(policy)):
        check_common(event, payload)
        limits = (payload.min_amount, payload.max_amount)
        assert [payloads.optional_decimal_text(v) for v in limits] == [
            None if v is None else str(v) for v in (event.min_amount, event.max_amount)
        ]
        assert payload.allowed_currencies == event.allowed_currencies


def test_a_v1_position_payload_reads_without_external_reference() -> None:
    institution = Institution.register("B", ["US"])
    template = AssetTemplate.define(
        institution.id, code="CONSTR_ESCROW", name="E", vertical="CONSTRUCTION", region="US",
        config={"currency": "USD", "region": "US"},
    )  # fmt: skip
    asset = Asset.register(institution.id, template, "A")
    position = Position.open(
        institution.id, asset=asset, template=template, holder_reference="h", currency="USD",
        amount=Decimal(1), external_reference="x",
    )  # fmt: skip
    [created] = stored(position)
    body = json.loads(created.state)
    del body["external_reference"], body["class_version"]
    old = payloads.decode(created.topic, json.dumps(body).encode())
    assert old.external_reference is None and old.class_version == 1
    body["class_version"] = 3
    with pytest.raises(payloads.PayloadError, match="class_version"):
        payloads.decode(created.topic, json.dumps(body).encode())
    with pytest.raises(payloads.PayloadError, match="no payload decoder"):
        payloads.decode("nobody:Knows", b"{}")
    body["class_version"] = 2
    body["amount"] = {"_type_": "uuid_hex", "_data_": "00"}  # a tag of the wrong kind
    with pytest.raises(payloads.PayloadError):
        payloads.decode(created.topic, json.dumps(body).encode())


def test_free_form_json_keeps_numbers_exact_and_refuses_other_tags() -> None:
    raw = msgspec.Raw(b'{"a":{"_type_":"decimal_str","_data_":"1.50"},"b":[{"_type_":'
                      b'"decimal_str","_data_":"-1E+3"}],"c":"{\\"_type_\\":1}"}')  # fmt: skip
    assert json.loads(payloads.plain_json(raw) or "", parse_float=Decimal) == {
        "a": Decimal("1.50"), "b": [Decimal("-1E+3")], "c": '{"_type_":1}',
    }  # fmt: skip
    assert payloads.plain_json(msgspec.Raw(b"null")) is None
    with pytest.raises(payloads.PayloadError):
        payloads.plain_json(msgspec.Raw(b'{"a":{"_type_":"uuid_hex","_data_":"00"}}'))


def test_array_literals_quote_what_postgres_would_misread() -> None:
    assert array_literal(["a", None, "", "NULL", "x y", 'q"', "b\\s", "{,}", Decimal("1.5")]) == (
        '{a,NULL,"","NULL","x y","q\\"","b\\\\s","{,}",1.5}'
    )
