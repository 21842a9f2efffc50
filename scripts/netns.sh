#!/usr/bin/env bash
# A small network of namespaces for cluster tests (root only; iproute2): a bridge in the
# test's own namespace and one namespace per host, each joined to the bridge by a veth
# pair, on the subnet 10.213.0.0/24:
#   10.213.0.1       the bridge: the test and its clients
#   10.213.0.2       the bridge too: PostgreSQL listens here
#   10.213.0.(16+N)  host N, in namespace warren-hN
# Cuts are blackhole routes (in a host's namespace, for what it sends) and source rules
# (in the test's namespace, for what the clients or PostgreSQL send), so a link can be
# cut one way or both, and healed:
#   scripts/netns.sh up COUNT                     create the bridge and COUNT namespaces
#   scripts/netns.sh down COUNT                   remove them (also what a crashed run left)
#   scripts/netns.sh cut N PEER [both|in|out]     PEER: postgres, clients or hosts;
#                                                 in: PEER -> host N, out: host N -> PEER
#   scripts/netns.sh heal N                       undo every cut of host N
set -euo pipefail

if ! command -v ip >/dev/null; then
    echo "installing iproute2" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >&2
fi

bridge=warren-br
net=10.213.0
clients="$net.1"
postgres="$net.2"

ns() { echo "warren-h$1"; }
address() { echo "$net.$((16 + $1))"; }

# Every host namespace there is now (for `hosts` cuts).
namespaces() { ip netns list | awk '{print $1}' | grep '^warren-h[0-9]*$' || true; }
# Every host namespace but $1.
others() { namespaces | grep -vx "$1" || true; }

down() {
    local count="$1"
    for ((n = 0; n < count; n++)); do
        ip netns del "$(ns "$n")" 2>/dev/null || true
        ip link del "warren-v$n" 2>/dev/null || true
        while ip rule del to "$(address "$n")" 2>/dev/null; do :; done
    done
    ip link del "$bridge" 2>/dev/null || true
}

up() {
    local count="$1"
    down "$count"
    ip link add "$bridge" type bridge
    ip addr add "$clients/24" dev "$bridge"
    ip addr add "$postgres/24" dev "$bridge"
    ip link set "$bridge" up
    for ((n = 0; n < count; n++)); do
        local name
        name="$(ns "$n")"
        ip netns add "$name"
        ip link add "warren-v$n" type veth peer name eth0 netns "$name"
        ip link set "warren-v$n" master "$bridge"
        ip link set "warren-v$n" up
        ip -n "$name" addr add "$(address "$n")/24" dev eth0
        ip -n "$name" link set eth0 up
        ip -n "$name" link set lo up
    done
}

# Host N stops sending to PEER.
cut_out() {
    local n="$1" peer="$2" name
    name="$(ns "$n")"
    case "$peer" in
    postgres) ip -n "$name" route add blackhole "$postgres/32" ;;
    clients) ip -n "$name" route add blackhole "$clients/32" ;;
    hosts)
        for other in $(others "$name"); do
            ip -n "$name" route add blackhole "$(address "${other#warren-h}")/32"
        done
        ;;
    esac
}

# PEER stops sending to host N.
cut_in() {
    local n="$1" peer="$2" name to
    name="$(ns "$n")"
    to="$(address "$n")"
    case "$peer" in
    postgres) ip rule add from "$postgres" to "$to" blackhole ;;
    clients) ip rule add from "$clients" to "$to" blackhole ;;
    hosts)
        for other in $(others "$name"); do
            ip -n "$other" route add blackhole "$to/32"
        done
        ;;
    esac
}

heal() {
    local n="$1" name to
    name="$(ns "$n")"
    to="$(address "$n")"
    ip -n "$name" route flush type blackhole 2>/dev/null || true
    for other in $(others "$name"); do
        ip -n "$other" route del blackhole "$to/32" 2>/dev/null || true
    done
    while ip rule del to "$to" 2>/dev/null; do :; done
}

case "${1:-}" in
up) up "${2:?usage: netns.sh up COUNT}" ;;
down) down "${2:?usage: netns.sh down COUNT}" ;;
cut)
    n="${2:?usage: netns.sh cut N PEER [both|in|out]}"
    peer="${3:?usage: netns.sh cut N PEER [both|in|out]}"
    case "$peer" in postgres | clients | hosts) ;; *) echo "unknown peer $peer" >&2; exit 2 ;; esac
    direction="${4:-both}"
    case "$direction" in
    both) cut_out "$n" "$peer"; cut_in "$n" "$peer" ;;
    in) cut_in "$n" "$peer" ;;
    out) cut_out "$n" "$peer" ;;
    *) echo "unknown direction $direction" >&2; exit 2 ;;
    esac
    ;;
heal) heal "${2:?usage: netns.sh heal N}" ;;
*)
    echo "usage: netns.sh up|down COUNT | cut N PEER [both|in|out] | heal N" >&2
    exit 2
    ;;
esac
