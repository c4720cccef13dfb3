-- +goose Up
-- The ledger: one append-only, hash-chained log of security audit events,
-- consent decisions, data-subject requests and admin actions (Ley 1581 /
-- Decreto 1377: proof of authorization and demonstrable accountability).
-- Same table in ../sqlite/00003_ledger.sql; identity/ledger.go has the
-- rules.
--
-- Unlike 00001 and 00002 this file uses a trigger and PL/pgSQL functions;
-- they are what makes the table append-only in the database itself.
--
-- seq is assigned by the application, previous + 1, while it holds the
-- ledger's advisory lock (ledger_lock_tail below), so a gap in seq is a
-- deleted row. hash is the hex SHA-256 over prev_hash and every other
-- column, computed in Go (identity.LedgerEntry.ComputeHash); prev_hash of
-- the first row is 64 zeros. payload is TEXT, not JSONB, because the exact
-- bytes are hashed and JSONB would reformat them. Times are UTC with
-- microseconds.
--
-- The rows of audit_events written before this migration are NOT copied:
-- their hashes would have to be computed in Go, and hashing them now would
-- only prove that they did not change after today. audit_events is kept,
-- unchanged, as the read-only history from before the ledger (query it with
-- SQL; the application no longer reads or writes it). From here on it
-- refuses UPDATE, DELETE and TRUNCATE too. INSERT stays allowed so that a
-- replica still running the previous release during a rolling upgrade does
-- not lose its events.
CREATE TABLE ledger (
    seq         BIGINT      NOT NULL PRIMARY KEY CHECK (seq > 0),
    occurred_at TIMESTAMPTZ NOT NULL,
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

-- The triggers refuse every UPDATE, DELETE and TRUNCATE, whoever runs them.
-- The table's owner can still disable or drop them: run Portero as a role
-- that does not own its tables to close that door too; the hash chain shows
-- any change made around them ("portero audit verify").
-- +goose StatementBegin
CREATE FUNCTION portero_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION portero_append_only();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION portero_append_only();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION portero_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION portero_append_only();

-- ledger_lock_tail takes the ledger's transaction-scoped advisory lock and
-- then returns the last row's seq and hash (no row when the ledger is
-- empty): the first half of an append, in one round trip. It must be a
-- VOLATILE function: under READ COMMITTED each of its queries then takes a
-- fresh snapshot, so the SELECT sees the row committed by the previous
-- holder of the lock (a single "SELECT lock, tail" statement would read
-- from a snapshot taken before it waited for the lock). The lock is held
-- until the appending transaction ends, which serialises appends from
-- every connection and replica. The key is fixed: 8101820099023168615 is
-- the ASCII of "portledg" (goose's migration lock uses another key).
-- +goose StatementBegin
CREATE FUNCTION ledger_lock_tail() RETURNS TABLE (seq BIGINT, hash TEXT)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(8101820099023168615);
    RETURN QUERY SELECT l.seq, l.hash FROM ledger AS l ORDER BY l.seq DESC LIMIT 1;
END
$$;
-- +goose StatementEnd
