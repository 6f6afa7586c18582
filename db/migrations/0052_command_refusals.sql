-- Commands the service refused (a 4xx to a caller with a valid key), for the audit trail.
-- Kept apart from the event log like auth_failures: a refused command changes nothing in the
-- ledger, so it is no event and no projection; rebuild and `verify` leave this table alone.
-- Rows are only inserted; prune by `at` as the audit policy says (docs/operations.md).
-- Ids count down from -1: disjoint from the log positions that number accepted commands, so
-- the audit trail orders both by (at, id) straight from these indexes, ties impossible.
CREATE TABLE command_refusals (
    id             bigint      GENERATED ALWAYS AS IDENTITY (START WITH -1 INCREMENT BY -1)
                               PRIMARY KEY,
    at             timestamptz NOT NULL,
    actor_key_id   text        NOT NULL,
    actor_role     text        NOT NULL,
    institution_id uuid,
    action         text,
    route          text,
    method         text        NOT NULL,
    path           text        NOT NULL,
    status         smallint    NOT NULL CHECK (status BETWEEN 400 AND 499),
    error_code     text        NOT NULL,
    error          text        NOT NULL,
    details        jsonb,
    request_id     text,
    client_addr    text
);

CREATE INDEX command_refusals_at ON command_refusals (at, id);
CREATE INDEX command_refusals_institution_at ON command_refusals (institution_id, at, id);
CREATE INDEX command_refusals_action ON command_refusals (action, at, id);
