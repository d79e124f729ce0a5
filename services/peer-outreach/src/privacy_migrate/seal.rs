//! The first pass: sealing what events stored before issue 27 keep in the clear.
//!
//! Before issue 27 a case opening's member profile (`CaseOpened.facts.member`), the staff id of
//! each event of a member's own record, the staff ids a report's events name and the staff id
//! of a purge were stored plain. Today's writer seals them on the way in
//! (`outreach_privacy::personal_parts`); this walks the stored events in primary key order, a
//! batch a transaction, and does to each old event what the writer would have done:
//!
//! - a part of a member with a live key is sealed under that key (the readers open it as
//!   before);
//! - a part of a member without one (purged: their key destroyed) becomes `null`, which every
//!   reader reads as gone: the data must not outlive the purge. No key is ever made here;
//! - so does a part from before a purge of a member named again since (who has a new key):
//!   an event of their record stored before a `PersonalDataPurged` of it (their record's id
//!   was the same after the purge before issue 27); a case opening or a report's member for a
//!   case their record started before a purge; a case opening whose contact part is sealed
//!   under another key than their live one (one destroyed). Sealing these under the new key
//!   would bring them back. What names no case stays: see [`migrate_batch`];
//! - a purge's staff id becomes empty, as purges are stored since.
//! - whether a report's member was eligible, stored plain beside a staff id sealed already (the
//!   events of between the two changes), is sealed under the key that staff id names, or
//!   becomes `null` where that key is gone.
//!
//! A part already sealed or null is not a personal part any more, so a batch done is never
//! redone and a run killed half-way completes when run again. Read models are not touched: the
//! stored events read the same (opened) as before, and an UPDATE moves no event in the
//! projections' order. The aggregate ids are the second pass's ([`super::rename`]), which finds
//! each member's live key through what this pass sealed.

use std::collections::{BTreeSet, HashMap, HashSet};

use outreach_privacy::{is_sealed, personal_parts, seal, DataKey, DataKeys, KeyRing, PrivacyError};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// The event types whose stored shape held personal data in the clear before issue 27.
const OLD_SHAPES: &[&str] = &[
    "CaseOpened",
    "CaseStarted",
    "PreferencesStated",
    "OptedOut",
    "OptedIn",
    "AutomaticOutreachSkipped",
    "ContactToConfirm",
    "ContactConfirmed",
    "ReportRecorded",
    "StaffAdded",
    "StaffRemoved",
    PURGED,
];

const PURGED: &str = "PersonalDataPurged";
const OPENED: &str = "CaseOpened";
/// The member's record's aggregate type.
const MEMBER: &str = "CareTeamMember";

/// An event's place in the store: its primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
}

impl Position {
    /// Before every event.
    pub fn start() -> Self {
        Self {
            aggregate_type: String::new(),
            aggregate_id: String::new(),
            sequence: -1,
        }
    }
}

/// What one batch did.
#[derive(Debug)]
pub struct Batch {
    /// Events of the types that held personal data, read.
    pub examined: u64,
    /// Of those, the ones rewritten.
    pub rewritten: u64,
    /// The last event read: the next batch starts after it. `None` when none was left.
    pub last: Option<Position>,
}

type Row = (String, String, i64, String, Value);

/// How many stored events are of the types that held personal data in the clear: what a run
/// examines (for its progress).
pub async fn to_examine(db: &mut PgConnection) -> Result<i64, PrivacyError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = ANY($1)")
            .bind(OLD_SHAPES)
            .fetch_one(db)
            .await?,
    )
}

