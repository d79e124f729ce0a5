//! Identifiers.
//!
//! A report's aggregate is named by the report (a report is not a person), a supporter's by
//! their staff id (supporters are staff of the program, listed on its roster). A member's
//! aggregate and their cases are named by ids the command side derives under the member's own
//! data key ([`MEMBER`], [`CASE`] and [`case_input`] say from what): while the key lives the
//! service finds the same ids again, so a redelivered report opens nothing twice; nobody
//! without the key, not even someone who knows whom a report named, can recompute them; and
//! once the purge destroys the key, nobody can. The domain takes those ids as given.

use outreach_events::ReportRef;
use uuid::Uuid;

/// A fixed namespace for peer-outreach's name-based (v5) UUIDs. Changing it would orphan
/// every existing report, so it never changes.
const NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3f2e_9a4c_4d0e_b6a1_5c3e_2f70_19d4);

/// The purpose a member's aggregate id is derived for (from the key alone: one per key).
pub const MEMBER: &str = "member";

/// The purpose a member's case id is derived for, from [`case_input`].
pub const CASE: &str = "case";

/// What a member's case after one report is derived from, beside the member's key: one case
/// per (report, member). The separator keeps ("a", "b\nc") and ("a\nb", "c") apart.
pub fn case_input(report: &ReportRef) -> String {
    format!("{}\n{}", report.source, report.report_id)
}

/// The id of a report's aggregate.
pub fn report_id(report: &ReportRef) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("report\n{}\n{}", report.source, report.report_id).as_bytes(),
    )
}

/// The id of a peer supporter's aggregate.
pub fn supporter_id(staff_id: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("supporter\n{staff_id}").as_bytes())
}

/// The ids stores written before issue 27 gave members and cases: UUID v5 of the staff id
/// (and report) under [`NAMESPACE`], which anyone who knows whom a report named recomputes.
/// Never used to name a new aggregate: tests use them as arbitrary ids for hand-made streams,
/// and the privacy audit to prove that none of them is left after a purge.
pub mod derivable_before_27 {
    use super::*;

    pub fn case_id(report: &ReportRef, staff_id: &str) -> Uuid {
        Uuid::new_v5(
            &NAMESPACE,
            format!(
                "case\n{}\n{}\n{}",
                report.source, report.report_id, staff_id
            )
            .as_bytes(),
        )
    }

    pub fn member_id(staff_id: &str) -> Uuid {
        Uuid::new_v5(&NAMESPACE, format!("member\n{staff_id}").as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_reports_get_different_inputs_and_ids() {
        let a = ReportRef {
            source: "s".into(),
            report_id: "a".into(),
        };
        let b = ReportRef {
            source: "s\na".into(),
            report_id: "".into(),
        };
        assert_ne!(report_id(&a), report_id(&b));
        let c = ReportRef {
            source: "s".into(),
            report_id: "b".into(),
        };
        assert_ne!(case_input(&a), case_input(&c));
    }
}
