//! The tokens of the one-time feedback links: a random nonce and its MAC under the program's
//! link key, so that a token is recognised without being stored anywhere.
//!
//! A stored token (even as a hash) would be a row written with the invitation: in its
//! transaction, in its order, under an id a sort or a join can follow back to the invitation's
//! outbox row and so to the case. Here nothing is written when a link is sent; the answer, when
//! it comes, writes the token's SHA-256 (to refuse a second answer) and nothing else. Once the
//! invitation's e-mail is sent and its outbox row emptied, the token is in the member's mailbox
//! only.
//!
//! A token is 64 lowercase hex characters: 16 random bytes from the operating system's
//! generator, then the first 16 bytes of HMAC-SHA-256 over them under the link key. The key
//! proves a link was sent by the program: whoever holds it can make tokens the API takes (and
//! answer, never find out who answered), so it is not in the database. It is derived from the
//! key-encryption key ([`KeyEncryptionKey::derive`], a label of its own), which is
//! configuration: a database dump neither verifies nor forges a link.
//!
//! The key changes with the KEK. During an overlap (`privacy.previous_key_encryption_key`
//! configured while `keys rewrap` moves the keys), links are issued under the new KEK's key and
//! taken under either. Links MACed under a KEK the service no longer has (sent before the old
//! KEK was dropped from the configuration, or before links were keyed by the KEK at all, when
//! the key was a database row) are refused as unknown, and the feedback page tells the member
//! that a link sent before the program changed its keys no longer works.

use outreach_privacy::{KeyEncryptionKey, PrivacyError};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// What the link key is derived under from the KEK; a new label would be a new key.
const LABEL: &[u8] = b"peer-outreach feedback link key v1";

/// The program's key for feedback links, and during an overlap the previous KEK's, which
/// verifies and never issues.
pub struct LinkKey {
    issuing: hmac::Key,
    previous: Option<hmac::Key>,
}

impl LinkKey {
    /// The key of the process's KEK (and of its previous KEK, during an overlap).
    pub fn installed() -> Result<Self, PrivacyError> {
        let mut key = Self::of(&*KeyEncryptionKey::installed()?);
        key.previous = KeyEncryptionKey::previous()
            .map(|previous| hmac::Key::new(hmac::HMAC_SHA256, &previous.derive(LABEL)));
        Ok(key)
    }

    /// The key derived from `kek`.
    pub fn of(kek: &KeyEncryptionKey) -> Self {
        Self::new(&kek.derive(LABEL))
    }

    pub fn new(key: &[u8]) -> Self {
        Self {
            issuing: hmac::Key::new(hmac::HMAC_SHA256, key),
            previous: None,
        }
    }

    /// A fresh token.
    pub fn issue(&self) -> String {
        let mut nonce = [0u8; 16];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the operating system's generator works");
        format!(
            "{:032x}{:032x}",
            u128::from_be_bytes(nonce),
            self.tag(&nonce)
        )
    }

    /// Whether `token` is one this key issued.
    pub fn verify(&self, token: &str) -> bool {
        if token.len() != 64
            || !token
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return false;
        }
        let (Ok(nonce), Ok(tag)) = (
            u128::from_str_radix(&token[..32], 16),
            u128::from_str_radix(&token[32..], 16),
        ) else {
            return false;
        };
        let nonce = nonce.to_be_bytes();
        // Compared without an early exit, so the time taken says nothing of how close it was.
        let matches = |key: &hmac::Key| {
            tag_under(key, &nonce)
                .to_be_bytes()
                .iter()
                .zip(tag.to_be_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        };
        matches(&self.issuing) | self.previous.as_ref().is_some_and(matches)
    }

    /// The first 16 bytes of the MAC of `nonce`.
    fn tag(&self, nonce: &[u8; 16]) -> u128 {
        tag_under(&self.issuing, nonce)
    }
}

/// The first 16 bytes of the MAC of `nonce` under `key`.
fn tag_under(key: &hmac::Key, nonce: &[u8; 16]) -> u128 {
    let mac = hmac::sign(key, nonce);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&mac.as_ref()[..16]);
    u128::from_be_bytes(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_64_hex_characters_never_the_same_and_verified_by_its_key_only() {
        let key = LinkKey::new(&[7; 32]);
        let (a, b) = (key.issue(), key.issue());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_ne!(a, b);
        assert!(key.verify(&a) && key.verify(&b));
        assert!(!LinkKey::new(&[8; 32]).verify(&a), "another key");
        let kek = KeyEncryptionKey::generate();
        let of_kek = LinkKey::of(&kek).issue();
        assert!(LinkKey::of(&kek).verify(&of_kek));
        assert!(!LinkKey::of(&KeyEncryptionKey::generate()).verify(&of_kek));
        assert!(!LinkKey::new(&kek.derive(b"another label")).verify(&of_kek));
        // One character changed, in the nonce or in the tag.
        for at in [0, 40] {
            let mut forged = a.clone().into_bytes();
            forged[at] = if forged[at] == b'0' { b'1' } else { b'0' };
            assert!(!key.verify(&String::from_utf8(forged).unwrap()));
        }
        for bad in ["", &a[..63], &a.to_uppercase(), &format!("{}+", &a[..63])] {
            assert!(!key.verify(bad), "{bad}");
        }
    }
}
