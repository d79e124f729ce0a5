//! Reading staff ids that are stored sealed (issue 27).
//!
//! A staff id in a member's own record's events or in a report's events is stored sealed in
//! place under that member's data key and read opened. It reads as the empty string once the
//! key is destroyed (the envelope opens to `null`), or where a reader left it sealed (it needs
//! no staff id). Events stored before issue 27 hold it in the clear and read as they are.

use serde::{Deserialize, Deserializer};

/// A staff id as stored: in the clear, or anything else (gone, or left sealed).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Plain(String),
    Unread(serde::de::IgnoredAny),
}

impl Stored {
    fn staff_id(stored: Option<Stored>) -> String {
        match stored {
            Some(Stored::Plain(staff_id)) => staff_id,
            Some(Stored::Unread(_)) | None => String::new(),
        }
    }
}

/// One staff id: the empty string where it is gone or unread.
pub(crate) fn staff_id_or_gone<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Stored::staff_id(Option::<Stored>::deserialize(d)?))
}

/// Staff ids, in order: each the empty string where it is gone or unread.
pub(crate) fn staff_ids_or_gone<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Option<Stored>>::deserialize(d)?
        .into_iter()
        .map(Stored::staff_id)
        .collect())
}
