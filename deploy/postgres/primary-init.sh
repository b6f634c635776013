#!/bin/bash
# Run once by the postgres image when it initialises the primary's data directory (docker-entrypoint-initdb.d):
# a role for streaming replication and the pg_hba line that lets it connect (docs/scaling.md, "Read replicas").
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="${KYODAKU_REPLICATION_PASSWORD:-replicator}" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
