//! The outbox's idempotency keys of messages about renamed aggregates.
//!
//! An outbox row's id is a UUID v5 of its kind and what caused it (`outreach_projections::
//! outbox_id_named`): mostly the causing event's place (`type/aggregate id/sequence`, with a
//! recipient for some kinds), or the case id itself. Kept, it would let anyone who recomputes an
//! old case id recompute the ids of its messages too. Each is recognised by trying those names
//! over the old aggregate's events and the strings of the row's payload, and replaced by the id
//! the same name with the new id and sequence gives: a rebuild of the projection that wrote it
//! finds it again, and sends nothing twice. A row whose name is none of these (the alert watch's
//! reminders and waiting alerts name a due time as it formatted it) gets a random id: nothing
//! links it, and the alert watch may send such an alert once more for a case still waiting.

use outreach_projections::outbox_id_named;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::rename::{Renamed, OLD_ID};

/// Gives every outbox row naming one of `renamed` the id its name gives with the new id.
pub(super) async fn rekey(tx: &mut PgConnection, renamed: &[Renamed]) -> Result<u64, sqlx::Error> {
    let olds: Vec<&str> = renamed.iter().map(|r| r.old.as_str()).collect();
    let rows: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT id, kind, topic_key, payload::text FROM outbox
          WHERE topic_key = ANY($1)
             OR EXISTS (SELECT FROM regexp_matches(payload::text, $2, 'g') AS m
                         WHERE m[1] = ANY($1))
          FOR UPDATE",
    )
    .bind(&olds)
    .bind(format!("({OLD_ID})"))
    .fetch_all(&mut *tx)
    .await?;
    let mut rekeyed = 0;
    for (id, kind, topic_key, payload) in rows {
        let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        let mut strings = Vec::new();
        leaves(&payload, &mut strings);
        let named = renamed
            .iter()
            .filter(|r| topic_key.contains(&r.old) || strings.iter().any(|s| s.contains(&r.old)));
        let new_id = named
            .into_iter()
            .find_map(|r| renamed_id(id, &kind, r, &strings))
            .unwrap_or_else(Uuid::new_v4);
        sqlx::query("UPDATE outbox SET id = $2 WHERE id = $1")
            .bind(id)
            .bind(new_id)
            .execute(&mut *tx)
            .await?;
        rekeyed += 1;
    }
    Ok(rekeyed)
}

/// The id the row `id` of `kind` has once `renamed` is renamed, if its name is recognised.
fn renamed_id(id: Uuid, kind: &str, renamed: &Renamed, strings: &[String]) -> Option<Uuid> {
    if outbox_id_named(kind, &renamed.old) == id {
        return Some(outbox_id_named(kind, &renamed.new.to_string()));
    }
    for (sequence, to, new_sequence) in &renamed.sequences {
        let old = format!("{}/{}/{sequence}", renamed.kind, renamed.old);
        let new = format!("{}/{to}/{new_sequence}", renamed.kind);
        if outbox_id_named(kind, &old) == id {
            return Some(outbox_id_named(kind, &new));
        }
        for recipient in strings {
            if outbox_id_named(kind, &format!("{old}/{recipient}")) == id {
                return Some(outbox_id_named(kind, &format!("{new}/{recipient}")));
            }
        }
    }
    None
}

fn leaves(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(text) => into.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| leaves(item, into)),
        Value::Object(fields) => fields.values().for_each(|field| leaves(field, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_named_row_is_recognised_and_given_its_new_name() {
        let (old, new) = ("5ea1c1d2-0000-5000-8000-000000000001", Uuid::new_v4());
        let renamed = Renamed {
            kind: "OutreachCase".into(),
            old: old.into(),
            new,
            sequences: vec![(1, new, 1), (2, new, 2)],
        };
        let by_event = outbox_id_named("escalation", &format!("OutreachCase/{old}/2"));
        assert_eq!(
            renamed_id(by_event, "escalation", &renamed, &[]),
            Some(outbox_id_named(
                "escalation",
                &format!("OutreachCase/{new}/2")
            ))
        );
        let to = outbox_id_named("escalation-email", &format!("OutreachCase/{old}/1/d@x.org"));
        assert_eq!(
            renamed_id(to, "escalation-email", &renamed, &["d@x.org".into()]),
            Some(outbox_id_named(
                "escalation-email",
                &format!("OutreachCase/{new}/1/d@x.org")
            ))
        );
        let by_case = outbox_id_named("page-resolve", old);
        assert_eq!(
            renamed_id(by_case, "page-resolve", &renamed, &[]),
            Some(outbox_id_named("page-resolve", &new.to_string()))
        );
        assert_eq!(
            renamed_id(Uuid::new_v4(), "escalation", &renamed, &[]),
            None
        );
    }
}
