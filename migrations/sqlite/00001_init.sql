-- +goose Up
-- Portero's initial schema (SQLite): the same tables, columns and indexes as
-- ../postgres/00001_init.sql. Forward-only: a later change is a new file.
-- Type mapping: TIMESTAMPTZ -> DATETIME, BYTEA -> BLOB. Times are written by
-- internal/store as fixed-width UTC text, "2006-01-02 15:04:05.000000+00:00"
-- (microseconds, like PostgreSQL), so that text order is time order and the
-- driver reads them back exactly; booleans are 0/1.

-- End-user accounts. username_norm and email_norm hold the lower-cased
-- login names so that uniqueness and look-ups are case-insensitive through a
-- plain unique index; email_norm is NULL when the user has no e-mail.
CREATE TABLE users (
    id            TEXT        NOT NULL PRIMARY KEY,
    username      TEXT        NOT NULL,
    username_norm TEXT        NOT NULL,
    email         TEXT        NOT NULL DEFAULT '',
    email_norm    TEXT,
    password_hash TEXT        NOT NULL DEFAULT '',
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    DATETIME    NOT NULL,
    updated_at    DATETIME    NOT NULL,
    CONSTRAINT users_username_norm_key UNIQUE (username_norm),
    CONSTRAINT users_email_norm_key UNIQUE (email_norm)
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- OAuth clients. List fields are JSON arrays of strings in TEXT columns.
CREATE TABLE clients (
    id                           TEXT        NOT NULL PRIMARY KEY,
    name                         TEXT        NOT NULL DEFAULT '',
    secret_hash                  BLOB ,
    is_public                    BOOLEAN     NOT NULL DEFAULT FALSE,
    token_endpoint_auth_method   TEXT        NOT NULL DEFAULT '',
    redirect_uris                TEXT        NOT NULL DEFAULT '[]',
    post_logout_redirect_uris    TEXT        NOT NULL DEFAULT '[]',
    grant_types                  TEXT        NOT NULL DEFAULT '[]',
    response_types               TEXT        NOT NULL DEFAULT '[]',
    scopes                       TEXT        NOT NULL DEFAULT '[]',
    audience                     TEXT        NOT NULL DEFAULT '[]',
    roles                        TEXT        NOT NULL DEFAULT '[]',
    jwks                         BLOB ,
    token_format                 TEXT        NOT NULL DEFAULT '',
    id_token_signed_response_alg TEXT        NOT NULL DEFAULT '',
    introspect_any               BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at                   DATETIME    NOT NULL,
    updated_at                   DATETIME    NOT NULL
);

-- The records behind authorization codes, tokens, PKCE challenges and OIDC
-- sessions. Every hot look-up is by primary key; (request_id, kind) serves
-- family revocation and expires_at bounded pruning. expires_at is NULL for a
-- record that never expires (never pruned).
CREATE TABLE grants (
    kind         TEXT        NOT NULL,
    signature    TEXT        NOT NULL,
    request_id   TEXT        NOT NULL,
    client_id    TEXT        NOT NULL,
    subject      TEXT        NOT NULL DEFAULT '',
    active       BOOLEAN     NOT NULL DEFAULT TRUE,
    rotated_at   DATETIME   ,
    requested_at DATETIME    NOT NULL,
    expires_at   DATETIME   ,
    data         BLOB        NOT NULL,
    PRIMARY KEY (kind, signature)
);
CREATE INDEX grants_request_id_kind_idx ON grants (request_id, kind);
CREATE INDEX grants_expires_at_idx ON grants (expires_at);

-- JTIs of client assertions seen (replay protection), kept until they expire.
CREATE TABLE used_jtis (
    jti        TEXT        NOT NULL PRIMARY KEY,
    expires_at DATETIME    NOT NULL
);
CREATE INDEX used_jtis_expires_at_idx ON used_jtis (expires_at);

-- JOSE signing keys; the private JWK is encrypted by the application.
CREATE TABLE signing_keys (
    id                    TEXT        NOT NULL PRIMARY KEY,
    algorithm             TEXT        NOT NULL,
    key_use               TEXT        NOT NULL,
    public_jwk            BLOB        NOT NULL,
    encrypted_private_jwk BLOB        NOT NULL,
    created_at            DATETIME    NOT NULL,
    active_at             DATETIME    NOT NULL
);

-- Browser sessions, keyed by a digest of the cookie value.
CREATE TABLE sessions (
    id           TEXT        NOT NULL PRIMARY KEY,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    DATETIME    NOT NULL,
    amr          TEXT        NOT NULL DEFAULT '[]',
    acr          TEXT        NOT NULL DEFAULT '',
    ip           TEXT        NOT NULL DEFAULT '',
    user_agent   TEXT        NOT NULL DEFAULT '',
    created_at   DATETIME    NOT NULL,
    last_seen_at DATETIME    NOT NULL,
    expires_at   DATETIME    NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Authorization requests parked while the user signs in.
CREATE TABLE pending_authorizations (
    id            TEXT        NOT NULL PRIMARY KEY,
    request_query TEXT        NOT NULL,
    created_at    DATETIME    NOT NULL,
    expires_at    DATETIME    NOT NULL
);
CREATE INDEX pending_authorizations_expires_at_idx ON pending_authorizations (expires_at);
