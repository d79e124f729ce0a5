//! Scenarios of one safety report: given what the report recorded, when the source amends,
//! revises or withdraws it, then what is recorded or which rule refuses it.

use cqrs_es::test::TestFramework;
use outreach_events::{Discipline, Involvement};

use super::*;
use crate::ids;

type Scenario = TestFramework<SafetyReport>;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

fn report() -> ReportRef {
    ReportRef {
        source: "/datix/parnassus".into(),
        report_id: "INC-2026-004211".into(),
    }
}

fn member(staff_id: &str, eligible: bool) -> InvolvedMember {
    InvolvedMember {
        profile: MemberProfile {
            staff_id: staff_id.into(),
            role: "Registered nurse".into(),
            discipline: Discipline::Nurse,
            department: "Critical Care".into(),
            seniority: None,
            involvement: Involvement::Primary,
        },
        contact: MemberContact {
            given_name: "Sam".into(),
            family_name: "Rivera".into(),
            email: Some("sam.rivera@example.org".into()),
            phone: None,
            mobile: None,
            preferred_channel: None,
        },
        eligible,
        case_id: Some(case_of(staff_id)),
    }
}

/// Stands for the id the command side derives under the member's key.
fn case_of(staff_id: &str) -> Uuid {
    ids::derivable_before_27::case_id(&report(), staff_id)
}

fn record(members: Vec<InvolvedMember>, outreach: bool) -> ReportCommand {
    ReportCommand::Record {
        report: report(),
        trigger: TriggerKind::Incident,
        outreach,
        urgent: false,
        campus: "Parnassus".into(),
        unit: "7 Long ICU".into(),
        members,
        recorded_at: at(),
        revision: None,
    }
}

fn recorded(members: &[(&str, bool)], outreach: bool) -> ReportEvent {
    ReportEvent::ReportRecorded {
        report: report(),
        trigger: TriggerKind::Incident,
        outreach,
        urgent: false,
        campus: "Parnassus".into(),
        unit: "7 Long ICU".into(),
        members: by_case(
            members
                .iter()
                .map(|(id, eligible)| ReportMember {
                    staff_id: id.to_string(),
                    case_id: case_of(id),
                    eligible: *eligible,
                })
                .collect(),
        ),
        recorded_at: at(),
    }
}

fn state_after(events: Vec<ReportEvent>) -> SafetyReport {
    let mut state = SafetyReport::default();
    events.into_iter().for_each(|e| state.apply(e));
    state
}

fn opened(commands: &[(Uuid, CaseCommand)]) -> Vec<Uuid> {
    commands
        .iter()
        .filter(|(_, c)| matches!(c, CaseCommand::Open { .. }))
        .map(|(id, _)| *id)
        .collect()
}

#[test]
fn a_new_report_records_everyone_named_once() {
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(record(
            vec![member("E1", true), member("E2", false), member("E1", true)],
            true,
        ))
        .then_expect_events(vec![recorded(&[("E1", true), ("E2", false)], true)]);
}

/// The report takes case ids as given: one the command side did not derive is refused,
/// never made up from the staff id.
#[test]
fn a_member_without_a_derived_case_id_is_refused() {
    let mut unidentified = member("E1", true);
    unidentified.case_id = None;
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(record(vec![unidentified], true))
        .then_expect_error(ReportError::CaseIdNotDerived("INC-2026-004211".into()));
}

#[test]
fn a_redelivered_report_records_nothing_new() {
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![recorded(&[("E1", true)], true)])
        .when(record(vec![member("E1", true)], true))
        .then_expect_events(vec![]);
}

#[test]
fn only_eligible_members_of_a_triggering_report_get_cases() {
    let command = record(vec![member("E1", true), member("E2", false)], true);
    let state = state_after(vec![recorded(&[("E1", true), ("E2", false)], true)]);
    assert_eq!(opened(&state.follow_up(&command)), vec![case_of("E1")]);
}

