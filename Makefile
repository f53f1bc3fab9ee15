# routewatch — see README.md. `make test` is what CI runs (.ci/run).
GO ?= go
PKGS := ./...

.PHONY: build test staticcheck test-short vet fmt fuzz bench demo openapi-lint deploy-check gobgp-update gobgp-check

build:
	$(GO) build -o bin/routewatch ./cmd/routewatch

# The full test suite: real Redis (127.0.0.1:6379 or REDIS_URL), ExaBGP and
# bgpdump from Debian, the shared RIS files in ../shared/data.
test: staticcheck openapi-lint deploy-check
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

# OpenAPI document: Redocly CLI (recommended rules) and Spectral (oas
# ruleset), both clean. The tools are installed once from npm into .cache.
LINT_DIR := .cache/openapi-lint
REDOCLY_VERSION := 2.77.0
SPECTRAL_VERSION := 6.16.3
$(LINT_DIR)/node_modules/.bin/redocly $(LINT_DIR)/node_modules/.bin/spectral:
	npm install --no-audit --no-fund --silent --prefix $(LINT_DIR) @redocly/cli@$(REDOCLY_VERSION) @stoplight/spectral-cli@$(SPECTRAL_VERSION)
openapi-lint: $(LINT_DIR)/node_modules/.bin/redocly $(LINT_DIR)/node_modules/.bin/spectral
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(LINT_DIR)/node_modules/.bin/redocly lint --config api/redocly.yaml api/openapi.json
	$(LINT_DIR)/node_modules/.bin/spectral lint --fail-severity warn --ruleset api/.spectral.yaml api/openapi.json

# Prometheus alerting rules and the Grafana dashboard in deploy/.
PROMTOOL ?= promtool
deploy-check:
	$(PROMTOOL) check rules deploy/prometheus/routewatch-rules.yml
	$(PROMTOOL) test rules deploy/prometheus/routewatch-rules.test.yml
	python3 -c 'import json,sys; d=json.load(open("deploy/grafana/routewatch-dashboard.json")); assert d["panels"], "no panels"'

# The patched GoBGP copy (third_party/gobgp/README.md): gobgp-update
# re-copies it from the module cache and applies patches/*.diff;
# gobgp-check fails if the committed copy differs from that.
gobgp-update:
	sh third_party/gobgp/update.sh
gobgp-check: gobgp-update
	git diff --exit-code -- third_party/gobgp
	@test -z "$$(git status --porcelain -- third_party/gobgp)" || { git status --short -- third_party/gobgp; exit 1; }
