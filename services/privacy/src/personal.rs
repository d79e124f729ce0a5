//! Where events keep their personal part, and opening many sealed payloads at once.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::envelope::key_id_of;
use crate::{is_sealed, unseal, DataKeys, PrivacyError};

/// An event's personal parts, not yet sealed, and the member whose key seals them.
pub struct PersonalPart<'a> {
    pub staff_id: String,
    pub values: Vec<&'a mut Value>,
}

/// The unsealed personal parts of a stored event payload, if its type has any and they hold
/// something. These are the stored shapes of `CaseOpened.personal` (the member's name and
/// contact details), `CaseOpened.facts.member` (the member's staff id, role, department,
/// discipline, seniority and involvement: issue 27) and `PreferencesStated.personal` (the
/// member's preferences). Each is sealed in place, on its own, under the member's key.
///
/// The member is read from the plain parts: a payload whose profile is already sealed (or
/// purged) has nothing left to seal.
pub fn personal_part<'a>(event_type: &str, payload: &'a mut Value) -> Option<PersonalPart<'a>> {
    let body = payload.get_mut(event_type)?;
    let plain = |value: &Value| !value.is_null() && !is_sealed(value);
    let mut values = Vec::new();
    let staff_id = match event_type {
        "CaseOpened" => {
            let mut staff_id = None;
            for (name, value) in body.as_object_mut()?.iter_mut() {
                match name.as_str() {
                    "personal" if plain(value) => values.push(value),
                    "facts" => {
                        if let Some(member) = value.get_mut("member").filter(|m| plain(m)) {
                            staff_id = member["staff_id"].as_str().map(str::to_owned);
                            values.push(member);
                        }
                    }
                    _ => {}
                }
            }
            staff_id
        }
        "PreferencesStated" => {
            let staff_id = body["staff_id"].as_str().map(str::to_owned);
            values.extend(body.get_mut("personal").filter(|p| plain(p)));
            staff_id
        }
        _ => None,
    }?;
    if values.is_empty() {
        return None;
    }
    Some(PersonalPart { staff_id, values })
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
    fn a_case_opening_keeps_its_personal_parts_apart_from_the_facts() {
        let mut payload = json!({"CaseOpened": {
            "facts": {"campus": "Parnassus", "member": {"staff_id": "E1", "role": "Nurse"}},
            "personal": {"given_name": "Ada"}}});
        let part = personal_part("CaseOpened", &mut payload).unwrap();
        assert_eq!(part.staff_id, "E1");
        let values: Vec<Value> = part.values.into_iter().map(|v| v.clone()).collect();
        assert!(values.contains(&json!({"given_name": "Ada"})));
        assert!(values.contains(&json!({"staff_id": "E1", "role": "Nurse"})));
        assert_eq!(values.len(), 2, "the campus is a fact, not the member's");
    }

    #[test]
    fn stated_preferences_are_personal() {
        let mut payload = json!({"PreferencesStated": {
            "staff_id": "E2", "personal": {"channel": "email"}, "stated_at": "x"}});
        let part = personal_part("PreferencesStated", &mut payload).unwrap();
        assert_eq!(part.staff_id, "E2");
        assert_eq!(part.values.len(), 1);
    }

    #[test]
    fn other_events_and_purged_parts_have_nothing_to_seal() {
        let mut closed = json!({"CaseClosed": {"reason": "completed"}});
        assert!(personal_part("CaseClosed", &mut closed).is_none());
        let mut purged = json!({"CaseOpened": {
            "facts": {"member": null}, "personal": null}});
        assert!(personal_part("CaseOpened", &mut purged).is_none());
        let mut sealed = json!({"CaseOpened": {
            "facts": {"member": {"sealed": {}}}, "personal": {"sealed": {}}}});
        assert!(personal_part("CaseOpened", &mut sealed).is_none());
    }
}
