//! The key-encryption key (KEK): what every data key is wrapped under before it is stored.
//!
//! It comes from configuration (`privacy.key_encryption_key`, a file or an environment
//! variable) and never from the database, so a dump of the database, its backups and its WAL
//! archive decrypt nothing on their own: a backup taken before a purge is readable only with
//! the KEK of its time. Retiring a KEK (`peer-outreach keys rewrap`, then destroying the old
//! one) is what makes such backups unreadable.
//!
//! Wrapping is AES-256-GCM with a fresh random nonce, the wrapped key's id as associated data:
//! a wrapped key copied onto another row fails authentication instead of unwrapping. (AES-KW
//! would need a crate of its own; the AEAD is already here and binds the id.)
//!
//! The service holds one KEK per process, installed at start ([`KeyEncryptionKey::install`]):
//! the key store is opened on a caller's connection in many places (intake, projections,
//! the purge), and the KEK is configuration of the process, not of any one of them.

use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::PrivacyError;

const NONCE_LEN: usize = 12;

/// A key-encryption key. `Debug` shows its id only.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    id: String,
    key: Key<Aes256Gcm>,
}

/// The process's KEK, if one is installed.
static INSTALLED: RwLock<Option<Arc<KeyEncryptionKey>>> = RwLock::new(None);

/// The KEK being retired, while `keys rewrap` moves keys off it (the overlap): keys wrapped
/// under it still unwrap, nothing is wrapped under it.
static PREVIOUS: RwLock<Option<Arc<KeyEncryptionKey>>> = RwLock::new(None);

