-- +goose Up
-- An administrator can switch a client off without deleting it: a
-- disabled client cannot authenticate or start a flow, and its tokens stop
-- validating, until it is enabled again. Same in ../postgres/00008_admin.sql.
ALTER TABLE clients ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
