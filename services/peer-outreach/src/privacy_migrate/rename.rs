//! Renaming the cases and member records stored before issue 27, a batch a transaction.
//!
//! Their ids were UUID v5 (today's are derived under the member's key, random-shaped: v4), so an
//! aggregate of either type whose id is a v5 UUID is one of them, whatever else became of it.
//! Each gets the id today's code derives for it under its member's live key, found through what
//! its events seal (the sealing pass runs first): a case through its opening's member part, a
//! member's record through the parts of its events since its last purge. A case or record
//! without a live key (purged) gets a fresh random id, which nothing links to anyone; so do the
//! events of a record before its last purge (a member named again after a purge had one record
//! for both lives before issue 27: the first life goes apart, as today's code would have kept it,
//! and the second becomes the record today's code finds, numbered from 1). Where the derived id
//! is taken already (today's code has written that aggregate since), the old one gets a random
//! id too: the service reads the derived one, and the two must not collide.
//!
//! Everything else that holds the old ids is rewritten in the same transaction (see
//! [`super::held`], [`super::outbox_ids`], [`super::audit`]), so a kill leaves no aggregate
//! half renamed: a renamed aggregate's id is no v5 UUID, and the next batch takes the next ones.

use std::collections::{HashMap, HashSet};

use outreach_domain::ids;
use outreach_events::care_team_member::{self, MemberEvent};
use outreach_events::case::{self, CaseEvent};
use outreach_events::ReportRef;
use outreach_privacy::DataKeys;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// An id as the code before issue 27 derived them: a UUID v5, lower case, as stored.
pub(super) const OLD_ID: &str =
    "[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

/// The aggregate types whose ids were derived from staff ids.
pub(super) const RENAMED_TYPES: [&str; 2] =
    [case::AGGREGATE_TYPE, care_team_member::AGGREGATE_TYPE];

/// One old aggregate, and where its events went.
#[derive(Debug)]
pub(super) struct Renamed {
    pub kind: String,
    pub old: String,
    /// The id that stands for it elsewhere (in other events, read models, the outbox, the
    /// audit): the one its live events went to.
    pub new: Uuid,
    /// Each old sequence, with the id and sequence its event has now.
    pub sequences: Vec<(i64, Uuid, i64)>,
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct RenameBatch {
    /// Aggregates renamed: none when none was left.
    pub aggregates: u64,
    /// Of those, renamed to the id their member's live key derives.
    pub derived: u64,
    /// Rows elsewhere that named one of them, rewritten.
    pub rows_elsewhere: u64,
    /// Access audit entries rewritten (the chain is re-chained at the end).
    pub audit_entries: u64,
}

/// How many aggregates still have the ids of before issue 27.
pub async fn to_rename(db: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT DISTINCT aggregate_type, aggregate_id FROM events
                                WHERE aggregate_type = ANY($1) AND aggregate_id ~ $2) old",
    )
    .bind(RENAMED_TYPES)
    .bind(format!("^{OLD_ID}$"))
    .fetch_one(db)
    .await
}

type EventRow = (String, String, i64, String, Value);
/// An aggregate's events: sequence, type, payload.
type Stream = Vec<(i64, String, Value)>;

