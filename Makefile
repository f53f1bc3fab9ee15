# routewatch — see README.md. `make test` is what CI runs (.ci/run).
GO ?= go
PKGS := ./...

.PHONY: build test staticcheck test-short vet fmt fuzz bench demo

build:
	$(GO) build -o bin/routewatch ./cmd/routewatch

# The full test suite: real Redis (127.0.0.1:6379 or REDIS_URL), ExaBGP and
# bgpdump from Debian, the shared RIS files in ../shared/data.
test: staticcheck
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# staticcheck from the Go module proxy, installed once into GOPATH/bin.
STATICCHECK ?= $(shell command -v staticcheck || echo $$($(GO) env GOPATH)/bin/staticcheck)
staticcheck:
	@[ -x "$(STATICCHECK)" ] || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) ./...

test-short:
	$(GO) test -short $(PKGS)

fmt:
	gofmt -l -w .

# Short fuzz runs of every decoder (longer: FUZZTIME=10m make fuzz).
FUZZTIME ?= 20s
fuzz:
	bash bench/fuzz.sh $(FUZZTIME)

bench:
	bash bench/run.sh
