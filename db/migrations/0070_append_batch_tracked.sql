-- Inline projection (projections/runner/inline.py): the read models a command's answer needs
-- are written in the append transaction itself. This wraps append_batch: under the same table
-- lock it first reports the head of the log before the batch ('head') and row-locks the
-- tracking rows of the inline models ('tracked', detail = name, pos = position), so the caller
-- knows whether those models have passed everything before its events (then it projects just
-- the batch) or must catch up first. The rows of append_batch follow unchanged.
CREATE FUNCTION append_batch_tracked(
    p_track        text[],
    p_requests     integer,
    p_request      integer[], p_stream uuid[], p_version integer[], p_topic text[],
    p_state        bytea[],   p_tenant uuid[], p_meta bytea[],
    p_read_request integer[], p_read_stream uuid[], p_read_version integer[],
    p_key_request  integer[], p_key_scope text[], p_key text[], p_key_hash bytea[],
    p_key_status   integer[], p_key_body bytea[]
) RETURNS TABLE (request integer, outcome text, pos bigint, detail text, status integer, body bytea)
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    LOCK TABLE events IN EXCLUSIVE MODE;
    request := 0; outcome := 'head'; detail := NULL; status := NULL; body := NULL;
    SELECT coalesce(max(e.position), 0) INTO pos FROM events e;
    RETURN NEXT;
    FOR t IN
        SELECT pt.name, pt.position FROM projection_tracking pt
         WHERE pt.name = ANY(p_track) ORDER BY pt.name FOR UPDATE
    LOOP
        request := 0; outcome := 'tracked'; pos := t.position; detail := t.name;
        RETURN NEXT;
    END LOOP;
    RETURN QUERY SELECT * FROM append_batch(
        p_requests, p_request, p_stream, p_version, p_topic, p_state, p_tenant, p_meta,
        p_read_request, p_read_stream, p_read_version,
        p_key_request, p_key_scope, p_key, p_key_hash, p_key_status, p_key_body);
END;
$$;
