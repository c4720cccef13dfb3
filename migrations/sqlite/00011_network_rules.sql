-- +goose Up
-- Networks an administrator denied (every request refused) or allowed
-- (exempt from the per-address rate limits). Same in
-- ../postgres/00011_network_rules.sql.
CREATE TABLE network_rules (
    prefix     TEXT        NOT NULL PRIMARY KEY,
    action     TEXT        NOT NULL CHECK (action IN ('deny', 'allow')),
    note       TEXT        NOT NULL DEFAULT '',
    created_by TEXT        NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);