/// Renames (at most `limit`) old aggregates, and every row elsewhere that names them, in the
/// caller's transaction, which must be the owner's.
pub async fn rename_batch(tx: &mut PgConnection, limit: i64) -> anyhow::Result<RenameBatch> {
    let olds: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT aggregate_type, aggregate_id FROM events
          WHERE aggregate_type = ANY($1) AND aggregate_id ~ $2
          ORDER BY aggregate_type, aggregate_id LIMIT $3",
    )
    .bind(RENAMED_TYPES)
    .bind(format!("^{OLD_ID}$"))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if olds.is_empty() {
        return Ok(RenameBatch::default());
    }
    let old_ids: Vec<&str> = olds.iter().map(|(_, id)| id.as_str()).collect();
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, payload FROM events
          WHERE aggregate_type = ANY($1) AND aggregate_id = ANY($2)
          ORDER BY aggregate_type, aggregate_id, sequence
          FOR UPDATE",
    )
    .bind(RENAMED_TYPES)
    .bind(&old_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut streams: HashMap<(String, String), Stream> = HashMap::new();
    for (kind, id, sequence, event_type, payload) in rows {
        streams
            .entry((kind, id))
            .or_default()
            .push((sequence, event_type, payload));
    }

    let plans: Vec<Plan> = olds
        .iter()
        .map(|key| Plan::of(&key.0, &key.1, &streams[key]))
        .collect();
    let key_ids: Vec<Uuid> = plans.iter().filter_map(|p| p.key_id).collect();
    let ring = DataKeys::on(&mut *tx).ring(&key_ids).await?;
    let candidates: Vec<(usize, Uuid)> = plans
        .iter()
        .enumerate()
        .filter_map(|(at, plan)| {
            let key = ring.get(plan.key_id?)?;
            Some((at, key.derive_id(plan.purpose, &plan.input)))
        })
        .collect();
    let wanted: Vec<String> = candidates.iter().map(|(_, id)| id.to_string()).collect();
    let mut taken: HashSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM events
          WHERE aggregate_type = ANY($1) AND aggregate_id = ANY($2)",
    )
    .bind(RENAMED_TYPES)
    .bind(&wanted)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut derived: HashMap<usize, Uuid> = HashMap::new();
    for (at, id) in candidates {
        if taken.insert(id.to_string()) {
            derived.insert(at, id);
        }
    }

    let mut renamed = Vec::with_capacity(plans.len());
    let mut moves = Moves::default();
    for (at, plan) in plans.iter().enumerate() {
        let stream = &streams[&(plan.kind.clone(), plan.old.clone())];
        renamed.push(plan.carry_out(stream, derived.get(&at).copied(), &mut moves));
    }
    moves.apply(tx).await?;
    sqlx::query("DELETE FROM snapshots WHERE aggregate_type = ANY($1) AND aggregate_id = ANY($2)")
        .bind(RENAMED_TYPES)
        .bind(&old_ids)
        .execute(&mut *tx)
        .await?;

    super::outbox_ids::rekey(tx, &renamed).await?;
    let map: Vec<(String, String)> = renamed
        .iter()
        .map(|r| (r.old.clone(), r.new.to_string()))
        .collect();
    let rows_elsewhere = super::held::rewrite(tx, &map).await?;
    let audit_entries = super::audit::rewrite_entries(tx, &map).await?;
    Ok(RenameBatch {
        aggregates: renamed.len() as u64,
        derived: derived.len() as u64,
        rows_elsewhere,
        audit_entries,
    })
}

/// What an old aggregate's new id is derived from, if its member's key lives.
struct Plan {
    kind: String,
    old: String,
    purpose: &'static str,
    input: String,
    /// The key its live part is sealed under.
    key_id: Option<Uuid>,
    /// A member's record: the sequence of its last purge (its events up to it are a past life).
    last_purge: Option<i64>,
}

impl Plan {
    fn of(kind: &str, old: &str, stream: &[(i64, String, Value)]) -> Plan {
        let mut plan = Plan {
            kind: kind.to_owned(),
            old: old.to_owned(),
            purpose: ids::MEMBER,
            input: String::new(),
            key_id: None,
            last_purge: None,
        };
        if kind == case::AGGREGATE_TYPE {
            plan.purpose = ids::CASE;
            let opening = stream
                .iter()
                .find(|(_, event_type, _)| event_type == CaseEvent::CASE_OPENED);
            if let Some((_, _, payload)) = opening {
                let facts = &payload[CaseEvent::CASE_OPENED]["facts"];
                let report: Option<ReportRef> =
                    serde_json::from_value(facts["report"].clone()).ok();
                if let Some(report) = report {
                    plan.input = ids::case_input(&report);
                    plan.key_id = sealed_under(&facts["member"]);
                }
            }
        } else {
            plan.last_purge = stream
                .iter()
                .filter(|(_, event_type, _)| event_type == MemberEvent::PERSONAL_DATA_PURGED)
                .map(|(sequence, _, _)| *sequence)
                .max();
            plan.key_id = stream
                .iter()
                .filter(|(sequence, _, _)| plan.last_purge.is_none_or(|purge| *sequence > purge))
                .find_map(|(_, _, payload)| sealed_under(payload));
        }
        plan
    }

    /// Moves its events to `derived` (its live part) and a random id (the rest, or all of it
    /// without a derived id).
    fn carry_out(
        &self,
        stream: &[(i64, String, Value)],
        derived: Option<Uuid>,
        moves: &mut Moves,
    ) -> Renamed {
        let random = Uuid::new_v4();
        let split = derived.map(|to| (to, self.last_purge.unwrap_or(0)));
        let mut sequences = Vec::with_capacity(stream.len());
        let mut past = false;
        for (sequence, _, _) in stream {
            match split {
                Some((to, purge)) if *sequence > purge => {
                    sequences.push((*sequence, to, sequence - purge));
                }
                _ => {
                    sequences.push((*sequence, random, *sequence));
                    past = true;
                }
            }
        }
        if let Some((to, purge)) = split {
            moves.push(&self.kind, &self.old, purge, i64::MAX, to, purge);
        }
        if past {
            let through = split.map_or(i64::MAX, |(_, purge)| purge);
            moves.push(&self.kind, &self.old, -1, through, random, 0);
        }
        let new = match split {
            Some((to, purge)) if stream.iter().any(|(sequence, _, _)| *sequence > purge) => to,
            _ => random,
        };
        Renamed {
            kind: self.kind.clone(),
            old: self.old.clone(),
            new,
            sequences,
        }
    }
}

