#!/usr/bin/env bash
# Draws fan-out results as a PNG: deliveries/s and p99 latency against the
# number of subscribers, one line per label (pyre, rawceil, …).
#
#   scripts/plot-fanout.sh [-o fanout.png] [-kind max|rate|all] [FILE.jsonl ...]
#
# The files hold JSON lines from `pyre bench fanout -json` (see
# scripts/fanout-sweep.sh) or from the team's harness; without files it
# reads /tmp/bench-results/*.jsonl. Flags go to tools/plotfanout (-h lists
# them). Only the Go toolchain is needed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
args=("$@")
# Are there files among the arguments? Flags with a value skip it.
have_files=0
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[$i]} in
	-o | -kind | -title | -width | -height) i=$((i + 1)) ;;
	-h | -help | --help) have_files=1 ;;
	-?*) ;;
	*) have_files=1 ;;
	esac
done
if [ "$have_files" = 0 ]; then
	shopt -s nullglob
	defaults=(/tmp/bench-results/*.jsonl)
	[ ${#defaults[@]} -gt 0 ] || { echo "plot-fanout: no files given and none in /tmp/bench-results" >&2; exit 2; }
	args+=("${defaults[@]}")
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/plotfanout" ./tools/plotfanout)
"$bin/plotfanout" "${args[@]}"
