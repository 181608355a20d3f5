#!/bin/sh
# One database and one user per closeloop service, each user able to reach only its own
# database. Run once by the postgres image on an empty data folder (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yml), or by hand against any server with
# psql's PG* variables pointing at it as a superuser:
#
#   PGHOST=db.example PGUSER=postgres OPPORTUNITIES_DB_PASSWORD=… … sh deploy/postgres/init-databases.sh
#
# Each password comes from <SERVICE>_DB_PASSWORD (hex: it is used in a URL unescaped).
set -eu

superuser="${POSTGRES_USER:-postgres}"

sql() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$superuser" --dbname postgres "$@"
}

# Nobody but a superuser and the owners below may connect to a database: PUBLIC's default
# CONNECT on every database (including the maintenance ones) is taken back.
sql <<'SQL'
REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;
SQL

create() {
    name="$1"
    password="$2"
    if [ -z "$password" ]; then
        echo "init-databases: the password of $name is empty" >&2
        exit 1
    fi
    sql -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"name" TO :"name";
SQL
    # The service's schema lives in public, owned by the service's user alone.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$superuser" --dbname "$name" \
        -v name="$name" <<'SQL'
ALTER SCHEMA public OWNER TO :"name";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
    echo "init-databases: database and user $name"
}

create closeloop_opportunities "${OPPORTUNITIES_DB_PASSWORD:-}"
create closeloop_contracts_payments "${CONTRACTS_PAYMENTS_DB_PASSWORD:-}"
create closeloop_handoff "${HANDOFF_DB_PASSWORD:-}"
create closeloop_account_management "${ACCOUNT_MANAGEMENT_DB_PASSWORD:-}"
