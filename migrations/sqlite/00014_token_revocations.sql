-- +goose Up
-- The revocation set: rules that end stateless access tokens, which have
-- no row of their own to deactivate. A rule names one token (jti), or
-- selects the tokens issued before issued_before about a subject, held by
-- a client, or both ('' matches any). Same in
-- ../postgres/00014_token_revocations.sql.
CREATE TABLE token_revocations (
    seq           INTEGER  PRIMARY KEY AUTOINCREMENT,
    jti           TEXT     NOT NULL DEFAULT '',
    subject       TEXT     NOT NULL DEFAULT '',
    client_id     TEXT     NOT NULL DEFAULT '',
    issued_before DATETIME,
    expires_at    DATETIME NOT NULL
);
CREATE INDEX token_revocations_expires_at_idx ON token_revocations (expires_at);
