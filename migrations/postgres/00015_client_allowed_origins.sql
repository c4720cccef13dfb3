-- +goose Up
-- The web origins a browser app (a single-page app) calls the token,
-- revocation and userinfo endpoints from (CORS): exact origins, a JSON
-- list like the other list columns. Same in
-- ../sqlite/00015_client_allowed_origins.sql.
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
