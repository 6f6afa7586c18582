"""The reads the API serves, over the read tables only; each list query has an index."""

# Filters are applied as given: deciding which institution a caller may see is the API's job.
# Lists run oldest first (created_at, id), or in log order for the ledger feed; paginated ones
# also count the total matching rows.

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from psycopg import AsyncConnection, sql

from escrowgrid.eventlog.hashing import GENESIS
from projections.views import (
    ApiKeyAuth,
    ApiKeyView,
    AssetTemplateView,
    AssetView,
    AuditEventView,
    InstitutionView,
    LedgerEventView,
    LifecycleEvent,
    Money,
    Page,
    Pagination,
    PolicyConfig,
    PolicyView,
    PositionLimits,
    PositionView,
    RefusalError,
    money,
)

__all__ = [
    "ApiKeyAuth",
    "ApiKeyView",
    "AssetTemplateView",
    "AssetView",
    "AuditEventView",
    "InstitutionView",
    "LedgerEventView",
    "LifecycleEvent",
    "Page",
    "Pagination",
    "PolicyConfig",
    "PolicyView",
    "PositionLimits",
    "PositionView",
    "RefusalError",
    "current_digest",
    "find_api_key_by_hash",
    "get_api_key",
    "get_asset",
    "get_asset_template",
    "get_institution",
    "get_policy",
    "get_position",
    "list_api_keys",
    "list_asset_templates",
    "list_assets",
    "list_audit_events",
    "list_institutions",
    "list_ledger_events",
    "list_policies",
    "list_positions",
]

T = TypeVar("T")
Conn = AsyncConnection[Any]
Filters = list[tuple[str, object]]

# jsonb keeps every digit of a number; reading it back as Decimal (not float) keeps them too.
_json = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _doc(text: str | None) -> dict[str, Any] | None:
    return None if text is None else _json.decode(text)


def _where(
    filters: Filters, ranges: Sequence[tuple[str, str, object]] = ()
) -> tuple[sql.Composable, list[object]]:
    """`WHERE a = %s AND b >= %s ...` for the filters and (column, operator, value) bounds
    whose value is not None."""
    conditions: list[sql.Composable] = []
    params: list[object] = []
    for column, value in filters:
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    for column, operator, value in ranges:
        if value is not None:
            conditions.append(sql.SQL("{} {} %s").format(sql.Identifier(column), sql.SQL(operator)))
            params.append(value)
    if not conditions:
        return sql.SQL(""), []
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions), params


async def _page(
    conn: Conn,
    select: str,
    table: str,
    filters: Filters,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Any, ...]], Pagination]:
    where, params = _where(filters)
    cur = await conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)) + where, params
    )
    row = await cur.fetchone()
    total = int(row[0]) if row else 0
    cur = await conn.execute(
        sql.SQL(select).format(sql.Identifier(table))
        + where
        + sql.SQL(" ORDER BY created_at, id LIMIT %s OFFSET %s"),
        [*params, limit, offset],
    )
    rows = await cur.fetchall()
    return rows, Pagination(total, limit, offset, offset + len(rows) < total)


# -- institutions and keys ---------------------------------------------------------------------

_INSTITUTION = "SELECT id, name, regions, verticals, created_at, updated_at FROM {}"


def _institution(row: Sequence[Any]) -> InstitutionView:
    id_, name, regions, verticals, created, updated = row
    return InstitutionView(id_, name, list(regions), list(verticals), _utc(created), _utc(updated))


async def get_institution(conn: Conn, id: UUID) -> InstitutionView | None:
    cur = await conn.execute(
        sql.SQL(_INSTITUTION + " WHERE id = %s").format(sql.Identifier("institutions")), (id,)
    )
    row = await cur.fetchone()
    return None if row is None else _institution(row)


async def list_institutions(conn: Conn, institution_id: UUID | None) -> list[InstitutionView]:
    """All institutions, oldest first (institution_id None), or just that one."""
    where, params = _where([("id", institution_id)])
    cur = await conn.execute(
        sql.SQL(_INSTITUTION).format(sql.Identifier("institutions"))
        + where
        + sql.SQL(" ORDER BY created_at, id"),
        params,
    )
    return [_institution(r) for r in await cur.fetchall()]