/// Migrates the (at most `limit`) events after `after`, in the caller's transaction, which
/// must be the owner's: the runtime role may not update events.
///
/// A report's removal that named a member before a purge of theirs, when that member was named
/// again since, is sealed under their new key (it names no case to tell the lives apart), and
/// so is a report naming them for a case their record never started.
pub async fn migrate_batch(
    tx: &mut PgConnection,
    after: &Position,
    limit: i64,
) -> Result<Batch, PrivacyError> {
    let mut rows: Vec<Row> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, payload FROM events
          WHERE (aggregate_type, aggregate_id, sequence) > ($1, $2, $3)
            AND event_type = ANY($4)
          ORDER BY aggregate_type, aggregate_id, sequence
          LIMIT $5",
    )
    .bind(&after.aggregate_type)
    .bind(&after.aggregate_id)
    .bind(after.sequence)
    .bind(OLD_SHAPES)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let last = rows.last().map(|(kind, id, sequence, _, _)| Position {
        aggregate_type: kind.clone(),
        aggregate_id: id.clone(),
        sequence: *sequence,
    });
    let examined = rows.len() as u64;

    let named: BTreeSet<String> = rows
        .iter_mut()
        .flat_map(|row| personal_parts(&row.3, &mut row.4))
        .map(|part| part.staff_id)
        .collect();
    let keys = existing_keys(tx, named.into_iter().collect()).await?;
    let records: Vec<&str> = rows
        .iter()
        .filter(|row| row.0 == MEMBER)
        .map(|row| row.1.as_str())
        .collect();
    let last_purges: HashMap<String, i64> = sqlx::query_as(
        "SELECT aggregate_id, max(sequence) FROM events
          WHERE aggregate_type = $1 AND event_type = $2 AND aggregate_id = ANY($3)
          GROUP BY aggregate_id",
    )
    .bind(MEMBER)
    .bind(PURGED)
    .bind(&records)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    let cases: Vec<String> = rows
        .iter()
        .flat_map(|row| named_cases(&row.3, &row.4))
        .collect();
    let purged_cases: HashSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT s.payload -> 'CaseStarted' ->> 'case_id'
           FROM events s
           JOIN (SELECT aggregate_id, max(sequence) AS purge FROM events
                  WHERE aggregate_type = $1 AND event_type = $2
                  GROUP BY aggregate_id) p USING (aggregate_id)
          WHERE s.aggregate_type = $1 AND s.event_type = 'CaseStarted' AND s.sequence < p.purge
            AND s.payload -> 'CaseStarted' ->> 'case_id' = ANY($3)",
    )
    .bind(MEMBER)
    .bind(PURGED)
    .bind(&cases)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    // Report events stored after issue 27 sealed the staff ids but before it sealed whether
    // each member was eligible: that flag is sealed under the key its staff id names.
    let eligibility_keys = DataKeys::on(&mut *tx)
        .ring(
            &rows
                .iter()
                .flat_map(|row| plain_eligibility(&row.3, &row.4))
                .collect::<Vec<_>>(),
        )
        .await?;

    let mut changed = Vec::new();
    for (kind, id, sequence, event_type, payload) in &mut rows {
        let mut rewritten = forget_purged_cases(event_type, payload, &purged_cases);
        rewritten |= seal_plain_eligibility(event_type, payload, &eligibility_keys)?;
        let before_a_purge = *kind == MEMBER
            && last_purges
                .get(id.as_str())
                .is_some_and(|purge| *sequence < *purge);
        let contact_key = payload[OPENED]["personal"]["sealed"]["key_id"]
            .as_str()
            .map(str::to_owned);
        for part in personal_parts(event_type, payload) {
            let key = keys
                .get(&part.staff_id)
                .and_then(Option::as_ref)
                .filter(|_| !before_a_purge)
                .filter(|key| {
                    // The contact part was sealed under the member's key of the time.
                    contact_key
                        .as_ref()
                        .is_none_or(|sealed| *sealed == key.key_id().to_string())
                });
            for value in part.values {
                *value = match key {
                    Some(key) => seal(key, value)?,
                    None => Value::Null,
                };
                rewritten = true;
            }
        }
        if event_type == PURGED {
            if let Some(named) = payload.get_mut(PURGED).and_then(|p| p.get_mut("staff_id")) {
                if named.as_str().is_some_and(|id| !id.is_empty()) {
                    *named = Value::String(String::new());
                    rewritten = true;
                }
            }
        }
        if rewritten {
            changed.push((kind.clone(), id.clone(), *sequence, payload.to_string()));
        }
    }
    let rewritten = changed.len() as u64;
    if !changed.is_empty() {
        sqlx::query(
            "UPDATE events e SET payload = c.payload::json
               FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[])
                    AS c (aggregate_type, aggregate_id, sequence, payload)
              WHERE e.aggregate_type = c.aggregate_type AND e.aggregate_id = c.aggregate_id
                AND e.sequence = c.sequence",
        )
        .bind(changed.iter().map(|c| c.0.as_str()).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.1.as_str()).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.2).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.3.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(Batch {
        examined,
        rewritten,
        last,
    })
}

