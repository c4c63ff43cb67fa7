#!/bin/bash
# The official postgres image's start-up contract, as far as the chart relies on it: on an empty
# PGDATA, initdb with POSTGRES_USER and POSTGRES_PASSWORD (scram-sha-256 for TCP clients), create
# POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sh on a server listening only on its socket, then
# start `postgres` listening on every address. Any user id works: one missing from /etc/passwd
# gets a passwd entry through nss_wrapper, as in the official image.
set -euo pipefail

: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
export PGUSER=$POSTGRES_USER

if ! getent passwd "$(id -u)" >/dev/null; then
    NSS_WRAPPER_PASSWD=$(mktemp) NSS_WRAPPER_GROUP=$(mktemp)
    echo "postgres:x:$(id -u):$(id -g):PostgreSQL:$PGDATA:/bin/false" >"$NSS_WRAPPER_PASSWD"
    echo "postgres:x:$(id -g):" >"$NSS_WRAPPER_GROUP"
    export NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libnss_wrapper.so
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl --wait --silent --options="-c listen_addresses='' -c unix_socket_directories=$PGHOST" start
    [[ $POSTGRES_DB == postgres ]] ||
        psql --no-psqlrc -v ON_ERROR_STOP=1 --dbname=postgres --set=db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    for script in /docker-entrypoint-initdb.d/*.sh; do
        [[ -e $script ]] || continue
        echo "running $script"
        "$script"
    done
    pg_ctl --wait --silent --mode=fast stop
    echo "database initialised"
fi

if [[ ${1:-} == postgres ]]; then
    shift
    exec postgres -c listen_addresses='*' -c unix_socket_directories="$PGHOST" "$@"
fi
exec "$@"
