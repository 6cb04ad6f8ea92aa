#!/bin/sh
# Creates Tenure's own role and database the first time the PostgreSQL volume is
# initialised (the postgres image runs /docker-entrypoint-initdb.d/ only then).
# Temporal's databases are not made here: temporalio/auto-setup creates its own.
# Tenure gets a role that owns its database and nothing else, so a leak of its
# DATABASE_URL does not expose Temporal's histories.
set -eu

: "${TENURE_DB_PASSWORD:?set TENURE_DB_PASSWORD}"

# The password goes in as a psql variable, quoted by psql (:'...'), so no
# character in it can break out of the SQL string.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
	-v tenure_password="$TENURE_DB_PASSWORD" <<'SQL'
CREATE ROLE tenure LOGIN PASSWORD :'tenure_password';
CREATE DATABASE tenure OWNER tenure;
SQL
