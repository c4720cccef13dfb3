-- +goose Up
-- The ledger: one append-only, hash-chained log of security audit events,
-- consent decisions, data-subject requests and admin actions (Ley 1581 /
-- Decreto 1377: proof of authorization and demonstrable accountability).
-- Same table in ../postgres/00003_ledger.sql, which explains the columns;
-- identity/ledger.go has the rules.
--
-- seq is assigned by the application, previous + 1, inside the serialised
-- write transaction, so a gap in seq is a deleted row. It is the rowid
-- (INTEGER PRIMARY KEY, without AUTOINCREMENT: the application always sets
-- it). payload holds the exact JSON bytes that were hashed.
--
-- The rows of audit_events written before this migration are NOT copied:
-- their hashes would have to be computed in Go, and hashing them now would
-- only prove that they did not change after today. audit_events is kept,
-- unchanged, as the read-only history from before the ledger (query it with
-- SQL; the application no longer reads or writes it). From here on it
-- refuses UPDATE and DELETE too.
CREATE TABLE ledger (
    seq         INTEGER     NOT NULL PRIMARY KEY CHECK (seq > 0),
    occurred_at DATETIME    NOT NULL,
    kind        TEXT        NOT NULL,
    type        TEXT        NOT NULL,
    subject     TEXT        NOT NULL DEFAULT '',
    actor       TEXT        NOT NULL DEFAULT '',
    client_id   TEXT        NOT NULL DEFAULT '',
    ip          TEXT        NOT NULL DEFAULT '',
    user_agent  TEXT        NOT NULL DEFAULT '',
    locale      TEXT        NOT NULL DEFAULT '',
    payload     TEXT        NOT NULL DEFAULT '{}',
    prev_hash   TEXT        NOT NULL CHECK (length(prev_hash) = 64),
    hash        TEXT        NOT NULL CHECK (length(hash) = 64)
);
CREATE INDEX ledger_subject_idx ON ledger (subject, seq);
CREATE INDEX ledger_kind_type_idx ON ledger (kind, type, seq);
CREATE INDEX ledger_actor_idx ON ledger (actor, seq);
CREATE INDEX ledger_occurred_at_idx ON ledger (occurred_at);

-- The triggers refuse every UPDATE and DELETE (a DELETE without WHERE too:
-- SQLite's truncate shortcut is off while a DELETE trigger exists). Whoever
-- can write the file can drop them; the hash chain shows any change made
-- around them ("portero audit verify").
-- +goose StatementBegin
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: UPDATE is not allowed');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: DELETE is not allowed');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE is not allowed');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: DELETE is not allowed');
END;
-- +goose StatementEnd
