#!/usr/bin/env bash
# Fan-out across two pyre chat nodes joined by embedded NATS, against the
# same fan-out on one node: one JSON line per run on stdout, a comparison
# on stderr.
#
#   scripts/cluster-fanout.sh >> results.jsonl
#   PIN=1 DURATION=15s COUNT=30000 scripts/cluster-fanout.sh
#
# The single-node run starts one `pyre chat` and runs
#   pyre bench fanout -target A -pid PID -subs $SUBS …
# The two-node run starts node a with -nats embedded -nats-listen
# 127.0.0.1:PORT and node b with -nats nats://127.0.0.1:PORT, both with the
# same -secret (a token from a's login is valid on b), waits until both
# say "ok" on GET /healthz (connected to NATS), and runs
#   pyre bench fanout -targets A,B -pid PIDA,PIDB -subs $SUBS …
# which puts subscriber i on node i mod 2 and the publisher on a, so that
# half the deliveries cross NATS. Every node runs with -rate-limit 100000
# -log-level warn -admin-key k on loopback, and is stopped before the next
# run starts and whenever the script ends.
#
# Its JSON has server_cpu_s summed over both nodes, servers (each node's
# CPU and RSS), per_target (each node's deliveries) and
# server_cpu_us_per_delivery. With PIN=1 every server runs on CPU 0 and the
# bench on CPU 1 (taskset), so both nodes share one CPU as the single node
# has one: the comparison on stderr sets their deliveries per second of
# server CPU side by side (the cluster's share of the single node's; the
# aim is at least 0.8). Unpinned, the nodes and the bench compete for every
# CPU, and the figures say less.
#
# Environment (defaults): MODE=both (single, cluster or both), SUBS=1000,
# DURATION=10s, COUNT=50000, RATE=0 (flow control; otherwise messages per
# second), WINDOW=32, PIN=0, LIMIT=3m (pyre bench's hard limit per run),
# PYRE=bin/pyre, BENCH_ARGS (more flags for pyre bench), LABEL=pyre (the
# runs are labelled LABEL-1node and LABEL-2nodes), SECRET (the nodes'
# shared -secret; a fixed bench secret by default), LOG (the servers'
# output, default /tmp/cluster-fanout.log).
set -euo pipefail

[ $# -eq 0 ] || { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" >&2; exit 2; }
MODE=${MODE:-both}
SUBS=${SUBS:-1000}
DURATION=${DURATION:-10s}
COUNT=${COUNT:-50000}
RATE=${RATE:-0}
WINDOW=${WINDOW:-32}
PIN=${PIN:-0}
LIMIT=${LIMIT:-3m}
PYRE=${PYRE:-bin/pyre}
BENCH_ARGS=${BENCH_ARGS:-}
LABEL=${LABEL:-pyre}
SECRET=${SECRET:-cluster-fanout-bench-secret}
LOG=${LOG:-/tmp/cluster-fanout.log}

case $MODE in single | cluster | both) ;; *) echo "cluster-fanout: MODE must be single, cluster or both, not $MODE" >&2; exit 2 ;; esac
[ -x "$PYRE" ] || { echo "cluster-fanout: $PYRE is missing; run make build" >&2; exit 2; }
for c in curl jq; do command -v $c >/dev/null || { echo "cluster-fanout: needs $c" >&2; exit 2; }; done
srv_pin=() bench_pin=()
if [ "$PIN" = 1 ]; then
	command -v taskset >/dev/null || { echo "cluster-fanout: PIN=1 needs taskset" >&2; exit 2; }
	srv_pin=(taskset -c 0) bench_pin=(taskset -c 1)
fi

NAME=cluster-fanout
# shellcheck source=scripts/lib/servers.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/servers.sh"
trap stop_servers EXIT
trap 'exit 130' INT TERM

# start_node PORT FLAGS… starts pyre chat on 127.0.0.1:PORT in the
# background and adds its pid to pids.
start_node() {
	local port=$1
	shift
	start_bg "${srv_pin[@]}" "$PYRE" chat -addr "127.0.0.1:$port" -rate-limit 100000 -max-sockets-per-user 0 -log-level warn -admin-key k "$@"
}

flow=(-window "$WINDOW")
[ "$RATE" = 0 ] || flow=(-rate "$RATE")
run_bench() {
	# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
	"${bench_pin[@]}" "$PYRE" bench fanout -json -subs "$SUBS" -duration "$DURATION" -count "$COUNT" \
		-limit "$LIMIT" "${flow[@]}" "$@" $BENCH_ARGS
}

# field NAME JSON prints a top-level number of a report (empty if absent).
field() { jq -r ".$1 // empty" <<<"$2"; }

single= cluster=
if [ "$MODE" != cluster ]; then
	free_port port
	start_node "$port"
	healthy "$port" "${pids[0]}"
	single=$(run_bench -target "http://127.0.0.1:$port" -pid "${pids[0]}" -label "$LABEL-1node") ||
		echo "cluster-fanout: the single-node run failed" >&2
	[ -z "$single" ] || echo "$single"
	stop_servers
fi
if [ "$MODE" != single ]; then
	free_port nats
	free_port pa
	free_port pb
	start_node "$pa" -node bench-a -secret "$SECRET" -nats embedded -nats-listen "127.0.0.1:$nats"
	healthy "$pa" "${pids[0]}"
	start_node "$pb" -node bench-b -secret "$SECRET" -nats "nats://127.0.0.1:$nats"
	healthy "$pb" "${pids[1]}"
	cluster=$(run_bench -targets "http://127.0.0.1:$pa,http://127.0.0.1:$pb" -pid "${pids[0]},${pids[1]}" \
		-label "$LABEL-2nodes") || echo "cluster-fanout: the two-node run failed" >&2
	[ -z "$cluster" ] || echo "$cluster"
	stop_servers
fi

describe() {
	local per cpu
	per=$(field server_cpu_us_per_delivery "$2")
	cpu=$(field server_cpu_s "$2")
	printf '%-10s %s deliveries/s, server CPU %ss, %sµs per delivery, lost %s\n' "$1" \
		"$(field delivered_per_s "$2")" "${cpu:-?}" "${per:-?}" "$(field lost "$2")" >&2
}
[ -z "$single" ] || describe "one node" "$single"
[ -z "$cluster" ] || describe "two nodes" "$cluster"
if [ -n "$single" ] && [ -n "$cluster" ]; then
	s=$(field server_cpu_us_per_delivery "$single") c=$(field server_cpu_us_per_delivery "$cluster")
	if [ -n "$s" ] && [ -n "$c" ]; then
		awk -v s="$s" -v c="$c" -v pin="$PIN" 'BEGIN {
			printf "deliveries per second of server CPU: two nodes at %.2f of one node (aim: at least 0.80)%s\n",
				s / c, pin == 1 ? "" : "; unpinned, so only indicative"
		}' >&2
	fi
fi
