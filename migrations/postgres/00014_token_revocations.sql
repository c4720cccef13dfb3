-- +goose Up
-- The revocation set: rules that end stateless access tokens, which have
-- no row of their own to deactivate. A rule names one token (jti), or
-- selects the tokens issued before issued_before about a subject, held by
-- a client, or both ('' matches any). Every replica keeps the rules in
-- memory, loads new ones when the database announces them, and reloads
-- all of them after any gap. Same in ../sqlite/00014_token_revocations.sql.
CREATE TABLE token_revocations (
    seq           BIGSERIAL   PRIMARY KEY,
    jti           TEXT        NOT NULL DEFAULT '',
    subject       TEXT        NOT NULL DEFAULT '',
    client_id     TEXT        NOT NULL DEFAULT '',
    issued_before TIMESTAMPTZ,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX token_revocations_expires_at_idx ON token_revocations (expires_at);
CREATE TRIGGER token_revocations_notify_change AFTER INSERT ON token_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION portero_notify_change();
