//! Reading staff ids that are stored sealed (issue 27).
//!
//! A staff id in a member's own record's events or in a report's events is stored sealed in
//! place under that member's data key and read opened. It reads as the empty string once the
//! key is destroyed (the envelope opens to `null`), or where a reader left it sealed (it needs
//! no staff id). Events stored before issue 27 hold it in the clear and read as they are. So
//! does a report's member's eligibility, sealed beside their staff id.

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

/// Whether a report's member was eligible: sealed beside their staff id, and so unknown once
/// it is gone or unread. Unknown reads as not eligible; a reader tells it apart by the empty
/// staff id beside it.
pub(crate) fn eligible_or_unknown<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Plain(bool),
        Unread(serde::de::IgnoredAny),
    }
    Ok(matches!(
        Option::<Stored>::deserialize(d)?,
        Some(Stored::Plain(true))
    ))
}

/// Staff ids, in order: each the empty string where it is gone or unread.
pub(crate) fn staff_ids_or_gone<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Option<Stored>>::deserialize(d)?
        .into_iter()
        .map(Stored::staff_id)
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::ReportMember;

    /// A report's member as stored: opened, gone (the envelope opened to null), or left sealed.
    #[test]
    fn eligibility_reads_as_stored_and_as_not_eligible_once_gone() {
        let read = |staff_id, eligible| {
            serde_json::from_value::<ReportMember>(json!({
                "staff_id": staff_id, "case_id": uuid::Uuid::nil(), "eligible": eligible}))
            .unwrap()
        };
        let opened = read(json!("E1"), json!(true));
        assert_eq!((opened.staff_id.as_str(), opened.eligible), ("E1", true));
        assert!(!read(json!("E1"), json!(false)).eligible);
        let gone = read(json!(null), json!(null));
        assert_eq!((gone.staff_id.as_str(), gone.eligible), ("", false));
        let sealed = json!({"sealed": {"key_id": "k", "nonce": "n", "ciphertext": "c"}});
        let unread = read(sealed.clone(), sealed);
        assert_eq!((unread.staff_id.as_str(), unread.eligible), ("", false));
        // Purged before eligibility was sealed: the staff id gone, the flag in the clear.
        assert!(read(json!(null), json!(true)).eligible);
    }
}
