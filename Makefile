# pyre: the chat demo, the whole test suite and the benchmarks.

GO      ?= go
NODE    ?= node
NPM     ?= npm
ADDR    ?= 127.0.0.1:4000
ADMIN   ?= dev-admin-key
FUZZTIME ?= 5s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The pages' phoenix.js client is npm's (package-lock.json pins the
# version), committed once in CLIENT so that every build carries it; make
# vet checks it against the npm package, make client copies it again.
CLIENT  := examples/internal/phoenixjs
PHOENIX := node_modules/phoenix

.PHONY: run test vet clientcheck gotest fuzz build install installcheck client npmdeps jstest browsertest bench clean

## run: the chat demo on http://$(ADDR); another address: make run ADDR=127.0.0.1:8080
run:
	$(GO) run ./cmd/pyre chat -addr $(ADDR) -admin-key $(ADMIN)

## test: everything -- gofmt, vet and staticcheck, Go tests with the race detector, brief fuzzing,
## then the phoenix.js tests in Node and the page in headless Chromium
test: vet gotest fuzz build jstest browsertest

vet: clientcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The committed client must be byte for byte npm's, at package-lock's version.
clientcheck: npmdeps
	cmp $(PHOENIX)/priv/static/phoenix.mjs $(CLIENT)/phoenix.mjs
	cmp $(PHOENIX)/priv/static/phoenix.mjs.map $(CLIENT)/phoenix.mjs.map
	cmp $(PHOENIX)/LICENSE.md $(CLIENT)/LICENSE.md
	$(GO) test -count=1 -run TestMatchesNPM ./$(CLIENT)

gotest:
	$(GO) test -race -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz-brief.sh

## build: bin/pyre, with the pages' phoenix.js client inside
build:
	$(GO) build -o bin/pyre ./cmd/pyre

## install: pyre into $(go env GOBIN) (default $(go env GOPATH)/bin), client inside
install:
	$(GO) install ./cmd/pyre

## installcheck: go install from HEAD's committed files only, then the page in Chromium from an empty directory
installcheck: npmdeps
	GO=$(GO) NODE=$(NODE) scripts/go-install-check.sh

# After changing phoenix's version in package.json and package-lock.json:
# copy the new client over the committed one (and update phoenixjs.Version).
client: npmdeps
	cp $(PHOENIX)/priv/static/phoenix.mjs $(PHOENIX)/priv/static/phoenix.mjs.map $(PHOENIX)/LICENSE.md $(CLIENT)/

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
