//! One JSON value in and out of its sealed envelope:
//! `{"sealed": {"key_id": "<uuid>", "nonce": "<base64>", "ciphertext": "<base64>"}}`.
//!
//! The key id is the AEAD's associated data, so an envelope relabelled with another member's
//! key id fails authentication instead of opening under the wrong key.

use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{DataKey, KeyRing, PrivacyError};

const SEALED: &str = "sealed";
const NONCE_LEN: usize = 12;

/// Seals `value` under `key`. Each call draws a fresh random nonce.
pub fn seal(key: &DataKey, value: &Value) -> Result<Value, PrivacyError> {
    let plaintext = serde_json::to_vec(value).map_err(|_| PrivacyError::Sealing)?;
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let key_id = key.key_id();
    let ciphertext = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: &plaintext,
                aad: key_id.as_bytes(),
            },
        )
        .map_err(|_| PrivacyError::Sealing)?;
    Ok(json!({
        SEALED: {
            "key_id": key_id,
            "nonce": B64.encode(nonce),
            "ciphertext": B64.encode(ciphertext),
        }
    }))
}

/// Whether `value` is a sealed envelope (well formed or not).
pub fn is_sealed(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| o.len() == 1 && o.contains_key(SEALED))
}

/// The key id an envelope was sealed under; `None` if `value` is not an envelope.
pub(crate) fn key_id_of(value: &Value) -> Result<Option<Uuid>, PrivacyError> {
    if !is_sealed(value) {
        return Ok(None);
    }
    let id = value[SEALED]["key_id"]
        .as_str()
        .ok_or(PrivacyError::Malformed("key_id is missing"))?;
    id.parse()
        .map(Some)
        .map_err(|_| PrivacyError::Malformed("key_id is not a UUID"))
}

/// Opens `value` with the keys in `ring`. A value that is not an envelope (stored before
/// sealing, or already `null`) is returned as it is; an envelope whose key is not in the ring
/// (destroyed) opens to `null`: the data is gone, which is what a purge is for.
pub fn unseal(ring: &KeyRing, value: &Value) -> Result<Value, PrivacyError> {
    let Some(key_id) = key_id_of(value)? else {
        return Ok(value.clone());
    };
    let Some(key) = ring.get(key_id) else {
        return Ok(Value::Null);
    };
    let nonce = decode(&value[SEALED]["nonce"], "nonce")?;
    if nonce.len() != NONCE_LEN {
        return Err(PrivacyError::Malformed("nonce is not 12 bytes"));
    }
    let ciphertext = decode(&value[SEALED]["ciphertext"], "ciphertext")?;
    let plaintext = key
        .cipher()
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: key_id.as_bytes(),
            },
        )
        .map_err(|_| PrivacyError::Tampered)?;
    // serde's message could quote the plaintext: it is not passed on.
    serde_json::from_slice(&plaintext).map_err(|_| PrivacyError::Malformed("plaintext is not JSON"))
}

fn decode(field: &Value, name: &'static str) -> Result<Vec<u8>, PrivacyError> {
    let text = field.as_str().ok_or(PrivacyError::Malformed(match name {
        "nonce" => "nonce is missing",
        _ => "ciphertext is missing",
    }))?;
    B64.decode(text).map_err(|_| {
        PrivacyError::Malformed(match name {
            "nonce" => "nonce is not base64",
            _ => "ciphertext is not base64",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> Value {
        json!({"given_name": "Ada", "email": "ada@example.org"})
    }

    fn ring_of(keys: &[&DataKey]) -> KeyRing {
        let mut ring = KeyRing::default();
        for key in keys {
            ring.insert((*key).clone());
        }
        ring
    }

    #[test]
    fn a_sealed_value_opens_to_itself_and_shows_nothing() {
        let key = DataKey::generate();
        let sealed = seal(&key, &contact()).unwrap();
        assert!(is_sealed(&sealed));
        let text = sealed.to_string();
        assert!(!text.contains("Ada") && !text.contains("example.org"));
        assert_eq!(sealed["sealed"]["key_id"], key.key_id().to_string());
        assert_eq!(unseal(&ring_of(&[&key]), &sealed).unwrap(), contact());
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let key = DataKey::generate();
        assert_ne!(
            seal(&key, &contact()).unwrap(),
            seal(&key, &contact()).unwrap()
        );
    }

    #[test]
    fn another_key_under_the_same_id_does_not_open_it() {
        let key = DataKey::generate();
        let sealed = seal(&key, &contact()).unwrap();
        let mut impostor = DataKey::generate();
        impostor.key_id = key.key_id();
        let error = unseal(&ring_of(&[&impostor]), &sealed).unwrap_err();
        assert!(matches!(error, PrivacyError::Tampered), "{error}");
    }

    #[test]
    fn a_relabelled_envelope_fails_authentication() {
        let (key, other) = (DataKey::generate(), DataKey::generate());
        let mut sealed = seal(&key, &contact()).unwrap();
        sealed["sealed"]["key_id"] = json!(other.key_id());
        let error = unseal(&ring_of(&[&key, &other]), &sealed).unwrap_err();
        assert!(matches!(error, PrivacyError::Tampered), "{error}");
    }

    #[test]
    fn tampered_ciphertext_fails_authentication() {
        let key = DataKey::generate();
        let mut sealed = seal(&key, &contact()).unwrap();
        let mut bytes = B64
            .decode(sealed["sealed"]["ciphertext"].as_str().unwrap())
            .unwrap();
        bytes[0] ^= 1;
        sealed["sealed"]["ciphertext"] = json!(B64.encode(bytes));
        let error = unseal(&ring_of(&[&key]), &sealed).unwrap_err();
        assert!(matches!(error, PrivacyError::Tampered), "{error}");
    }

    #[test]
    fn a_value_under_a_destroyed_key_is_gone() {
        let key = DataKey::generate();
        let sealed = seal(&key, &contact()).unwrap();
        assert_eq!(unseal(&KeyRing::default(), &sealed).unwrap(), Value::Null);
    }

    #[test]
    fn a_corrupt_envelope_is_an_error_that_quotes_nothing() {
        let key = DataKey::generate();
        let mut sealed = seal(&key, &contact()).unwrap();
        sealed["sealed"]["nonce"] = json!("Ada Lovelace!");
        let error = unseal(&ring_of(&[&key]), &sealed).unwrap_err();
        assert!(matches!(error, PrivacyError::Malformed(_)), "{error}");
        assert!(!error.to_string().contains("Ada"));
    }

    #[test]
    fn plain_values_pass_through() {
        assert_eq!(unseal(&KeyRing::default(), &contact()).unwrap(), contact());
        assert_eq!(
            unseal(&KeyRing::default(), &Value::Null).unwrap(),
            Value::Null
        );
    }
}
