#!/usr/bin/env bash
# `make dev`: the whole system on 127.0.0.1, from a fresh machine.
#   1. the Python venv (moto server + cfn-lint), 2. every workspace binary (cargo build),
#   3. moto (DynamoDB + Secrets Manager) on MOTO_PORT (5000), 4. the Alipay simulator on SIM_PORT (9999),
#   5. the table and the secrets (scripts/seed-local.py, shapes read from template.yaml),
#   6. local-stack on API_PORT (3000): every function of template.yaml under a local Lambda Runtime API,
#      behind a local HTTP API with template.yaml's routes and auth.
# Runs until Ctrl-C (or until one of them stops), then stops everything it started.
# Functions not built yet are skipped with a warning (their routes answer 502 until they exist).
# DEV_SKIP_BUILD=1 skips step 2 (use the binaries already built).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

API_PORT="${API_PORT:-3000}"
SIM_PORT="${SIM_PORT:-9999}"
MOTO_PORT="${MOTO_PORT:-5000}"
AWS_REGION="${AWS_REGION:-us-east-1}"
ALIPAY_APP_ID="${ALIPAY_APP_ID:-2021000000000001}"
TABLE_NAME="${TABLE_NAME:-rewards-local}"
ALIPAY_KEYS_SECRET_ID="${ALIPAY_KEYS_SECRET_ID:-rewards/alipay-keys}"
SESSION_KEY_SECRET_ID="${SESSION_KEY_SECRET_ID:-rewards/session-key}"
BIN_DIR="${CARGO_TARGET_DIR:-$root/target}/debug"
run_dir="$root/.local/dev"
mkdir -p "$run_dir"

say() { printf '\033[1;34m[dev]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33m[dev] warning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[dev] error:\033[0m %s\n' "$*" >&2; exit 1; }

