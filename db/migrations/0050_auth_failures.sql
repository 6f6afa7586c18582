-- Failed authentications, for the audit trail: who knocked, from where, never the token.
-- Kept apart from the event log: a refused request changes nothing in the ledger.
CREATE TABLE auth_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    reason      text        NOT NULL CHECK (reason IN ('missing', 'invalid', 'root_address')),
    method      text,
    path        text,
    client_addr text,
    request_id  text
);

CREATE INDEX auth_failures_at ON auth_failures (at);
