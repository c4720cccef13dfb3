-- +goose Up
-- A client's own budget at the token endpoint, in requests per minute
-- (0: rate_limits.token_per_client), so that a high-volume internal
-- service gets more than a vendor's integration. Same in
-- ../postgres/00010_client_rate_limit.sql.
ALTER TABLE clients ADD COLUMN token_rate_limit INTEGER NOT NULL DEFAULT 0;
