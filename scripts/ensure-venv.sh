#!/usr/bin/env bash
# Creates (once) the project's Python venv with the AWS emulator (moto server) and cfn-lint.
# Idempotent and quiet when already done; prints the venv path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.installed-v1"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "moto[server]==5.2.5" "cfn-lint==1.58.0" >&2
  touch "$stamp"
fi
echo "$venv"
