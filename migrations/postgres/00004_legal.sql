-- +goose Up
-- Every published version of the legal texts of Ley 1581 de 2012: the
-- treatment policy and privacy notice per language, and each purpose
-- (finalidad) as canonical JSON. Authorizations in the ledger name a text
-- by kind, ref, version and SHA-256; this table keeps the text itself, so a
-- receipt always shows what the person was told. Rows are never updated:
-- a changed text needs a new version. Same table in
-- ../sqlite/00004_legal.sql.
CREATE TABLE legal_texts (
    kind         TEXT        NOT NULL,
    ref          TEXT        NOT NULL DEFAULT '',
    version      TEXT        NOT NULL,
    lang         TEXT        NOT NULL DEFAULT '',
    format       TEXT        NOT NULL,
    body         TEXT        NOT NULL,
    sha256       TEXT        NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, ref, version, lang)
);

-- Revoking an authorization ends the titular's tokens at once: grants are
-- found by subject.
CREATE INDEX grants_subject_idx ON grants (subject);
