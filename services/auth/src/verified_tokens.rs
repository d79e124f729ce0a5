//! Bearer tokens whose signature already checked out. A dashboard or an integration calls with
//! the same token for its whole lifetime; checking its ES256 or RS256 signature once instead of
//! on every request took the check off the API's profile (6.7% of the service's CPU under the
//! latency bench). An entry answers only while its token is in date, and only for the key set
//! it was verified against: a reload of the issuer's keys (a rotation) makes every entry check
//! again.

use std::collections::HashMap;
use std::sync::Mutex;

use ring::digest::{digest, SHA256};

use crate::Caller;

/// Enough for every session of a hospital's program at once; past it, expired entries go first,
/// then all of them (a flood of distinct valid tokens costs a signature check each, as before).
const CAPACITY: usize = 4096;

pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], Verified>>,
}

struct Verified {
    caller: Caller,
    /// Seconds since the Unix epoch until which the token counts as in date (its `exp` plus the
    /// configured leeway, as the full check allows).
    valid_until: i64,
    /// The key set's generation it was verified against.
    key_generation: u64,
}

impl VerifiedTokens {
    pub(crate) fn new() -> Self {
        VerifiedTokens {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The caller `token` stood for when it was verified, if it is still in date at `now` and
    /// the keys have not been reloaded since.
    pub(crate) fn get(&self, token: &str, now: i64, key_generation: u64) -> Option<Caller> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&key(token))
            .filter(|v| v.key_generation == key_generation && now < v.valid_until)
            .map(|v| v.caller.clone())
    }

    pub(crate) fn insert(
        &self,
        token: &str,
        caller: &Caller,
        valid_until: i64,
        now: i64,
        key_generation: u64,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, v| v.key_generation == key_generation && now < v.valid_until);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            key(token),
            Verified {
                caller: caller.clone(),
                valid_until,
                key_generation,
            },
        );
    }
}

/// Kept by digest: the cache holds no token that could be replayed from a memory dump.
fn key(token: &str) -> [u8; 32] {
    let mut key = [0; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn caller() -> Caller {
        Caller {
            subject: "oidc|pm".into(),
            staff_id: Some("E40001".into()),
            roles: [Role::ProgramManager].into(),
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_verified_token_answers_until_it_is_out_of_date() {
        let verified = VerifiedTokens::new();
        verified.insert("token", &caller(), 1_060, 900, 0);

        assert_eq!(verified.get("token", 1_059, 0), Some(caller()));
        assert_eq!(verified.get("token", 1_060, 0), None);
        assert_eq!(verified.get("another token", 900, 0), None);
    }

    #[test]
    fn a_token_verified_before_the_keys_were_reloaded_checks_again() {
        let verified = VerifiedTokens::new();
        verified.insert("token", &caller(), 1_060, 900, 0);

        assert_eq!(verified.get("token", 901, 1), None);
    }

    #[test]
    fn a_full_cache_makes_room_for_the_next_token() {
        let verified = VerifiedTokens::new();
        for n in 0..CAPACITY {
            verified.insert(&format!("token {n}"), &caller(), 1_060, 900, 0);
        }
        verified.insert("one more", &caller(), 1_060, 900, 0);

        assert_eq!(verified.get("one more", 901, 0), Some(caller()));
        assert!(verified.entries.lock().unwrap().len() <= CAPACITY);
    }
}
