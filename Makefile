# The two commands that matter: `make dev` (the whole system locally) and `make test` (every test).
SHELL := /bin/bash
.DEFAULT_GOAL := help

help:
	@echo "make dev    start emulator, simulator and every function behind one local HTTP API"
	@echo "make test   run every test (installs what it needs)"
	@echo "make bench  protocol benchmark beside openssl speed"
	@echo "make fuzz   run each fuzz target for a bounded time"
	@echo "make sim    run the Alipay gateway simulator on 127.0.0.1:\$$SIM_PORT (default 9999)"

test:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace
	scripts/check-template.sh
	scripts/interop.sh

bench:
	cargo run --release -p alipay-protocol --example bench

.PHONY: help test bench

dev:
	scripts/dev.sh

.PHONY: dev

sim:
	SIM_PORT=$${SIM_PORT:-9999} cargo run -p alipay-sim

.PHONY: sim
