#!/usr/bin/env bash
# Dependency audit with cargo-deny and deny.toml (in `make test`):
#   - bans, licenses, sources: always (they need only Cargo.lock and crates.io metadata);
#   - advisories (RustSec): the database is a git repository that is not on the registries this
#     project can reach, so the script uses, in order: RUSTSEC_DB=<a git clone or bundle of the RustSec
#     advisory-db>, the snapshot bundle beside the project (../shared/tools/rustsec-advisory-db.bundle,
#     or RUSTSEC_BUNDLE=<path>), the copy already in .local/advisory-dbs/, the machine's copy in
#     ~/.cache/rewards-tools/advisory-db, or a fetch (works wherever the database's host is reachable).
#     Any advisory that is not accepted in deny.toml (each with its reason) fails the run. With no
#     database at all it says so LOUDLY and goes on; AUDIT_STRICT=1 makes that an error.
#
# cargo-deny itself is installed into .tools/ from crates.io (pinned, `cargo install --locked`); the first
# run compiles it (about 6 minutes on 2 cores) and keeps a copy in ~/.cache/rewards-tools/ for fresh
# clones on the same machine; later runs take a few seconds.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_DENY_VERSION="0.20.2"
deny="$root/.tools/bin/cargo-deny"
# cargo-deny keeps the default database (its default URL) under db-path in a directory named from the URL.
db_dir="$root/.local/advisory-dbs/advisory-db-3157b0e258782691"

say() { printf '[audit] %s\n' "$*" >&2; }
loud() {
    printf '\n[audit] ************************************************************************\n' >&2
    printf '[audit] %s\n' "$@" >&2
    printf '[audit] ************************************************************************\n\n' >&2
}

# A fresh clone (CI) takes the binary from the machine's tool cache instead of compiling it again.
cache="${TOOLS_CACHE:-$HOME/.cache/rewards-tools}/cargo-deny-$CARGO_DENY_VERSION"
has_version() { [[ "$("$1" --version 2>/dev/null || true)" == *"$CARGO_DENY_VERSION"* ]]; }
if ! has_version "$deny"; then
    if has_version "$cache"; then
        mkdir -p "$(dirname "$deny")"
        cp "$cache" "$deny"
    else
        say "installing cargo-deny $CARGO_DENY_VERSION into .tools/ (compiles once, about 6 minutes)"
        cargo install --locked --quiet --root "$root/.tools" --version "$CARGO_DENY_VERSION" cargo-deny
        mkdir -p "$(dirname "$cache")"
        cp "$deny" "$cache" || true
    fi
fi

# Every platform's crates must be in the local cache for `cargo metadata --offline` (crates.io is reachable).
cargo fetch --locked --quiet

say "bans, licenses, sources"
"$deny" --offline check bans licenses sources

# The snapshot bundle beside the project wins over older copies; a copy kept in the machine's tool
# cache serves fresh clones (CI) on the same machine.
bundle="${RUSTSEC_BUNDLE:-$root/../shared/tools/rustsec-advisory-db.bundle}"
shared_db="${TOOLS_CACHE:-$HOME/.cache/rewards-tools}/advisory-db"
if [[ -z "${RUSTSEC_DB:-}" && -f "$bundle" ]]; then
    RUSTSEC_DB="$bundle"
elif [[ -z "${RUSTSEC_DB:-}" && ! -d "$db_dir/crates" && -d "$shared_db/crates" ]]; then
    RUSTSEC_DB="$shared_db"
fi
if [[ -n "${RUSTSEC_DB:-}" ]]; then
    say "advisory database from RUSTSEC_DB=$RUSTSEC_DB"
    rm -rf "$db_dir"
    mkdir -p "$(dirname "$db_dir")"
    git clone --quiet "$RUSTSEC_DB" "$db_dir"
    # Keep a copy in the machine's tool cache, so a fresh clone elsewhere on this machine (CI) checks
    # advisories too even where the bundle is not beside it.
    if [[ ! -d "$shared_db/crates" ]]; then
        mkdir -p "$(dirname "$shared_db")"
        git clone --quiet "$db_dir" "$shared_db" 2>/dev/null || true
    fi
elif [[ ! -d "$db_dir/crates" ]]; then
    rm -rf "$db_dir"
    "$deny" fetch db >/dev/null 2>&1 || true
fi

if [[ -d "$db_dir/crates" ]]; then
    say "advisories (RustSec database of $(git -C "$db_dir" show -s --format=%cs HEAD 2>/dev/null || echo '?'): $(git -C "$db_dir" show -s --format=%s HEAD 2>/dev/null || echo '?'); accepted ones in deny.toml)"
    "$deny" --offline check advisories
else
    rm -rf "$db_dir"
    loud "ADVISORIES NOT CHECKED: no RustSec advisory database here (it is fetched with git from a host" \
         "this machine cannot reach). Put a clone in place with RUSTSEC_DB=<path to advisory-db clone>" \
         "scripts/audit.sh, or run where the host is reachable. bans/licenses/sources were checked."
    if [[ -n "${AUDIT_STRICT:-}" ]]; then
        exit 1
    fi
fi
say "ok"
