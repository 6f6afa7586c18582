-- The on-chain publisher's durable queue, filled by the `onchain_outbox` projection in the same
-- transaction as its tracking position (so each eligible event is queued exactly once), and
-- emptied by the sender (escrowgrid/onchain/sender.py). Attempts, the last error and the next
-- attempt live here, never only in a process's memory.
CREATE TABLE onchain_templates (
    template_id uuid    PRIMARY KEY,
    chain_id    bigint              -- NULL: the template names no chain, any chain will do
);

CREATE TABLE onchain_assets (
    asset_id    uuid PRIMARY KEY,
    template_id uuid NOT NULL
);

-- Positions whose events are mirrored (template enabled, chain id ours when it names one).
CREATE TABLE onchain_positions (
    position_id uuid PRIMARY KEY,
    template_id uuid NOT NULL
);

CREATE TABLE onchain_outbox (
    log_position    bigint      PRIMARY KEY,
    position_id     uuid        NOT NULL,
    kind            text        NOT NULL
                                CHECK (kind IN ('POSITION_CREATED', 'POSITION_STATE_CHANGED')),
    event_hash      bytea       NOT NULL,
    payload_json    text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'sent', 'published', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    tx_hash         bytea,
    sent_at         timestamptz,
    block_number    bigint,
    block_hash      bytea,
    published_at    timestamptz
);

CREATE INDEX onchain_outbox_by_position ON onchain_outbox (position_id, log_position);
CREATE INDEX onchain_outbox_open ON onchain_outbox (log_position) WHERE status <> 'published';

-- The sender's last word on the node (ONCHAIN_FAILURE_MODE=fail reads it before a command).
CREATE TABLE onchain_health (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    checked_at timestamptz NOT NULL,
    reachable  boolean     NOT NULL
);

-- Ledger digests to anchor on chain every ONCHAIN_ANCHOR_INTERVAL events (the projection folds
-- the digest of every event, as `ledger_digest` does, and queues one row per interval).
CREATE TABLE onchain_digest (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    position    bigint  NOT NULL,
    digest      bytea   NOT NULL,
    event_count bigint  NOT NULL
);

CREATE TABLE onchain_anchors (
    log_position bigint      PRIMARY KEY,
    digest       bytea       NOT NULL,
    status       text        NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sent', 'published')),
    tx_hash      bytea,
    sent_at      timestamptz
);
