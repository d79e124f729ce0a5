//! Crypto-shredding of members' personal data.
//!
//! Personal data (a member's name, contact details and preferences) is stored sealed with
//! AES-256-GCM under a data key of that member's own, held wrapped in `member_data_keys` and
//! nowhere else. Deleting the key purges every sealed copy at once, in the event store and in its
//! backups, without rewriting a single event: what remains are the facts statistics need.
//!
//! - [`DataKeys`]: the key store (get or create a member's live key, look many up, destroy one),
//!   every key wrapped under the [`KeyEncryptionKey`] from configuration.
//! - [`check_store`], [`rewrap_batch`], [`wrap_unwrapped_batch`]: the store's upkeep (the check
//!   at start, `peer-outreach keys rewrap`, and wrapping keys stored before wrapping was).
//! - [`seal`] / [`unseal`]: one JSON value in and out of its sealed envelope. A value sealed
//!   under a destroyed key unseals to JSON `null` ("gone"), never to an error.
//! - [`personal_parts`] and [`open_all`]: where events keep their personal part, and opening
//!   every envelope in many payloads with one key lookup.

mod envelope;
mod error;
mod kek;
mod keys;
mod personal;
mod store;

pub use envelope::{is_sealed, seal, unseal};
pub use error::PrivacyError;
pub use kek::KeyEncryptionKey;
pub use keys::{DataKey, DataKeys, KeyRing};
pub use personal::{open_all, personal_parts, PersonalPart};
pub use store::{check_store, rewrap_batch, under_other_keks, wrap_unwrapped_batch};
