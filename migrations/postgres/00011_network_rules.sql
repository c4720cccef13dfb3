-- +goose Up
-- Networks an administrator denied (every request refused) or allowed
-- (exempt from the per-address rate limits). Same in
-- ../sqlite/00011_network_rules.sql.
CREATE TABLE network_rules (
    prefix     TEXT        NOT NULL PRIMARY KEY,
    action     TEXT        NOT NULL CHECK (action IN ('deny', 'allow')),
    note       TEXT        NOT NULL DEFAULT '',
    created_by TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
-- Every replica applies the rules within a second (internal/server
-- FollowChanges).
CREATE TRIGGER network_rules_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON network_rules
    FOR EACH STATEMENT EXECUTE FUNCTION portero_notify_change();
