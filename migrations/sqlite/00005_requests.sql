-- +goose Up
-- Data-subject requests of Ley 1581 de 2012 arts. 14-15 (consultas and
-- reclamos) with their terms, fixed at receipt on the Colombian
-- business-day calendar; identity/requests.go has the rules. Every change
-- is also a ledger entry (kind 'request'), written in the same
-- transaction. Same table in ../postgres/00005_requests.sql.
--
-- A request is deleted with its titular's account (the description and
-- answers are personal data); the proof of how it was handled stays in the
-- ledger, whose entries name the request, its type, dates, status and
-- reason codes but hold none of the titular's free text. Due values are
-- the last microsecond of the due day in Colombia, in UTC. updated_at
-- serves the optimistic check of concurrent changes. The queue is read by
-- status and due date; a titular's requests by user.
CREATE TABLE data_requests (
    id                TEXT        NOT NULL PRIMARY KEY,
    user_id           TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind              TEXT        NOT NULL CHECK (kind IN ('consulta', 'reclamo')),
    type              TEXT        NOT NULL,
    description       TEXT        NOT NULL DEFAULT '',
    status            TEXT        NOT NULL CHECK (status IN ('received', 'info_requested', 'extended', 'answered', 'refused', 'withdrawn')),
    received_at       DATETIME    NOT NULL,
    due_at            DATETIME    NOT NULL,
    extended_due_at   DATETIME   ,
    extension_reason  TEXT        NOT NULL DEFAULT '',
    info_needed       TEXT        NOT NULL DEFAULT '',
    info_requested_at DATETIME   ,
    withdraw_at       DATETIME   ,
    info_provided     TEXT        NOT NULL DEFAULT '',
    info_provided_at  DATETIME   ,
    legend_due_at     DATETIME   ,
    judicial_dispute  BOOLEAN     NOT NULL DEFAULT FALSE,
    answer            TEXT        NOT NULL DEFAULT '',
    refusal_reason    TEXT        NOT NULL DEFAULT '',
    closed_at         DATETIME   ,
    updated_at        DATETIME    NOT NULL
);
CREATE INDEX data_requests_user_idx ON data_requests (user_id, received_at);
CREATE INDEX data_requests_status_due_idx ON data_requests (status, due_at);
