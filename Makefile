# ssync developer tasks. go-sqlite3 needs cgo.
export CGO_ENABLED := 1
GO ?= go

.PHONY: demo test generate check-generated vet fmt bench bench-slow-link

## demo: run a server on a temporary SQLite file and two offline devices that converge
demo:
	bash example/demo.sh

## test: run every test (PostgreSQL/MariaDB tests skip loudly when the servers are down)
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

## generate: regenerate committed code (generated/, internal/evolvetest's two model versions, internal/sim/relmodel)
generate:
	$(GO) generate ./example/... ./internal/evolvetest/... ./internal/sim/relmodel/...

## check-generated: fail when generated/ is stale, or regeneration changes or adds files
check-generated:
	$(GO) run ./cmd/ssyncgen -check -out generated -pkg generated ./example/models
	$(GO) generate ./example/... ./internal/evolvetest/... ./internal/sim/relmodel/...
	@git diff --exit-code -- generated/ internal/evolvetest/ internal/sim/relmodel/ || { echo "generated/ changed after go generate: commit the regenerated files" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- generated/ internal/evolvetest/ internal/sim/relmodel/)" || { git status --porcelain --untracked-files=all -- generated/ internal/evolvetest/ internal/sim/relmodel/ >&2; echo "generated/ has uncommitted or untracked files after go generate" >&2; exit 1; }

## bench: hot-path Go benchmarks, then the end-to-end scenarios against same-run baselines
## (the watermelon scenario runs the WatermelonDB client in Node: npm ci in interop/watermelondb first)
bench: interop/watermelondb/node_modules/.package-lock.json
	$(GO) test -run '^$$' -bench . -benchmem ./runtime/... ./generated/
	$(GO) run ./cmd/ssync-bench -json -stores sqlite,postgres

interop/watermelondb/node_modules/.package-lock.json: interop/watermelondb/package-lock.json
	cd interop/watermelondb && npm ci --no-audit --no-fund

## bench-slow-link: the slow-link scenarios (10 Mbit/s + 50 ms, 1 Mbit/s + 150 ms) through a throttling proxy on 127.0.0.1
bench-slow-link:
	$(GO) run ./cmd/ssync-bench -slow-link -json

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

.PHONY: soak fuzz memory

PULL_MEMORY_MIB ?= 180

## memory: a notes-server process holding PULL_MEMORY_MIB (default 180) MiB of one user's notes
## serves six concurrent pulls (/pull and /pull-stream); its peak RSS must stay under 300 MB
memory:
	SSYNC_PULL_MEMORY_MIB=$(PULL_MEMORY_MIB) $(GO) test ./example/cmd/notes-server -run '^TestPullMemory$$' -count=1 -timeout 30m -v

SOAK_SECONDS ?= 600
SOAK_STEPS ?= 400

## soak: the simulation (internal/sim), seed after seed on every store, for SOAK_SECONDS
## (default 600) with SOAK_STEPS operations a run; SOAK_ARGS adds flags (e.g. -seed 5000, -store mysql);
## then 32 concurrent pushers and looping pullers on two server instances, SOAK_SECONDS per store
soak:
	SOAK_SECONDS=$(SOAK_SECONDS) $(GO) test ./internal/sim -run '^TestSimSoak$$' -count=1 -timeout 0 -v -steps $(SOAK_STEPS) $(SOAK_ARGS)
	SSYNC_CONCURRENCY_SECONDS=$(SOAK_SECONDS) $(GO) test ./runtime/server -run '^TestConcurrentInstances$$' -count=1 -timeout 0 -v -concurrency-pushers 32

FUZZTIME ?= 10s

## fuzz: every fuzz target for FUZZTIME each (default 10s); new failures land in testdata/fuzz
fuzz:
	$(GO) test ./runtime/wire -run '^$$' -fuzz '^FuzzDecodeChangeSets$$' -fuzztime $(FUZZTIME)
	$(GO) test ./runtime/store -run '^$$' -fuzz '^FuzzParseCheckpoint$$' -fuzztime $(FUZZTIME)
	$(GO) test ./runtime/server -run '^$$' -fuzz '^FuzzPullQuery$$' -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/ssyncgen/loader -run '^$$' -fuzz '^FuzzTableTag$$' -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/ssyncgen/loader -run '^$$' -fuzz '^FuzzFieldTag$$' -fuzztime $(FUZZTIME)
