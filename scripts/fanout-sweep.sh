#!/usr/bin/env bash
# Runs `pyre bench fanout` at several subscriber counts, each against a
# freshly started server, and prints one JSON line per run on stdout (the
# summaries go to stderr). Feed the lines to scripts/plot-fanout.sh.
#
#   scripts/fanout-sweep.sh 'COMMAND' LABEL >> results.jsonl
#
# COMMAND starts the server in the foreground; {ADDR} in it becomes
# 127.0.0.1:PORT for a free port. The script execs it, so the server's PID
# is known and its CPU and memory are measured. For example:
#
#   scripts/fanout-sweep.sh 'bin/pyre chat -addr {ADDR} -admin-key k -log-level warn -rate-limit 100000' pyre
#
# (pyre chat's default rate limit, 10 events a second per socket, would
# refuse most of the publisher's pushes: a benchmark raises it.)
#
# Environment (defaults): SUBS="50 100 250 500 1000", RUNS=1, DURATION=10s,
# COUNT=50000, RATE=0 (flow control; otherwise messages per second),
# WINDOW=32, PIN=0 (1: server on CPU 0, bench on CPU 1, with taskset),
# PYRE=bin/pyre, BENCH_ARGS (more flags for pyre bench), LOG (the servers'
# output, default /tmp/fanout-sweep-LABEL.log).
set -euo pipefail

[ $# -eq 2 ] || { sed -n '2,21p' "$0" >&2; exit 2; }
cmd=$1 label=$2
[[ $cmd == *"{ADDR}"* ]] || { echo "fanout-sweep: the command must contain {ADDR}" >&2; exit 2; }
SUBS=${SUBS:-50 100 250 500 1000}
RUNS=${RUNS:-1}
DURATION=${DURATION:-10s}
COUNT=${COUNT:-50000}
RATE=${RATE:-0}
WINDOW=${WINDOW:-32}
PIN=${PIN:-0}
PYRE=${PYRE:-bin/pyre}
BENCH_ARGS=${BENCH_ARGS:-}
LOG=${LOG:-/tmp/fanout-sweep-$label.log}

srv_pin=() bench_pin=()
if [ "$PIN" = 1 ]; then
	command -v taskset >/dev/null || { echo "fanout-sweep: PIN=1 needs taskset" >&2; exit 2; }
	srv_pin=(taskset -c 0) bench_pin=(taskset -c 1)
fi

NAME=fanout-sweep
# shellcheck source=scripts/lib/servers.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/servers.sh"
trap stop_servers EXIT
trap 'exit 130' INT TERM

# start_server starts the command on a free port and waits (at most 30 s)
# until it listens; it tries three ports before giving up. It sets port
# and pid.
start_server() {
	for _ in 1 2 3; do
		free_port port
		start_bg "${srv_pin[@]}" bash -c "exec ${cmd//\{ADDR\}/127.0.0.1:$port}"
		pid=${pids[-1]}
		for _ in $(seq 300); do
			listening "$port" && return 0
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		stop_servers
	done
	echo "fanout-sweep: the server did not start; see $LOG" >&2
	exit 1
}

for subs in $SUBS; do
	for _ in $(seq "$RUNS"); do
		start_server
		flow=(-window "$WINDOW")
		[ "$RATE" = 0 ] || flow=(-rate "$RATE")
		# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
		"${bench_pin[@]}" "$PYRE" bench fanout -json -target "http://127.0.0.1:$port" -pid "$pid" -label "$label" \
			-subs "$subs" -duration "$DURATION" -count "$COUNT" "${flow[@]}" $BENCH_ARGS ||
			echo "fanout-sweep: $subs subscribers: pyre bench failed" >&2
		stop_servers
	done
done
