#!/bin/bash
# The `db-replica` service (docker-compose --profile replica): a streaming replica of `db`. On first start its
# data directory is a base backup of the primary (pg_basebackup -R writes standby.signal and the connection);
# later starts resume streaming from where it stopped. Extra arguments are passed to postgres (its settings).
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h db -p 5432 -q; do sleep 1; done
  PGPASSWORD="${KYODAKU_REPLICATION_PASSWORD:-replicator}" \
    pg_basebackup -h db -p 5432 -U replicator -D "$PGDATA" -R -X stream --checkpoint=fast
  chmod 0700 "$PGDATA"
fi
exec postgres "$@"
