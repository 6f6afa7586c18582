"""The inline projection's statement runs on a generic plan, not one planned for every append."""

from __future__ import annotations

import re

import psycopg

from tests.support.cluster import PgCluster

SIGNATURE = "project_positions_inline(bigint, bigint, bigint, text, text, integer)"
RANGE = re.compile(r'Index Cond: \(\("?position"? > [^\n]*')
# A log the planner has statistics for: a default share of it is far more rows than an append's
# handful, which is what made plan_cache_mode = auto plan the statement again on every call.
FILL = """
INSERT INTO events (stream_id, version, topic, state, tenant_id, meta, prev_hash, hash)
SELECT gen_random_uuid(), 1, 'filler', '\\x7b7d'::bytea, NULL, '{}'::jsonb, NULL,
       decode(md5(i::text) || md5(i::text), 'hex')
FROM generate_series(1, 300000) AS i
"""


def _range_conditions(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """The events-range condition of each plan auto_explain reports for seven calls."""
    plans: list[str] = []
    conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
    head = conn.execute("SELECT max(position) FROM events").fetchone()
    assert head is not None
    for i in range(7):  # PL/pgSQL decides between custom and generic plans after the fifth
        start = int(head[0]) + 10 * i
        conn.execute(
            "SELECT * FROM project_positions_inline(%s, %s, %s, 'created', 'moved', 1)",
            (start, start, start + 3),
        )
    found = [m.group(0) for plan in plans for m in RANGE.finditer(plan)]
    assert len(found) == 7, plans
    return found


def test_the_inline_projection_is_planned_once_not_for_every_append(cluster: PgCluster) -> None:
    name = cluster.new_database()
    try:
        _check_plans(psycopg.connect(cluster.pg.admin_dsn(name), autocommit=True))
    finally:
        cluster.drop_database(name)


def _check_plans(connection: psycopg.Connection[tuple[object, ...]]) -> None:
    # As the superuser: only it may load auto_explain, which reports the plans of nested statements.
    with connection as conn:
        conn.execute(FILL)
        conn.execute("ANALYZE events")
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
            "SET client_min_messages = log",
        ):
            conn.execute(setting)
        generic = _range_conditions(conn)
        # Every call after the fifth runs the plan made for parameters ($n), not for its values.
        assert all("$" in cond for cond in generic[5:]), generic
        # The setting is what holds it: without it the same calls are planned for their values.
        conn.execute(f"ALTER FUNCTION {SIGNATURE} RESET plan_cache_mode")
        custom = _range_conditions(conn)
        assert not any("$" in cond for cond in custom[5:]), custom
