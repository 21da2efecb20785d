#!/usr/bin/env bash
# Interop: drive the gateway simulator with the official Node SDK (npm alipay-sdk, pinned in
# tests/interop/package.json). Installs the Node packages, builds and starts the simulator on a free
# port, runs the Node tests, stops the simulator. Exits non-zero on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
INTEROP="$root/tests/interop"

command -v node >/dev/null || { echo "interop: node (>= 20) is required" >&2; exit 1; }
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
if (( NODE_MAJOR < 20 )); then
  echo "interop: node >= 20 is required (found $(node --version))" >&2
  exit 1
fi

echo "interop: installing Node packages (npm ci)"
(cd "$INTEROP" && npm ci --no-audit --no-fund --loglevel=error)

echo "interop: building alipay-sim"
cargo build --quiet -p alipay-sim --manifest-path "$root/Cargo.toml"
TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
SIM_BIN="$TARGET_DIR/debug/alipay-sim"

WORK="$(mktemp -d)"
SIM_PIDS=()
cleanup() {
  for pid in "${SIM_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts the simulator (extra environment as arguments) on a free port; sets STARTED_URL.
start_sim() {
  local name="$1"; shift
  env SIM_PORT=0 "$@" "$SIM_BIN" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  local pid=$!
  SIM_PIDS+=("$pid")
  local line=""
  for _ in $(seq 1 200); do
    line="$(head -n 1 "$WORK/$name.out" 2>/dev/null || true)"
    [[ -n "$line" ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "interop: alipay-sim ($name) exited early:" >&2
      cat "$WORK/$name.err" >&2
      exit 1
    fi
    sleep 0.05
  done
  if [[ "$line" != "alipay-sim listening on "* ]]; then
    echo "interop: unexpected first line from alipay-sim ($name): '$line'" >&2
    exit 1
  fi
  STARTED_URL="${line#alipay-sim listening on }"
}

start_sim key
SIM_URL="$STARTED_URL"
echo "interop: simulator at $SIM_URL"
# The same official SDK in certificate mode, against a simulator in certificate mode.
start_sim cert SIM_CERT_MODE=1
SIM_CERT_URL="$STARTED_URL"
echo "interop: simulator (certificate mode) at $SIM_CERT_URL"

cd "$INTEROP"
if SIM_URL="$SIM_URL" SIM_CERT_URL="$SIM_CERT_URL" node --test --test-reporter=spec interop.test.mjs interop_cert.test.mjs; then
  echo "interop: passed"
else
  echo "interop: FAILED (simulator logs follow)" >&2
  cat "$WORK/key.err" "$WORK/cert.err" >&2
  exit 1
fi
