//! Where events keep their personal part, and opening many sealed payloads at once.

use outreach_events::care_team_member::MemberEvent;
use outreach_events::{CaseEvent, ReportEvent};
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

/// The unsealed personal parts of a stored event payload, by member, if its type has any and
/// they hold something. These are the stored shapes of:
/// - `CaseOpened.personal` (the member's name and contact details) and `.facts.member` (their
///   staff id, role, department, discipline, seniority and involvement: issue 27);
/// - the `staff_id` of the member's own record's events, and `PreferencesStated.personal`
///   (their preferences);
/// - the staff id of each member a report's events name, and whether they were eligible
///   (`ReportRecorded` and `StaffAdded`'s `members[].staff_id` and `.eligible`,
///   `StaffRemoved.staff_ids[]`), each under that member's own key.
///
/// Each is sealed in place, on its own, under the member's key. The member is read from the
/// plain parts: a part already sealed (or purged) has nothing left to seal.
///
/// Event types are the events crate's constants, so a renamed type cannot silently stop
/// being sealed; the tests hold a sample of every type that names a member.
pub fn personal_parts<'a>(event_type: &str, payload: &'a mut Value) -> Vec<PersonalPart<'a>> {
    let Some(body) = payload.get_mut(event_type) else {
        return Vec::new();
    };
    let plain = |value: &Value| !value.is_null() && !is_sealed(value);
    let staff_id = |value: &Value| {
        value
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    };
    let mut parts = Vec::new();
    match event_type {
        CaseEvent::CASE_OPENED => {
            let (mut staff, mut values) = (None, Vec::new());
            for (name, value) in body.as_object_mut().into_iter().flatten() {
                match name.as_str() {
                    "personal" if plain(value) => values.push(value),
                    "facts" => {
                        if let Some(member) = value.get_mut("member").filter(|m| plain(m)) {
                            staff = staff_id(&member["staff_id"]);
                            values.push(member);
                        }
                    }
                    _ => {}
                }
            }
            parts.extend(staff.map(|staff_id| PersonalPart { staff_id, values }));
        }
        // The member's own record's events that name them (`PersonalDataPurged` names no one).
        MemberEvent::CASE_STARTED
        | MemberEvent::PREFERENCES_STATED
        | MemberEvent::OPTED_OUT
        | MemberEvent::OPTED_IN
        | MemberEvent::AUTOMATIC_OUTREACH_SKIPPED
        // A case's contact details a referrer suggested and the program's staff confirmed.
        | CaseEvent::CONTACT_TO_CONFIRM
        | CaseEvent::CONTACT_CONFIRMED => {
            let (mut staff, mut values) = (None, Vec::new());
            for (name, value) in body.as_object_mut().into_iter().flatten() {
                match name.as_str() {
                    "staff_id" => {
                        if let Some(id) = staff_id(value) {
                            staff = Some(id);
                            values.push(value);
                        }
                    }
                    "personal" if plain(value) => values.push(value),
                    _ => {}
                }
            }
            parts.extend(staff.map(|staff_id| PersonalPart { staff_id, values }));
        }
        ReportEvent::REPORT_RECORDED | ReportEvent::STAFF_ADDED => {
            let members = body.get_mut("members").and_then(Value::as_array_mut);
            for member in members.into_iter().flatten() {
                let Some(named) = member.get("staff_id").and_then(staff_id) else {
                    continue;
                };
                // Whether the member was eligible is about them too: sealed with their id.
                let values = (member.as_object_mut().into_iter().flatten())
                    .filter(|(name, value)| {
                        matches!(name.as_str(), "staff_id" | "eligible") && plain(value)
                    })
                    .map(|(_, value)| value)
                    .collect();
                parts.push(PersonalPart {
                    staff_id: named,
                    values,
                });
            }
        }
        ReportEvent::STAFF_REMOVED => {
            let removed = body.get_mut("staff_ids").and_then(Value::as_array_mut);
            for value in removed.into_iter().flatten() {
                if let Some(staff_id) = staff_id(value) {
                    parts.push(PersonalPart {
                        staff_id,
                        values: vec![value],
                    });
                }
            }
        }
        _ => {}
    }
    parts.retain(|part| !part.values.is_empty());
    parts
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
        let part = personal_parts("CaseOpened", &mut payload).pop().unwrap();
        assert_eq!(part.staff_id, "E1");
        let values: Vec<Value> = part.values.into_iter().map(|v| v.clone()).collect();
        assert!(values.contains(&json!({"given_name": "Ada"})));
        assert!(values.contains(&json!({"staff_id": "E1", "role": "Nurse"})));
        assert_eq!(values.len(), 2, "the campus is a fact, not the member's");
    }

    #[test]
    fn stated_preferences_and_the_staff_id_of_the_members_record_are_personal() {
        let mut payload = json!({"PreferencesStated": {
            "staff_id": "E2", "personal": {"channel": "email"}, "stated_at": "x"}});
        let part = personal_parts("PreferencesStated", &mut payload)
            .pop()
            .unwrap();
        assert_eq!(part.staff_id, "E2");
        assert_eq!(part.values.len(), 2);
        let mut payload = json!({"OptedOut": {"staff_id": "E2", "opted_out_at": "x"}});
        let part = personal_parts("OptedOut", &mut payload).pop().unwrap();
        assert_eq!(*part.values[0], json!("E2"));
        let mut purge = json!({"PersonalDataPurged": {"key_id": "k", "purged_at": "x"}});
        assert!(personal_parts("PersonalDataPurged", &mut purge).is_empty());
        let mut sealed = json!({"CaseStarted": {"staff_id": {"sealed": {}}, "case_id": "c"}});
        assert!(personal_parts("CaseStarted", &mut sealed).is_empty());
    }

    #[test]
    fn suggested_and_confirmed_contacts_are_personal() {
        for event_type in ["ContactToConfirm", "ContactConfirmed"] {
            let mut payload = json!({event_type: {
                "staff_id": "E3", "personal": {"email": "x@example.org"}}});
            let part = personal_parts(event_type, &mut payload).pop().unwrap();
            assert_eq!(part.staff_id, "E3");
            // The staff id beside them is the member's too, sealed with them.
            assert_eq!(part.values.len(), 2);
            assert!(part
                .values
                .contains(&&mut json!({"email": "x@example.org"})));
            assert!(part.values.contains(&&mut json!("E3")));
        }
    }

    #[test]
    fn other_events_and_purged_parts_have_nothing_to_seal() {
        let mut closed = json!({"CaseClosed": {"reason": "completed"}});
        assert!(personal_parts("CaseClosed", &mut closed).is_empty());
        let mut purged = json!({"CaseOpened": {
            "facts": {"member": null}, "personal": null}});
        assert!(personal_parts("CaseOpened", &mut purged).is_empty());
        let mut sealed = json!({"CaseOpened": {
            "facts": {"member": {"sealed": {}}}, "personal": {"sealed": {}}}});
        assert!(personal_parts("CaseOpened", &mut sealed).is_empty());
    }

    #[test]
    fn a_reports_members_are_each_sealed_under_their_own_key() {
        let mut recorded = json!({"ReportRecorded": {"campus": "Parnassus", "members": [
            {"staff_id": "E1", "case_id": "c1", "eligible": true},
            {"staff_id": "E2", "case_id": "c2", "eligible": false}]}});
        let parts = personal_parts("ReportRecorded", &mut recorded);
        let named: Vec<&str> = parts.iter().map(|p| p.staff_id.as_str()).collect();
        assert_eq!(named, ["E1", "E2"]);
        // Each member's staff id and eligibility; the case id is the report's.
        let values: Vec<Vec<Value>> = parts
            .into_iter()
            .map(|p| p.values.into_iter().map(|v| v.clone()).collect())
            .collect();
        let expected = [[json!(true), json!("E1")], [json!(false), json!("E2")]];
        assert_eq!(values, expected, "in the payload's order of names");
        let mut sealed = json!({"StaffAdded": {"members": [
            {"staff_id": {"sealed": {}}, "case_id": "c1", "eligible": {"sealed": {}}}]}});
        assert!(personal_parts("StaffAdded", &mut sealed).is_empty());
        let mut removed = json!({"StaffRemoved": {"staff_ids": ["E3", {"sealed": {}}]}});
        let parts = personal_parts("StaffRemoved", &mut removed);
        assert_eq!(parts.len(), 1);
        assert_eq!(*parts[0].values[0], json!("E3"));
    }
}

#[cfg(test)]
#[path = "personal_types_tests.rs"]
mod types_tests;
