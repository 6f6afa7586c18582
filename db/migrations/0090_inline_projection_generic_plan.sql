-- The inline projection's statement is planned once per session, not on every append. Left to
-- plan_cache_mode = auto, PL/pgSQL compared the generic plan's estimate for an unknown position
-- range (a default share of the whole log) with the custom plans' (a handful of rows), kept
-- choosing custom plans, and so planned the six-part statement again on every call: about
-- 0.3 ms of PostgreSQL's CPU per append once the log holds some 300,000 events, against 0.04 ms
-- for the whole call on a generic plan (docs/performance.md, seventh wave). The generic plan
-- reaches the log only by its primary key range and positions only by id, whatever the range.
ALTER FUNCTION project_positions_inline(bigint, bigint, bigint, text, text, integer)
    SET plan_cache_mode = force_generic_plan;
