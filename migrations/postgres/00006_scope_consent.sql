-- +goose Up
-- Scope consent per client: the user lets an application have the scopes it
-- asked for, once or remembered. first_party clients (the marketplace's own
-- apps) skip the question; the legal consent of Ley 1581 is asked of every
-- user whatever the client. The decisions themselves are ledger entries;
-- this table only keeps the remembered ones. Same in
-- ../sqlite/00006_scope_consent.sql.
ALTER TABLE clients ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT FALSE;
-- OpenID Connect Back-Channel Logout: where the client hears that a
-- user's session or authorization ended.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';

CREATE TABLE scope_consents (
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT        NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
