//! Certificate mode (公钥证书模式): the key of each Alipay certificate, by SN.
//!
//! Responses name the certificate that signed them (`alipay_cert_sn`). The configured certificate's
//! key is known from the start; another SN (Alipay rotated its certificate) is fetched once with
//! `alipay.open.app.alipaycert.download`, checked against the configured root bundle (validity and
//! issuer signatures), and cached by SN for the life of the client. Concurrent callers asking for the
//! same SN share one download. The download's own answer is trusted through the chain, not through
//! its signature (its key is what is being fetched), as the Java SDK does.
//!
//! An SN may come from outside (a forged notification names any SN it likes), so a failure is not
//! kept as an empty entry, an SN whose download failed is not asked for again for
//! [`RETRY_FAILED_AFTER`], and after any failed download the next download of an SN never seen waits
//! [`FAILED_DOWNLOAD_PAUSE`]: forged SNs cost at most one gateway call per pause, and no memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alipay_protocol::cert::{CertModeSet, RootBundle};
use alipay_protocol::{AlipayPublicKey, ResponseVerifier};
use tokio::sync::OnceCell;

// The download API lives with the other API families; its old path is kept.
pub use crate::alipaycert::{AlipayCertDownload, AlipayCertDownloadResponse};

/// Why the key of an Alipay certificate is not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlipayKeyError {
    /// The download did not give the certificate (transport, refusal, unreadable answer).
    #[error("alipay.open.app.alipaycert.download gave no certificate {sn}: {reason}")]
    Download {
        /// The SN asked for.
        sn: String,
        /// Why.
        reason: String,
    },
    /// The download of this SN failed moments ago and is not tried again yet.
    #[error("the certificate {sn} could not be had {ago_ms} ms ago: {reason}")]
    RecentlyFailed {
        /// The SN asked for.
        sn: String,
        /// How long ago it failed.
        ago_ms: u128,
        /// Why it failed then.
        reason: String,
    },
    /// The downloaded certificate is not one to trust (does not chain to the root bundle, is
    /// outside its validity window, or has another SN).
    #[error("the certificate downloaded for {sn} is not trusted: {reason}")]
    Untrusted {
        /// The SN asked for.
        sn: String,
        /// Why.
        reason: String,
    },
}

/// One trusted certificate's key and the verifier built on it.
pub(crate) struct CertKey {
    pub(crate) key: Arc<AlipayPublicKey>,
    pub(crate) verifier: ResponseVerifier,
}

type Slot = Arc<OnceCell<Arc<CertKey>>>;

/// How long an SN whose download failed is answered from memory (the failure) before it is tried
/// again.
pub const RETRY_FAILED_AFTER: Duration = Duration::from_secs(30);
/// After a failed download, how long any other new SN waits for its download.
pub const FAILED_DOWNLOAD_PAUSE: Duration = Duration::from_secs(1);
/// At most this many failed SNs are remembered (the oldest are forgotten first).
const MAX_FAILED: usize = 256;

/// The keys by SN, and the roots that vouch for new ones.
pub(crate) struct CertKeys {
    pub(crate) roots: RootBundle,
    by_sn: Mutex<HashMap<String, Slot>>,
    failed: Mutex<Failures>,
    aes: Option<alipay_protocol::aes::AesKey>,
}

#[derive(Default)]
struct Failures {
    by_sn: HashMap<String, (Instant, String)>,
    last: Option<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl CertKeys {
    pub(crate) fn new(set: &CertModeSet, aes: Option<alipay_protocol::aes::AesKey>) -> Self {
        let keys = Self {
            roots: set.roots.clone(),
            by_sn: Mutex::new(HashMap::new()),
            failed: Mutex::new(Failures::default()),
            aes,
        };
        let configured = keys.entry(&set.alipay_cert.sn, set.alipay_cert.key.clone());
        keys.slot(&set.alipay_cert.sn)
            .set(Arc::new(configured))
            .unwrap_or_else(|_| unreachable!("a fresh cell is empty"));
        keys
    }

    /// A verifier that requires `sn` in the response.
    pub(crate) fn entry(&self, sn: &str, key: AlipayPublicKey) -> CertKey {
        let mut verifier = ResponseVerifier::new(key.clone()).with_cert_sn(sn);
        if let Some(aes) = &self.aes {
            verifier = verifier.with_aes(aes.clone());
        }
        CertKey {
            key: Arc::new(key),
            verifier,
        }
    }

    /// The cell of `sn` (created empty the first time).
    pub(crate) fn slot(&self, sn: &str) -> Slot {
        lock(&self.by_sn).entry(sn.to_string()).or_default().clone()
    }

    /// Before a download of `sn`: the remembered failure if it is recent, else `Ok` once the pause
    /// after the last failed download has passed (the caller waits for the returned duration).
    pub(crate) fn before_download(&self, sn: &str) -> Result<Duration, AlipayKeyError> {
        let failed = lock(&self.failed);
        if let Some((at, reason)) = failed.by_sn.get(sn) {
            if at.elapsed() < RETRY_FAILED_AFTER {
                return Err(AlipayKeyError::RecentlyFailed {
                    sn: sn.to_string(),
                    ago_ms: at.elapsed().as_millis(),
                    reason: reason.clone(),
                });
            }
        }
        Ok(failed
            .last
            .map(|at| FAILED_DOWNLOAD_PAUSE.saturating_sub(at.elapsed()))
            .unwrap_or_default())
    }

    /// After a download of `sn` failed: forget its empty cell, remember the failure (a remembered
    /// failure answered again is not a new one).
    pub(crate) fn download_failed(&self, sn: &str, error: &AlipayKeyError) {
        {
            let mut map = lock(&self.by_sn);
            if map.get(sn).is_some_and(|slot| !slot.initialized()) {
                map.remove(sn);
            }
        }
        if matches!(error, AlipayKeyError::RecentlyFailed { .. }) {
            return;
        }
        let mut failed = lock(&self.failed);
        let now = Instant::now();
        failed.last = Some(now);
        failed
            .by_sn
            .retain(|_, (at, _)| at.elapsed() < RETRY_FAILED_AFTER);
        if failed.by_sn.len() >= MAX_FAILED {
            if let Some(oldest) = failed
                .by_sn
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                failed.by_sn.remove(&oldest);
            }
        }
        failed
            .by_sn
            .insert(sn.to_string(), (now, error.to_string()));
    }

