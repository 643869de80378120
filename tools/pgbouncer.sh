#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
#
# Start PgBouncer in transaction pooling in front of the local PostgreSQL
# server (127.0.0.1:5432), listening on 127.0.0.1:6432, for the functional
# tests' "behind PgBouncer" backend. Installs the Debian package when it is
# missing. Idempotent: an instance that already answers is left alone.
# Exits non-zero when PgBouncer does not answer within a bounded time.
#
# Run as root after tools/test-setup.sh (the openstack_citest role must
# exist on the server). PgBouncer refuses to run as root: it runs as the
# postgres user.
set -euo pipefail

PORT=${ENAMEL_PGBOUNCER_PORT:-6432}
DIR=${ENAMEL_PGBOUNCER_DIR:-/var/lib/enamel-pgbouncer}
DB_USER=openstack_citest
DB_PW=openstack_citest
RUN_AS=postgres

answers() {
    PGPASSWORD=$DB_PW PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p "$PORT" \
        -U "$DB_USER" -d "$DB_USER" -tAc 'SELECT 1' 2>/dev/null | grep -qx 1
}

if answers; then
    echo "pgbouncer: already answering on 127.0.0.1:$PORT"
    exit 0
fi

if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

mkdir -p "$DIR"
cat > "$DIR/pgbouncer.ini" <<INI
; Written by tools/pgbouncer.sh: enamel's functional tests only.
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = md5
auth_file = $DIR/userlist.txt
pool_mode = transaction
server_round_robin = 1
default_pool_size = 4
max_client_conn = 400
ignore_startup_parameters = extra_float_digits,options
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
INI
printf '"%s" "%s"\n' "$DB_USER" "$DB_PW" > "$DIR/userlist.txt"
chown -R "$RUN_AS:" "$DIR"
chmod 600 "$DIR/userlist.txt"

# A stale pid file from a killed instance would stop -d from starting.
if [ -f "$DIR/pgbouncer.pid" ] && \
        ! kill -0 "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null; then
    rm -f "$DIR/pgbouncer.pid"
fi
if [ ! -f "$DIR/pgbouncer.pid" ]; then
    runuser -u "$RUN_AS" -- "$PGBOUNCER" -d "$DIR/pgbouncer.ini"
fi

for _ in $(seq 1 30); do
    if answers; then
        echo "pgbouncer: answering on 127.0.0.1:$PORT"
        exit 0
    fi
    sleep 1
done
echo "pgbouncer: did not answer on 127.0.0.1:$PORT; see $DIR/pgbouncer.log" >&2
exit 1
