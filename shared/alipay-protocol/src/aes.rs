//! AES-128-CBC content encryption (`encrypt_type=AES`): zero IV, PKCS#7 padding, standard base64.

use std::fmt;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;

use crate::B64;

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

/// The console-issued content-encryption key (16 bytes). Never shown by `Debug`.
#[derive(Clone)]
pub struct AesKey([u8; 16]);

/// Why AES content could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AesError {
    /// The key is not base64 of exactly 16 bytes.
    #[error("AES key must be base64 of 16 bytes")]
    BadKey,
    /// The ciphertext is not base64, not block aligned, badly padded or not UTF-8 once decrypted.
    #[error("AES ciphertext could not be decrypted")]
    BadCiphertext,
}

impl AesKey {
    /// Loads the key from its base64 text.
    ///
    /// # Errors
    /// [`AesError::BadKey`].
    pub fn from_base64(text: &str) -> Result<Self, AesError> {
        let raw = B64.decode(text.trim()).map_err(|_| AesError::BadKey)?;
        let key: [u8; 16] = raw.try_into().map_err(|_| AesError::BadKey)?;
        Ok(Self(key))
    }

    /// Encrypts UTF-8 text, returns base64.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = Enc::new(&self.0.into(), &[0u8; 16].into());
        B64.encode(cipher.encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes()))
    }

    /// Decrypts base64 ciphertext to UTF-8 text.
    ///
    /// # Errors
    /// [`AesError::BadCiphertext`].
    pub fn decrypt(&self, ciphertext_b64: &str) -> Result<String, AesError> {
        let raw = B64
            .decode(ciphertext_b64)
            .map_err(|_| AesError::BadCiphertext)?;
        let cipher = Dec::new(&self.0.into(), &[0u8; 16].into());
        let plain = cipher
            .decrypt_padded_vec_mut::<Pkcs7>(&raw)
            .map_err(|_| AesError::BadCiphertext)?;
        String::from_utf8(plain).map_err(|_| AesError::BadCiphertext)
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_sdk_vector() {
        let key = AesKey::from_base64("aa4BtZ4tspm2wnXLb1ThQA==").unwrap();
        assert_eq!(key.encrypt("test1234567"), "ILpoMowjIQjfYMR847rnFQ==");
        assert_eq!(
            key.decrypt("ILpoMowjIQjfYMR847rnFQ==").unwrap(),
            "test1234567"
        );
    }

    #[test]
    fn bad_keys_and_ciphertexts_are_errors() {
        assert_eq!(AesKey::from_base64("AAAA").unwrap_err(), AesError::BadKey);
        let key = AesKey::from_base64("aa4BtZ4tspm2wnXLb1ThQA==").unwrap();
        assert_eq!(key.decrypt("AAAA").unwrap_err(), AesError::BadCiphertext);
        assert_eq!(key.decrypt("!!").unwrap_err(), AesError::BadCiphertext);
        assert_eq!(format!("{key:?}"), "AesKey(..)");
    }
}