/// Urgency is the report's: every case it opens is urgent, those of staff an amendment adds
/// later too.
#[test]
fn an_urgent_report_opens_urgent_cases_for_everyone_it_names() {
    let mut event = recorded(&[("E1", true)], true);
    if let ReportEvent::ReportRecorded { urgent, .. } = &mut event {
        *urgent = true;
    }
    let added = ReportEvent::StaffAdded {
        members: vec![ReportMember {
            staff_id: "E3".into(),
            case_id: case_of("E3"),
            eligible: true,
        }],
        amended_at: at(),
    };
    let state = state_after(vec![event, added]);
    let amendment = ReportCommand::Amend {
        report: report(),
        added: vec![member("E3", true)],
        removed: vec![],
        amended_at: at(),
    };
    for command in [record(vec![member("E1", true)], true), amendment] {
        let follow_up = state.follow_up(&command);
        assert_eq!(follow_up.len(), 1);
        assert!(
            matches!(follow_up[0].1, CaseCommand::Open { urgent: true, .. }),
            "{follow_up:?}"
        );
    }
}

/// After a purge the member's key is new, and so is every id derived under it: the
/// report still knows it named them, but the old case is no longer theirs to reopen.
#[test]
fn a_report_redelivered_after_the_members_key_changed_opens_nothing() {
    let state = state_after(vec![recorded(&[("E1", true)], true)]);
    let mut after_purge = member("E1", true);
    after_purge.case_id = Some(Uuid::from_u128(7));
    assert!(state.follow_up(&record(vec![after_purge], true)).is_empty());
}

#[test]
fn a_report_the_trigger_policy_passes_over_opens_no_case() {
    let command = record(vec![member("E1", true)], false);
    let state = state_after(vec![recorded(&[("E1", true)], false)]);
    assert!(state.follow_up(&command).is_empty());
}

#[test]
fn an_amendment_adds_only_members_not_already_named() {
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![recorded(&[("E1", true)], true)])
        .when(ReportCommand::Amend {
            report: report(),
            added: vec![member("E1", true), member("E3", true)],
            removed: vec!["E9".into()],
            amended_at: at(),
        })
        .then_expect_events(vec![ReportEvent::StaffAdded {
            members: vec![ReportMember {
                staff_id: "E3".into(),
                case_id: case_of("E3"),
                eligible: true,
            }],
            amended_at: at(),
        }]);
}

#[test]
fn removing_a_member_cancels_their_case() {
    let command = ReportCommand::Amend {
        report: report(),
        added: vec![],
        removed: vec!["E1".into()],
        amended_at: at(),
    };
    let state = state_after(vec![
        recorded(&[("E1", true), ("E2", true)], true),
        ReportEvent::StaffRemoved {
            staff_ids: vec!["E1".into()],
            case_ids: vec![case_of("E1")],
            amended_at: at(),
        },
    ]);
    let follow_up = state.follow_up(&command);
    assert_eq!(follow_up.len(), 1);
    assert_eq!(follow_up[0].0, case_of("E1"));
    assert!(matches!(
        follow_up[0].1,
        CaseCommand::Cancel {
            reason: CancelReason::RemovedFromReport,
            ..
        }
    ));
}

#[test]
fn a_withdrawal_cancels_every_eligible_members_case_and_later_redelivery_opens_none() {
    let state = state_after(vec![
        recorded(&[("E1", true), ("E2", false)], true),
        ReportEvent::ReportWithdrawn { withdrawn_at: at() },
    ]);
    let withdraw = ReportCommand::Withdraw {
        report: report(),
        withdrawn_at: at(),
    };
    let cancelled: Vec<_> = state
        .follow_up(&withdraw)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(cancelled, vec![case_of("E1")]);
    let again = record(vec![member("E1", true)], true);
    assert!(state.follow_up(&again).is_empty());
}

/// The source's order is the safety office's too: the report lists its members by case id,
/// so once their staff ids are gone nothing tells whose case is whose (issue 27).
#[test]
fn a_report_lists_its_members_by_case_not_in_the_sources_order() {
    let named = ["E1", "E2", "E3", "E4"];
    let mut expected: Vec<Uuid> = named.iter().map(|id| case_of(id)).collect();
    expected.sort();
    assert_ne!(
        expected,
        named.iter().map(|id| case_of(id)).collect::<Vec<_>>(),
        "the example must tell the orders apart"
    );
    let members: Vec<_> = named.iter().map(|id| member(id, true)).collect();
    let listed = SafetyReport::named(&report(), &members).unwrap();
    assert_eq!(
        listed.iter().map(|m| m.case_id).collect::<Vec<_>>(),
        expected
    );
}

