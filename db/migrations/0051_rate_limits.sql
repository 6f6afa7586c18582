-- Fixed-window rate-limit counters shared by every API worker process.
-- One row per (bucket, window): an atomic upsert adds what a worker takes from the window.

-- The per-key limit. UNLOGGED: no WAL, so a commit does not wait for a disk flush; after a
-- PostgreSQL crash the table comes back empty, which only restarts the current windows.
CREATE UNLOGGED TABLE rate_limit_counters (
    bucket       text        NOT NULL,
    window_start bigint      NOT NULL, -- milliseconds since the epoch
    hits         bigint      NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_counters_expires ON rate_limit_counters (expires_at);

-- The strict hourly limits (API-key creation per institution, institution creation): few
-- writes, and they must survive a crash, so this one is logged.
CREATE TABLE rate_limit_sensitive (
    bucket       text        NOT NULL,
    window_start bigint      NOT NULL,
    hits         bigint      NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_sensitive_expires ON rate_limit_sensitive (expires_at);
