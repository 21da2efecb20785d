#!/usr/bin/env bash
# Interop: drive the gateway simulator with the official Node SDK (npm alipay-sdk, pinned in
# tests/interop/package.json). Installs the Node packages, builds and starts the simulator on a free
# port, runs the Node tests, stops the simulator. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INTEROP="$ROOT/tests/interop"

command -v node >/dev/null || { echo "interop: node (>= 20) is required" >&2; exit 1; }
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
if (( NODE_MAJOR < 20 )); then
  echo "interop: node >= 20 is required (found $(node --version))" >&2
  exit 1
fi

echo "interop: installing Node packages (npm ci)"
(cd "$INTEROP" && npm ci --no-audit --no-fund --loglevel=error)

echo "interop: building alipay-sim"
cargo build --quiet -p alipay-sim --manifest-path "$ROOT/Cargo.toml"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SIM_BIN="$TARGET_DIR/debug/alipay-sim"

WORK="$(mktemp -d)"
SIM_PID=""
cleanup() {
  if [[ -n "$SIM_PID" ]]; then
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

SIM_PORT=0 "$SIM_BIN" >"$WORK/out" 2>"$WORK/err" &
SIM_PID=$!

LINE=""
for _ in $(seq 1 200); do
  LINE="$(head -n 1 "$WORK/out" 2>/dev/null || true)"
  [[ -n "$LINE" ]] && break
  if ! kill -0 "$SIM_PID" 2>/dev/null; then
    echo "interop: alipay-sim exited early:" >&2
    cat "$WORK/err" >&2
    exit 1
  fi
  sleep 0.05
done
if [[ "$LINE" != "alipay-sim listening on "* ]]; then
  echo "interop: unexpected first line from alipay-sim: '$LINE'" >&2
  exit 1
fi
SIM_URL="${LINE#alipay-sim listening on }"
echo "interop: simulator at $SIM_URL"

cd "$INTEROP"
if SIM_URL="$SIM_URL" node --test --test-reporter=spec interop.test.mjs; then
  echo "interop: passed"
else
  echo "interop: FAILED (simulator log follows)" >&2
  cat "$WORK/err" >&2
  exit 1
fi
