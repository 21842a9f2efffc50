#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (the stores' shared suite; cluster mode).
#   scripts/postgres.sh start DIR   create a cluster in DIR, start it, print its URL
#   scripts/postgres.sh stop DIR    stop it (DIR can then be removed)
# Installs PostgreSQL with apt-get when it is missing. PostgreSQL refuses to run as root,
# so as root the server runs as `nobody`.
set -euo pipefail

command="${1:?usage: postgres.sh start|stop DIR}"
dir="${2:?usage: postgres.sh start|stop DIR}"

bin_dir() {
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v pg_ctl)"
        return
    fi
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    if [ -z "$found" ]; then
        echo "installing PostgreSQL" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        found="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    fi
    echo "$found"
}

# Run a command as the server's user.
as_server() {
    if [ "$(id -u)" = 0 ]; then
        su nobody -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

case "$command" in
start)
    bin="$(bin_dir)"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown nobody "$dir"; fi
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_server "'$bin/initdb' -D '$dir/data' -U warren --auth=trust -E UTF8 >'$dir/initdb.log' 2>&1"
    as_server "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w \
        -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on\" start >/dev/null"
    echo "postgres://warren@127.0.0.1:$port/postgres"
    ;;
stop)
    bin="$(bin_dir)"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_server "'$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null" || true
    fi
    ;;
*)
    echo "usage: postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
