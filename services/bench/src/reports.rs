//! Incident reports as the safety-reporting system publishes them, clinical detail and all, so
//! intake validates and strips what it does in production.

use outreach_events::ReportRef;
use serde_json::{json, Value};
use uuid::Uuid;

/// The CloudEvent `source` of every benchmark report; intake keys reports by (source, report id).
pub const SOURCE: &str = "/datix/bench-hospital";

/// A small deterministic generator (SplitMix64): the same seed gives the same reports on every
/// run and machine, without a dependency for it.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// One report to publish, and the cases it must open.
pub struct Report {
    pub event: Value,
    pub report_id: String,
    pub staff_ids: Vec<String>,
}

impl Report {
    /// The case of the last member the report names. Case ids are derived under the member's
    /// data key, so the bench asks the command side (which makes the key the service then
    /// finds) instead of computing them.
    pub async fn last_case_id(&self, pool: &sqlx::PgPool) -> anyhow::Result<Uuid> {
        let report = ReportRef {
            source: SOURCE.to_owned(),
            report_id: self.report_id.clone(),
        };
        let staff = self
            .staff_ids
            .last()
            .ok_or_else(|| anyhow::anyhow!("a report names someone"))?;
        Ok(
            outreach_command_side::CommandSide::new(pool.clone(), Default::default())
                .case_id(&report, staff)
                .await?,
        )
    }
}

const DISCIPLINES: [&str; 4] = ["nurse", "physician", "pharmacist", "resident"];
const DEPARTMENTS: [&str; 4] = ["Critical Care", "Emergency", "Surgery", "Pharmacy"];
const CAMPUSES: [&str; 3] = ["Parnassus", "Mission Bay", "Mount Zion"];

/// Report `n` of the run `run` (a prefix that keeps runs and phases apart), naming 1 to 8 staff.
/// Every staff id is new, so every (report, member) opens a case of its own: the expected count
/// is the number of staff named.
pub fn report(run: &str, n: u64, rng: &mut Rng) -> Report {
    let size = rng.between(1, 8);
    let report_id = format!("INC-{run}-{n}");
    let staff_ids: Vec<String> = (0..size).map(|s| format!("{run}-{n}-{s}")).collect();
    let staff: Vec<Value> = staff_ids
        .iter()
        .map(|id| {
            let discipline = DISCIPLINES[rng.between(0, 3) as usize];
            let department = DEPARTMENTS[rng.between(0, 3) as usize];
            json!({
                "staff_id": id,
                "name": { "given": format!("Given{id}"), "family": format!("Family{id}") },
                "role": format!("{discipline} on shift"),
                "discipline": discipline,
                "department": department,
                "seniority": "mid_career",
                "contact": { "email": format!("{}@example.org", id.to_lowercase()), "mobile": "+1 415 555 0100" },
                "preferred_channel": "email",
                "involvement": "primary"
            })
        })
        .collect();
    let campus = CAMPUSES[rng.between(0, 2) as usize];
    let event = json!({
        "specversion": "1.0",
        "id": Uuid::from_u64_pair(rng.next_u64(), rng.next_u64()).to_string(),
        "source": SOURCE,
        "type": "health.safety.incident.reported.v1",
        "time": "2026-11-20T14:03:00Z",
        "datacontenttype": "application/json",
        "data": {
            "report_id": report_id,
            "reported_at": "2026-11-20T14:03:00Z",
            "category": "medication",
            "occurred_at": "2026-11-20T13:40:00Z",
            "harm": { "level": "moderate", "description": "temporary harm, extra monitoring" },
            "patient": { "name": "Patient Example", "mrn": "MRN-0000001", "date_of_birth": "1950-01-01" },
            "narrative": "A dose was given twice across a shift change; found at the next check.",
            "event_description": "duplicate administration",
            "diagnosis": ["sepsis"],
            "medications": [{ "name": "vancomycin", "dose": "1 g", "route": "IV" }],
            "contributing_factors": ["handover"],
            "actions_taken": "patient monitored, levels checked",
            "location": { "campus": campus, "unit": "7 Long ICU", "room": "7L-12" },
            "involved_staff": staff
        }
    });
    Report {
        event,
        report_id,
        staff_ids,
    }
}
