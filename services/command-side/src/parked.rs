//! Parked report commands hold the names and contact details of the members they add: those
//! are sealed under each member's data key like the events' personal parts, so a purge leaves
//! nothing readable here either.

use outreach_privacy::{is_sealed, seal, DataKeys, PrivacyError};
use serde_json::Value;
use sqlx::PgConnection;

/// Seals each named member's `contact` in a serialised `ReportCommand`, in place.
pub(crate) async fn seal_contacts(
    db: &mut PgConnection,
    command: &mut Value,
) -> Result<(), PrivacyError> {
    // Record names `members`, Amend names `added`; Withdraw names nobody.
    for (variant, list) in [("Record", "members"), ("Amend", "added")] {
        let Some(members) = command
            .get_mut(variant)
            .and_then(|v| v.get_mut(list))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for member in members {
            let Some(staff_id) = member["profile"]["staff_id"].as_str().map(str::to_owned) else {
                return Err(PrivacyError::Malformed("a parked member has no staff id"));
            };
            let Some(contact) = member.get_mut("contact") else {
                continue;
            };
            if contact.is_null() || is_sealed(contact) {
                continue;
            }
            let mut keys = DataKeys::on(db);
            keys.hold_for_sealing(&staff_id).await?;
            let key = keys.live_key(&staff_id).await?;
            *contact = seal(&key, contact)?;
        }
    }
    Ok(())
}
