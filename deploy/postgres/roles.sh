#!/usr/bin/env bash
# The two roles of the compose stack's database, made once when its volume is initialised:
# the owner, which runs migrations and owns every table (and the database), and the runtime
# role the service connects as, which owns nothing and is granted what `peer-outreach migrate`
# grants it. Neither is a superuser. The passwords come from the compose file's environment.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner_password="$PEER_OUTREACH_OWNER_PASSWORD" \
    -v runtime_password="$PEER_OUTREACH_RUNTIME_PASSWORD" <<'SQL'
CREATE ROLE peer_outreach_owner LOGIN PASSWORD :'owner_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE peer_outreach LOGIN PASSWORD :'runtime_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE peer_outreach OWNER peer_outreach_owner;
SQL
