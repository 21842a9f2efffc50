#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (the stores' shared suite; cluster mode).
#   scripts/postgres.sh start DIR   create a cluster in DIR, start it, print its URL
#   scripts/postgres.sh stop DIR    stop it (DIR can then be removed)
#   scripts/postgres.sh restart DIR stop it and start it again on the same port
# TCP connections need the password (SCRAM), as on a real server; the URL carries it.
# With WARREN_PG_LISTEN=ADDRESS and WARREN_PG_ALLOW=CIDR at start, the server also listens
# on ADDRESS and takes connections from CIDR (hosts in network namespaces, netns.sh).
# With WARREN_PG_SSL_CERT=FILE and WARREN_PG_SSL_KEY=FILE (PEM) at start, the server speaks
# TLS with that certificate and refuses TCP connections without it.
# Installs PostgreSQL with apt-get when it is missing. PostgreSQL refuses to run as root,
# so as root the server runs as `nobody`.
set -euo pipefail

command="${1:?usage: postgres.sh start|stop|restart DIR}"
dir="${2:?usage: postgres.sh start|stop|restart DIR}"

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

# Start the server of $dir on port $2.
start_server() {
    local listen=127.0.0.1
    if [ -f "$dir/listen" ]; then listen="127.0.0.1,$(cat "$dir/listen")"; fi
    as_server "'$1/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w \
        -o \"-p $2 -k '$dir' -c listen_addresses=$listen -c max_connections=200 -c fsync=on\" start >/dev/null"
}

case "$command" in
start)
    bin="$(bin_dir)"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown nobody "$dir"; fi
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
    echo "$password" >"$dir/password"
    echo "$port" >"$dir/port"
    if [ "$(id -u)" = 0 ]; then chown nobody "$dir/password"; fi
    as_server "'$bin/initdb' -D '$dir/data' -U warren --auth-local=trust --auth-host=scram-sha-256 \
        --pwfile='$dir/password' -E UTF8 >'$dir/initdb.log' 2>&1"
    if [ -n "${WARREN_PG_LISTEN:-}" ]; then
        echo "$WARREN_PG_LISTEN" >"$dir/listen"
        echo "host all all ${WARREN_PG_ALLOW:?WARREN_PG_ALLOW names who may connect} scram-sha-256" \
            >>"$dir/data/pg_hba.conf"
    fi
    if [ -n "${WARREN_PG_SSL_CERT:-}" ]; then
        cp "$WARREN_PG_SSL_CERT" "$dir/data/server.crt"
        cp "${WARREN_PG_SSL_KEY:?WARREN_PG_SSL_KEY goes with WARREN_PG_SSL_CERT}" "$dir/data/server.key"
        chmod 600 "$dir/data/server.key"
        if [ "$(id -u)" = 0 ]; then chown nobody "$dir/data/server.crt" "$dir/data/server.key"; fi
        echo "ssl = on" >>"$dir/data/postgresql.conf"
        # TLS or nothing, over TCP.
        { echo "hostnossl all all 0.0.0.0/0 reject"; echo "hostnossl all all ::/0 reject"; cat "$dir/data/pg_hba.conf"; } \
            >"$dir/pg_hba.conf" && mv "$dir/pg_hba.conf" "$dir/data/pg_hba.conf"
        if [ "$(id -u)" = 0 ]; then chown nobody "$dir/data/pg_hba.conf"; fi
    fi
    start_server "$bin" "$port"
    echo "postgres://warren:$password@127.0.0.1:$port/postgres"
    ;;
restart)
    bin="$(bin_dir)"
    as_server "'$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null"
    start_server "$bin" "$(cat "$dir/port")"
    ;;
stop)
    bin="$(bin_dir)"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_server "'$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null" || true
    fi
    ;;
*)
    echo "usage: postgres.sh start|stop|restart DIR" >&2
    exit 2
    ;;
esac
