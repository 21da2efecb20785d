#!/usr/bin/env bash
# Property-based API testing of every route in openapi.yaml against the local stack (the real function
# binaries behind local-stack, moto, the Alipay simulator), with schemathesis' `not_a_server_error`
# check (and the response schema, content type and status code conformance checks, which hold openapi.yaml
# to what the handlers answer): any 5xx (or a crashed/timed-out function, which local-stack answers 502/504) fails the run, and
# so does a panic in any function's log. Bad input must get a problem+json 4xx; 503 is only for a
# dependency that is really down (none is, here).
#
#   scripts/schemathesis.sh                  # build, start the stack, run, stop
#   ST_MAX_EXAMPLES=50 scripts/schemathesis.sh
#   ST_SKIP_BUILD=1 scripts/schemathesis.sh  # use the binaries already built (make test builds them)
#   ST_SEED=123 scripts/schemathesis.sh      # another seed (default fixed, so runs are reproducible)
#
# schemathesis (pinned) lives in its own venv, .venv-schemathesis (installed once). The stack is
# tests/examples/stack.rs (the integration tests' harness) on free ports. Reports and the function logs
# go to .local/schemathesis/.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCHEMATHESIS_VERSION="4.32.5"
venv="$root/.venv-schemathesis"
out="$root/.local/schemathesis"
max_examples="${ST_MAX_EXAMPLES:-20}"
seed="${ST_SEED:-20261123}"
# not_a_server_error is the point; the conformance checks keep openapi.yaml true to the handlers' answers.
checks="${ST_CHECKS:-not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

say() { printf '[schemathesis] %s\n' "$*" >&2; }

# 1. The tool, pinned, in its own venv.
pip_venv "$venv" ".installed-$SCHEMATHESIS_VERSION" "[schemathesis] installing schemathesis $SCHEMATHESIS_VERSION into $venv (once)" \
    "schemathesis==$SCHEMATHESIS_VERSION"

# 2. moto (the integration-test harness takes it from .venv) and the binaries.
scripts/ensure-venv.sh >/dev/null
if [[ -z "${ST_SKIP_BUILD:-}" ]]; then
    cargo build --workspace --bins
fi
cargo build -p integration-tests --example stack

# 3. The stack.
mkdir -p "$out"
rm -f "$out/functions.log" "$out/stack.out"
LOCAL_LOG_FILE="$out/functions.log" "$target_dir/debug/examples/stack" >"$out/stack.out" 2>"$out/stack.err" &
stack_pid=$!
cleanup() {
    kill "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
api=""
for _ in $(seq 1 240); do
    api="$(sed -n 's/^api=//p' "$out/stack.out" 2>/dev/null || true)"
    [[ -n "$api" ]] && break
    kill -0 "$stack_pid" 2>/dev/null || { cat "$out/stack.err" >&2; say "the stack did not start"; exit 1; }
    sleep 0.5
done
[[ -n "$api" ]] || { say "the stack did not print its URL in 120 s"; exit 1; }
say "stack at $api; $max_examples examples per operation, seed $seed"

# 4. The run. Locally any SigV4-looking header passes the IAM routes; the mini-program routes get it
#    too (the authorizer refuses it: 403, which is fine for this check).
started=$(date +%s)
status=0
"$venv/bin/schemathesis" run openapi.yaml \
    --url "$api" \
    --checks "$checks" \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --workers 1 \
    --request-timeout 30 \
    --no-shrink \
    --suppress-health-check all \
    --warnings off \
    --report "${ST_REPORTS:-junit}" \
    --report-dir "$out" \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0" \
    || status=$?
say "schemathesis finished in $(( $(date +%s) - started )) s (exit $status)"

# 5. No function may have panicked or crashed, whatever the answers were.
if grep -E '\] (thread .* panicked|.*"level":"ERROR")' "$out/functions.log" >"$out/errors.log" 2>/dev/null; then
    say "function errors or panics in the logs ($out/errors.log):"
    head -20 "$out/errors.log" >&2
    status=1
fi
if grep -q 'stopped (exit' "$out/stack.err" 2>/dev/null; then
    say "a function process exited during the run:"
    grep 'stopped (exit' "$out/stack.err" | head -5 >&2
    status=1
fi
exit "$status"