/// Once a member's data is purged their staff ids read as gone: the report still withdraws
/// their case, counts them, and reads a removal of them by its case ids.
#[test]
fn a_purged_members_entry_still_counts_and_withdraws_by_case() {
    let gone = |id: &str, eligible| ReportMember {
        staff_id: String::new(),
        case_id: case_of(id),
        eligible,
    };
    let ReportEvent::ReportRecorded { mut members, .. } = recorded(&[("E1", true)], true) else {
        unreachable!()
    };
    members.extend([gone("E2", true), gone("E3", true)]);
    let mut state = state_after(vec![ReportEvent::ReportRecorded {
        report: report(),
        trigger: TriggerKind::Incident,
        outreach: true,
        urgent: false,
        campus: "Parnassus".into(),
        unit: "7 Long ICU".into(),
        members,
        recorded_at: at(),
    }]);
    assert_eq!(state.eligible_staff(), 3, "two gone members are not one");
    state.apply(ReportEvent::StaffRemoved {
        staff_ids: vec![String::new()],
        case_ids: vec![case_of("E3")],
        amended_at: at(),
    });
    assert_eq!(state.eligible_staff(), 2);
    let withdraw = ReportCommand::Withdraw {
        report: report(),
        withdrawn_at: at(),
    };
    let mut cancelled: Vec<_> = (state.follow_up(&withdraw).into_iter())
        .map(|(id, _)| id)
        .collect();
    cancelled.sort();
    let mut expected = vec![case_of("E1"), case_of("E2"), case_of("E3")];
    expected.sort();
    assert_eq!(cancelled, expected);
    assert!(!state.names(""), "a gone staff id names no one");
}

#[test]
fn a_report_cannot_be_withdrawn_or_amended_before_it_is_received() {
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(ReportCommand::Withdraw {
            report: report(),
            withdrawn_at: at(),
        })
        .then_expect_error(ReportError::NotYetReceived("INC-2026-004211".into()));
}

fn member_in(staff_id: &str, eligible: bool, department: &str) -> InvolvedMember {
    let mut m = member(staff_id, eligible);
    m.profile.department = department.into();
    m
}

/// `E1`..`En`, all eligible, all in Critical Care.
fn staff(n: usize) -> Vec<InvolvedMember> {
    (1..=n).map(|i| member(&format!("E{i}"), true)).collect()
}

fn ids_of(members: &[InvolvedMember]) -> Vec<(String, bool)> {
    members
        .iter()
        .map(|m| (m.profile.staff_id.clone(), m.eligible))
        .collect()
}

fn recorded_all(members: &[InvolvedMember], outreach: bool) -> ReportEvent {
    let named = ids_of(members);
    let named: Vec<(&str, bool)> = named.iter().map(|(id, e)| (id.as_str(), *e)).collect();
    recorded(&named, outreach)
}

fn proposed(staff: usize, departments: usize) -> ReportEvent {
    ReportEvent::GroupDebriefProposed {
        report: report(),
        campus: "Parnassus".into(),
        unit: "7 Long ICU".into(),
        staff,
        departments,
        proposed_at: at(),
    }
}

fn added(members: &[InvolvedMember]) -> ReportEvent {
    ReportEvent::StaffAdded {
        members: by_case(
            members
                .iter()
                .map(|m| ReportMember {
                    staff_id: m.profile.staff_id.clone(),
                    case_id: case_of(&m.profile.staff_id),
                    eligible: m.eligible,
                })
                .collect(),
        ),
        amended_at: at(),
    }
}

/// Members as a report's events list them: in the order of their case ids.
fn by_case(mut members: Vec<ReportMember>) -> Vec<ReportMember> {
    members.sort_by_key(|m| m.case_id);
    members
}

fn amend(members: Vec<InvolvedMember>) -> ReportCommand {
    ReportCommand::Amend {
        report: report(),
        added: members,
        removed: vec![],
        amended_at: at(),
    }
}

#[test]
fn five_staff_from_one_department_call_for_no_group_debrief() {
    let members = staff(5);
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(record(members.clone(), true))
        .then_expect_events(vec![recorded_all(&members, true)]);
}

#[test]
fn six_staff_call_for_a_group_debrief_right_after_the_report() {
    let members = staff(6);
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(record(members.clone(), true))
        .then_expect_events(vec![recorded_all(&members, true), proposed(6, 1)]);
}

