# pyre: the chat demo, the whole test suite and the benchmarks.

GO      ?= go
NODE    ?= node
NPM     ?= npm
ADDR    ?= 127.0.0.1:4000
ADMIN   ?= dev-admin-key
FUZZTIME ?= 5s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run test vet gotest fuzz build npmdeps jstest browsertest bench clean

## run: the chat demo on http://$(ADDR)
run:
	@test -d node_modules/phoenix || $(NPM) install --no-audit --no-fund
	$(GO) run ./cmd/pyre chat -addr $(ADDR) -admin-key $(ADMIN)

## test: everything -- vet and staticcheck, Go tests with the race detector, brief fuzzing,
## then the phoenix.js tests in Node and the page in headless Chromium
test: vet gotest fuzz build jstest browsertest

vet:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

gotest:
	$(GO) test -race -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz-brief.sh

build:
	$(GO) build -o bin/pyre ./cmd/pyre

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
	rm -rf bin