impl KeyEncryptionKey {
    /// A KEK from 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        // The id names the KEK beside each key it wraps. A hash of the KEK under a label of
        // its own, cut to 8 bytes: enough to tell a site's KEKs apart, and no plain hash of
        // the key itself is stored.
        let digest = Sha256::new()
            .chain_update(b"peer-outreach key-encryption-key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            id,
            key: *Key::<Aes256Gcm>::from_slice(&bytes),
        }
    }

    /// A KEK from its text form: 32 bytes in standard base64 (what `generate` prints),
    /// surrounding white space ignored (a file's final newline).
    pub fn parse(text: &str) -> Result<Self, PrivacyError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| PrivacyError::BadKeyEncryptionKey("it is not base64"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| PrivacyError::BadKeyEncryptionKey("it is not 32 bytes"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A fresh KEK from the operating system's generator.
    pub fn generate() -> Self {
        let key = Aes256Gcm::generate_key(OsRng);
        Self::from_bytes(key.into())
    }

    /// The text form [`Self::parse`] reads: for a file or an environment variable.
    pub fn to_base64(&self) -> String {
        B64.encode(self.key.as_slice())
    }

    /// Stored beside each wrapped key: which KEK wrapped it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A 32-byte key for another use, derived from this KEK under `label` (HKDF-SHA-256, the
    /// label as its info): it is never stored, changes with the KEK, and tells nothing of the
    /// KEK or of a key derived under another label.
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut derived = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, self.key.as_slice())
            .expand(label, &mut derived)
            .expect("32 bytes is a length HKDF-SHA-256 gives");
        derived
    }

    /// Makes `kek` the process's KEK (or none), replacing any installed before.
    pub fn install(kek: Option<KeyEncryptionKey>) {
        *INSTALLED.write().unwrap_or_else(|e| e.into_inner()) = kek.map(Arc::new);
    }

    /// Makes `kek` the process's previous KEK (or none): during an overlap, keys wrapped under
    /// it unwrap as well, whichever KEK is asked to unwrap them; nothing is wrapped under it.
    pub fn install_previous(kek: Option<KeyEncryptionKey>) {
        *PREVIOUS.write().unwrap_or_else(|e| e.into_inner()) = kek.map(Arc::new);
    }

    /// The process's previous KEK, during an overlap.
    pub fn previous() -> Option<Arc<KeyEncryptionKey>> {
        PREVIOUS.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Installs `kek` unless one is installed already (tests: a fixed test KEK).
    pub fn install_if_none(kek: KeyEncryptionKey) {
        let mut installed = INSTALLED.write().unwrap_or_else(|e| e.into_inner());
        if installed.is_none() {
            *installed = Some(Arc::new(kek));
        }
    }

    /// The process's KEK; an error that says how to give one when none is installed.
    pub fn installed() -> Result<Arc<KeyEncryptionKey>, PrivacyError> {
        INSTALLED
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(PrivacyError::NoKeyEncryptionKey)
    }

    /// Wraps `secret` (a data key, the index key) labelled `label` (its id).
    pub(crate) fn wrap(&self, label: &[u8], secret: &[u8]) -> Result<Vec<u8>, PrivacyError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = Aes256Gcm::new(&self.key)
            .encrypt(
                &nonce,
                Payload {
                    msg: secret,
                    aad: label,
                },
            )
            .map_err(|_| PrivacyError::Sealing)?;
        let mut wrapped = nonce.to_vec();
        wrapped.extend(sealed);
        Ok(wrapped)
    }

    /// Unwraps what [`Self::wrap`] wrapped with the same label; `wrapped_under` is the KEK id
    /// stored beside it, checked first so that a key of another KEK gets an error naming it,
    /// unless it is the previous KEK of an overlap ([`Self::install_previous`]), which then
    /// unwraps it.
    pub(crate) fn unwrap(
        &self,
        wrapped_under: &str,
        label: &[u8],
        wrapped: &[u8],
    ) -> Result<Vec<u8>, PrivacyError> {
        if wrapped_under != self.id {
            if let Some(previous) = Self::previous().filter(|p| p.id == wrapped_under) {
                return previous.unwrap_own(label, wrapped);
            }
            return Err(PrivacyError::UnknownKeyEncryptionKey {
                stored: wrapped_under.to_owned(),
                configured: self.id.clone(),
            });
        }
        self.unwrap_own(label, wrapped)
    }

    /// Unwraps a secret wrapped under this very KEK.
    fn unwrap_own(&self, label: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, PrivacyError> {
        if wrapped.len() < NONCE_LEN {
            return Err(PrivacyError::Malformed("a wrapped key is too short"));
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        Aes256Gcm::new(&self.key)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: label,
                },
            )
            .map_err(|_| PrivacyError::Unwrapping)
    }
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_secret_unwraps_only_under_its_kek_and_label() {
        let kek = KeyEncryptionKey::generate();
        let wrapped = kek.wrap(b"label-1", &[7; 32]).unwrap();
        assert_eq!(kek.unwrap(kek.id(), b"label-1", &wrapped).unwrap(), [7; 32]);
        assert!(matches!(
            kek.unwrap(kek.id(), b"label-2", &wrapped),
            Err(PrivacyError::Unwrapping)
        ));
        let other = KeyEncryptionKey::generate();
        assert!(matches!(
            other.unwrap(kek.id(), b"label-1", &wrapped),
            Err(PrivacyError::UnknownKeyEncryptionKey { .. })
        ));
        // Even relabelled with the other KEK's id, it does not open.
        assert!(matches!(
            other.unwrap(other.id(), b"label-1", &wrapped),
            Err(PrivacyError::Unwrapping)
        ));
    }

    #[test]
    fn a_derived_key_is_fixed_by_the_kek_and_label_and_is_neither_the_kek_nor_another_label() {
        let kek = KeyEncryptionKey::from_bytes([5; 32]);
        let derived = kek.derive(b"label-1");
        assert_eq!(
            derived,
            KeyEncryptionKey::from_bytes([5; 32]).derive(b"label-1")
        );
        assert_ne!(derived, kek.derive(b"label-2"));
        assert_ne!(
            derived,
            KeyEncryptionKey::from_bytes([6; 32]).derive(b"label-1")
        );
        assert_ne!(derived, [5; 32]);
    }

    #[test]
    fn the_text_form_round_trips_and_names_the_same_kek() {
        let kek = KeyEncryptionKey::generate();
        let again = KeyEncryptionKey::parse(&format!("{}\n", kek.to_base64())).unwrap();
        assert_eq!(again.id(), kek.id());
        assert_eq!(kek.id().len(), 16);
        assert_ne!(KeyEncryptionKey::generate().id(), kek.id());
    }

    #[test]
    fn a_bad_kek_is_refused_and_debug_shows_no_key() {
        assert!(KeyEncryptionKey::parse("not base64!").is_err());
        assert!(KeyEncryptionKey::parse(&B64.encode([1u8; 16])).is_err());
        let kek = KeyEncryptionKey::generate();
        let printed = format!("{kek:?}");
        assert!(!printed.contains(&kek.to_base64()), "{printed}");
        assert!(printed.contains(kek.id()));
    }
}
