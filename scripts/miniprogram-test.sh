#!/usr/bin/env bash
# The mini-program kit's tests (clients/miniprogram, Node's built-in test runner) against the local
# stack: the integration tests' harness as a process of its own (tests/examples/stack.rs: moto, the
# Alipay simulator, the function binaries under local-stack, on free ports), which the tests start
# and stop themselves. Needs the workspace binaries (make test builds them first) and Node >= 20.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
scripts/ensure-venv.sh >/dev/null
cargo build -p integration-tests --example stack
node --test clients/miniprogram/test/kit.test.mjs
