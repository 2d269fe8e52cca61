-- Foundation: server keys, organisations, API keys, certificates.

-- Keys the server holds (notary root and issuing CA, TSA, log key): private keys sealed with
-- the master key (AES-256-GCM), never stored in clear.
CREATE TABLE server_keys (
    name        text PRIMARY KEY,
    cert_der    bytea,
    public_key  bytea NOT NULL,
    sealed_key  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A known plaintext sealed with the master key: a wrong master key fails here, at start-up,
-- before anything is written.
CREATE TABLE master_key_check (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    sealed      bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orgs (
    id              uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role            text NOT NULL CHECK (role IN ('issuer', 'court', 'auditor', 'witness')),
    tax_id          text,
    tax_id_warning  text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- API keys are 256-bit random values; only their SHA-256 is stored.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs(id),
    key_hash    bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE certificates (
    serial          bytea PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs(id),
    fingerprint     bytea NOT NULL UNIQUE,
    cert_der        bytea NOT NULL,
    custodial       boolean NOT NULL,
    sealed_key      bytea,
    not_before      timestamptz NOT NULL,
    not_after       timestamptz NOT NULL,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    revocation_reason text,
    CHECK (custodial = (sealed_key IS NOT NULL))
);
CREATE INDEX certificates_org ON certificates (org_id, issued_at DESC);

CREATE SEQUENCE crl_number;
