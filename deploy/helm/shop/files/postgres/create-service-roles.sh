#!/bin/sh
# Run by the postgres image's entrypoint from /docker-entrypoint-initdb.d, once, on an empty data
# directory, as the superuser. For each schema in SHOP_SCHEMAS it creates a login role of the same
# name that owns that schema: each service (and its migrations) can change only its own tables,
# and the default search_path ("$user", public) finds them without a schema prefix.
# No role gets CREATE on the database: the migrations create their schema only when it is
# missing (services/shopkit/migrations/env.py), and here it never is.
# Passwords come from the chart's Secret, mounted as files so they never show in `ps` or the pod
# spec; psql variables (:"ident", :'literal') quote them, so no value is pasted into SQL text.
set -eu

for schema in $SHOP_SCHEMAS; do
  password="$(cat "/run/secrets/shop-roles/${schema}-password")"
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=role="$schema" --set=password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE SCHEMA :"role" AUTHORIZATION :"role";
SQL
  echo "created role and schema ${schema}"
done
