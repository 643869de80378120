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
# Start a 3-node MariaDB Galera cluster on loopback for the functional
# tests' Galera backend: node N (1..3) listens for clients on 127.0.0.1 port
# 13305+N, for group communication on 14566+N, for IST on 14576+N and for
# rsync SST on 14443+N, with its datadir, socket and logs under
# /var/lib/enamel-galera/nodeN. Needs Debian's mariadb-server, galera-4 and
# rsync. The server on 3306 is not touched. ENAMEL_GALERA_DIR and
# ENAMEL_GALERA_PORT_OFFSET (added to every port) start a second cluster
# beside this one (tools/faults.py kills nodes of its own).
#
# Idempotent: nodes that run are left alone; when none runs, node 1
# bootstraps a new cluster (--wsrep-new-cluster) and the others join it.
# Waits (bounded) until the cluster has 3 members, all Synced, then makes
# the openstack_citest user (as tools/test-setup.sh does). Exits non-zero
# when the cluster does not come up.
set -euo pipefail

ROOT=${ENAMEL_GALERA_DIR:-/var/lib/enamel-galera}
NODES=3
DB_USER=openstack_citest
DB_PW=openstack_citest
WAIT=${ENAMEL_GALERA_WAIT:-120}  # seconds per node, a bound
OFFSET=${ENAMEL_GALERA_PORT_OFFSET:-0}

