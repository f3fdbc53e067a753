# What the benchmark scripts share: finding ports, starting servers in the
# background, waiting until they are healthy, stopping them. Sourced, never
# run. The script that sources it sets NAME (named in its messages) and LOG
# (where the servers write) first, and installs the traps it wants, usually
#
#   trap stop_servers EXIT
#   trap 'exit 130' INT TERM
#
# Every address is on loopback.

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports come from below the ephemeral range, so that no client connection
# of a run holds one, and none is handed out twice by one script.
_servers_eph_lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
_servers_taken=" "

# free_port VAR sets VAR to a free port.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % (_servers_eph_lo > 11000 ? _servers_eph_lo - 10000 : 20000)))
		[[ $_servers_taken == *" $p "* ]] && continue
		listening "$p" && continue
		_servers_taken+="$p "
		printf -v "$1" %s "$p"
		return
	done
	echo "$NAME: no free port found" >&2
	exit 1
}

# pids are the servers start_bg started, in order.
pids=()

# start_bg CMD ARGS… runs a server in the background, its output and a
# line naming it appended to LOG, and adds its pid to pids.
start_bg() {
	echo "--- $(date -u +%FT%TZ) $*" >>"$LOG"
	"$@" >>"$LOG" 2>&1 &
	pids+=($!)
}

# stop_servers stops every server in pids, the last started first (a node
# that joined another's NATS leaves it before that node stops), waiting up
# to ten seconds for each before it kills it.
stop_servers() {
	local pid i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}

# healthy PORT [PID] waits (at most 30 s) until GET /healthz on PORT says
# "status": "ok" (a node whose NATS is out of reach says "degraded"); it
# gives up at once if PID has ended.
healthy() {
	local end=$((SECONDS + 30))
	while [ "$SECONDS" -lt "$end" ]; do
		curl -fsS -m 2 "http://127.0.0.1:$1/healthz" 2>/dev/null | grep -q '"status": *"ok"' && return 0
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "$NAME: the server on port $1 did not become healthy; see $LOG" >&2
	return 1
}
