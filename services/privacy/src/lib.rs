//! Crypto-shredding of members' personal data.
//!
//! Personal data (a member's name, contact details and preferences) is stored sealed with
//! AES-256-GCM under a data key of that member's own, held in `member_data_keys` and nowhere
//! else. Deleting the key purges every sealed copy at once, in the event store and in its
//! backups, without rewriting a single event: what remains are the facts statistics need.
//!
//! - [`DataKeys`]: the key store (get or create a member's live key, look many up, destroy one).
//! - [`seal`] / [`unseal`]: one JSON value in and out of its sealed envelope. A value sealed
//!   under a destroyed key unseals to JSON `null` ("gone"), never to an error.
//! - [`personal_part`] and [`open_all`]: where events keep their personal part, and opening
//!   every envelope in many payloads with one key lookup.

mod envelope;
mod error;
mod keys;
mod personal;

pub use envelope::{is_sealed, seal, unseal};
pub use error::PrivacyError;
pub use keys::{DataKey, DataKeys, KeyRing};
pub use personal::{open_all, personal_part, PersonalPart};
