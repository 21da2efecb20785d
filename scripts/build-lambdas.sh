#!/usr/bin/env bash
# Builds the Lambda deployment zips: target/lambda/<function>/bootstrap.zip for every crate under
# functions/ (or the functions named on the command line), with `cargo lambda build --release --arm64`,
# i.e. what template.yaml declares (provided.al2023, arm64, bootstrap) and what `sam build` runs.
#
#   scripts/build-lambdas.sh [--x86] [--profile NAME] [function...]
#   eval "$(scripts/build-lambdas.sh --print-env)"   # the same tools on PATH, e.g. for `sam build --beta-features`
#
# --x86 builds x86_64 zips instead (for a machine where the aarch64 Rust target cannot be installed;
# such zips only run on functions switched to `Architectures: [x86_64]`).
#
# --profile NAME builds with another Cargo profile (e.g. release-baseline, the profile before the size
# work) into target/lambda-NAME/<function>/bootstrap.zip. cargo-lambda adds `-C target-cpu` (neoverse-n1 on
# arm64, haswell on x86_64) only to release builds; this script adds the same flag for any other profile so
# the two are compared like for like.
#
# Tools, installed once into the ignored venv .venv-lambda: cargo-lambda (a static binary from PyPI) and
# zig (PyPI `ziglang`, the cross linker cargo-lambda drives through cargo-zigbuild). zig's caches stay in
# .tools/zig-cache. The Rust target comes from rustup (`rustup target add aarch64-unknown-linux-gnu`).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

arch_flag="--arm64"
rust_target="aarch64-unknown-linux-gnu"
cpu="neoverse-n1"
profile="release"
functions=()
print_env=0
want_profile=0
for arg in "$@"; do
  if [ "$want_profile" = 1 ]; then
    profile="$arg"
    want_profile=0
    continue
  fi
  case "$arg" in
    --x86 | --x86-64 | --x86_64)
      arch_flag="--x86-64"
      rust_target="x86_64-unknown-linux-gnu"
      cpu="haswell"
      ;;
    --arm64) ;;
    --profile) want_profile=1 ;;
    --profile=*) profile="${arg#--profile=}" ;;
    --print-env) print_env=1 ;;
    -h | --help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    -*)
      echo "build-lambdas: unknown option $arg" >&2
      exit 2
      ;;
    *) functions+=("$arg") ;;
  esac
done
if [ ${#functions[@]} -eq 0 ]; then
  for dir in functions/*/; do
    [ -f "$dir/Cargo.toml" ] && functions+=("$(basename "$dir")")
  done
fi
for f in "${functions[@]}"; do
  if [ ! -f "functions/$f/Cargo.toml" ]; then
    echo "build-lambdas: no function crate functions/$f" >&2
    exit 2
  fi
done

# --- tools (once) -------------------------------------------------------------------------------------
VENV="$root/.venv-lambda"
pip_venv "$VENV" .installed-v1 "build-lambdas: installing cargo-lambda and ziglang into $VENV" cargo-lambda ziglang
ZIG_DIR="$("$VENV/bin/python" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')"
export PATH="$ZIG_DIR:$VENV/bin:$PATH"
export ZIG_GLOBAL_CACHE_DIR="$root/.tools/zig-cache/global"
export ZIG_LOCAL_CACHE_DIR="$root/.tools/zig-cache/local"
mkdir -p "$ZIG_GLOBAL_CACHE_DIR" "$ZIG_LOCAL_CACHE_DIR"
if [ "$print_env" = 1 ]; then
  printf 'export PATH=%q\n' "$PATH"
  printf 'export ZIG_GLOBAL_CACHE_DIR=%q ZIG_LOCAL_CACHE_DIR=%q\n' "$ZIG_GLOBAL_CACHE_DIR" "$ZIG_LOCAL_CACHE_DIR"
  exit 0
fi

if ! rustup target list --installed 2>/dev/null | grep -qx "$rust_target"; then
  echo "build-lambdas: installing the Rust target $rust_target (rustup target add)" >&2
  if ! rustup target add "$rust_target" >&2; then
    echo "build-lambdas: cannot install the Rust target $rust_target here." >&2
    [ "$arch_flag" = "--arm64" ] && echo "build-lambdas: use --x86 for x86_64 zips instead." >&2
    exit 1
  fi
fi

# --- build --------------------------------------------------------------------------------------------
packages=()
for f in "${functions[@]}"; do packages+=(-p "$f"); done
TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
if [ "$profile" = release ]; then
  profile_flags=(--release)
  lambda_dir="$TARGET_DIR/lambda"
else
  profile_flags=(--profile "$profile" --config "build.rustflags=[\"-C\", \"target-cpu=$cpu\"]")
  lambda_dir="$TARGET_DIR/lambda-$profile"
fi
echo "build-lambdas: cargo lambda build ${profile_flags[0]} ${profile_flags[1]:-} $arch_flag (${functions[*]})" >&2
cargo lambda build "${profile_flags[@]}" "$arch_flag" --output-format zip --lambda-dir "$lambda_dir" \
  "${packages[@]}"

status=0
printf '%-18s %12s %12s  %s\n' function "binary" "zip" path
for f in "${functions[@]}"; do
  zip="$lambda_dir/$f/bootstrap.zip"
  bin="$TARGET_DIR/$rust_target/$profile/$f"
  if [ -f "$zip" ]; then
    printf '%-18s %12s %12s  %s\n' "$f" "$(stat -c %s "$bin" 2>/dev/null || echo '?')" \
      "$(stat -c %s "$zip")" "${zip#"$root"/}"
  else
    echo "build-lambdas: $zip was not produced" >&2
    status=1
  fi
done
exit $status
