-- Notarized records (invoices, status changes, contracts, signatures). Each record is one
-- ledger entry, written in the same sequencer transaction as the entry.

CREATE TABLE records (
    id                uuid PRIMARY KEY,
    kind              text NOT NULL,
    org_id            uuid NOT NULL REFERENCES orgs(id),
    -- The duplicate key of an invoice: a second submission violates this, whatever the timing.
    unique_key        text UNIQUE,
    refers_to         uuid REFERENCES records(id),
    log_index         bigint NOT NULL UNIQUE,
    leaf_hash         bytea NOT NULL,
    document_sha256   bytea NOT NULL,
    canonical_sha256  bytea,
    token             bytea NOT NULL,
    signature         bytea NOT NULL,
    signer            text NOT NULL,
    cert_fingerprint  bytea NOT NULL,
    meta              jsonb NOT NULL DEFAULT '{}',
    document          bytea,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX records_org_time ON records (org_id, created_at, id);
CREATE INDEX records_digest ON records (document_sha256);
CREATE INDEX records_refers_to ON records (refers_to);
CREATE INDEX records_number ON records ((meta->>'number'));
CREATE INDEX records_seller ON records ((meta->>'seller'));

-- Issuers let auditors and courts see their records within a time range.
CREATE TABLE grants (
    id          uuid PRIMARY KEY,
    grantor     uuid NOT NULL REFERENCES orgs(id),
    grantee     uuid NOT NULL REFERENCES orgs(id),
    valid_from  timestamptz,
    valid_to    timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    withdrawn_at timestamptz
);
CREATE INDEX grants_grantee ON grants (grantee) WHERE withdrawn_at IS NULL;
