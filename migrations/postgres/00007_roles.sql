-- +goose Up
-- The role catalog: what each role may do (permissions such as
-- "orders:read") and which roles it includes (super_admin includes admin,
-- admin includes vendor and customer). Users and clients still name their
-- roles in user_roles and clients.roles; a role missing here simply has no
-- permissions and includes nothing. Same in
-- ../sqlite/00007_roles.sql.
-- A client may ask for the expanded permissions in its JWT access tokens
-- (off by default: services can expand them through introspection).
ALTER TABLE clients ADD COLUMN permissions_claim BOOLEAN NOT NULL DEFAULT FALSE;
-- Clients registered dynamically (RFC 7591) manage themselves with a
-- registration access token (RFC 7592), kept as a SHA-256 digest.
ALTER TABLE clients ADD COLUMN registration_token_hash BYTEA;

CREATE TABLE roles (
    name        TEXT        NOT NULL PRIMARY KEY,
    description TEXT        NOT NULL DEFAULT '',
    builtin     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE role_includes (
    role     TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    includes TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (role, includes)
);

CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);

INSERT INTO roles (name, description, builtin, created_at) VALUES
    ('customer', 'Buys in the marketplace', TRUE, now()),
    ('vendor', 'Sells in the marketplace', TRUE, now()),
    ('admin', 'Administers the marketplace and Portero', TRUE, now()),
    ('super_admin', 'Administers administrators', TRUE, now());
INSERT INTO role_includes (role, includes) VALUES
    ('super_admin', 'admin'), ('admin', 'vendor'), ('admin', 'customer');
INSERT INTO role_permissions (role, permission) VALUES
    ('admin', 'portero:admin:read'), ('admin', 'portero:admin:write'),
    ('super_admin', 'portero:roles:admin');
