#!/usr/bin/env bash
# Checks that `go install` gives a working binary from what a module
# download carries: the committed files of HEAD only (git archive), built
# with go install into an empty bin directory, then the browser test that
# starts the binary from an empty directory and uses its chat page.
set -euo pipefail

GO="${GO:-go}"
NODE="${NODE:-node}"
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/src" "$work/bin"
git archive HEAD | tar -x -C "$work/src"
(cd "$work/src" && GOBIN="$work/bin" GOFLAGS=-mod=mod "$GO" install ./cmd/pyre)
PYRE_BIN="$work/bin/pyre" "$NODE" --test "$root/test/browser/anywhere.test.mjs"
