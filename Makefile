# ssync developer tasks. go-sqlite3 needs cgo.
export CGO_ENABLED := 1
GO ?= go

.PHONY: demo test generate check-generated vet fmt bench

## demo: run a server on a temporary SQLite file and two offline devices that converge
demo:
	bash example/demo.sh

## test: run every test (PostgreSQL/MariaDB tests skip loudly when the servers are down)
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

## generate: regenerate committed code (generated/) from the example models
generate:
	$(GO) generate ./example/...

## check-generated: fail when generated/ is stale, or regeneration changes or adds files
check-generated:
	$(GO) run ./cmd/ssyncgen -check -out generated -pkg generated ./example/models
	$(GO) generate ./example/...
	@git diff --exit-code -- generated/ || { echo "generated/ changed after go generate: commit the regenerated files" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- generated/)" || { git status --porcelain --untracked-files=all -- generated/ >&2; echo "generated/ has uncommitted or untracked files after go generate" >&2; exit 1; }

## bench: hot-path Go benchmarks, then the end-to-end scenarios against same-run baselines
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./runtime/... ./generated/
	$(GO) run ./cmd/ssync-bench -json -stores sqlite,postgres

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...
