-- +goose Up
-- Webhook delivery: the ledger is the outbox (an event is appended in the
-- transaction of the change it records), and each receiver has a cursor,
-- the last sequence number it acknowledged. One replica at a time holds a
-- cursor's lease and delivers. Same in ../postgres/00012_webhook_cursors.sql.
CREATE TABLE webhook_cursors (
    name          TEXT        NOT NULL PRIMARY KEY,
    delivered_seq BIGINT      NOT NULL,
    lease_owner   TEXT        NOT NULL DEFAULT '',
    lease_until   DATETIME NOT NULL
);
