"""What every read model provides, and where its rows go (the live tables or a scratch copy)."""

from __future__ import annotations

import contextlib
import functools
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

from psycopg import AsyncConnection, AsyncCursor, sql

from projections.framework.feed import LogEvent

LIVE_SCHEMA = "public"


class ProjectionError(RuntimeError):
    """The log and a read model disagree (e.g. a move of a position the model never saw)."""


_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class _Tables(dict[str, str]):
    def __init__(self, schema: str) -> None:
        super().__init__()
        self.schema = schema

    def __missing__(self, table: str) -> str:
        if not _NAME.fullmatch(table):
            raise ValueError(f"not a table name of ours: {table!r}")
        return f'"{self.schema}"."{table}"'


@dataclass(frozen=True, slots=True)
class Target:
    """The schema a projector writes to: `public` when live, a scratch schema when rebuilding."""

    schema: str = LIVE_SCHEMA

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.schema):
            raise ValueError(f"not a schema name of ours: {self.schema!r}")

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def sql(self, template: str) -> str:
        """`template` with each `{table}` as this schema's table, built once then cached."""
        # The live runner runs a dozen statements per batch; composing them each time with
        # psycopg.sql cost more than running them.
        return _render(self.schema, template)


@functools.lru_cache(maxsize=1024)
def _render(schema: str, template: str) -> str:
    return template.format_map(_Tables(schema))


LIVE = Target()
SMALL_BATCH = 500  # rows: up to this many go in one INSERT ... FROM unnest, more by COPY


class Projection(ABC):
    """One read model: its tables, the events it reads, and how a batch of them changes rows."""

    # A batch goes in two steps: `plan` (pure Python: decode the events and fold them into rows)
    # and `write` (the statements), which runs inside the caller's transaction, the one that also
    # advances the tracking position: that is what makes projection exactly-once. Rebuilds plan
    # the next batch while PostgreSQL is still writing the current one.

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    topics: ClassVar[frozenset[str] | None]  # None: every event of the log
    append_only: ClassVar[frozenset[str]] = frozenset()  # tables only ever inserted into
    wants_context: ClassVar[bool] = False  # tenant_id and recorded_at of each event
    wants_meta: ClassVar[bool] = False
    wants_hash: ClassVar[bool] = False

    def plan(self, events: Sequence[LogEvent]) -> Any:
        """What `write` needs for this batch (in log order, already filtered to `topics`)."""
        return events

    @abstractmethod
    async def write(self, conn: AsyncConnection[Any], target: Target, plan: Any) -> None:
        """Write a plan into `target`'s tables, in the caller's transaction."""

    async def apply(
        self, conn: AsyncConnection[Any], target: Target, events: Sequence[LogEvent]
    ) -> None:
        """Plan and write one batch."""
        await self.write(conn, target, self.plan(events))

    def bulk_statements(self, target: Target, upto: int) -> list[list[tuple[str, list[Any]]]]:
        """Set-based statements building the model from empty up to `upto` ([] when none), in
        waves: a wave's statements may run at the same time on separate connections, and each
        wave starts once the one before has committed."""
        # They must give the rows `apply` would; one returning a non-NULL text names what
        # `apply` would refuse.
        return []


_SPECIAL = re.compile(r'[{}",\\\s]')


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    text = value if type(value) is str else str(value)
    if _SPECIAL.search(text) or not text or (len(text) == 4 and text.lower() == "null"):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def array_literal(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of the values' text (None is NULL), quoted where needed."""
    return "{" + ",".join(map(_element, values)) + "}"


async def copy_rows(
    conn: AsyncConnection[Any],
    target: Target,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
) -> None:
    """Insert rows given as text PostgreSQL parses (uuid, numeric, timestamptz, jsonb, lists)."""
    # COPY for bulk. A live batch goes as one INSERT ... SELECT FROM unnest(array literals):
    # one round trip where COPY takes two, which under load is most of a batch's time.
    if not rows:
        return
    if len(rows) <= SMALL_BATCH:
        types = await _column_types(conn, table, tuple(columns))
        statement = _insert(target.schema, table, tuple(columns), types)
        await conn.execute(statement, [array_literal(column) for column in _columns(rows)])
        return
    statement = target.sql(f"COPY {{{table}}} ({', '.join(columns)}) FROM STDIN")
    async with conn.cursor().copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)


def _columns(rows: Sequence[Sequence[object]]) -> Iterator[list[object]]:
    for column in zip(*rows, strict=True):
        yield [array_literal(v) if isinstance(v, list) else v for v in column]


_TYPES: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}


async def _column_types(
    conn: AsyncConnection[Any], table: str, columns: tuple[str, ...]
) -> tuple[str, ...]:
    """The live table's column types (a scratch copy has the same), read once per process."""
    key = (table, columns)
    if key not in _TYPES:
        cur = await conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a"
            " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (f"{LIVE_SCHEMA}.{table}",),
        )
        found = dict(await cur.fetchall())
        _TYPES[key] = tuple(found[c] for c in columns)
    return _TYPES[key]


@functools.lru_cache(maxsize=1024)
def _insert(schema: str, table: str, columns: tuple[str, ...], types: tuple[str, ...]) -> str:
    casts = ", ".join(f"{c}::{t}" for c, t in zip(columns, types, strict=True))
    arrays = ", ".join(["%s::text[]"] * len(columns))
    names = ", ".join(columns)
    statement = (
        f"INSERT INTO {{{table}}} ({names}) SELECT {casts}"  # noqa: S608 - our names only
        f" FROM unnest({arrays}) AS u({names})"
    )
    return _render(schema, statement)


async def update_rows(
    conn: AsyncConnection[Any],
    statement: str,
    columns: Sequence[Sequence[object]],
    *,
    expected: int,
    what: str,
) -> None:
    """Run an UPDATE ... FROM unnest(arrays) and insist that it touched every row it named."""
    # Each column goes as one array literal (text the statement casts): psycopg's list adapter
    # costs about 1.5 us per element, which was a tenth of a rebuild.
    params = [array_literal(column) for column in columns]
    cur = await conn.execute(statement, params, prepare=False)
    deferred = _DEFERRED.get()
    if deferred is not None:  # in pipeline mode the count is known only after the sync
        deferred.append((cur, expected, what))
    else:
        _check_count(cur, expected, what)


def _check_count(cur: AsyncCursor[Any], expected: int, what: str) -> None:
    if cur.rowcount != expected:
        raise ProjectionError(f"{what}: {expected} rows to update, {cur.rowcount} found")


_DEFERRED: ContextVar[list[tuple[AsyncCursor[Any], int, str]] | None] = ContextVar(
    "escrowgrid_deferred_counts", default=None
)


@contextlib.asynccontextmanager
async def pipelined(conn: AsyncConnection[Any], *, commit: bool = False) -> AsyncIterator[None]:
    """Pipeline mode for a batch's writes inside the caller's transaction: statements go out
    without waiting for each answer; update counts are checked once the pipeline has synced
    (a failure raises before the caller commits). COPY is not allowed inside.

    With `commit`, the caller's explicit transaction (its own BEGIN) is committed here: in the
    same round trip as the writes when no count waits to be checked, else after the checks.
    """
    checks: list[tuple[AsyncCursor[Any], int, str]] = []
    token = _DEFERRED.set(checks)
    try:
        async with conn.pipeline():
            yield
            if commit and not checks:
                commit = False
                await conn.execute(b"COMMIT")
    finally:
        _DEFERRED.reset(token)
    for cur, expected, what in checks:
        _check_count(cur, expected, what)
    if commit:
        await conn.execute(b"COMMIT")
