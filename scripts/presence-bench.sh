#!/usr/bin/env bash
# A join storm into one room, on one pyre chat node or on two joined by
# embedded NATS: one JSON line per run on stdout (pyre bench presence).
#
#   scripts/presence-bench.sh >> results.jsonl
#   JOINERS=3000 NODES=2 scripts/presence-bench.sh
#   SERVER=/tmp/old/pyre RUNS=2 scripts/presence-bench.sh
#
# Each run starts fresh servers (-rate-limit 100000 -log-level warn
# -admin-key k on loopback; two nodes share -secret, so a token from the
# first node's login is valid on the second) and runs
#   pyre bench presence -joiners $JOINERS -pid PIDS -drain $DRAIN -limit $LIMIT
# with -target (one node) or -targets A,B (user i on node i mod 2), then
# stops them. SERVER is the binary that serves and BENCH the one that
# measures, so an older server can be measured by the current bench.
#
# Environment (defaults): JOINERS=8000, NODES=1, RUNS=1, DRAIN=60s,
# LIMIT=4m, SERVER=bin/pyre, BENCH=bin/pyre, PIN=0 (1: servers on CPU 0,
# the bench on CPU 1), BENCH_ARGS (more flags for the bench), SERVER_ARGS
# (more flags for pyre chat, such as -presence-window 250ms), LABEL=pyre,
# LOG (the servers' output, default /tmp/presence-bench.log).
set -euo pipefail

[ $# -eq 0 ] || { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" >&2; exit 2; }
JOINERS=${JOINERS:-8000}
NODES=${NODES:-1}
RUNS=${RUNS:-1}
DRAIN=${DRAIN:-60s}
LIMIT=${LIMIT:-4m}
SERVER=${SERVER:-bin/pyre}
BENCH=${BENCH:-bin/pyre}
PIN=${PIN:-0}
BENCH_ARGS=${BENCH_ARGS:-}
SERVER_ARGS=${SERVER_ARGS:-}
LABEL=${LABEL:-pyre}
LOG=${LOG:-/tmp/presence-bench.log}

case $NODES in 1 | 2) ;; *) echo "presence-bench: NODES must be 1 or 2" >&2; exit 2 ;; esac
for b in "$SERVER" "$BENCH"; do [ -x "$b" ] || { echo "presence-bench: $b is missing; run make build" >&2; exit 2; }; done
command -v curl >/dev/null || { echo "presence-bench: needs curl" >&2; exit 2; }
srv_pin=() bench_pin=()
if [ "$PIN" = 1 ]; then
	srv_pin=(taskset -c 0) bench_pin=(taskset -c 1)
fi

NAME=presence-bench
# shellcheck source=scripts/lib/servers.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/servers.sh"
trap stop_servers EXIT
trap 'exit 130' INT TERM

start_node() {
	local port=$1
	shift
	# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
	start_bg "${srv_pin[@]}" "$SERVER" chat -addr "127.0.0.1:$port" -rate-limit 100000 -log-level warn -admin-key k \
		-secret presence-bench-secret "$@" $SERVER_ARGS
}

for run in $(seq "$RUNS"); do
	free_port a
	if [ "$NODES" = 1 ]; then
		start_node "$a"
		healthy "$a" "${pids[0]}"
		where=(-target "http://127.0.0.1:$a" -pid "${pids[0]}")
	else
		free_port nats
		free_port b
		start_node "$a" -node a -nats embedded -nats-listen "127.0.0.1:$nats"
		healthy "$a" "${pids[0]}"
		start_node "$b" -node b -nats "nats://127.0.0.1:$nats"
		healthy "$b" "${pids[1]}"
		where=(-targets "http://127.0.0.1:$a,http://127.0.0.1:$b" -pid "${pids[0]},${pids[1]}")
	fi
	# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
	"${bench_pin[@]}" "$BENCH" bench presence -json -joiners "$JOINERS" -drain "$DRAIN" -limit "$LIMIT" \
		-label "$LABEL-${NODES}node-run$run" "${where[@]}" $BENCH_ARGS || true
	stop_servers
done
