"""Command results (aggregates) as the same answer Structs the read side serves."""

from __future__ import annotations

from escrowgrid.application.institutions import IssuedKey
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import ApiKeyRecord, Institution
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import Position
from projections.api_keys.views import ApiKeyView
from projections.asset_templates.views import AssetTemplateView
from projections.assets.views import AssetView
from projections.framework.shapes import Money, money
from projections.institutions.views import InstitutionView
from projections.policies.views import PolicyConfig, PolicyView, PositionLimits
from projections.positions.views import LifecycleEvent, PositionView


def institution(i: Institution) -> InstitutionView:
    return InstitutionView(
        id=i.id, name=i.name, regions=list(i.regions), verticals=list(i.verticals),
        created_at=i.created_at, updated_at=i.updated_at,
    )  # fmt: skip


def api_key(record: ApiKeyRecord, institution_id: object) -> ApiKeyView:
    return ApiKeyView(
        id=record.id, institution_id=institution_id, label=record.label, role=record.role,  # type: ignore[arg-type]
        created_at=record.created_at, revoked_at=record.revoked_at,
    )  # fmt: skip


def issued_key(issued: IssuedKey) -> dict[str, object]:
    """The one answer that carries the token: shown once, never stored."""
    view = api_key(issued.record, issued.institution.id)
    return {
        "id": view.id, "institutionId": view.institution_id, "label": view.label,
        "role": view.role, "createdAt": view.created_at, "apiKey": issued.token,
    }  # fmt: skip


def issued_key_replay(issued: IssuedKey) -> dict[str, object]:
    """What a replayed key creation returns: the token is not kept, so it is not repeated."""
    body = issued_key(issued)
    body["apiKey"] = None
    return body


def policy(p: Policy) -> PolicyView:
    limits = PositionLimits(
        min_amount=money(p.min_amount), max_amount=money(p.max_amount),
        allowed_currencies=None if p.allowed_currencies is None else list(p.allowed_currencies),
    )  # fmt: skip
    return PolicyView(
        id=p.id, institution_id=p.institution_id, region=p.region,
        config=PolicyConfig(region=p.region, position=limits),
        created_at=p.created_at, updated_at=p.updated_at,
    )  # fmt: skip


def asset_template(t: AssetTemplate) -> AssetTemplateView:
    return AssetTemplateView(
        id=t.id, institution_id=t.institution_id, code=t.code, name=t.name,
        vertical=t.vertical, region=t.region, config=t.config,
        created_at=t.created_at, updated_at=t.updated_at,
    )  # fmt: skip


def asset(a: Asset) -> AssetView:
    return AssetView(
        id=a.id, institution_id=a.institution_id, template_id=a.template_id, label=a.label,
        metadata=a.metadata, created_at=a.created_at, updated_at=a.updated_at,
    )  # fmt: skip


def position(p: Position) -> PositionView:
    return PositionView(
        id=p.id, institution_id=p.institution_id, asset_id=p.asset_id,
        holder_reference=p.holder_reference, currency=p.currency, amount=Money(p.amount),
        state=p.state, external_reference=p.external_reference,
        created_at=p.created_at, updated_at=p.updated_at,
        template_id=p.template_id,
        released_amount=Money(p.released_amount), remaining_amount=Money(p.remaining_amount),
        events=[
            LifecycleEvent(
                id=e.id, position_id=p.id, from_state=e.from_state, to_state=e.to_state,
                reason=e.reason, at=e.at, metadata=e.metadata, amount=money(e.amount),
            )
            for e in p.lifecycle
        ],
    )  # fmt: skip
