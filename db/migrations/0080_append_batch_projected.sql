-- Inline projection done by the database (projections/runner/inline.py): append_batch, then
-- positions, position_lifecycle and ledger_events built from the events the log holds past
-- their tracking rows, and those rows advanced, all in one call under the event-table lock.
-- Why in SQL: the Python planner between append_batch_tracked and COMMIT cost a second round
-- trip and its decoding while every other writer waited on the lock (docs/performance.md,
-- issue 15). The expressions are those of the rebuild's set-based phase
-- (projections/positions/bulk.py) and of the live planners they replace; the rebuild-equals-live
-- tests compare the rows.
--
-- The projection runs in a subtransaction (the EXCEPTION block): a batch these models cannot
-- project keeps its events, the models stay where they were, and the function says why in a
-- 'projection_failed' row (detail = the error); the next call tries again from the tracking
-- rows, as the runner does for an asynchronous model. A 'projected' row per model gives its new
-- position (pos) and the events it consumed (status).
CREATE FUNCTION project_positions_inline(
    p_positions_from bigint, p_ledger_from bigint, p_upto bigint,
    p_created_topic text, p_moved_topic text, p_created_version integer
) RETURNS TABLE (positions_consumed integer, ledger_consumed integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_from   bigint := least(p_positions_from, p_ledger_from);
    v_moved  integer;
    v_held   integer;
    v_newer  boolean;
BEGIN
    WITH batch AS MATERIALIZED (
        SELECT e.position, e.stream_id, e.version, e.topic, e.tenant_id, d.doc,
               (d.doc->'timestamp'->>'_data_')::timestamptz AS at
        FROM events AS e,
             LATERAL (SELECT convert_from(e.state, 'UTF8')::jsonb AS doc OFFSET 0) AS d
        WHERE e.position > v_from AND e.position <= p_upto
          AND e.topic IN (p_created_topic, p_moved_topic)
    ), steps AS MATERIALIZED (
        -- Metadata as jsonb prints a transcoded Decimal as {"_data_": "1.5", "_type_":
        -- "decimal_str"}; removing both texts leaves the JSON number the live path wrote
        -- (the reasoning is bulk.py's LIFECYCLE statement's).
        SELECT b.position, b.stream_id, b.version, b.doc->>'entry_id' AS entry_id,
               b.doc->>'from_state' AS from_state, b.doc->>'to_state' AS to_state,
               b.doc->>'reason' AS reason, b.at,
               CASE WHEN jsonb_typeof(b.doc->'metadata') IS DISTINCT FROM 'object' THEN NULL
                    WHEN strpos((b.doc->'metadata')::text, '"_type_": "decimal_str"}') = 0
                        THEN b.doc->'metadata'
                    ELSE replace(replace((b.doc->'metadata')::text, '{"_data_": "', ''),
                                 '", "_type_": "decimal_str"}', '')::jsonb
               END AS metadata,
               (b.doc->'released'->>'_data_')::numeric AS released
        FROM batch AS b WHERE b.topic = p_moved_topic
    ), opened AS MATERIALIZED (
        SELECT b.stream_id, b.doc, b.at FROM batch AS b
        WHERE b.topic = p_created_topic AND b.position > p_positions_from
    ), folded AS MATERIALIZED (
        -- A position's steps past the tracking row: state and time of the last, money of all.
        SELECT s.stream_id, coalesce(sum(s.released), 0) AS released,
               (array_agg(s.to_state ORDER BY s.version DESC))[1] AS state,
               (array_agg(s.at ORDER BY s.version DESC))[1] AS at
        FROM steps AS s WHERE s.position > p_positions_from
        GROUP BY s.stream_id
    ), lifecycle AS (
        INSERT INTO position_lifecycle (position_id, seq, id, from_state, to_state, reason, at,
                                        metadata, amount)
        SELECT s.stream_id, s.version, s.entry_id, s.from_state, s.to_state, s.reason, s.at,
               s.metadata, nullif(s.released, 0)
        FROM steps AS s WHERE s.position > p_positions_from
    ), inserted AS (
        INSERT INTO positions (id, institution_id, asset_id, template_id, holder_reference,
                               currency, amount, released_amount, state, external_reference,
                               created_at, updated_at)
        SELECT o.stream_id,
               (o.doc->'institution_id'->>'_data_')::uuid,
               (o.doc->'asset_id'->>'_data_')::uuid,
               (o.doc->'template_id'->>'_data_')::uuid,
               o.doc->>'holder_reference',
               o.doc->>'currency',
               (o.doc->'amount'->>'_data_')::numeric,
               coalesce(f.released, 0),
               coalesce(f.state, 'CREATED'),
               o.doc->>'external_reference',
               o.at,
               coalesce(f.at, o.at)
        FROM opened AS o LEFT JOIN folded AS f ON f.stream_id = o.stream_id
    ), updated AS (
        -- Positions opened before the range: the statement's snapshot does not show the rows
        -- inserted above, so those are left out here (their steps are folded in above).
        UPDATE positions AS p
        SET state = f.state, released_amount = p.released_amount + f.released,
            updated_at = f.at
        FROM folded AS f
        WHERE p.id = f.stream_id
          AND NOT EXISTS (SELECT 1 FROM opened AS o WHERE o.stream_id = f.stream_id)
        RETURNING 1
    ), feed AS (
        -- Amounts as canonical decimal strings, as in every answer ("12.5", not "12.50").
        INSERT INTO ledger_events (log_position, id, kind, position_id, institution_id, at,
                                   previous_state, new_state, payload)
        SELECT b.position, b.doc->>'entry_id',
               CASE WHEN b.topic = p_created_topic THEN 'POSITION_CREATED'
                    ELSE 'POSITION_STATE_CHANGED' END,
               b.stream_id, b.tenant_id, b.at,
               CASE WHEN b.topic = p_created_topic THEN NULL ELSE b.doc->>'from_state' END,
               CASE WHEN b.topic = p_created_topic THEN 'CREATED' ELSE b.doc->>'to_state' END,
               CASE WHEN b.topic = p_created_topic THEN jsonb_build_object(
                        'institutionId', (b.doc->'institution_id'->>'_data_')::uuid::text,
                        'assetId', (b.doc->'asset_id'->>'_data_')::uuid::text,
                        'templateId', (b.doc->'template_id'->>'_data_')::uuid::text,
                        'holderReference', b.doc->'holder_reference',
                        'currency', b.doc->'currency',
                        'amount', trim_scale((b.doc->'amount'->>'_data_')::numeric)::text,
                        'externalReference', b.doc->'external_reference')
                    ELSE jsonb_build_object(
                        'reason', b.doc->'reason',
                        'metadata', s.metadata,
                        'amount', CASE WHEN s.released = 0 THEN NULL
                                       ELSE trim_scale(s.released)::text END)
               END
        FROM batch AS b LEFT JOIN steps AS s ON s.position = b.position
        WHERE b.position > p_ledger_from
    )
    SELECT (SELECT count(*) FROM batch WHERE position > p_positions_from),
           (SELECT count(*) FROM batch WHERE position > p_ledger_from),
           (SELECT count(*) FROM folded AS f
             WHERE NOT EXISTS (SELECT 1 FROM opened AS o WHERE o.stream_id = f.stream_id)),
           (SELECT count(*) FROM updated),
           EXISTS (SELECT 1 FROM opened
                    WHERE coalesce((doc->>'class_version')::int, 1) > p_created_version)
      INTO positions_consumed, ledger_consumed, v_moved, v_held, v_newer;
    IF v_newer THEN
        RAISE EXCEPTION 'a Position.Created payload has a class_version newer than this read side knows';
    END IF;
    IF v_held <> v_moved THEN
        RAISE EXCEPTION 'moves of positions the read model does not hold: % of %',
            v_moved - v_held, v_moved;
    END IF;
    RETURN NEXT;
END;
$$;

CREATE FUNCTION append_batch_projected(
    p_positions_name text, p_ledger_name text,
    p_created_topic text, p_moved_topic text, p_created_version integer,
    p_requests     integer,
    p_request      integer[], p_stream uuid[], p_version integer[], p_topic text[],
    p_state        bytea[],   p_tenant uuid[], p_meta bytea[],
    p_read_request integer[], p_read_stream uuid[], p_read_version integer[],
    p_key_request  integer[], p_key_scope text[], p_key text[], p_key_hash bytea[],
    p_key_status   integer[], p_key_body bytea[]
) RETURNS TABLE (request integer, outcome text, pos bigint, detail text, status integer, body bytea)
LANGUAGE plpgsql AS $$
DECLARE
    v_positions bigint := 0;
    v_ledger    bigint := 0;
    v_head      bigint;
    t           record;
    c           record;
BEGIN
    LOCK TABLE events IN EXCLUSIVE MODE;
    FOR t IN
        SELECT pt.name, pt.position FROM projection_tracking pt
         WHERE pt.name IN (p_positions_name, p_ledger_name) ORDER BY pt.name FOR UPDATE
    LOOP
        IF t.name = p_positions_name THEN v_positions := t.position; END IF;
        IF t.name = p_ledger_name THEN v_ledger := t.position; END IF;
    END LOOP;
    RETURN QUERY SELECT * FROM append_batch(
        p_requests, p_request, p_stream, p_version, p_topic, p_state, p_tenant, p_meta,
        p_read_request, p_read_stream, p_read_version,
        p_key_request, p_key_scope, p_key, p_key_hash, p_key_status, p_key_body);
    SELECT coalesce(max(e.position), 0) INTO v_head FROM events e;
    IF least(v_positions, v_ledger) >= v_head THEN
        RETURN;
    END IF;
    request := 0; status := NULL; body := NULL;
    BEGIN
        SELECT * INTO c FROM project_positions_inline(
            v_positions, v_ledger, v_head, p_created_topic, p_moved_topic, p_created_version);
        INSERT INTO projection_tracking AS pt (name, position)
        VALUES (p_positions_name, greatest(v_positions, v_head)),
               (p_ledger_name, greatest(v_ledger, v_head))
        ON CONFLICT (name) DO UPDATE
            SET position = excluded.position, updated_at = clock_timestamp();
    EXCEPTION WHEN OTHERS THEN
        outcome := 'projection_failed'; pos := v_head; detail := SQLERRM;
        RETURN NEXT;
        RETURN;
    END;
    outcome := 'projected'; pos := greatest(v_positions, v_head);
    detail := p_positions_name; status := c.positions_consumed;
    RETURN NEXT;
    pos := greatest(v_ledger, v_head); detail := p_ledger_name; status := c.ledger_consumed;
    RETURN NEXT;
END;
$$;
