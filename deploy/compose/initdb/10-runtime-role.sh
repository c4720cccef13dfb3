#!/bin/sh
# First start only: the runtime role the replicas use. It reads and writes
# the tables the owner (POSTGRES_USER) creates, and owns nothing.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v app_password="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE portero_app LOGIN PASSWORD :'app_password';
GRANT USAGE ON SCHEMA public TO portero_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO portero_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO portero_app;
SQL
