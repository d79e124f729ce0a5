//! A colleague's contact details suggested by a referrer, held until the program's staff confirm
//! them. A care team member may refer a colleague the program has no record of, but may not
//! choose where that colleague is contacted: what they give is held apart, never used to reach
//! the member, until a program manager confirms it or enters another.
//!
//! Both events keep the contact details in their own `personal` part, sealed under the member's
//! data key like `CaseOpened.personal`, with the member's staff id beside it to find the key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::MemberContact;

/// The case opened with contact details nobody on the program's staff has confirmed: the
/// referrer's suggestion, held. The case's opening carries the member's name and no way to reach
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactToConfirm {
    /// Sealed in place like the member's other staff ids: empty once purged (issue 27).
    #[serde(default, deserialize_with = "crate::gone::staff_id_or_gone")]
    pub staff_id: String,
    /// The referrer's suggestion. Sealed; `None` once the member's data was purged.
    #[serde(default)]
    pub personal: Option<MemberContact>,
    pub held_at: DateTime<Utc>,
}

/// A program manager confirmed how to reach the member: the suggestion as it was, or details
/// they entered instead. From here on these are the member's contact details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactConfirmed {
    /// Sealed in place like the member's other staff ids: empty once purged (issue 27).
    #[serde(default, deserialize_with = "crate::gone::staff_id_or_gone")]
    pub staff_id: String,
    /// Whether the suggestion was confirmed as it was (`false`: replaced).
    pub as_suggested: bool,
    /// The confirmed contact details. Sealed; `None` once the member's data was purged.
    #[serde(default)]
    pub personal: Option<MemberContact>,
    pub confirmed_at: DateTime<Utc>,
}
