-- The Merkle log: entries, C2SP tiles (height 8) and signed checkpoints.
--
-- Invariant: one sequencer transaction writes a batch's entries, every tile it changed, the
-- new checkpoint and log_state together, so the stored tree is always whole; log_state.size is
-- read FOR UPDATE at the start of each batch, so two writers can never both extend the same tree.

CREATE TABLE log_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    size        bigint NOT NULL CHECK (size >= 0),
    root        bytea NOT NULL,
    checkpoint  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE log_entries (
    idx         bigint PRIMARY KEY,
    leaf_hash   bytea NOT NULL,
    data        bytea NOT NULL
);
CREATE INDEX log_entries_leaf_hash ON log_entries USING hash (leaf_hash);

-- Full tiles never change; the right-edge (partial) tile of each level is rewritten as it grows.
CREATE TABLE log_tiles (
    level       smallint NOT NULL,
    idx         bigint NOT NULL,
    width       smallint NOT NULL CHECK (width BETWEEN 1 AND 256),
    data        bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE log_checkpoints (
    size        bigint PRIMARY KEY,
    root        bytea NOT NULL,
    note        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