#[test]
fn staff_from_three_departments_call_for_a_group_debrief() {
    let members = vec![
        member_in("E1", true, "Critical Care"),
        member_in("E2", true, "Pharmacy"),
        // The same department written differently is one department.
        member_in("E3", true, " critical care "),
        member_in("E4", true, "Anesthesia"),
    ];
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(record(members.clone(), true))
        .then_expect_events(vec![recorded_all(&members, true), proposed(4, 3)]);
}

#[test]
fn two_departments_are_not_several() {
    let members = vec![
        member_in("E1", true, "Critical Care"),
        member_in("E2", true, "Pharmacy"),
    ];
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(record(members.clone(), true))
        .then_expect_events(vec![recorded_all(&members, true)]);
}

#[test]
fn ineligible_members_and_repeated_names_are_not_counted() {
    let mut members = staff(5);
    members.push(member("E1", true)); // named twice: one person
    members.push(member_in("X1", false, "Pharmacy"));
    members.push(member_in("X2", false, "Anesthesia"));
    members.push(member_in("X3", false, "Surgery"));
    let mut named = staff(5);
    named.extend(members[6..].iter().cloned());
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(record(members, true))
        .then_expect_events(vec![recorded_all(&named, true)]);
}

#[test]
fn a_report_the_trigger_policy_passes_over_proposes_no_group_debrief() {
    let members = staff(8);
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(record(members.clone(), false))
        .then_expect_events(vec![recorded_all(&members, false)]);
}

#[test]
fn a_redelivered_large_report_proposes_nothing_new() {
    let members = staff(6);
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![recorded_all(&members, true), proposed(6, 1)])
        .when(record(members, true))
        .then_expect_events(vec![]);
}

#[test]
fn an_amendment_crossing_the_threshold_proposes_a_group_debrief_once() {
    let first = staff(5);
    let sixth = vec![member("E6", true)];
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![recorded_all(&first, true)])
        .when(amend(sixth.clone()))
        .then_expect_events(vec![added(&sixth), proposed(6, 1)]);

    // Already proposed: a later amendment adds members and proposes nothing more.
    let seventh = vec![member("E7", true)];
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![
            recorded_all(&first, true),
            added(&sixth),
            proposed(6, 1),
        ])
        .when(amend(seventh.clone()))
        .then_expect_events(vec![added(&seventh)]);

    // Nor does the same amendment delivered again.
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![
            recorded_all(&first, true),
            added(&sixth),
            proposed(6, 1),
        ])
        .when(amend(sixth))
        .then_expect_events(vec![]);
}

#[test]
fn an_amendment_adding_staff_from_three_departments_proposes_a_group_debrief() {
    let first = staff(1);
    let more = vec![
        member_in("E2", true, "Pharmacy"),
        member_in("E3", true, "Anesthesia"),
        member_in("E4", true, "Surgery"),
    ];
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![recorded_all(&first, true)])
        .when(amend(more.clone()))
        .then_expect_events(vec![added(&more), proposed(4, 3)]);
}

#[test]
fn an_amendment_that_leaves_the_report_at_the_threshold_proposes_nothing() {
    let first = staff(5);
    let sixth = vec![member("E6", true)];
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![recorded_all(&first, true)])
        .when(ReportCommand::Amend {
            report: report(),
            added: sixth.clone(),
            removed: vec!["E1".into()],
            amended_at: at(),
        })
        .then_expect_events(vec![
            added(&sixth),
            ReportEvent::StaffRemoved {
                staff_ids: vec!["E1".into()],
                case_ids: vec![case_of("E1")],
                amended_at: at(),
            },
        ]);
}

#[test]
fn the_thresholds_come_from_the_policy() {
    let policy = GroupDebriefPolicy {
        more_than_staff: 2,
        several_departments: 0,
    };
    assert!(policy.calls_for_debrief(3, 1));
    assert!(
        !policy.calls_for_debrief(2, 9),
        "0 turns the department rule off"
    );
    let members = staff(3);
    Scenario::with(policy)
        .given_no_previous_events()
        .when(record(members.clone(), true))
        .then_expect_events(vec![recorded_all(&members, true), proposed(3, 1)]);
}

