#!/usr/bin/env bash
# Runs every fuzz target (the protocol crate's and the bill reader's) for a bounded time
# (FUZZ_SECONDS each, default 60). Needs the nightly toolchain (installed on these machines) and
# cargo-fuzz (installed here, into .tools/, on first use). Seeds each corpus from the golden vectors
# and the bill fixture (shared/alipay-bill/fixtures: the zip and each of its members).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${FUZZ_SECONDS:-60}"
export PATH="$root/.tools/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked --root "$root/.tools" cargo-fuzz
fi
cd "$root/fuzz"
mkdir -p corpus/response_span corpus/notify_form corpus/key_loader corpus/cert_sn corpus/bill_file
python3 - "$root" <<'PY'
import json, sys, hashlib, pathlib
root = pathlib.Path(sys.argv[1]); v = root / "tests/vectors"; c = root / "fuzz/corpus"
def put(target, data):
    (c / target / hashlib.sha1(data).hexdigest()).write_bytes(data)
for case in json.load(open(v / "response_cases.json"))["cases"]:
    put("response_span", case["raw"].encode())
for case in json.load(open(v / "notify_cases.json"))["cases"]:
    put("notify_form", case["raw_body"].encode())
for key in (v / "keys").glob("*.*"):
    if key.suffix in (".pem", ".txt"): put("key_loader", key.read_bytes())
for cert in (root / "shared/alipay-protocol/tests/certs").glob("*.pem"):
    put("cert_sn", cert.read_bytes())
import zipfile
for bill in (root / "shared/alipay-bill/fixtures").glob("*.zip"):
    put("bill_file", bill.read_bytes())
    with zipfile.ZipFile(bill) as z:
        for member in z.infolist():
            put("bill_file", z.read(member))
PY
for target in response_span notify_form key_loader cert_sn bill_file; do
  echo "== fuzz $target for ${seconds}s"
  cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -n 3
done
