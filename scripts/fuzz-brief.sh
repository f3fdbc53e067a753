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

count=0
targets=()
while read -r line; do
  case "$line" in
    Fuzz*) targets+=("$line") ;;
    "ok "*|"ok	"*)
      pkg="$(awk '{print $2}' <<<"$line")"
      for name in "${targets[@]+"${targets[@]}"}"; do
        echo "fuzz: $pkg $name ($FUZZTIME)"
        "$GO" test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "$pkg"
        count=$((count + 1))
      done
      targets=()
      ;;
    "?"*) targets=() ;; # a package without test files
  esac
done <<<"$listing"

echo "fuzz: $count target(s) fuzzed for $FUZZTIME each"
