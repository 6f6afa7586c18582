-- Read models: tables the projectors in projections/ build from the event log, and nothing else
-- writes. Any of them can be dropped and rebuilt from the log (`escrowgrid projections rebuild`).
-- Money is numeric(28,8): exact, 8 places, room for 10^15 and sums of it. No foreign keys: each
-- read model is rebuilt on its own and swapped in whole.

-- Where each projector has got to in the log, written in the same transaction as its rows.
CREATE TABLE projection_tracking (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    event_at   timestamptz,  -- recorded_at of the last event passed, for lag in seconds
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE institutions (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    regions    text[]      NOT NULL,
    verticals  text[]      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX institutions_created ON institutions (created_at, id);

-- Authentication looks keys up by hash on every request; tokens are never stored.
CREATE TABLE api_keys (
    institution_id uuid        NOT NULL,
    id             text        NOT NULL,
    label          text        NOT NULL,
    role           text        NOT NULL,
    key_hash       text        NOT NULL,
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    PRIMARY KEY (institution_id, id)
);
CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash);
CREATE INDEX api_keys_active ON api_keys (institution_id, created_at, id) WHERE revoked_at IS NULL;

CREATE TABLE asset_templates (
    id             uuid        PRIMARY KEY,
    institution_id uuid        NOT NULL,
    code           text        NOT NULL,
    name           text        NOT NULL,
    vertical       text        NOT NULL,
    region         text        NOT NULL,
    config         jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX asset_templates_created ON asset_templates (created_at, id);
CREATE INDEX asset_templates_institution ON asset_templates (institution_id, created_at, id);

CREATE TABLE assets (
    id             uuid        PRIMARY KEY,
    institution_id uuid        NOT NULL,
    template_id    uuid        NOT NULL,
    label          text        NOT NULL,
    metadata       jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX assets_created ON assets (created_at, id);
CREATE INDEX assets_institution ON assets (institution_id, created_at, id);
CREATE INDEX assets_template ON assets (template_id, created_at, id);

CREATE TABLE positions (
    id                 uuid          PRIMARY KEY,
    institution_id     uuid          NOT NULL,
    asset_id           uuid          NOT NULL,
    template_id        uuid          NOT NULL,
    holder_reference   text          NOT NULL,
    currency           text          NOT NULL,
    amount             numeric(28,8) NOT NULL CHECK (amount > 0),
    released_amount    numeric(28,8) NOT NULL
        CHECK (released_amount >= 0 AND released_amount <= amount),
    remaining_amount   numeric(28,8) GENERATED ALWAYS AS (amount - released_amount) STORED,
    state              text          NOT NULL,
    external_reference text,
    created_at         timestamptz   NOT NULL,
    updated_at         timestamptz   NOT NULL
);
CREATE INDEX positions_created ON positions (created_at, id);
CREATE INDEX positions_institution ON positions (institution_id, created_at, id);
CREATE INDEX positions_institution_holder
    ON positions (institution_id, holder_reference, created_at, id);
CREATE INDEX positions_asset ON positions (asset_id, created_at, id);
CREATE INDEX positions_holder ON positions (holder_reference, created_at, id);

-- One row per step of a position's life; seq is the version of the event that made it.
CREATE TABLE position_lifecycle (
    position_id uuid          NOT NULL,
    seq         integer       NOT NULL,
    id          text          NOT NULL,
    from_state  text,
    to_state    text          NOT NULL,
    reason      text,
    at          timestamptz   NOT NULL,
    metadata    jsonb,
    amount      numeric(28,8),  -- money released by this step; NULL when none
    PRIMARY KEY (position_id, seq)
);

-- The contract's LedgerEvent feed, in log order.
CREATE TABLE ledger_events (
    log_position   bigint      PRIMARY KEY,
    id             text        NOT NULL,
    kind           text        NOT NULL
        CHECK (kind IN ('POSITION_CREATED', 'POSITION_STATE_CHANGED')),
    position_id    uuid        NOT NULL,
    institution_id uuid        NOT NULL,
    at             timestamptz NOT NULL,
    previous_state text,
    new_state      text,
    payload        jsonb       NOT NULL
);
CREATE INDEX ledger_events_position_id ON ledger_events (position_id, log_position);
CREATE INDEX ledger_events_institution ON ledger_events (institution_id, log_position);

CREATE TABLE policies (
    id                 uuid        PRIMARY KEY,
    institution_id     uuid        NOT NULL,
    region             text        NOT NULL,
    min_amount         numeric(28,8),
    max_amount         numeric(28,8),
    allowed_currencies text[],
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE UNIQUE INDEX policies_institution_region ON policies (institution_id, region);
CREATE INDEX policies_institution_created ON policies (institution_id, created_at, id);

-- One row per command: a run of consecutive events with the same audit metadata.
CREATE TABLE audit_events (
    first_position bigint      PRIMARY KEY,
    last_position  bigint      NOT NULL,
    action         text,
    actor_key_id   text,
    actor_role     text,
    institution_id uuid,
    request_id     text,
    client_addr    text,
    at             timestamptz NOT NULL,
    stream_ids     uuid[]      NOT NULL,
    event_count    integer     NOT NULL,
    meta           jsonb       NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at, first_position);
CREATE INDEX audit_events_institution ON audit_events (institution_id, at, first_position);
CREATE INDEX audit_events_action ON audit_events (action, at, first_position);

-- The ledger digest (eventlog.hashing.digest_step folded over the log) at the tracked position.
CREATE TABLE ledger_digest (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    position    bigint  NOT NULL,
    digest      bytea   NOT NULL CHECK (length(digest) = 32),
    event_count bigint  NOT NULL
);