provider() {
    local candidate
    for candidate in /usr/lib/galera/libgalera_smm.so \
            /usr/lib/libgalera_smm.so \
            "$(dpkg -L galera-4 2>/dev/null | grep -m1 'libgalera_smm.so$')"; do
        if [ -n "$candidate" ] && [ -f "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    echo "galera: libgalera_smm.so not found (install galera-4)" >&2
    return 1
}

node_sql() {  # node_sql N SQL: run SQL as root through node N's socket
    mariadb --no-defaults -S "$ROOT/node$1/mysqld.sock" -u root -NBe "$2"
}

status() {  # status N VARIABLE: a wsrep status value of node N
    node_sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | cut -f2
}

running() {
    local pidfile=$ROOT/node$1/mysqld.pid
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
        node_sql "$1" 'SELECT 1' >/dev/null 2>&1
}

synced() {
    [ "$(status "$1" wsrep_local_state_comment)" = Synced ] &&
        [ "$(status "$1" wsrep_cluster_status)" = Primary ]
}

write_config() {
    local n=$1 dir=$ROOT/node$1 members=
    for m in $(seq 1 $NODES); do
        members+="${members:+,}127.0.0.1:$((OFFSET + 14566 + m))"
    done
    cat > "$dir/my.cnf" <<CNF
# Written by tools/galera.sh: enamel's functional tests only.
[mysqld]
user = mysql
datadir = $dir/data
socket = $dir/mysqld.sock
pid-file = $dir/mysqld.pid
log-error = $dir/error.log
port = $((OFFSET + 13305 + n))
bind-address = 127.0.0.1
skip-name-resolve
default_storage_engine = InnoDB
binlog_format = ROW
innodb_autoinc_lock_mode = 2
innodb_buffer_pool_size = 64M
innodb_log_file_size = 48M
innodb_flush_log_at_trx_commit = 2
performance_schema = OFF
max_connections = 300

wsrep_on = ON
wsrep_provider = $PROVIDER
wsrep_cluster_name = enamel-citest
wsrep_cluster_address = gcomm://$members
wsrep_node_name = node$n
wsrep_node_address = 127.0.0.1:$((OFFSET + 14566 + n))
wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:$((OFFSET + 14566 + n));ist.recv_addr=127.0.0.1:$((OFFSET + 14576 + n));gcache.size=64M"
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:$((OFFSET + 14443 + n))
# As production clusters are often run: tables need a primary key, and
# only replicated (InnoDB) tables may be written.
wsrep_mode = REQUIRED_PRIMARY_KEY,STRICT_REPLICATION
CNF
}

start_node() {  # start_node N [--wsrep-new-cluster]
    local n=$1 dir=$ROOT/node$1
    shift
    mkdir -p "$dir"
    write_config "$n"
    if [ ! -d "$dir/data/mysql" ]; then
        mkdir -p "$dir/data"
        chown -R mysql: "$dir"
        mariadb-install-db --no-defaults --datadir="$dir/data" --user=mysql \
            --auth-root-authentication-method=socket \
            --skip-test-db > "$dir/install.log" 2>&1
    fi
    chown -R mysql: "$dir"
    rm -f "$dir/mysqld.pid"
    # A node that stopped uncleanly (kill -9, a crash) has seqno -1 in its
    # grastate.dat: recover its position from InnoDB first and save it
    # there, as the packaged galera_recovery does for systemd, so that it
    # rejoins by IST from its own data. Without the position it asks for
    # a full rsync SST of the running donor, after which the joiner ran
    # DDL-log crash recovery on the copy and, in 1 of 8 of
    # tools/faults.py's node-kill trials, lacked a table the cluster has.
    local state=$dir/data/grastate.dat position
    if [ -f "$state" ] && grep -q '^seqno: *-1' "$state"; then
        rm -f "$dir/recover.log"
        /usr/sbin/mariadbd --defaults-file="$dir/my.cnf" --wsrep-recover \
            --log-error="$dir/recover.log" < /dev/null > /dev/null 2>&1 || true
        position=$(sed -n 's/.*WSREP: Recovered position: *//p' \
            "$dir/recover.log" | tail -n 1)
        if [ -n "$position" ] && [ "${position##*:}" != -1 ]; then
            # Into the saved state Galera reads (--wsrep-start-position
            # is not used for it here: the node still asked for an SST).
            sed -i -e "s/^uuid:.*/uuid:    ${position%:*}/" \
                -e "s/^seqno:.*/seqno:   ${position##*:}/" "$state"
        fi
    fi
    setsid /usr/sbin/mariadbd --defaults-file="$dir/my.cnf" "$@" \
        < /dev/null >> "$dir/error.log" 2>&1 &
    for _ in $(seq 1 "$WAIT"); do
        if running "$n" && synced "$n"; then
            echo "galera: node$n is Synced"
            return 0
        fi
        sleep 1
    done
    echo "galera: node$n did not reach Synced in ${WAIT}s; see $dir/error.log" >&2
    tail -n 20 "$dir/error.log" >&2 || true
    return 1
}

PROVIDER=$(provider)
mkdir -p "$ROOT"

up=()
for n in $(seq 1 $NODES); do
    if running "$n"; then up+=("$n"); fi
done
for n in $(seq 1 $NODES); do
    if running "$n"; then
        continue
    fi
    if [ ${#up[@]} -eq 0 ]; then
        # Nothing runs: this node starts a new cluster from its own data,
        # which an unclean stop marks unsafe to bootstrap from.
        state=$ROOT/node$n/data/grastate.dat
        if [ -f "$state" ]; then
            sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$state"
        fi
        start_node "$n" --wsrep-new-cluster
    else
        start_node "$n"
    fi
    up+=("$n")
done

for _ in $(seq 1 "$WAIT"); do
    size=$(status 1 wsrep_cluster_size || true)
    all_synced=yes
    for n in $(seq 1 $NODES); do
        synced "$n" || all_synced=no
    done
    if [ "$size" = "$NODES" ] && [ $all_synced = yes ]; then
        break
    fi
    sleep 1
done
if [ "${size:-}" != "$NODES" ] || [ $all_synced != yes ]; then
    echo "galera: cluster size ${size:-unknown}, not $NODES nodes Synced" >&2
    exit 1
fi

# Users replicate through the cluster: creating them on node 1 is enough.
node_sql 1 "
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PW';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PW';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS $DB_USER;
FLUSH PRIVILEGES;"
for n in $(seq 1 $NODES); do
    if ! mariadb --no-defaults -h 127.0.0.1 -P $((OFFSET + 13305 + n)) -u "$DB_USER" \
            -p"$DB_PW" -NBe 'SELECT 1' >/dev/null; then
        echo "galera: node$n refuses $DB_USER" >&2
        exit 1
    fi
done
echo "galera: $NODES nodes Synced on 127.0.0.1:$((OFFSET + 13306))-$((OFFSET + 13305 + NODES))"
