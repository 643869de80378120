#!/bin/bash
# Create the openstack_citest user and database on the local MariaDB/MySQL
# and PostgreSQL servers, as OpenStack's functional test convention expects.
# Idempotent: safe to run again. Run as root (or a user allowed to sudo).

# Here, not on the #! line, so that "bash tools/test-setup.sh" (as .ci/run
# calls it) stops at the first failing step too.
set -xeuo pipefail

DB_ROOT_PW=${MYSQL_ROOT_PW:-}
DB_USER=openstack_citest
DB_PW=openstack_citest

if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -H"; fi

mysql_root() {
    if [ -n "$DB_ROOT_PW" ]; then
        mysql -u root -p"$DB_ROOT_PW" -h 127.0.0.1 "$@"
    else
        mysql -u root -h 127.0.0.1 "$@"
    fi
}

mysql_root <<SQL
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PW';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PW';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS $DB_USER;
FLUSH PRIVILEGES;
SQL

psql_root() {
    psql -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"
}

if ! psql_root -tAc "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'" \
        | grep -q 1; then
    psql_root -c "CREATE ROLE $DB_USER WITH SUPERUSER LOGIN PASSWORD '$DB_PW'"
else
    psql_root -c "ALTER ROLE $DB_USER WITH SUPERUSER LOGIN PASSWORD '$DB_PW'"
fi
if ! psql_root -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_USER'" \
        | grep -q 1; then
    psql_root -c "CREATE DATABASE $DB_USER OWNER $DB_USER"
fi

# A role that must give its password even where the server trusts local
# connections (as this machine's does): the tests prove that a wrong
# password is refused and never printed. Its pg_hba.conf rule goes first.
PW_USER=openstack_citest_pw
if ! psql_root -tAc "SELECT 1 FROM pg_roles WHERE rolname='$PW_USER'" \
        | grep -q 1; then
    psql_root -c "CREATE ROLE $PW_USER WITH LOGIN PASSWORD '$DB_PW'"
fi
HBA_FILE=$(psql_root -tAc 'SHOW hba_file')
HBA_RULE="host all $PW_USER 127.0.0.1/32 scram-sha-256"
if ! $SUDO grep -qxF "$HBA_RULE" "$HBA_FILE"; then
    $SUDO sed -i "1i $HBA_RULE" "$HBA_FILE"
    psql_root -tAc 'SELECT pg_reload_conf()'
fi
