# chainflow: `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: run
run: ## Run the devnet through the gas_fees dataflow with a live console view (Ctrl-C stops)
	$(CARGO) run --release --quiet -- run $(ARGS)

.PHONY: build
build: ## Build the release binary
	$(CARGO) build --release

.PHONY: services
services: ## Install and start what the tests need (ClickHouse, NATS, PostgreSQL, anvil, chdb); idempotent
	@bash scripts/services.sh

.PHONY: test
test: services ## Set up services, then run every test (the workspace: chainflow, its macros, the external-dataflow example)
	$(CARGO) test --workspace

.PHONY: lint
lint: ## cargo fmt --check and clippy -D warnings on all targets
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: bench
bench: ## Throughput of gas_fees against a plain loop (BENCH_BLOCKS=100000 by default), the RPC source against anvil (BENCH_RPC_BLOCKS=1000), the ClickHouse sink beside clickhouse-client (BENCH_CH_ROWS=200000) and head-to-queryable latency, the PostgreSQL sink beside psql \copy and a depth-64 reorg (BENCH_PG_ROWS=200000; plain tables and hypertables), NATS ingress and egress beside plain async-nats loops and the cost of message-id dedup (BENCH_MESSAGES=20000), worker and process scaling and resident memory over a long devnet run (BENCH_SCALE_BLOCKS=20000, BENCH_MEM_BLOCKS=1000000), the taiko rollup dataflows on the rollup devnet beside a plain loop (BENCH_ROLLUP_L1_BLOCKS=3000)
	$(CARGO) bench --bench gas_fees
	$(CARGO) bench --bench rpc
	$(CARGO) bench --bench clickhouse
	$(CARGO) bench --bench postgres
	$(CARGO) bench --bench nats
	$(CARGO) bench --bench scale
	$(CARGO) bench --bench rollup

.PHONY: doc
doc: ## Build the API docs
	$(CARGO) doc --no-deps

.PHONY: clean
clean: ## Remove build output
	$(CARGO) clean
