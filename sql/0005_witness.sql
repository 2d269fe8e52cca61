-- Witnesses (C2SP tlog-witness), both sides.
--
-- A witness process uses the first five tables in its own database; a log server uses
-- log_cosignatures in its database. Both apply every migration, so each database has all
-- tables and leaves the other side's empty.

-- The witness's record of the latest checkpoint it cosigned, one row per log origin.
--
-- Invariant (the witness's last-cosigned size): this row is read FOR UPDATE, checked, updated
-- and the cosignature recorded in witness_cosignatures in ONE transaction, and the cosignature
-- is answered only after that commit. So size never decreases, two requests can never both
-- extend the same size, and after any crash the row names the largest tree ever cosigned.
CREATE TABLE witness_logs (
    origin      text PRIMARY KEY,
    size        bigint NOT NULL CHECK (size >= 0),
    root        bytea NOT NULL CHECK (length(root) = 32),
    -- The checkpoint note as cosigned (the log's signature lines, without ours).
    note        text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every cosignature the witness gave, for audit.
CREATE TABLE witness_cosignatures (
    id          bigserial PRIMARY KEY,
    origin      text NOT NULL,
    size        bigint NOT NULL,
    root        bytea NOT NULL,
    -- The checkpoint text the cosignature covers.
    text        text NOT NULL,
    timestamp   bigint NOT NULL,
    line        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX witness_cosignatures_size ON witness_cosignatures (origin, size);

-- Evidence of log misbehaviour: checkpoints signed by the log that conflict with what the
-- witness cosigned (a split view) or that the log's own data do not support. Never deleted by
-- notarium; both checkpoints are kept as the log signed them.
CREATE TABLE witness_alarms (
    id            bigserial PRIMARY KEY,
    origin        text NOT NULL,
    kind          text NOT NULL,
    detail        text NOT NULL,
    -- What the witness held (its cosigned note, or the mirror's), when it held one.
    held_note     text,
    -- The conflicting checkpoint note, as received.
    offered_note  text NOT NULL,
    -- The request body or proof that came with it, when there was one.
    proof         text,
    offered_sha256 bytea NOT NULL,
    times_seen    bigint NOT NULL DEFAULT 1,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (origin, kind, offered_sha256)
);

-- The mirror: the log's tree as the witness rebuilt it from the log's entries.
--
-- Invariant: one transaction writes a chunk's entries, every tile it changed and mirror_state,
-- and only after the chunk's root was checked against a checkpoint signed by the log (directly,
-- or by a consistency proof to it); so the stored tree is whole and verified at mirror_state.size.
CREATE TABLE mirror_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    origin      text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    root        bytea NOT NULL CHECK (length(root) = 32),
    -- The log's checkpoint note at exactly this size (log signature only), when one was seen.
    note        text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mirror_entries (
    idx         bigint PRIMARY KEY,
    data        bytea NOT NULL
);

-- Hash tiles computed by the witness from the entries, never copied from the log.
CREATE TABLE mirror_tiles (
    level       smallint NOT NULL,
    idx         bigint NOT NULL,
    width       smallint NOT NULL CHECK (width BETWEEN 1 AND 256),
    data        bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The log's side: cosignatures its witnesses returned, attached to checkpoints when served.
-- A line is stored only after it verified against the configured witness key.
CREATE TABLE log_cosignatures (
    size        bigint NOT NULL,
    witness     text NOT NULL,
    line        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (size, witness)
);
