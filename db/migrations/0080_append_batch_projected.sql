-- Inline projection done by the database (projections/runner/inline.py): append_batch, then
-- positions (with position_lifecycle), ledger_events, audit_events and ledger_digest built from
-- the events the log holds past their tracking rows, and those rows advanced, all in one call
-- under the event-table lock. Why in SQL: the Python planner between append_batch_tracked and
-- COMMIT cost a second round trip and its decoding while every other writer waited on the
-- lock, and the runner's batches for the audit and digest models cost a tenth of a command's
-- CPU and most of the projection lag (docs/performance.md, issue 15). The expressions are
-- those of the rebuild's set-based phase (projections/positions/bulk.py) and of the Python
-- projectors a rebuild runs; the rebuild-equals-live tests compare the rows.
--
-- Each model (positions and the feed together, as they read the same payloads) is projected
-- in a subtransaction (an EXCEPTION block): a batch it cannot project keeps its events, the
-- model stays where it was, and the function says why in a 'projection_failed' row (detail =
-- the model, body = the error); the next call tries again from its tracking row, as the runner
-- does for an asynchronous model, and the other models go on. A 'projected' row per model
-- gives its new position (pos) and the events it consumed (status).
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

-- audit_events: one row per command, a command being a run of consecutive events with the
-- same metadata (projections/audit_events/projector.py); a run that continues the last row
-- (a command split across two calls) extends it.
CREATE FUNCTION project_audit_inline(p_from bigint, p_upto bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_last_first bigint;
    v_last_meta  jsonb;
    v_consumed   integer;
BEGIN
    SELECT a.first_position, a.meta INTO v_last_first, v_last_meta
    FROM audit_events AS a ORDER BY a.first_position DESC LIMIT 1;
    WITH batch AS MATERIALIZED (
        SELECT e.position, e.stream_id, e.tenant_id, e.recorded_at, e.meta,
               CASE WHEN lag(e.meta) OVER (ORDER BY e.position) IS NOT DISTINCT FROM e.meta
                    THEN 0 ELSE 1 END AS starts
        FROM events AS e WHERE e.position > p_from AND e.position <= p_upto
    ), numbered AS MATERIALIZED (
        SELECT b.*, sum(b.starts) OVER (ORDER BY b.position) AS run FROM batch AS b
    ), seen AS (
        SELECT n.run, n.stream_id, min(n.position) AS first_seen
        FROM numbered AS n GROUP BY n.run, n.stream_id
    ), runs AS MATERIALIZED (
        SELECT n.run, min(n.position) AS first_position, max(n.position) AS last_position,
               count(*)::integer AS event_count,
               (array_agg(n.meta ORDER BY n.position))[1] AS meta,
               (array_agg(n.tenant_id ORDER BY n.position))[1] AS tenant_id,
               (array_agg(n.recorded_at ORDER BY n.position))[1] AS at,
               (SELECT array_agg(s.stream_id ORDER BY s.first_seen) FROM seen AS s
                 WHERE s.run = n.run) AS stream_ids,
               coalesce(n.run = 1 AND (array_agg(n.meta ORDER BY n.position))[1] = v_last_meta,
                        false) AS continues
        FROM numbered AS n GROUP BY n.run
    ), extended AS (
        UPDATE audit_events AS a
        SET last_position = r.last_position,
            stream_ids = (SELECT array_agg(d.sid ORDER BY d.o) FROM (
                             SELECT DISTINCT ON (u.sid) u.sid, u.o
                             FROM unnest(a.stream_ids || r.stream_ids) WITH ORDINALITY AS u(sid, o)
                             ORDER BY u.sid, u.o) AS d),
            event_count = a.event_count + r.event_count
        FROM runs AS r
        WHERE r.continues AND a.first_position = v_last_first
    ), inserted AS (
        INSERT INTO audit_events (first_position, last_position, action, actor_key_id,
                                  actor_role, institution_id, request_id, client_addr, at,
                                  stream_ids, event_count, meta)
        SELECT r.first_position, r.last_position, r.meta->>'action', r.meta->>'actorKeyId',
               r.meta->>'actorRole', r.tenant_id, r.meta->>'requestId', r.meta->>'clientAddr',
               r.at, r.stream_ids, r.event_count, r.meta
        FROM runs AS r WHERE NOT r.continues
    )
    SELECT count(*) INTO v_consumed FROM batch;
    RETURN v_consumed;
END;
$$;

-- ledger_digest: eventlog.hashing.digest_step folded over each event's hash in log order.
CREATE FUNCTION project_digest_inline(p_from bigint, p_upto bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_position bigint;
    v_digest   bytea;
    v_count    bigint;
    v_folded   integer := 0;
    e          record;
BEGIN
    SELECT d.position, d.digest, d.event_count INTO v_position, v_digest, v_count
    FROM ledger_digest AS d WHERE d.id;
    IF NOT FOUND THEN
        v_position := 0; v_digest := decode(repeat('00', 32), 'hex'); v_count := 0;
    END IF;
    FOR e IN
        SELECT ev.position, ev.hash FROM events AS ev
        WHERE ev.position > p_from AND ev.position <= p_upto ORDER BY ev.position
    LOOP
        IF e.position <= v_position THEN
            RAISE EXCEPTION 'ledger digest at % given event %', v_position, e.position;
        END IF;
        v_digest := sha256(v_digest || int8send(e.position) || e.hash);
        v_position := e.position;
        v_folded := v_folded + 1;
    END LOOP;
    IF v_folded > 0 THEN
        INSERT INTO ledger_digest AS d (id, position, digest, event_count)
        VALUES (true, v_position, v_digest, v_count + v_folded)
        ON CONFLICT (id) DO UPDATE
        SET position = excluded.position, digest = excluded.digest,
            event_count = excluded.event_count;
    END IF;
    RETURN v_folded;
END;
$$;

-- p_names: the tracking names of positions, ledger_events, audit_events and ledger_digest.
CREATE FUNCTION append_batch_projected(
    p_names        text[],
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
    v_from     bigint[] := ARRAY[0, 0, 0, 0];
    v_consumed integer[];
    v_head     bigint;
    v_error    text;
    t          record;
    c          record;
BEGIN
    LOCK TABLE events IN EXCLUSIVE MODE;
    FOR t IN
        SELECT pt.name, pt.position FROM projection_tracking pt
         WHERE pt.name = ANY(p_names) ORDER BY pt.name FOR UPDATE
    LOOP
        v_from[array_position(p_names, t.name)] := t.position;
    END LOOP;
    RETURN QUERY SELECT * FROM append_batch(
        p_requests, p_request, p_stream, p_version, p_topic, p_state, p_tenant, p_meta,
        p_read_request, p_read_stream, p_read_version,
        p_key_request, p_key_scope, p_key, p_key_hash, p_key_status, p_key_body);
    SELECT coalesce(max(e.position), 0) INTO v_head FROM events e;
    IF (SELECT min(f) FROM unnest(v_from) AS f) >= v_head THEN
        RETURN;
    END IF;
    -- Each group in its own subtransaction: a batch one cannot project stalls it alone.
    request := 0; status := NULL; body := NULL;
    v_consumed := ARRAY[NULL, NULL, NULL, NULL]::integer[];
    BEGIN
        SELECT * INTO c FROM project_positions_inline(
            v_from[1], v_from[2], v_head, p_created_topic, p_moved_topic, p_created_version);
        v_consumed[1] := c.positions_consumed;
        v_consumed[2] := c.ledger_consumed;
    EXCEPTION WHEN OTHERS THEN
        v_error := SQLERRM;
        FOR i IN 1 .. 2 LOOP
            outcome := 'projection_failed'; pos := v_from[i]; detail := p_names[i];
            body := convert_to(v_error, 'UTF8');
            RETURN NEXT;
        END LOOP;
    END;
    BEGIN
        v_consumed[3] := project_audit_inline(v_from[3], v_head);
    EXCEPTION WHEN OTHERS THEN
        outcome := 'projection_failed'; pos := v_from[3]; detail := p_names[3];
        body := convert_to(SQLERRM, 'UTF8');
        RETURN NEXT;
    END;
    BEGIN
        v_consumed[4] := project_digest_inline(v_from[4], v_head);
    EXCEPTION WHEN OTHERS THEN
        outcome := 'projection_failed'; pos := v_from[4]; detail := p_names[4];
        body := convert_to(SQLERRM, 'UTF8');
        RETURN NEXT;
    END;
    INSERT INTO projection_tracking AS pt (name, position)
    SELECT n.name, greatest(v_from[n.i], v_head)
    FROM unnest(p_names) WITH ORDINALITY AS n(name, i)
    WHERE v_consumed[n.i] IS NOT NULL
    ON CONFLICT (name) DO UPDATE
        SET position = excluded.position, updated_at = clock_timestamp();
    outcome := 'projected'; body := NULL;
    FOR i IN 1 .. array_length(p_names, 1) LOOP
        CONTINUE WHEN v_consumed[i] IS NULL;
        pos := greatest(v_from[i], v_head); detail := p_names[i]; status := v_consumed[i];
        RETURN NEXT;
    END LOOP;
END;
$$;
