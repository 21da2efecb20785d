#!/usr/bin/env bash
# Creates (once) the project's Python venv with the AWS emulator (moto server) and cfn-lint.
# Idempotent and quiet when already done; prints the venv path.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
venv="$root/.venv"
pip_venv "$venv" .installed-v1 "" "moto[server]==5.2.5" "cfn-lint==1.58.0"
echo "$venv"