/// The members of a report's event whose staff id is sealed but whether they were eligible is
/// not: the ids of the keys their staff ids are sealed under.
fn plain_eligibility(event_type: &str, payload: &Value) -> Vec<Uuid> {
    match event_type {
        "ReportRecorded" | "StaffAdded" => payload[event_type]["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|member| member["eligible"].is_boolean())
            .filter_map(|member| member["staff_id"]["sealed"]["key_id"].as_str())
            .filter_map(|key_id| key_id.parse().ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// Seals each plain eligibility flag [`plain_eligibility`] finds under its member's key, or
/// nulls it where that key is gone. Returns whether anything changed.
fn seal_plain_eligibility(
    event_type: &str,
    payload: &mut Value,
    keys: &KeyRing,
) -> Result<bool, PrivacyError> {
    let mut sealed = false;
    if !matches!(event_type, "ReportRecorded" | "StaffAdded") {
        return Ok(false);
    }
    let members = payload[event_type]
        .get_mut("members")
        .and_then(Value::as_array_mut);
    for member in members.into_iter().flatten() {
        let key_id = member["staff_id"]["sealed"]["key_id"]
            .as_str()
            .and_then(|id| id.parse::<Uuid>().ok());
        let Some(key_id) = key_id.filter(|_| member["eligible"].is_boolean()) else {
            continue;
        };
        member["eligible"] = match keys.get(key_id) {
            Some(key) => seal(key, &member["eligible"])?,
            None => Value::Null,
        };
        sealed = true;
    }
    Ok(sealed)
}

/// The cases a case opening or a report's event names a member of in the clear.
fn named_cases(event_type: &str, payload: &Value) -> Vec<String> {
    let body = &payload[event_type];
    let case = |holder: &Value| holder["case_id"].as_str().map(str::to_owned);
    match event_type {
        OPENED if body["facts"]["member"].is_object() && !is_sealed(&body["facts"]["member"]) => {
            case(&body["facts"]).into_iter().collect()
        }
        "ReportRecorded" | "StaffAdded" => body["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|member| member["staff_id"].is_string())
            .filter_map(case)
            .collect(),
        _ => Vec::new(),
    }
}

/// Nulls what names a member in the clear in a case a purge of theirs covered (their record
/// started it before the purge): the member may have a new key since, and this must not be
/// sealed under it. Returns whether anything changed.
fn forget_purged_cases(event_type: &str, payload: &mut Value, purged: &HashSet<String>) -> bool {
    let covered = |holder: &Value| {
        holder["case_id"]
            .as_str()
            .is_some_and(|c| purged.contains(c))
    };
    let mut forgot = false;
    let Some(body) = payload.get_mut(event_type) else {
        return false;
    };
    match event_type {
        OPENED => {
            if let Some(facts) = body.get_mut("facts") {
                let plain = facts["member"].is_object() && !is_sealed(&facts["member"]);
                if plain && covered(facts) {
                    facts["member"] = Value::Null;
                    forgot = true;
                }
            }
        }
        "ReportRecorded" | "StaffAdded" => {
            let members = body.get_mut("members").and_then(Value::as_array_mut);
            for member in members.into_iter().flatten() {
                if member["staff_id"].is_string() && covered(member) {
                    member["staff_id"] = Value::Null;
                    // Whether they were eligible is about them too (issue 27).
                    member["eligible"] = Value::Null;
                    forgot = true;
                }
            }
        }
        _ => {}
    }
    forgot
}

/// Each member's live key, or `None` for a member who has none: never made here (a member
/// without a key was purged, and what named them goes). The sealing locks are held until the
/// transaction ends, so a purge cannot destroy a key between this look-up and the commit.
/// No sealing is recorded: re-sealing old parts is no activity of the member's, and must not
/// postpone their retention purge.
async fn existing_keys(
    tx: &mut PgConnection,
    staff_ids: Vec<String>,
) -> Result<HashMap<String, Option<DataKey>>, PrivacyError> {
    if staff_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut keys = DataKeys::on(tx);
    keys.hold_all_for_sealing(&staff_ids).await?;
    let mut ids = Vec::with_capacity(staff_ids.len());
    for staff_id in &staff_ids {
        ids.push(keys.live_key_id(staff_id).await?);
    }
    let live: Vec<_> = ids.iter().flatten().copied().collect();
    let ring = keys.ring(&live).await?;
    Ok(staff_ids
        .into_iter()
        .zip(ids)
        .map(|(staff_id, id)| {
            let key = id.and_then(|id| ring.get(id).cloned());
            (staff_id, key)
        })
        .collect())
}
