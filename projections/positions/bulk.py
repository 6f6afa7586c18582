"""The positions read model built in set-based SQL: the bulk phase of a rebuild from empty."""

# The rows are exactly those of PositionsProjection.plan/write (the live path, event by event);
# the rebuild-equals-live tests compare the two. Why a second path: decoding and folding events
# in Python costs about 11 us each, which caps a rebuild near 60,000 events/s on two cores;
# PostgreSQL reads the transcoder's JSON itself for much less. Each table is built by PARTS
# statements over disjoint ranges of position ids (a position's events all fall in one), so
# the work spreads evenly over both cores: first the lifecycle from the log, then the positions
# from the lifecycle. Later batches use the live path.

from __future__ import annotations

from typing import Any
from uuid import UUID

from projections.framework.base import Target
from projections.framework.payloads import POSITION_CREATED, POSITION_MOVED
from projections.framework.payloads import POSITION_CREATED_VERSION as CREATED_VERSION

# Positions opened up to the given position, folded from the lifecycle rows built before them
# (each stored event is parsed once: the Moved payloads for the lifecycle, the Created ones
# here). A position's state, released amount and update time are its last step's state, the
# sum of its steps' amounts and its last step's time, or CREATED, 0 and its creation time when
# it has no step: what the live path folds event by event.
# The statement also says what the live path would have refused: a payload version it does not
# know, or steps of a position never opened (one text row, NULL if none). OFFSET 0 keeps the
# planner from inlining the parse into every use of `doc`.
POSITIONS = """
WITH created AS (
    SELECT e.stream_id, d.doc, (d.doc->'timestamp'->>'_data_')::timestamptz AS at
    FROM events AS e,
         LATERAL (SELECT convert_from(e.state, 'UTF8')::jsonb AS doc OFFSET 0) AS d
    WHERE e.position <= %s AND e.topic = %s AND e.stream_id BETWEEN %s AND %s
), steps AS (
    SELECT l.position_id,
           coalesce(sum(l.amount), 0) AS released,
           (array_agg(ARRAY[l.to_state, l.at::text] ORDER BY l.seq DESC))[1:1] AS last
    FROM {position_lifecycle} AS l
    WHERE l.position_id BETWEEN %s AND %s
    GROUP BY l.position_id
), joined AS (
    -- A FULL JOIN is always a hash or merge join: never a nested loop over the whole log.
    SELECT c.stream_id AS opened, c.doc, c.at, s.released, s.last
    FROM created AS c FULL JOIN steps AS s ON s.position_id = c.stream_id
), inserted AS (
    INSERT INTO {positions} (id, institution_id, asset_id, template_id, holder_reference,
                             currency, amount, released_amount, state, external_reference,
                             created_at, updated_at)
    SELECT j.opened,
           (j.doc->'institution_id'->>'_data_')::uuid,
           (j.doc->'asset_id'->>'_data_')::uuid,
           (j.doc->'template_id'->>'_data_')::uuid,
           j.doc->>'holder_reference',
           j.doc->>'currency',
           (j.doc->'amount'->>'_data_')::numeric,
           coalesce(j.released, 0),
           coalesce(j.last[1][1], 'CREATED'),
           j.doc->>'external_reference',
           j.at,
           coalesce(j.last[1][2]::timestamptz, j.at)
    FROM joined AS j WHERE j.opened IS NOT NULL
)
SELECT CASE  -- (the INSERT above runs to completion whatever this part reads)
    WHEN EXISTS (SELECT 1 FROM created WHERE (doc->>'class_version')::int > %s)
        THEN 'a Position.Created payload has a class_version newer than this read side knows'
    WHEN EXISTS (SELECT 1 FROM joined WHERE opened IS NULL)
        THEN 'moves of positions the log never opened'
END
"""

# Lifecycle steps: the transitions only (the contract's `events`; the creation is not one).
# Metadata as jsonb prints a transcoded Decimal as
# {"_data_": "1.5", "_type_": "decimal_str"}: the domain refuses user objects holding either key
# and jsonb escapes quotes inside strings, so the opening and closing texts below only ever
# occur together around a Decimal's digits, and removing both leaves the JSON number that
# payloads.plain_json writes on the live path (a plain replace: a regular expression cost 16 us
# a row). The other transcoded types never occur in metadata.
LIFECYCLE = """
INSERT INTO {position_lifecycle} (position_id, seq, id, from_state, to_state, reason, at,
                                  metadata, amount)
SELECT e.stream_id,
       e.version,
       d.doc->>'entry_id',
       d.doc->>'from_state',
       d.doc->>'to_state',
       d.doc->>'reason',
       (d.doc->'timestamp'->>'_data_')::timestamptz,
       CASE WHEN jsonb_typeof(d.doc->'metadata') IS DISTINCT FROM 'object' THEN NULL
            WHEN strpos((d.doc->'metadata')::text, '"_type_": "decimal_str"}}') = 0
                THEN d.doc->'metadata'
            ELSE replace(replace((d.doc->'metadata')::text, '{{"_data_": "', ''),
                         '", "_type_": "decimal_str"}}', '')::jsonb
       END,
       nullif((d.doc->'released'->>'_data_')::numeric, 0)
FROM events AS e,
     LATERAL (SELECT convert_from(e.state, 'UTF8')::jsonb AS doc OFFSET 0) AS d
WHERE e.position <= %s AND e.topic = %s AND e.stream_id BETWEEN %s AND %s
"""

PARTS = 2  # statements per wave: both cores busy to the end of each


def _ranges(parts: int) -> list[tuple[UUID, UUID]]:
    """Disjoint inclusive [low, high] ranges of UUIDs that together cover every UUID."""
    step = (1 << 128) // parts
    lows = [i * step for i in range(parts)]
    highs = [low - 1 for low in lows[1:]] + [(1 << 128) - 1]
    return [(UUID(int=low), UUID(int=high)) for low, high in zip(lows, highs, strict=True)]


def statements(target: Target, upto: int) -> list[list[tuple[str, list[Any]]]]:
    """Waves of (statement, params): the lifecycle, then the positions folded from it. The
    statements of a wave run at the same time, each in its own transaction; one returning a
    non-NULL text names a problem, and its transaction must roll back."""
    steps = [upto, POSITION_MOVED]
    ranges = _ranges(PARTS)
    lifecycle = [(target.sql(LIFECYCLE), [*steps, low, high]) for low, high in ranges]
    positions = [
        (target.sql(POSITIONS), [upto, POSITION_CREATED, low, high, low, high, CREATED_VERSION])
        for low, high in ranges
    ]
    return [lifecycle, positions]
