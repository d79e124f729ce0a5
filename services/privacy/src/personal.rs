//! Where events keep their personal part, and opening many sealed payloads at once.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::envelope::key_id_of;
use crate::{is_sealed, unseal, DataKeys, PrivacyError};

/// An event's personal part, not yet sealed, and the member whose key seals it.
pub struct PersonalPart<'a> {
    pub staff_id: String,
    pub value: &'a mut Value,
}

/// The unsealed personal part of a stored event payload, if its type has one and it holds
/// something. These are the stored shapes of `CaseOpened.personal` (the member's name and
/// contact details), `PreferencesStated.personal` (the member's preferences), and
/// `ContactToConfirm.personal` and `ContactConfirmed.personal` (contact details a referrer
/// suggested, and those the program's staff confirmed).
pub fn personal_part<'a>(event_type: &str, payload: &'a mut Value) -> Option<PersonalPart<'a>> {
    let body = payload.get_mut(event_type)?;
    let staff_id = match event_type {
        "CaseOpened" => body["facts"]["member"]["staff_id"].as_str(),
        "PreferencesStated" | "ContactToConfirm" | "ContactConfirmed" => body["staff_id"].as_str(),
        _ => None,
    }?
    .to_owned();
    let value = body.get_mut("personal")?;
    if value.is_null() || is_sealed(value) {
        return None;
    }
    Some(PersonalPart { staff_id, value })
}

/// Opens every sealed envelope inside `payloads`, wherever it sits, with one key lookup for
/// them all. Envelopes under destroyed keys become `null`.
pub async fn open_all(
    db: &mut PgConnection,
    payloads: Vec<&mut Value>,
) -> Result<(), PrivacyError> {
    let mut key_ids = Vec::new();
    for payload in &payloads {
        collect_key_ids(payload, &mut key_ids)?;
    }
    if key_ids.is_empty() {
        return Ok(());
    }
    key_ids.sort_unstable();
    key_ids.dedup();
    let ring = DataKeys::on(db).ring(&key_ids).await?;
    for payload in payloads {
        open_in_place(&ring, payload)?;
    }
    Ok(())
}

fn collect_key_ids(value: &Value, into: &mut Vec<Uuid>) -> Result<(), PrivacyError> {
    if let Some(id) = key_id_of(value)? {
        into.push(id);
        return Ok(());
    }
    match value {
        Value::Object(map) => map.values().try_for_each(|v| collect_key_ids(v, into)),
        Value::Array(items) => items.iter().try_for_each(|v| collect_key_ids(v, into)),
        _ => Ok(()),
    }
}

fn open_in_place(ring: &crate::KeyRing, value: &mut Value) -> Result<(), PrivacyError> {
    if is_sealed(value) {
        *value = unseal(ring, value)?;
        return Ok(());
    }
    match value {
        Value::Object(map) => map.values_mut().try_for_each(|v| open_in_place(ring, v)),
        Value::Array(items) => items.iter_mut().try_for_each(|v| open_in_place(ring, v)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_case_opening_keeps_its_personal_part_apart_from_the_facts() {
        let mut payload = json!({"CaseOpened": {
            "facts": {"member": {"staff_id": "E1"}},
            "personal": {"given_name": "Ada"}}});
        let part = personal_part("CaseOpened", &mut payload).unwrap();
        assert_eq!(part.staff_id, "E1");
        assert_eq!(*part.value, json!({"given_name": "Ada"}));
    }

    #[test]
    fn stated_preferences_are_personal() {
        let mut payload = json!({"PreferencesStated": {
            "staff_id": "E2", "personal": {"channel": "email"}, "stated_at": "x"}});
        assert_eq!(
            personal_part("PreferencesStated", &mut payload)
                .unwrap()
                .staff_id,
            "E2"
        );
    }

    #[test]
    fn suggested_and_confirmed_contacts_are_personal() {
        for event_type in ["ContactToConfirm", "ContactConfirmed"] {
            let mut payload = json!({event_type: {
                "staff_id": "E3", "personal": {"email": "x@example.org"}}});
            let part = personal_part(event_type, &mut payload).unwrap();
            assert_eq!(part.staff_id, "E3");
            assert_eq!(*part.value, json!({"email": "x@example.org"}));
        }
    }

    #[test]
    fn other_events_and_purged_parts_have_nothing_to_seal() {
        let mut closed = json!({"CaseClosed": {"reason": "completed"}});
        assert!(personal_part("CaseClosed", &mut closed).is_none());
        let mut purged = json!({"CaseOpened": {
            "facts": {"member": {"staff_id": "E1"}}, "personal": null}});
        assert!(personal_part("CaseOpened", &mut purged).is_none());
    }
}
