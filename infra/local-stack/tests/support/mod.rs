//! What the consistency tests share: the repository's own files, read from the checkout.

use std::path::PathBuf;

/// The repository root (this crate is `infra/local-stack`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A file of the repository (`rel` from its root) as text.
pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}
