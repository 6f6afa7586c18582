-- The append-only event log: the one source of truth of the ledger.
CREATE TABLE events (
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id   uuid        NOT NULL,
    version     integer     NOT NULL CHECK (version >= 1),
    topic       text        NOT NULL,
    state       bytea       NOT NULL,
    tenant_id   uuid,
    meta        jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    prev_hash   bytea       CHECK (prev_hash IS NULL OR length(prev_hash) = 32),
    hash        bytea       NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT events_stream_version UNIQUE (stream_id, version),
    CONSTRAINT events_chain_start CHECK ((version = 1) = (prev_hash IS NULL))
);

CREATE INDEX events_tenant_position ON events (tenant_id, position);
CREATE INDEX events_recorded_at ON events USING brin (recorded_at);

-- Immutability is enforced by the database itself, whatever the client.
CREATE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on events is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Idempotency records: written in the same transaction as the command's events.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       smallint    NOT NULL,
    response     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Appends one batch of commands in one round trip, under the table lock that keeps positions
-- in commit order for followers. Each request is accepted whole or refused alone:
--   outcome 'appended' (one row per event, with its position), 'conflict' (a stream moved on:
--   detail names it), 'replay' (the idempotency key's earlier answer), 'mismatch' (key reused
--   with another request). Hashes chain each event to its stream's previous one:
--   sha256(prev_hash or 32 zero bytes || framed(stream_id, version, topic, state, meta)),
--   every field framed by its 4-byte big-endian length (escrowgrid/eventlog/hashing.py).
-- It commits asynchronously: the caller waits for durability before answering anyone.
CREATE FUNCTION append_batch(
    p_requests     integer,
    p_request      integer[], p_stream uuid[], p_version integer[], p_topic text[],
    p_state        bytea[],   p_tenant uuid[], p_meta bytea[],
    p_read_request integer[], p_read_stream uuid[], p_read_version integer[],
    p_key_request  integer[], p_key_scope text[], p_key text[], p_key_hash bytea[],
    p_key_status   integer[], p_key_body bytea[]
) RETURNS TABLE (request integer, outcome text, pos bigint, detail text, status integer, body bytea)
LANGUAGE plpgsql AS $$
DECLARE
    r integer;
    i integer;
    k integer;
    n_events integer := coalesce(array_length(p_request, 1), 0);
    n_reads integer := coalesce(array_length(p_read_request, 1), 0);
    n_keys integer := coalesce(array_length(p_key_request, 1), 0);
    head_version integer;
    head_hash bytea;
    found_hash bytea;
    found_status integer;
    found_body bytea;
    refused text;
    prevs bytea[];
    hashes bytea[];
    last_pos bigint := NULL;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    LOCK TABLE events IN EXCLUSIVE MODE;
    prevs := array_fill(NULL::bytea, ARRAY[greatest(n_events, 1)]);
    hashes := array_fill(NULL::bytea, ARRAY[greatest(n_events, 1)]);
    FOR r IN 1 .. p_requests LOOP
        refused := NULL;
        -- An idempotency key already used answers for this request.
        FOR k IN 1 .. n_keys LOOP
            CONTINUE WHEN p_key_request[k] <> r;
            SELECT ik.request_hash, ik.status, ik.response INTO found_hash, found_status, found_body
              FROM idempotency_keys ik WHERE ik.scope = p_key_scope[k] AND ik.key = p_key[k];
            IF FOUND THEN
                IF found_hash = p_key_hash[k] THEN
                    request := r; outcome := 'replay'; pos := NULL; detail := NULL;
                    status := found_status; body := found_body;
                ELSE
                    request := r; outcome := 'mismatch'; pos := NULL; detail := p_key[k];
                    status := NULL; body := NULL;
                END IF;
                RETURN NEXT;
                refused := 'key';
            END IF;
        END LOOP;
        CONTINUE WHEN refused IS NOT NULL;
        -- Streams the decision read must still be where it saw them.
        FOR i IN 1 .. n_reads LOOP
            CONTINUE WHEN p_read_request[i] <> r;
            SELECT coalesce(max(e.version), 0) INTO head_version
              FROM events e WHERE e.stream_id = p_read_stream[i];
            IF head_version <> p_read_version[i] THEN
                refused := p_read_stream[i]::text || ':' || p_read_version[i] || ':' || head_version;
                EXIT;
            END IF;
        END LOOP;
        -- Each event must follow its stream's head (earlier events of this request included).
        IF refused IS NULL THEN
            FOR i IN 1 .. n_events LOOP
                CONTINUE WHEN p_request[i] <> r;
                head_version := 0; head_hash := NULL;
                SELECT e.version, e.hash INTO head_version, head_hash
                  FROM events e WHERE e.stream_id = p_stream[i]
                 ORDER BY e.version DESC LIMIT 1;
                FOR k IN 1 .. i - 1 LOOP  -- an earlier event of the same request and stream
                    IF p_request[k] = r AND p_stream[k] = p_stream[i] THEN
                        head_version := p_version[k]; head_hash := hashes[k];
                    END IF;
                END LOOP;
                head_version := coalesce(head_version, 0);
                IF p_version[i] <> head_version + 1 THEN
                    refused := p_stream[i]::text || ':' || (p_version[i] - 1) || ':' || head_version;
                    EXIT;
                END IF;
                prevs[i] := head_hash;
                hashes[i] := sha256(
                    coalesce(head_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
                    || int4send(16) || uuid_send(p_stream[i])
                    || int4send(8) || int8send(p_version[i]::bigint)
                    || int4send(octet_length(convert_to(p_topic[i], 'UTF8'))) || convert_to(p_topic[i], 'UTF8')
                    || int4send(octet_length(p_state[i])) || p_state[i]
                    || int4send(octet_length(p_meta[i])) || p_meta[i]
                );
            END LOOP;
        END IF;
        IF refused IS NOT NULL THEN
            request := r; outcome := 'conflict'; pos := NULL; detail := refused;
            status := NULL; body := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        FOR i IN 1 .. n_events LOOP
            CONTINUE WHEN p_request[i] <> r;
            INSERT INTO events (stream_id, version, topic, state, tenant_id, meta, prev_hash, hash)
            VALUES (p_stream[i], p_version[i], p_topic[i], p_state[i], p_tenant[i],
                    convert_from(p_meta[i], 'UTF8')::jsonb, prevs[i], hashes[i])
            RETURNING events.position INTO last_pos;
            request := r; outcome := 'appended'; pos := last_pos; detail := NULL;
            status := NULL; body := NULL;
            RETURN NEXT;
        END LOOP;
        FOR k IN 1 .. n_keys LOOP
            CONTINUE WHEN p_key_request[k] <> r;
            INSERT INTO idempotency_keys (scope, key, request_hash, status, response)
            VALUES (p_key_scope[k], p_key[k], p_key_hash[k], p_key_status[k], p_key_body[k]);
        END LOOP;
    END LOOP;
    IF last_pos IS NOT NULL THEN
        PERFORM pg_notify('escrowgrid_events', last_pos::text);
    END IF;
END;
$$;