#[test]
fn the_policy_reads_from_configuration_with_defaults_and_refuses_unknown_keys() {
    let policy: GroupDebriefPolicy = serde_json::from_str(r#"{"more_than_staff": 10}"#).unwrap();
    assert_eq!(
        policy,
        GroupDebriefPolicy {
            more_than_staff: 10,
            several_departments: 3
        }
    );
    assert!(serde_json::from_str::<GroupDebriefPolicy>(r#"{"more_than": 10}"#).is_err());
}

#[test]
fn withdrawing_twice_records_one_withdrawal() {
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![
            recorded(&[("E1", true)], true),
            ReportEvent::ReportWithdrawn { withdrawn_at: at() },
        ])
        .when(ReportCommand::Withdraw {
            report: report(),
            withdrawn_at: at(),
        })
        .then_expect_events(vec![]);
}

fn version(n: &str) -> Revision {
    Revision {
        version_id: Some(n.into()),
        last_updated: None,
    }
}

fn revised(members: Vec<InvolvedMember>, n: &str) -> ReportCommand {
    let mut command = record(members, true);
    if let ReportCommand::Record { revision, .. } = &mut command {
        *revision = Some(version(n));
    }
    command
}

fn revision_seen(n: &str) -> ReportEvent {
    ReportEvent::ReportRevised {
        revision: version(n),
        revised_at: at(),
    }
}

#[test]
fn a_first_revision_is_recorded_with_its_version() {
    Scenario::with(GroupDebriefPolicy::default())
        .given_no_previous_events()
        .when(revised(vec![member("E1", true)], "1"))
        .then_expect_events(vec![recorded(&[("E1", true)], true), revision_seen("1")]);
}

#[test]
fn a_newer_revision_adds_and_removes_members_as_an_amendment_does() {
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![
            recorded(&[("E1", true), ("E2", true)], true),
            revision_seen("1"),
        ])
        .when(revised(vec![member("E2", true), member("E3", true)], "2"))
        .then_expect_events(vec![
            added(&[member("E3", true)]),
            ReportEvent::StaffRemoved {
                staff_ids: vec!["E1".into()],
                case_ids: vec![case_of("E1")],
                amended_at: at(),
            },
            revision_seen("2"),
        ]);
}

#[test]
fn the_same_or_an_older_revision_changes_nothing() {
    for stale in ["2", "1"] {
        Scenario::with(GroupDebriefPolicy::default())
            .given(vec![
                recorded(&[("E1", true)], true),
                revision_seen("1"),
                added(&[member("E2", true)]),
                revision_seen("2"),
            ])
            .when(revised(vec![member("E1", true)], stale))
            .then_expect_events(vec![]);
    }
}

#[test]
fn a_revision_of_a_withdrawn_report_changes_nothing() {
    Scenario::with(GroupDebriefPolicy::default())
        .given(vec![
            recorded(&[("E1", true)], true),
            revision_seen("1"),
            ReportEvent::ReportWithdrawn { withdrawn_at: at() },
        ])
        .when(revised(vec![member("E2", true)], "2"))
        .then_expect_events(vec![]);
}

#[test]
fn a_revision_opens_the_added_and_cancels_the_removed() {
    let state = state_after(vec![
        recorded(&[("E1", true), ("E2", true)], true),
        revision_seen("1"),
        added(&[member("E3", true)]),
        ReportEvent::StaffRemoved {
            staff_ids: vec!["E1".into()],
            case_ids: vec![case_of("E1")],
            amended_at: at(),
        },
        revision_seen("2"),
    ]);
    let follow_up = state.follow_up(&revised(vec![member("E2", true), member("E3", true)], "2"));
    let cancelled: Vec<_> = follow_up
        .iter()
        .filter(|(_, c)| matches!(c, CaseCommand::Cancel { .. }))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(cancelled, vec![case_of("E1")]);
    assert_eq!(opened(&follow_up), vec![case_of("E2"), case_of("E3")]);
}

#[test]
fn revisions_are_ordered_by_version_number_else_by_last_updated() {
    let at = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
    let both = |v: &str, t: &str| Revision {
        version_id: Some(v.into()),
        last_updated: at(t),
    };
    assert!(
        version("10").is_newer_than(&version("9")),
        "numerically, not as text"
    );
    assert!(!version("2").is_newer_than(&version("2")));
    assert!(both("b", "2026-11-21T10:00:00Z").is_newer_than(&both("a", "2026-11-20T10:00:00Z")));
    assert!(
        !version("b").is_newer_than(&version("a")),
        "unordered: not newer"
    );
}