/// The key id of the first sealed envelope in `value`, depth first.
fn sealed_under(value: &Value) -> Option<Uuid> {
    if outreach_privacy::is_sealed(value) {
        return value["sealed"]["key_id"].as_str()?.parse().ok();
    }
    match value {
        Value::Object(fields) => fields.values().find_map(sealed_under),
        Value::Array(items) => items.iter().find_map(sealed_under),
        _ => None,
    }
}

/// Events' moves: those of `old` with a sequence in (after, through] go to `to`, `shift` less.
#[derive(Default)]
struct Moves {
    kinds: Vec<String>,
    olds: Vec<String>,
    afters: Vec<i64>,
    throughs: Vec<i64>,
    tos: Vec<String>,
    shifts: Vec<i64>,
}

impl Moves {
    fn push(&mut self, kind: &str, old: &str, after: i64, through: i64, to: Uuid, shift: i64) {
        self.kinds.push(kind.to_owned());
        self.olds.push(old.to_owned());
        self.afters.push(after);
        self.throughs.push(through);
        self.tos.push(to.to_string());
        self.shifts.push(shift);
    }

    async fn apply(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE events e SET aggregate_id = m.to_id, sequence = e.sequence - m.shift
               FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::int8[])
                    AS m (aggregate_type, old_id, after, through, to_id, shift)
              WHERE e.aggregate_type = m.aggregate_type AND e.aggregate_id = m.old_id
                AND e.sequence > m.after AND e.sequence <= m.through",
        )
        .bind(&self.kinds)
        .bind(&self.olds)
        .bind(&self.afters)
        .bind(&self.throughs)
        .bind(&self.tos)
        .bind(&self.shifts)
        .execute(tx)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stream(events: &[(&str, Value)]) -> Vec<(i64, String, Value)> {
        events
            .iter()
            .enumerate()
            .map(|(at, (kind, payload))| (at as i64 + 1, kind.to_string(), payload.clone()))
            .collect()
    }

    fn sealed(key: Uuid) -> Value {
        json!({"sealed": {"key_id": key, "nonce": "", "ciphertext": ""}})
    }

    #[test]
    fn a_record_purged_and_started_again_splits_at_its_last_purge() {
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        let events = stream(&[
            (
                "CaseStarted",
                json!({"CaseStarted": {"staff_id": sealed(first)}}),
            ),
            (
                "PersonalDataPurged",
                json!({"PersonalDataPurged": {"staff_id": ""}}),
            ),
            (
                "CaseStarted",
                json!({"CaseStarted": {"staff_id": sealed(second)}}),
            ),
            (
                "OptedOut",
                json!({"OptedOut": {"staff_id": sealed(second)}}),
            ),
        ]);
        let plan = Plan::of(care_team_member::AGGREGATE_TYPE, "old", &events);
        assert_eq!(plan.key_id, Some(second));
        assert_eq!(plan.last_purge, Some(2));
        let derived = Uuid::new_v4();
        let mut moves = Moves::default();
        let renamed = plan.carry_out(&events, Some(derived), &mut moves);
        assert_eq!(renamed.new, derived);
        let past = renamed.sequences[0].1;
        assert_ne!(past, derived);
        assert_eq!(
            renamed.sequences,
            vec![(1, past, 1), (2, past, 2), (3, derived, 1), (4, derived, 2)]
        );
        assert_eq!(moves.afters, vec![2, -1]);
        assert_eq!(moves.throughs, vec![i64::MAX, 2]);
        assert_eq!(moves.shifts, vec![2, 0]);
    }

    #[test]
    fn without_a_live_key_everything_goes_to_one_random_id() {
        let events = stream(&[(
            "CaseOpened",
            json!({"CaseOpened": {"facts": {"member": null,
                   "report": {"source": "/s", "report_id": "R"}}}}),
        )]);
        let plan = Plan::of(case::AGGREGATE_TYPE, "old", &events);
        assert_eq!(plan.key_id, None);
        let mut moves = Moves::default();
        let renamed = plan.carry_out(&events, None, &mut moves);
        assert_eq!(renamed.new.get_version_num(), 4);
        assert_eq!(renamed.sequences, vec![(1, renamed.new, 1)]);
        assert_eq!(moves.afters, vec![-1]);
    }
}
