# throng — make targets. `make test` is exactly what CI runs (.ci/run).

GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 60s
NODE_DIR := cmd/throng/testdata/node
# Packages whose code runs on several goroutines: always tested with -race.
RACE_PKGS := ./engine/... ./reuseport/... ./upstream/... ./bench/... ./pool/... ./policy/... ./tlsconf/... ./tlslayer/... ./bus/... ./fwdauth/...

.PHONY: all build run test fmt-check vet unit race integration node-deps prom-deps py-deps bus-deps fuzz bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/throng ./cmd/throng
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/throng-bench ./cmd/throng-bench

# Runs the bundled echo backend and throng in front of it; Ctrl-C stops both.
run: build
	@bash examples/run.sh $(BIN) examples/throng.toml

test: fmt-check vet node-deps prom-deps py-deps bus-deps unit race

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Unit tests, fuzz seed corpora (Fuzz* run their seeds as plain tests) and
# the integration tests in cmd/throng, which build and run the real binaries.
unit:
	THRONG_REQUIRE_NODE=1 THRONG_REQUIRE_PROMETHEUS=1 THRONG_REQUIRE_PYTHON=1 THRONG_REQUIRE_BUS=1 $(GO) test -count=1 -timeout 10m ./...

race:
	$(GO) test -race -count=1 -timeout 10m $(RACE_PKGS)

# The independent-client suite uses Node's `ws` package.
node-deps:
	@command -v node >/dev/null || { echo "node is required for the independent-client tests"; exit 1; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error

# The admin tests scrape throng with a real Prometheus and check the alert
# rules with promtool: Debian's prometheus package has both.
prom-deps:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		echo "installing Debian's prometheus package (prometheus, promtool)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# The wss suite drives Python's websockets (its TLS is OpenSSL's) and
# openssl s_client: Debian's python3-websockets and openssl packages.
py-deps:
	@/usr/bin/python3 -c 'import websockets' 2>/dev/null && command -v openssl >/dev/null || { \
		echo "installing Debian's python3-websockets and openssl packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-websockets openssl >/dev/null; }

# The bus tests run a real Redis and a real NATS server: Debian's
# redis-server and nats-server packages.
bus-deps:
	@command -v redis-server >/dev/null && command -v nats-server >/dev/null || { \
		echo "installing Debian's redis-server and nats-server packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server nats-server >/dev/null; }

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=10 ./codec ./upstream ./engine | tee bench.txt
	@echo "compare runs with: benchstat old.txt bench.txt"

clean:
	rm -rf $(BIN) bench.txt
	$(GO) clean -testcache
