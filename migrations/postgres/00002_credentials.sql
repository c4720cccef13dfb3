-- +goose Up
-- Sign-in credentials beyond the password (TOTP, passkeys, recovery codes),
-- single-use tokens (e-mail verification, password reset, WebAuthn
-- challenges) and the security audit log. Same tables in
-- ../sqlite/00002_credentials.sql.

ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;

-- One TOTP authenticator per user. The secret is encrypted by the
-- application. confirmed_at is NULL until the user proved the enrolment with
-- a first code; last_step is the last time step accepted, so a code cannot
-- be used twice (the UPDATE that accepts a step requires a larger one).
CREATE TABLE totp_credentials (
    user_id          TEXT        NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    encrypted_secret BYTEA       NOT NULL,
    confirmed_at     TIMESTAMPTZ,
    last_step        BIGINT      NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL
);

-- Passkeys and security keys: the credential id (base64url) and what
-- verifying its assertions needs (public key, flags, sign count, AAGUID);
-- never attestation statements or anything biometric.
CREATE TABLE webauthn_credentials (
    id           TEXT        NOT NULL PRIMARY KEY,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL DEFAULT '',
    credential   TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX webauthn_credentials_user_id_idx ON webauthn_credentials (user_id);

-- Recovery codes, as keyed digests (HMAC with a key derived from the system
-- secret); used_at is set once.
CREATE TABLE recovery_codes (
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT        NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Single-use tokens, keyed by a digest of the value handed out. Consuming
-- one deletes it, so it works once even under concurrent requests.
CREATE TABLE one_time_tokens (
    id         TEXT        NOT NULL PRIMARY KEY,
    purpose    TEXT        NOT NULL,
    user_id    TEXT        REFERENCES users (id) ON DELETE CASCADE,
    data       TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX one_time_tokens_user_id_idx ON one_time_tokens (user_id, purpose);
CREATE INDEX one_time_tokens_expires_at_idx ON one_time_tokens (expires_at);

-- Security audit events. user_id has no foreign key: the trail outlives the
-- account it is about.
CREATE TABLE audit_events (
    id          BIGSERIAL   NOT NULL PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    type        TEXT        NOT NULL,
    user_id     TEXT        NOT NULL DEFAULT '',
    actor       TEXT        NOT NULL DEFAULT '',
    ip          TEXT        NOT NULL DEFAULT '',
    user_agent  TEXT        NOT NULL DEFAULT '',
    details     TEXT        NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, id);
CREATE INDEX audit_events_type_idx ON audit_events (type, id);
