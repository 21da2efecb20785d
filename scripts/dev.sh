#!/usr/bin/env bash
# `make dev`: the whole system on 127.0.0.1, from a fresh machine.
#   1. the Python venv (moto server + cfn-lint), 2. every workspace binary (cargo build),
#   3. `dev-stack` (infra/stack-harness, the same harness as the integration tests and the bench):
#      moto (DynamoDB + Secrets Manager) on MOTO_PORT (5000), the table shaped as template.yaml declares
#      it and the secrets, the Alipay simulator on SIM_PORT (9999), and local-stack on API_PORT (3000):
#      every function of template.yaml under a local Lambda Runtime API behind a local HTTP API with
#      template.yaml's routes and auth. It prints how to use it and runs until Ctrl-C.
# Functions not built yet are skipped with a warning (their routes answer 502 until they exist).
# DEV_SKIP_BUILD=1 skips step 2 (use the binaries already built).
# CERT_MODE=1 runs it in certificate mode (公钥证书模式): the simulator makes its own root, Alipay and app
# certificates, and the keys secret holds them (app_cert, alipay_cert, alipay_root_cert) instead of
# alipay_public_key; `curl -d '{"rotateAlipayCert":true}' 127.0.0.1:9999/sim/settings` rotates Alipay's.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN_DIR="${CARGO_TARGET_DIR:-$root/target}/debug"

say() { printf '\033[1;34m[dev]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33m[dev] warning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[dev] error:\033[0m %s\n' "$*" >&2; exit 1; }

# 1. venv (the harness finds moto_server in it)
scripts/ensure-venv.sh >/dev/null

# 2. binaries
if [ -n "${DEV_SKIP_BUILD:-}" ]; then
  say "DEV_SKIP_BUILD set: using the binaries already in $BIN_DIR"
elif say "building the workspace binaries (cargo build --workspace --bins)" && ! cargo build --workspace --bins; then
  warn "the workspace build failed; building the harness and each function on its own"
  cargo build -p stack-harness --bin dev-stack || die "the stack harness does not build"
  for pkg in $(ls functions 2>/dev/null); do
    cargo build -p "$pkg" --bins || warn "$pkg does not build; skipped"
  done
fi
[ -x "$BIN_DIR/dev-stack" ] || die "$BIN_DIR/dev-stack is not built (cargo build -p stack-harness)"

# 3. the stack
export LOCAL_BIN_DIR="$BIN_DIR"
[ "${CERT_MODE:-0}" = "1" ] && say "certificate mode (CERT_MODE=1)"
exec "$BIN_DIR/dev-stack"
