-- +goose Up
-- The parked authorization request as the steps read it: the client and
-- the scopes fosite admitted, recorded when the request was validated, so
-- the consent pages need not re-parse the raw query (which stays, for
-- the dispatcher to validate the request again on every resume). Rows
-- parked before this migration have '' and '[]' and are read from their
-- query until they expire. Same in ../sqlite/00013_parked_request.sql.
ALTER TABLE pending_authorizations ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_authorizations ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
