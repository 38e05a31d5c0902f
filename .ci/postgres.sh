#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for microkit's tests.
#
#   bash .ci/postgres.sh start    # start (or reuse) the cluster; prints its URL on stdout
#   bash .ci/postgres.sh url      # print the URL of the running cluster
#   bash .ci/postgres.sh env      # print `export MICROKIT_TEST_PG=...` (use with eval)
#   bash .ci/postgres.sh status   # exit 0 if running, 1 if not
#   bash .ci/postgres.sh stop     # stop the cluster and delete its directory
#
# URL: postgresql://microkit@127.0.0.1:PORT/microkit_test  (superuser, trust auth)
#
# The cluster lives in a fresh /tmp/microkit-pg.XXXXXX directory (data, unix socket,
# log), listens on 127.0.0.1 only, on the first free port from 55432 upwards, and is
# tuned for speed, not durability (fsync/synchronous_commit/full_page_writes off).
# As root it runs as the system user `microkit-pg` (created if missing), since
# postgres refuses to run as root; as any other user it runs as that user.
# If /usr/lib/postgresql/15/bin is missing and we are root, postgresql-15 is
# installed with apt-get (without creating/starting Debian's own cluster).
#
# Only diagnostics go to stderr; stdout carries nothing but the URL (start/url/env).
#
# Environment overrides (all optional):
#   MICROKIT_PG_BINDIR  directory holding initdb/pg_ctl  (default /usr/lib/postgresql/15/bin)
#   MICROKIT_PG_PORT    first port to try                 (default 55432)
#   MICROKIT_PG_STATE   state file                        (default /tmp/microkit-pg-<uid>.state)
#   MICROKIT_PG_OSUSER  OS user running postgres as root  (default microkit-pg)
set -euo pipefail

PG_MAJOR=15
BINDIR=${MICROKIT_PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}
FIRST_PORT=${MICROKIT_PG_PORT:-55432}
PORT_TRIES=50
STATE=${MICROKIT_PG_STATE:-/tmp/microkit-pg-$(id -u).state}
OSUSER_ROOT=${MICROKIT_PG_OSUSER:-microkit-pg}
DBUSER=microkit
DBNAME=microkit_test

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# The OS user that owns and runs the cluster.
os_user() {
    if is_root; then printf '%s\n' "$OSUSER_ROOT"; else id -un; fi
}

# Run a command as the cluster's OS user, with a working directory it can read.
as_pg() {
    local dir=$1; shift
    if is_root; then
        if command -v runuser >/dev/null 2>&1; then
            (cd "$dir" && runuser -u "$OSUSER_ROOT" -- "$@")
        else
            local cmd
            cmd=$(printf '%q ' "$@")
            (cd "$dir" && su -s /bin/sh "$OSUSER_ROOT" -c "$cmd")
        fi
    else
        (cd "$dir" && "$@")
    fi
}

ensure_os_user() {
    is_root || return 0
    id -u "$OSUSER_ROOT" >/dev/null 2>&1 && return 0
    log "creating system user $OSUSER_ROOT"
    if command -v useradd >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$OSUSER_ROOT"
    else
        adduser --system --group --no-create-home --home /nonexistent \
            --shell /usr/sbin/nologin "$OSUSER_ROOT" >&2
    fi
}

ensure_binaries() {
    [[ -x $BINDIR/initdb && -x $BINDIR/pg_ctl ]] && return 0
    is_root || die "$BINDIR/initdb not found and not root: install postgresql-$PG_MAJOR"
    command -v apt-get >/dev/null 2>&1 || die "$BINDIR/initdb not found and no apt-get"
    log "installing postgresql-$PG_MAJOR with apt-get"
    local t0=$SECONDS
    # Stop Debian from creating (and starting) its own 'main' cluster: the packaged
    # createcluster.conf reads include_dir createcluster.d, and invoke-rc.d obeys
    # policy-rc.d (exit 101 = "do not start services").
    mkdir -p /etc/postgresql-common/createcluster.d
    printf 'create_main_cluster = false\n' \
        >/etc/postgresql-common/createcluster.d/99-microkit-ci.conf
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq &&
            apt-get install -y -qq --no-install-recommends \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                "postgresql-$PG_MAJOR" </dev/null
    } >&2 || rc=$?
    if [[ $own_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    [[ $rc -eq 0 ]] || die "apt-get install postgresql-$PG_MAJOR failed (exit $rc)"
    [[ -x $BINDIR/initdb ]] || die "$BINDIR/initdb still missing after install"
    log "installed postgresql-$PG_MAJOR in $((SECONDS - t0))s"
}

# --- state file: lines KEY=VALUE (DIR, PORT, OSUSER) -------------------------------
S_DIR='' S_PORT='' S_OSUSER=''
read_state() {
    S_DIR='' S_PORT='' S_OSUSER=''
    [[ -f $STATE && ! -L $STATE ]] || return 1
    local key value
    while IFS='=' read -r key value; do
        case $key in
            DIR) S_DIR=$value ;;
            PORT) S_PORT=$value ;;
            OSUSER) S_OSUSER=$value ;;
        esac
    done <"$STATE"
    [[ $S_DIR == /tmp/microkit-pg.* && $S_PORT =~ ^[0-9]+$ ]] || return 1
}

write_state() {
    local tmp
    tmp=$(mktemp "$STATE.XXXXXX")
    printf 'DIR=%s\nPORT=%s\nOSUSER=%s\n' "$1" "$2" "$3" >"$tmp"
    mv -f "$tmp" "$STATE"
}

