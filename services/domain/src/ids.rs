//! Deterministic identifiers. The same report always maps to the same aggregates, so a
//! redelivered message finds the work already done instead of opening anything twice.

use outreach_events::ReportRef;
use uuid::Uuid;

/// A fixed namespace for peer-outreach's name-based (v5) UUIDs. Changing it would orphan
/// every existing case, so it never changes.
const NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3f2e_9a4c_4d0e_b6a1_5c3e_2f70_19d4);

/// The id of a report's aggregate.
pub fn report_id(report: &ReportRef) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("report\n{}\n{}", report.source, report.report_id).as_bytes(),
    )
}

/// The id of one member's case after one report: one case per (report, member).
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

/// The id of a care team member's aggregate.
pub fn member_id(staff_id: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("member\n{staff_id}").as_bytes())
}

/// The id of a peer supporter's aggregate.
pub fn supporter_id(staff_id: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("supporter\n{staff_id}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str) -> ReportRef {
        ReportRef {
            source: "/datix/parnassus".into(),
            report_id: id.into(),
        }
    }

    #[test]
    fn the_same_member_on_the_same_report_always_gets_the_same_case() {
        assert_eq!(
            case_id(&report("INC-1"), "E1"),
            case_id(&report("INC-1"), "E1")
        );
    }

    #[test]
    fn different_reports_or_members_get_different_cases() {
        assert_ne!(
            case_id(&report("INC-1"), "E1"),
            case_id(&report("INC-2"), "E1")
        );
        assert_ne!(
            case_id(&report("INC-1"), "E1"),
            case_id(&report("INC-1"), "E2")
        );
        // The separator keeps ("a", "b\nc") and ("a\nb", "c") apart.
        let a = ReportRef {
            source: "s".into(),
            report_id: "a".into(),
        };
        let b = ReportRef {
            source: "s\na".into(),
            report_id: "".into(),
        };
        assert_ne!(report_id(&a), report_id(&b));
    }
}
