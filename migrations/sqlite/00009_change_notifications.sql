-- +goose Up
-- PostgreSQL announces changes to clients, roles and signing keys on a
-- channel that every replica listens to (../postgres/00009). SQLite serves
-- one process and has no such channel: nothing to do; the statement keeps
-- the version numbers of both dialects in step.
SELECT 1;