pids=()
names=()
cleanup() {
  trap - EXIT INT TERM
  if [ "${#pids[@]}" -gt 0 ]; then
    say "stopping ${names[*]}"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
      alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "API_PORT:$API_PORT" "SIM_PORT:$SIM_PORT" "MOTO_PORT:$MOTO_PORT"; do
  port_free "${p#*:}" || die "port ${p#*:} is in use (set ${p%%:*} to another port)"
done

# Waits until file $1 has a line starting with $2 (or process $3 dies); prints the line.
wait_line() {
  local file="$1" prefix="$2" pid="$3" what="$4"
  for _ in $(seq 1 600); do
    if line="$(grep -m1 "^$prefix" "$file" 2>/dev/null)"; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "$what exited during startup (see above)"
    sleep 0.1
  done
  die "$what did not get ready within 60 s"
}

# 1. venv
venv="$(scripts/ensure-venv.sh)"

# 2. binaries
if [ -n "${DEV_SKIP_BUILD:-}" ]; then
  say "DEV_SKIP_BUILD set: using the binaries already in $BIN_DIR"
elif say "building the workspace binaries (cargo build --workspace --bins)" && ! cargo build --workspace --bins; then
  warn "the workspace build failed; building local-stack, alipay-sim and each function on its own"
  cargo build -p local-stack || die "local-stack does not build"
  for pkg in alipay-sim $(ls functions 2>/dev/null); do
    cargo build -p "$pkg" --bins || warn "$pkg does not build; skipped"
  done
fi
functions=(template-creator pass-callback tunnel-reader campaign-creator send-trigger reconciler session authorizer)
missing=()
for f in "${functions[@]}"; do [ -x "$BIN_DIR/$f" ] || missing+=("$f"); done
if [ "${#missing[@]}" -gt 0 ]; then
  warn "not built yet, skipped (their routes answer 502): ${missing[*]}"
fi

export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"

# 3. moto
say "starting moto on 127.0.0.1:$MOTO_PORT (log: .local/dev/moto.log)"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$run_dir/moto.log" 2>&1 &
pids+=($!); names+=(moto)
moto_pid=$!
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/" && break
  kill -0 "$moto_pid" 2>/dev/null || die "moto exited (see .local/dev/moto.log)"
  sleep 0.1
done

# 4. simulator
gateway="http://127.0.0.1:$SIM_PORT/gateway.do"
if [ -x "$BIN_DIR/alipay-sim" ]; then
  say "starting alipay-sim on 127.0.0.1:$SIM_PORT"
  : >"$run_dir/sim.out"
  SIM_PORT="$SIM_PORT" SIM_APP_ID="$ALIPAY_APP_ID" "$BIN_DIR/alipay-sim" >"$run_dir/sim.out" &
  pids+=($!); names+=(alipay-sim)
  line="$(wait_line "$run_dir/sim.out" "alipay-sim listening on " "$!" alipay-sim)"
  gateway="${line#alipay-sim listening on }"
else
  warn "alipay-sim is not built; functions will find no gateway at $gateway"
fi

# 5. table + secrets
say "creating the table $TABLE_NAME and the secrets in moto"
TABLE_NAME="$TABLE_NAME" ALIPAY_KEYS_SECRET_ID="$ALIPAY_KEYS_SECRET_ID" \
  SESSION_KEY_SECRET_ID="$SESSION_KEY_SECRET_ID" "$venv/bin/python" scripts/seed-local.py

# 6. local-stack
api="http://127.0.0.1:$API_PORT"
say "starting local-stack on 127.0.0.1:$API_PORT"
: >"$run_dir/local-stack.out"
API_PORT="$API_PORT" TABLE_NAME="$TABLE_NAME" ALIPAY_KEYS_SECRET_ID="$ALIPAY_KEYS_SECRET_ID" \
  SESSION_KEY_SECRET_ID="$SESSION_KEY_SECRET_ID" ALIPAY_APP_ID="$ALIPAY_APP_ID" \
  ALIPAY_GATEWAY_URL="$gateway" PASS_CALLBACK_URL="$api/alipay/pass-callback" RUST_LOG="${RUST_LOG:-info}" \
  "$BIN_DIR/local-stack" --template template.yaml --bin-dir "$BIN_DIR" \
  --param "PublicBaseUrl=$api" --param "AlipayAppId=$ALIPAY_APP_ID" \
  --param "DefaultPassLogoUrl=${DEFAULT_PASS_LOGO_URL:-https://example.com/pass/default-logo.png}" >"$run_dir/local-stack.out" &
pids+=($!); names+=(local-stack)
wait_line "$run_dir/local-stack.out" "local-stack listening on " "$!" local-stack >/dev/null

# The seed pass.json with this run's callback URL.
sed "s#http://127.0.0.1:3000/alipay/pass-callback#$api/alipay/pass-callback#" \
  infra/local-stack/fixtures/pass.json >"$run_dir/pass.json"

user=2088000000000001
cat >&2 <<EOF

  local HTTP API   $api        (routes and auth from template.yaml; GET $api/_local/functions)
  Alipay simulator $gateway
  moto             $AWS_ENDPOINT_URL   (table $TABLE_NAME, secrets $ALIPAY_KEYS_SECRET_ID, $SESSION_KEY_SECRET_ID)

Try (operator routes are AWS_IAM: rewardsctl signs them with SigV4; locally the signature is not verified):

  target/debug/rewardsctl doctor            # keys, table, gateway and API of this stack
  # 1. check and create the seed pass template (this run's callback URL)
  target/debug/rewardsctl template validate .local/dev/pass.json --endpoint $api
  target/debug/rewardsctl template create .local/dev/pass.json --endpoint $api

  # 2. let the simulator's claim component claim it for a user (it calls the template's mcallbackUrl)
  curl -sS -H 'content-type: application/json' -d '{"templateId":"<templateId from 1>","userId":"$user"}' \\
       http://127.0.0.1:$SIM_PORT/sim/claim

  # 3. read the user's passIds as the mini-program does: an auth code (the simulator plays my.getAuthCode),
  #    a session token for it, then the passes (a Lambda-authorizer route)
  curl -sS -H 'content-type: application/json' -d '{"userId":"$user"}' http://127.0.0.1:$SIM_PORT/sim/auth-codes
  curl -sS -H 'content-type: application/json' -d '{"authCode":"<code>"}' $api/session
  curl -sS -H 'Authorization: Bearer <token>' $api/users/$user/passes
  #    or look one pass up as the backend (IAM)
  target/debug/rewardsctl pass show <passId from 2> --endpoint $api

  # cash: a campaign (pay URL + QR code), paid by the simulator's cashier, an envelope, the ledger
  target/debug/rewardsctl campaign create --name 周末红包 --total 20.00 --count 10 --endpoint $api
  curl -sS -X POST http://127.0.0.1:$SIM_PORT/sim/campaigns/<crowdNo>/pay
  target/debug/rewardsctl envelope send --reason points_exchange --business-id order-1 --user-id $user --crowd-no <crowdNo> --endpoint $api
  target/debug/rewardsctl payouts list --endpoint $api

  # fire the schedules by hand
  curl -sS --data @infra/local-stack/events/campaign-schedule.json $api/_local/invoke/campaign-creator
  curl -sS --data @infra/local-stack/events/reconciler-schedule.json $api/_local/invoke/reconciler

Ctrl-C stops everything.
EOF

# Run until Ctrl-C or until one of the processes stops.
set +e
wait -n "${pids[@]}"
status=$?
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null || warn "${names[$i]} stopped (status $status); stopping the rest"
done
exit "$status"
