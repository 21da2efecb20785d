# Sourced by the scripts beside it, never run: what they all begin with and the tool installs they share.
#
#   set -euo pipefail
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# gives $root (the repository) and makes it the working directory.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# pip_venv VENV STAMP MESSAGE PACKAGE...: the Python venv VENV with the (pinned) packages, installed once;
# the file STAMP inside the venv says it is done (a new stamp name when the pins change). MESSAGE, if not
# empty, goes to stderr before an install. Everything the install prints goes to stderr.
pip_venv() {
  local venv="$1" stamp="$1/$2" message="$3"
  shift 3
  if [ ! -f "$stamp" ]; then
    if [ -n "$message" ]; then echo "$message" >&2; fi
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    touch "$stamp"
  fi
}