    /// How many SNs have a cell (known, or being downloaded).
    #[cfg(test)]
    pub(crate) fn cells(&self) -> usize {
        lock(&self.by_sn).len()
    }

    /// Checks a downloaded certificate file: it chains to the roots now and carries `sn`.
    pub(crate) fn trust(&self, sn: &str, pem: &[u8]) -> Result<CertKey, AlipayKeyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        let untrusted = |reason: String| AlipayKeyError::Untrusted {
            sn: sn.to_string(),
            reason,
        };
        let trusted = self
            .roots
            .verify_chain(pem, now)
            .map_err(|e| untrusted(e.to_string()))?;
        if trusted.sn != sn {
            return Err(untrusted(format!("its SN is {}", trusted.sn)));
        }
        Ok(self.entry(sn, trusted.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        alipay_protocol::fixtures::cert(name).unwrap()
    }

    fn keys() -> CertKeys {
        let app = alipay_protocol::AppPrivateKey::from_text(
            &String::from_utf8(fixture(
                "../../../../tests/vectors/keys/app_private_pkcs8.pem",
            ))
            .unwrap(),
        )
        .unwrap();
        let alipay = [fixture("alipay_cert.pem"), fixture("class2.pem")].concat();
        let now = time_now();
        let set = CertModeSet::load(
            &fixture("app_cert.pem"),
            &alipay,
            &fixture("root_bundle.pem"),
            &app,
            now,
        )
        .unwrap();
        CertKeys::new(&set, None)
    }

    fn time_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn a_download_is_trusted_only_when_it_chains_and_carries_the_sn_asked_for() {
        let keys = keys();
        let chain = [fixture("alipay_cert.pem"), fixture("class2.pem")].concat();
        let sn = alipay_protocol::cert::cert_sn(&fixture("alipay_cert.pem")).unwrap();
        assert!(keys.trust(&sn, &chain).is_ok());
        // Another SN than the one the answer named.
        let e = keys.trust(&"0".repeat(32), &chain).err().unwrap();
        assert!(
            matches!(&e, AlipayKeyError::Untrusted { reason, .. } if reason.contains("its SN is")),
            "{e}"
        );
        // No intermediate: does not chain.
        assert!(matches!(
            keys.trust(&sn, &fixture("alipay_cert.pem")),
            Err(AlipayKeyError::Untrusted { .. })
        ));
        // A certificate of another hierarchy (the SHA-1 fixture root's leaf).
        let foreign = fixture("sha1_leaf.pem");
        let foreign_sn = alipay_protocol::cert::cert_sn(&foreign).unwrap();
        assert!(matches!(
            keys.trust(&foreign_sn, &foreign),
            Err(AlipayKeyError::Untrusted { .. })
        ));
        // Garbage.
        assert!(keys.trust(&sn, b"not a certificate").is_err());
    }

    #[test]
    fn failed_sns_leave_no_cell_are_remembered_a_while_and_pause_other_downloads() {
        let keys = keys();
        assert_eq!(keys.cells(), 1, "the configured certificate");
        assert_eq!(keys.before_download("a").unwrap(), Duration::ZERO);
        for i in 0..(MAX_FAILED + 10) {
            let sn = format!("forged{i}");
            let _ = keys.slot(&sn);
            let e = AlipayKeyError::Download {
                sn: sn.clone(),
                reason: "refused".into(),
            };
            keys.download_failed(&sn, &e);
        }
        assert_eq!(keys.cells(), 1, "no empty cell is kept for a failed SN");
        assert!(lock(&keys.failed).by_sn.len() <= MAX_FAILED);
        assert!(matches!(
            keys.before_download(&format!("forged{}", MAX_FAILED + 9)),
            Err(AlipayKeyError::RecentlyFailed { .. })
        ));
        // Another SN waits for the pause after the last failure (at most FAILED_DOWNLOAD_PAUSE).
        let wait = keys.before_download("never-seen").unwrap();
        assert!(wait <= FAILED_DOWNLOAD_PAUSE);
        // A remembered failure answered again is not recorded as a new one.
        let before = lock(&keys.failed).last;
        keys.download_failed(
            "forged0",
            &AlipayKeyError::RecentlyFailed {
                sn: "forged0".into(),
                ago_ms: 1,
                reason: "x".into(),
            },
        );
        assert_eq!(lock(&keys.failed).last, before);
    }
}
