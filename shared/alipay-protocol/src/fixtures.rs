//! The certificate-mode test files of this crate (`tests/certs`: an app certificate, Alipay's
//! certificate and its chain, root bundles), for the tests of the crates built on it. Only with the
//! `test-fixtures` feature, which only dev-dependencies turn on.

use std::path::{Path, PathBuf};

/// The folder of the test certificates.
pub fn certs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/certs")
}

/// One test certificate file, as bytes.
///
/// # Errors
/// The file cannot be read.
pub fn cert(name: &str) -> std::io::Result<Vec<u8>> {
    std::fs::read(certs_dir().join(name))
}
