#!/usr/bin/env bash
# Runs every Go fuzz target of the module briefly: FUZZTIME each (default 5s).
# PKGS narrows the packages (default ./...).
# go test -fuzz accepts one target in one package at a time, so list them first.
set -euo pipefail

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-5s}"
read -r -a pkgs <<<"${PKGS:-./...}"
cd "$(dirname "$0")/.."

# `go test -list` prints matching names, then "ok  <pkg> ..." for each package.
listing="$("$GO" test -list '^Fuzz' "${pkgs[@]}")"

# fuzz_one runs one target. Go's fuzzer can end a short run with a bare
# "context deadline exceeded" when time runs out while it is still
# minimizing a new interesting input; that is no finding (no failing input
# is written), so such a run is tried again (up to four times in all)
# instead of failing CI.
fuzz_one() {
  local out
  for attempt in 1 2 3 4; do
    if out="$("$GO" test -run='^$' -fuzz="^${2}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=1s "$1" 2>&1)"; then
      echo "$out" | tail -n 2
      return 0
    fi
    echo "$out"
    if grep -q "Failing input written" <<<"$out" || ! grep -q "context deadline exceeded" <<<"$out"; then
      return 1
    fi
    echo "fuzz: $2 stopped while minimizing a new input; running it again ($attempt)"
  done
  return 1
}

count=0
targets=()
while read -r line; do
  case "$line" in
    Fuzz*) targets+=("$line") ;;
    "ok "*|"ok	"*)
      pkg="$(awk '{print $2}' <<<"$line")"
      for name in "${targets[@]+"${targets[@]}"}"; do
        echo "fuzz: $pkg $name ($FUZZTIME)"
        fuzz_one "$pkg" "$name"
        count=$((count + 1))
      done
      targets=()
      ;;
    "?"*) targets=() ;; # a package without test files
  esac
done <<<"$listing"

echo "fuzz: $count target(s) fuzzed for $FUZZTIME each"