async def find_api_key_by_hash(conn: Conn, key_hash: str) -> ApiKeyAuth | None:
    """The key with this SHA-256 hex (revoked ones too: the caller says 401). One index probe."""
    cur = await conn.execute(
        "SELECT id, institution_id, role, revoked_at FROM api_keys WHERE key_hash = %s",
        (key_hash,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return ApiKeyAuth(row[0], row[1], row[2], _maybe_utc(row[3]))


_API_KEY = "SELECT id, institution_id, label, role, created_at, revoked_at FROM api_keys"


def _api_key(row: Sequence[Any]) -> ApiKeyView:
    id_, institution_id, label, role, created, revoked = row
    return ApiKeyView(
        id=id_,
        institution_id=institution_id,
        label=label,
        role=role,
        created_at=_utc(created),
        revoked_at=_maybe_utc(revoked),
    )


async def list_api_keys(conn: Conn, institution_id: UUID) -> list[ApiKeyView]:
    """The institution's keys that are not revoked, oldest first."""
    cur = await conn.execute(
        _API_KEY + " WHERE institution_id = %s AND revoked_at IS NULL ORDER BY created_at, id",
        (institution_id,),
    )
    return [_api_key(r) for r in await cur.fetchall()]


async def get_api_key(conn: Conn, institution_id: UUID, key_id: str) -> ApiKeyView | None:
    """One key of the institution, revoked or not."""
    cur = await conn.execute(
        _API_KEY + " WHERE institution_id = %s AND id = %s", (institution_id, key_id)
    )
    row = await cur.fetchone()
    return None if row is None else _api_key(row)


# -- policies ------------------------------------------------------------------------------------

_POLICY = (
    "SELECT id, institution_id, region, trim_scale(min_amount), trim_scale(max_amount),"
    " allowed_currencies, created_at, updated_at FROM policies"
)


def _policy(row: Sequence[Any]) -> PolicyView:
    id_, institution_id, region, low, high, currencies, created, updated = row
    limits = PositionLimits(
        min_amount=money(low),
        max_amount=money(high),
        allowed_currencies=None if currencies is None else list(currencies),
    )
    return PolicyView(
        id_, institution_id, region, PolicyConfig(region, limits), _utc(created), _utc(updated)
    )


async def list_policies(conn: Conn, institution_id: UUID) -> list[PolicyView]:
    cur = await conn.execute(
        _POLICY + " WHERE institution_id = %s ORDER BY created_at, id", (institution_id,)
    )
    return [_policy(r) for r in await cur.fetchall()]


async def get_policy(conn: Conn, institution_id: UUID, region: str) -> PolicyView | None:
    cur = await conn.execute(
        _POLICY + " WHERE institution_id = %s AND region = %s", (institution_id, region)
    )
    row = await cur.fetchone()
    return None if row is None else _policy(row)


# -- templates and assets ------------------------------------------------------------------------

_TEMPLATE = (
    "SELECT id, institution_id, code, name, vertical, region, config::text, created_at,"
    " updated_at FROM {}"
)


def _template(row: Sequence[Any]) -> AssetTemplateView:
    id_, institution_id, code, name, vertical, region, config, created, updated = row
    return AssetTemplateView(
        id_,
        institution_id,
        code,
        name,
        vertical,
        region,
        _doc(config) or {},
        _utc(created),
        _utc(updated),
    )


async def list_asset_templates(
    conn: Conn, *, institution_id: UUID | None = None, limit: int = 100, offset: int = 0
) -> Page[AssetTemplateView]:
    rows, pagination = await _page(
        conn, _TEMPLATE, "asset_templates", [("institution_id", institution_id)], limit, offset
    )
    return Page([_template(r) for r in rows], pagination)


async def get_asset_template(conn: Conn, id: UUID) -> AssetTemplateView | None:
    cur = await conn.execute(
        sql.SQL(_TEMPLATE + " WHERE id = %s").format(sql.Identifier("asset_templates")), (id,)
    )
    row = await cur.fetchone()
    return None if row is None else _template(row)


_ASSET = (
    "SELECT id, institution_id, template_id, label, metadata::text, created_at, updated_at FROM {}"
)


def _asset(row: Sequence[Any]) -> AssetView:
    id_, institution_id, template_id, label, metadata, created, updated = row
    return AssetView(
        id_, institution_id, template_id, label, _doc(metadata) or {}, _utc(created), _utc(updated)
    )


async def list_assets(
    conn: Conn,
    *,
    institution_id: UUID | None = None,
    template_id: UUID | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[AssetView]:
    rows, pagination = await _page(
        conn,
        _ASSET,
        "assets",
        [("institution_id", institution_id), ("template_id", template_id)],
        limit,
        offset,
    )
    return Page([_asset(r) for r in rows], pagination)


async def get_asset(conn: Conn, id: UUID) -> AssetView | None:
    cur = await conn.execute(
        sql.SQL(_ASSET + " WHERE id = %s").format(sql.Identifier("assets")), (id,)
    )
    row = await cur.fetchone()
    return None if row is None else _asset(row)


# -- positions -------------------------------------------------------------------------------------

_POSITION = (
    "SELECT id, institution_id, asset_id, template_id, holder_reference, currency,"
    " trim_scale(amount), state, external_reference, created_at, updated_at,"
    " trim_scale(released_amount), trim_scale(remaining_amount) FROM {}"
)
_LIFECYCLE = (
    "SELECT position_id, id, from_state, to_state, reason, at, metadata::text, trim_scale(amount)"
    " FROM position_lifecycle WHERE position_id = ANY(%s) ORDER BY position_id, seq"
)
# One position with its steps in one round trip (a read is three statements with auth: two).
_POSITION_WITH_STEPS = (
    "SELECT p.id, p.institution_id, p.asset_id, p.template_id, p.holder_reference, p.currency,"
    " trim_scale(p.amount), p.state, p.external_reference, p.created_at, p.updated_at,"
    " trim_scale(p.released_amount), trim_scale(p.remaining_amount),"
    " l.id, l.from_state, l.to_state, l.reason, l.at, l.metadata::text, trim_scale(l.amount)"
    " FROM positions AS p LEFT JOIN position_lifecycle AS l ON l.position_id = p.id"
    " WHERE p.id = %s ORDER BY l.seq"
)
_STEP_AT = 13  # where a step's columns start in those rows


def _step(position_id: UUID, row: Sequence[Any]) -> LifecycleEvent:
    id_, from_state, to_state, reason, at, metadata, amount = row
    return LifecycleEvent(
        id=id_,
        position_id=position_id,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        at=_utc(at),
        metadata=_doc(metadata),
        amount=money(amount),
    )


async def _lifecycles(conn: Conn, ids: list[UUID]) -> dict[UUID, list[LifecycleEvent]]:
    found: dict[UUID, list[LifecycleEvent]] = {i: [] for i in ids}
    if not ids:
        return found
    cur = await conn.execute(_LIFECYCLE, (ids,))
    for row in await cur.fetchall():
        found[row[0]].append(_step(row[0], row[1:]))
    return found


def _position(row: Sequence[Any], events: list[LifecycleEvent]) -> PositionView:
    (id_, institution_id, asset_id, template_id, holder, currency, amount, state, external,
     created, updated, released, remaining) = row  # fmt: skip
    return PositionView(
        id=id_,
        institution_id=institution_id,
        asset_id=asset_id,
        holder_reference=holder,
        currency=currency,
        amount=Money(amount),
        state=state,
        external_reference=external,
        created_at=_utc(created),
        updated_at=_utc(updated),
        events=events,
        template_id=template_id,
        released_amount=Money(released),
        remaining_amount=Money(remaining),
    )


async def list_positions(
    conn: Conn,
    *,
    institution_id: UUID | None = None,
    asset_id: UUID | None = None,
    holder_reference: str | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[PositionView]:
    rows, pagination = await _page(
        conn,
        _POSITION,
        "positions",
        [
            ("institution_id", institution_id),
            ("asset_id", asset_id),
            ("holder_reference", holder_reference),
            ("state", state),
        ],
        limit,
        offset,
    )
    events = await _lifecycles(conn, [r[0] for r in rows])
    return Page([_position(r, events[r[0]]) for r in rows], pagination)


async def get_position(conn: Conn, id: UUID) -> PositionView | None:
    cur = await conn.execute(_POSITION_WITH_STEPS, (id,))
    rows = await cur.fetchall()
    if not rows:
        return None
    # Each row: the position's columns, then one step's (NULLs when it has none).
    steps = [_step(id, row[_STEP_AT:]) for row in rows if row[_STEP_AT] is not None]
    return _position(rows[0][:_STEP_AT], steps)


# -- ownership ------------------------------------------------------------------------------------

# What names an owner in each table a client refers to by id (an institution owns itself).
_OWNER_COLUMN = {
    "institutions": "id",
    "asset_templates": "institution_id",
    "assets": "institution_id",
    "positions": "institution_id",
}


async def owner_of(conn: Conn, table: str, id: UUID) -> UUID | None:
    """The institution owning the row `id` of `table`, None when there is no such row."""
    query = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(
        sql.Identifier(_OWNER_COLUMN[table]), sql.Identifier(table)
    )
    cur = await conn.execute(query, (id,))
    row = await cur.fetchone()
    if row is None:
        return None
    owner: UUID = row[0]
    return owner


# -- ledger feed, audit, digest -------------------------------------------------------------------

_LEDGER = (
    "SELECT id, kind, position_id, at, previous_state, new_state, payload::text,"
    " institution_id, log_position FROM ledger_events"
)


async def list_ledger_events(
    conn: Conn, *, position_id: UUID | None = None, institution_id: UUID | None = None
) -> list[LedgerEventView]:
    """The POSITION_CREATED / POSITION_STATE_CHANGED feed in log order, oldest first."""
    where, params = _where([("position_id", position_id), ("institution_id", institution_id)])
    cur = await conn.execute(sql.SQL(_LEDGER) + where + sql.SQL(" ORDER BY log_position"), params)
    return [
        LedgerEventView(
            id=id_,
            kind=kind,
            position_id=pid,
            at=_utc(at),
            previous_state=previous,
            new_state=new,
            payload=_doc(payload),
            institution_id=institution_id_,
            log_position=log_position,
        )
        for id_, kind, pid, at, previous, new, payload, institution_id_, log_position in (
            await cur.fetchall()
        )
    ]


# Accepted commands come from the log (the audit_events read model); refused ones from
# command_refusals, which the API writes and no projection owns (a rebuild leaves it alone).
# Each side reads its own index in (at, key) order and the union merges them (Merge Append):
# refusal ids count down from -1, log positions up from 1, so (at, sort_key) is unique.
_ACCEPTED = (
    "SELECT 'accepted' AS outcome, first_position AS sort_key, at, first_position,"
    " last_position, action, actor_key_id, actor_role, institution_id, request_id, client_addr,"
    " stream_ids, event_count, meta->>'commandId', NULL::text, NULL::text, NULL::smallint,"
    " NULL::text, NULL::text, NULL::text FROM audit_events",
    " ORDER BY at, first_position LIMIT %s",
)
_REFUSED = (
    "SELECT 'refused' AS outcome, id AS sort_key, at, NULL::bigint, NULL::bigint, action,"
    " actor_key_id, actor_role, institution_id, request_id, client_addr, '{}'::uuid[], 0,"
    " NULL::text, method, route, status, error_code, error, details::text FROM command_refusals",
    " ORDER BY at, id LIMIT %s",
)
_MAX_ROWS = 2**63 - 1
_details = msgspec.json.Decoder(list[dict[str, str]])


async def list_audit_events(
    conn: Conn,
    *,
    institution_id: UUID | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[AuditEventView]:
    """Commands accepted and refused, oldest first; `since` inclusive, `until` exclusive."""
    where, params = _where(
        [("institution_id", institution_id), ("action", action)],
        [("at", ">=", since), ("at", "<", until)],
    )
    parts = [
        (table, select)
        for name, table, select in (
            ("accepted", "audit_events", _ACCEPTED),
            ("refused", "command_refusals", _REFUSED),
        )
        if outcome in (None, name)
    ]
    counts = sql.SQL(" + ").join(
        sql.SQL("(SELECT count(*) FROM {}").format(sql.Identifier(table)) + where + sql.SQL(")")
        for table, _ in parts
    )
    cur = await conn.execute(sql.SQL("SELECT ") + counts, params * len(parts))
    row = await cur.fetchone()
    total = int(row[0]) if row else 0
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("(") + sql.SQL(select) + where + sql.SQL(order) + sql.SQL(")")
        for _, (select, order) in parts
    )
    enough = min(offset + limit, _MAX_ROWS)  # no side can give more rows than the page needs
    cur = await conn.execute(
        sql.SQL("SELECT * FROM (")
        + union
        + sql.SQL(") AS trail ORDER BY at, sort_key LIMIT %s OFFSET %s"),
        [*[p for _ in parts for p in (*params, enough)], limit, offset],
    )
    rows = await cur.fetchall()
    data = [_audit_event(row) for row in rows]
    return Page(data, Pagination(total, limit, offset, offset + len(rows) < total))


def _audit_event(row: Sequence[Any]) -> AuditEventView:
    (
        outcome, sort_key, at, first, last, act, key_id, role, inst, request_id, client, streams,
        count, command, method, route, status, code, message, details,
    ) = row  # fmt: skip
    refused = outcome == "refused"
    return AuditEventView(
        first, last, act, key_id, role, inst, request_id, client, _utc(at), list(streams), count,
        command_id=command,
        outcome=outcome,
        refusal_id=-sort_key if refused else None,  # stored counting down (0052)
        method=method,
        route=route,
        status=status,
        error=RefusalError(code, message, _refusal_details(details)) if refused else None,
    )  # fmt: skip


def _refusal_details(text: str | None) -> list[dict[str, str]] | None:
    if text is None:
        return None
    try:
        return _details.decode(text)
    except msgspec.ValidationError:
        return None  # not the field list our answers carry; the message says enough


async def current_digest(conn: Conn) -> tuple[int, str]:
    """(position, hex digest) of the ledger digest the projector has reached."""
    cur = await conn.execute("SELECT position, digest FROM ledger_digest WHERE id")
    row = await cur.fetchone()
    if row is None:
        return 0, GENESIS.hex()
    return int(row[0]), bytes(row[1]).hex()
