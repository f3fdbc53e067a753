# pyre: the chat demo, the whole test suite and the benchmarks.

GO      ?= go
NODE    ?= node
NPM     ?= npm
ADDR    ?= 127.0.0.1:4000
ADMIN   ?= dev-admin-key
FUZZTIME ?= 5s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Where go:embed finds the pages' phoenix.js client (git-ignored): the chat
# page's and the donations page's.
CLIENTS := examples/chat/web/phoenix examples/donations/web/phoenix
PHOENIX := node_modules/phoenix/priv/static

.PHONY: run test vet gotest fuzz build install client npmdeps jstest browsertest bench clean

## run: the chat demo on http://$(ADDR); another address: make run ADDR=127.0.0.1:8080
run: client
	$(GO) run ./cmd/pyre chat -addr $(ADDR) -admin-key $(ADMIN)

## test: everything -- gofmt, vet and staticcheck, Go tests with the race detector, brief fuzzing,
## then the phoenix.js tests in Node and the page in headless Chromium
test: vet gotest fuzz build jstest browsertest

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

gotest:
	$(GO) test -race -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz-brief.sh

## build: bin/pyre, with the pages' phoenix.js client inside
build: client
	$(GO) build -o bin/pyre ./cmd/pyre

## install: pyre into $(go env GOBIN) (default $(go env GOPATH)/bin), client inside
install: client
	$(GO) install ./cmd/pyre

# The client is npm's (package-lock.json pins the version), not ours: it is
# copied from the package before every build, never committed.
client: npmdeps
	for d in $(CLIENTS); do cp $(PHOENIX)/phoenix.mjs $(PHOENIX)/phoenix.mjs.map $$d/ || exit 1; done

jstest: build npmdeps
	$(NODE) --test test/js/

browsertest: build npmdeps
	$(NODE) --test test/browser/

## bench: every Go benchmark, with allocations
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# The page's client and the test tools come from npm.
npmdeps:
	@(for m in phoenix ws playwright-core; do test -d node_modules/$$m || exit 1; done) \
		|| $(NPM) install --no-audit --no-fund

clean:
	rm -rf bin $(foreach d,$(CLIENTS),$(d)/phoenix.mjs $(d)/phoenix.mjs.map)