url_for() { printf 'postgresql://%s@127.0.0.1:%s/%s\n' "$DBUSER" "$1" "$DBNAME"; }

# is_ready PORT [DB]
is_ready() {
    "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$1" -d "${2:-$DBNAME}" -U "$DBUSER" -t 2
}

running() {
    read_state || return 1
    [[ -d $S_DIR/data ]] || return 1
    [[ -x $BINDIR/pg_isready ]] || return 1
    is_ready "$S_PORT"
}

port_in_use() {
    # A connect that succeeds means someone listens there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_start() {
    if running; then
        log "reusing running cluster in $S_DIR (port $S_PORT)"
        url_for "$S_PORT"
        return 0
    fi
    if read_state || [[ -e $STATE ]]; then
        log "found stale state $STATE; cleaning up"
        cmd_stop
    fi

    local t0=${EPOCHREALTIME/./}
    ensure_binaries
    ensure_os_user
    local user dir
    user=$(os_user)
    dir=$(mktemp -d /tmp/microkit-pg.XXXXXX)
    mkdir "$dir/sock"
    chmod 755 "$dir"
    if is_root; then chown -R "$user:" "$dir"; fi
    # Record the dir right away so `stop` can clean up a half-started cluster.
    write_state "$dir" 0 "$user"

    as_pg "$dir" "$BINDIR/initdb" -D "$dir/data" -U "$DBUSER" -A trust -E UTF8 \
        --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    cat >>"$dir/data/postgresql.conf" <<EOF

# --- microkit CI: throwaway cluster, speed over durability ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
max_connections = 200
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 1GB
checkpoint_timeout = 30min
autovacuum = off
logging_collector = off
log_min_messages = warning
timezone = 'UTC'
log_timezone = 'UTC'
EOF
    # Host auth: trust on loopback only (initdb -A trust already wrote local/host trust
    # lines; replace them with an explicit minimal file).
    cat >"$dir/data/pg_hba.conf" <<EOF
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
EOF
    if is_root; then chown "$user:" "$dir/data/postgresql.conf" "$dir/data/pg_hba.conf"; fi

    local port=$FIRST_PORT tries=0 started=0
    while ((tries < PORT_TRIES)); do
        if port_in_use "$port"; then
            port=$((port + 1)); tries=$((tries + 1)); continue
        fi
        : >"$dir/postgres.log"
        if is_root; then chown "$user:" "$dir/postgres.log"; fi
        if as_pg "$dir" "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
            -o "-p $port" -w -t 60 start >/dev/null 2>"$dir/pg_ctl.err"; then
            started=1
            break
        fi
        if grep -qiE 'could not bind|address already in use|could not create any TCP' \
            "$dir/postgres.log"; then
            log "port $port busy, trying the next one"
            as_pg "$dir" "$BINDIR/pg_ctl" -D "$dir/data" -m immediate stop \
                >/dev/null 2>&1 || true
            port=$((port + 1)); tries=$((tries + 1)); continue
        fi
        cat "$dir/pg_ctl.err" "$dir/postgres.log" >&2
        write_state "$dir" "$port" "$user"
        die "pg_ctl start failed"
    done
    ((started)) || die "no free port in $FIRST_PORT..$((FIRST_PORT + PORT_TRIES - 1))"
    write_state "$dir" "$port" "$user"

    local i=0
    until is_ready "$port" postgres; do
        ((++i < 100)) || die "server not ready on port $port"
        sleep 0.1
    done
    "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$DBUSER" \
        -d postgres -c "CREATE DATABASE $DBNAME" </dev/null >&2 ||
        die "could not create database $DBNAME"
    is_ready "$port" || die "database $DBNAME not reachable"
    local ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
    log "started PostgreSQL $PG_MAJOR in ${ms}ms: dir $dir, port $port, os user $user"
    url_for "$port"
}

# Is PID a live (non-zombie) postgres serving DIR?  Guards against PID reuse.
postmaster_alive() {
    local pid=$1 dir=$2 state
    [[ -r /proc/$pid/stat ]] || return 1
    state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $state != Z ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/data"
}

cmd_stop() {
    if ! read_state; then
        if [[ -e $STATE ]]; then rm -f "$STATE"; fi
        log "no cluster recorded in $STATE; nothing to stop"
        return 0
    fi
    local dir=$S_DIR
    if [[ -f $dir/data/postmaster.pid ]]; then
        local pid
        pid=$(head -n1 "$dir/data/postmaster.pid" 2>/dev/null || true)
        if [[ -x $BINDIR/pg_ctl ]]; then
            as_pg "$dir" "$BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop \
                >/dev/null 2>&1 ||
                as_pg "$dir" "$BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop \
                    >/dev/null 2>&1 || true
        fi
        if [[ $pid =~ ^[0-9]+$ ]] && postmaster_alive "$pid" "$dir"; then
            log "postmaster $pid still alive; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf -- "$dir"
    rm -f "$STATE"
    log "stopped cluster and removed $dir"
}

cmd_url() {
    running || die "no running cluster (run: bash .ci/postgres.sh start)"
    url_for "$S_PORT"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    env)
        url=$(cmd_url)
        printf 'export MICROKIT_TEST_PG=%q\n' "$url"
        ;;
    status)
        if running; then
            log "running: dir $S_DIR, port $S_PORT, os user $S_OSUSER"
        else
            log "not running"
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 start|stop|url|env|status" >&2
        exit 2
        ;;
esac
