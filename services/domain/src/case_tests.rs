//! Scenarios of one case, as a program manager would tell them: given what happened, when
//! someone acts, then what is recorded or which rule refuses it.

use cqrs_es::test::TestFramework;
use outreach_events::contact_confirmation::ContactConfirmed;
use outreach_events::{Discipline, Involvement};

use super::*;

type Scenario = TestFramework<OutreachCase>;

fn scenario() -> Scenario {
    Scenario::with(CasePolicies::default())
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    // November 2026: the 23rd is a Monday.
    DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T{hour:02}:00:00Z"))
        .unwrap()
        .to_utc()
}

fn contact(email: Option<&str>) -> MemberContact {
    MemberContact {
        given_name: "Noor".into(),
        family_name: "Haddad".into(),
        email: email.map(String::from),
        phone: None,
        mobile: None,
        preferred_channel: None,
    }
}

fn open(contact: MemberContact) -> CaseCommand {
    CaseCommand::Open {
        case_id: Uuid::nil(),
        report: ReportRef {
            source: "/datix/parnassus".into(),
            report_id: "INC-7".into(),
        },
        trigger: TriggerKind::Incident,
        campus: "Parnassus".into(),
        unit: "ED".into(),
        member: MemberProfile {
            staff_id: "E7".into(),
            role: "Attending physician".into(),
            discipline: Discipline::Physician,
            department: "Emergency Medicine".into(),
            seniority: None,
            involvement: Involvement::Primary,
        },
        contact,
        opened_at: at(23, 10),
        urgent: false,
        contact_to_confirm: false,
    }
}

/// The events of the story so far, each as its command produced it.
fn history(commands: Vec<CaseCommand>) -> Vec<CaseEvent> {
    let mut events: Vec<CaseEvent> = Vec::new();
    for command in commands {
        let produced = Scenario::with(CasePolicies::default())
            .given(events.clone())
            .when(command.clone())
            .inspect_result()
            .unwrap_or_else(|e| panic!("{command:?} was refused: {e}"));
        events.extend(produced);
    }
    events
}

fn opened() -> Vec<CaseEvent> {
    history(vec![open(contact(Some("noor@example.org")))])
}

fn assign(supporter: &str) -> CaseCommand {
    CaseCommand::Assign {
        supporter_id: supporter.into(),
        named_in_report: false,
        at: at(23, 11),
    }
}

fn attempt(outcome: ContactOutcome) -> CaseCommand {
    CaseCommand::RecordContactAttempt {
        channel: Channel::Email,
        outcome,
        at: at(23, 12),
    }
}

fn assigned() -> Vec<CaseCommand> {
    vec![open(contact(Some("noor@example.org"))), assign("S1")]
}

fn reached() -> Vec<CaseCommand> {
    let mut story = assigned();
    story.push(attempt(ContactOutcome::Reached));
    story
}

fn declined() -> Vec<CaseCommand> {
    let mut story = reached();
    story.push(CaseCommand::RecordDecline { at: at(23, 13) });
    story
}

fn accepted() -> Vec<CaseCommand> {
    let mut story = reached();
    story.push(CaseCommand::RecordAcceptance { at: at(23, 13) });
    story
}

fn encounter(held_on: NaiveDate) -> CaseCommand {
    CaseCommand::RecordEncounter {
        held_on,
        modality: Modality::Video,
        format: EncounterFormat::Individual,
        duration: DurationBand::ThirtyToSixtyMinutes,
        at: at(24, 9),
    }
}

fn refused(story: Vec<CaseCommand>, command: CaseCommand, error: CaseError) {
    scenario()
        .given(history(story))
        .when(command)
        .then_expect_error(error);
}

#[test]
fn a_case_opens_once_with_its_first_contact_due_in_two_working_days() {
    let events = opened();
    let CaseEvent::CaseOpened(opened) = &events[0] else {
        panic!("not opened: {events:?}")
    };
    // Monday 10:00 plus two working days.
    assert_eq!(opened.facts.first_contact_due, Some(at(25, 10)));
    scenario()
        .given(events)
        .when(open(contact(Some("noor@example.org"))))
        .then_expect_events(vec![]);
}

#[test]
fn an_urgent_case_is_due_within_the_urgent_allowance_on_the_clock() {
    let mut command = open(contact(Some("noor@example.org")));
    if let CaseCommand::Open {
        opened_at, urgent, ..
    } = &mut command
    {
        // Saturday night: no working hours until Monday, and no waiting for them.
        (*opened_at, *urgent) = (at(28, 23), true);
    }
    let events = history(vec![command]);
    let CaseEvent::CaseOpened(opened) = &events[0] else {
        panic!("not opened: {events:?}")
    };
    assert!(opened.facts.urgent);
    assert_eq!(
        opened.facts.first_contact_due,
        Some(at(28, 23) + Duration::minutes(30))
    );
}

/// Another report, urgent or not, naming the member of this case.
fn link(report_id: &str, at: DateTime<Utc>, urgent: bool) -> CaseCommand {
    CaseCommand::LinkTrigger {
        report: ReportRef {
            source: "/datix/parnassus".into(),
            report_id: report_id.into(),
        },
        trigger: TriggerKind::Incident,
        at,
        urgent,
    }
}

fn linked(events: &[CaseEvent]) -> &TriggerLinked {
    match events {
        [CaseEvent::TriggerLinked(linked)] => linked,
        other => panic!("not one link: {other:?}"),
    }
}

#[test]
fn an_urgent_report_makes_a_routine_case_urgent_and_due_within_the_urgent_allowance() {
    let link_at = at(23, 11);
    let events = history(vec![
        open(contact(Some("noor@example.org"))),
        link("INC-8", link_at, true),
    ]);
    let made = linked(&events[1..]);
    assert!(made.made_urgent);
    assert_eq!(
        made.first_contact_due,
        Some(link_at + Duration::minutes(30))
    );

    // The same report delivered again records nothing; another urgent one changes nothing.
    scenario()
        .given(events.clone())
        .when(link("INC-8", link_at, true))
        .then_expect_events(vec![]);
    let again = Scenario::with(CasePolicies::default())
        .given(events)
        .when(link("INC-9", at(23, 12), true))
        .inspect_result()
        .unwrap();
    let again = linked(&again);
    assert!(!again.made_urgent);
    assert_eq!(again.first_contact_due, None);
}

#[test]
fn a_routine_report_linked_leaves_the_case_routine() {
    let events = history(vec![
        open(contact(Some("noor@example.org"))),
        link("INC-8", at(23, 11), false),
    ]);
    let routine = linked(&events[1..]);
    assert!(!routine.made_urgent);
    assert_eq!(routine.first_contact_due, None);
}

#[test]
fn an_urgent_link_never_moves_a_sooner_deadline_later() {
    let opening = history(vec![open(contact(Some("noor@example.org")))]);
    let CaseEvent::CaseOpened(opened) = &opening[0] else {
        panic!("not opened")
    };
    let due = opened.facts.first_contact_due.unwrap();
    // Ten minutes before the routine deadline: the urgent allowance would end later.
    let produced = Scenario::with(CasePolicies::default())
        .given(opening)
        .when(link("INC-8", due - Duration::minutes(10), true))
        .inspect_result()
        .unwrap();
    let made = linked(&produced);
    assert!(made.made_urgent);
    assert_eq!(made.first_contact_due, Some(due));
}

#[test]
fn a_case_already_contacted_becomes_urgent_without_a_new_deadline() {
    let mut story = assigned();
    story.push(attempt(ContactOutcome::NoAnswer));
    story.push(link("INC-8", at(23, 13), true));
    let events = history(story);
    let made = linked(&events[events.len() - 1..]);
    assert!(made.made_urgent);
    assert_eq!(made.first_contact_due, None);
}

#[test]
fn a_member_with_no_way_to_be_reached_gets_no_case() {
    scenario()
        .given_no_previous_events()
        .when(open(contact(None)))
        .then_expect_error(CaseError::NoContactRoute);
}

/// A colleague's referral with nothing on record: the referrer's suggestion is held.
fn open_to_confirm(contact: MemberContact, trigger: TriggerKind) -> CaseCommand {
    let mut command = open(contact);
    if let CaseCommand::Open {
        trigger: t,
        contact_to_confirm,
        ..
    } = &mut command
    {
        (*t, *contact_to_confirm) = (trigger, true);
    }
    command
}

fn held() -> Vec<CaseCommand> {
    vec![open_to_confirm(
        contact(Some("suggested@example.org")),
        TriggerKind::ColleagueReferral,
    )]
}

fn confirm(replacement: Option<ContactRoutes>) -> CaseCommand {
    CaseCommand::ConfirmContact {
        replacement,
        at: at(23, 11),
    }
}

#[test]
fn a_suggested_contact_is_held_apart_from_the_opening() {
    let events = history(held());
    let [CaseEvent::CaseOpened(opened), CaseEvent::ContactToConfirm(held)] = &events[..] else {
        panic!("not opened and held: {events:?}")
    };
    // The opening knows the member's name and no way to reach them.
    let personal = opened.personal.as_ref().unwrap();
    assert_eq!(personal.given_name, "Noor");
    assert_eq!(
        (&personal.email, &personal.phone, &personal.mobile),
        (&None, &None, &None)
    );
    assert_eq!(held.staff_id, "E7");
    assert_eq!(held.personal, Some(contact(Some("suggested@example.org"))));
    assert_eq!(held.held_at, at(23, 10));
}

#[test]
fn a_suggestion_with_no_way_to_reach_the_member_opens_no_case() {
    scenario()
        .given_no_previous_events()
        .when(open_to_confirm(
            contact(None),
            TriggerKind::ColleagueReferral,
        ))
        .then_expect_error(CaseError::NoContactRoute);
}

#[test]
fn nobody_is_assigned_or_contacted_through_a_contact_to_confirm() {
    refused(held(), assign("S1"), CaseError::ContactToConfirm);
    let mut stories = history(held());
    // A supporter assigned (say, before a bug let it through) still cannot reach out.
    stories.push(CaseEvent::SupporterAssigned(SupporterAssigned {
        supporter_id: "S1".into(),
        assigned_at: at(23, 11),
    }));
    scenario()
        .given(stories)
        .when(attempt(ContactOutcome::Reached))
        .then_expect_error(CaseError::ContactToConfirm);
    // Nothing that follows contact can be recorded either.
    refused(
        held(),
        CaseCommand::RecordDecline { at: at(23, 13) },
        CaseError::MemberNotReached,
    );
    refused(
        held(),
        CaseCommand::RecordResourcesSent { at: at(23, 13) },
        CaseError::MemberNotReached,
    );
}

#[test]
fn confirming_the_suggestion_makes_it_the_members_contact() {
    scenario()
        .given(history(held()))
        .when(confirm(None))
        .then_expect_events(vec![CaseEvent::ContactConfirmed(ContactConfirmed {
            staff_id: "E7".into(),
            as_suggested: true,
            personal: Some(contact(Some("suggested@example.org"))),
            confirmed_at: at(23, 11),
        })]);
    let mut story = held();
    story.extend([
        confirm(None),
        assign("S1"),
        attempt(ContactOutcome::Reached),
    ]);
    assert!(matches!(
        history(story).last(),
        Some(CaseEvent::ContactAttempted(_))
    ));
}

#[test]
fn a_manager_can_replace_the_suggestion_with_details_they_entered() {
    let routes = ContactRoutes {
        email: None,
        phone: Some("+14155550100".into()),
        mobile: None,
        preferred_channel: Some(Channel::Phone),
    };
    scenario()
        .given(history(held()))
        .when(confirm(Some(routes)))
        .then_expect_events(vec![CaseEvent::ContactConfirmed(ContactConfirmed {
            staff_id: "E7".into(),
            as_suggested: false,
            personal: Some(MemberContact {
                given_name: "Noor".into(),
                family_name: "Haddad".into(),
                email: None,
                phone: Some("+14155550100".into()),
                mobile: None,
                preferred_channel: Some(Channel::Phone),
            }),
            confirmed_at: at(23, 11),
        })]);
    let no_route = ContactRoutes {
        email: None,
        phone: None,
        mobile: None,
        preferred_channel: Some(Channel::Email),
    };
    refused(held(), confirm(Some(no_route)), CaseError::NoContactRoute);
}

#[test]
fn a_contact_is_confirmed_once_and_only_where_one_is_held() {
    let mut story = held();
    story.push(confirm(None));
    refused(story, confirm(None), CaseError::NoContactToConfirm);
    refused(assigned(), confirm(None), CaseError::NoContactToConfirm);
    refused(vec![], confirm(None), CaseError::NotOpened);
}

#[test]
fn a_purged_suggestion_cannot_be_confirmed() {
    let mut events = history(held());
    if let CaseEvent::ContactToConfirm(held) = &mut events[1] {
        held.personal = None;
    }
    scenario()
        .given(events)
        .when(confirm(None))
        .then_expect_error(CaseError::NoContactRoute);
}

#[test]
fn self_referrals_and_reports_never_wait_for_confirmation() {
    // What a referral the program's staff made, a self-referral, or the reporting system's
    // report opens: the contact given is the member's, and outreach goes ahead.
    for trigger in [
        TriggerKind::SelfReferral,
        TriggerKind::ColleagueReferral,
        TriggerKind::Incident,
    ] {
        let mut command = open(contact(Some("noor@example.org")));
        if let CaseCommand::Open { trigger: t, .. } = &mut command {
            *t = trigger;
        }
        let events = history(vec![command.clone(), assign("S1")]);
        assert_eq!(events.len(), 2, "{trigger:?}: {events:?}");
        assert!(matches!(events[1], CaseEvent::SupporterAssigned(_)));
        refused(vec![command], confirm(None), CaseError::NoContactToConfirm);
    }
}

#[test]
fn an_untouched_case_is_cancelled_once_but_a_contacted_one_is_left_alone() {
    let cancel = CaseCommand::Cancel {
        reason: CancelReason::ReportWithdrawn,
        cancelled_at: at(23, 14),
    };
    scenario()
        .given(opened())
        .when(cancel.clone())
        .then_expect_events(vec![CaseEvent::CaseCancelled(CaseCancelled {
            reason: CancelReason::ReportWithdrawn,
            cancelled_at: at(23, 14),
        })]);
    let mut contacted = assigned();
    contacted.push(attempt(ContactOutcome::NoAnswer));
    scenario()
        .given(history(contacted))
        .when(cancel)
        .then_expect_events(vec![]);
}

#[test]
fn nothing_can_be_done_to_a_case_that_does_not_exist() {
    scenario()
        .given_no_previous_events()
        .when(assign("S1"))
        .then_expect_error(CaseError::NotOpened);
}

#[test]
fn a_supporter_is_assigned_and_can_be_replaced() {
    scenario()
        .given(opened())
        .when(assign("S1"))
        .then_expect_events(vec![CaseEvent::SupporterAssigned(SupporterAssigned {
            supporter_id: "S1".into(),
            assigned_at: at(23, 11),
        })]);
    scenario()
        .given(history(assigned()))
        .when(assign("S1"))
        .then_expect_events(vec![]);
    let reassigned = scenario()
        .given(history(assigned()))
        .when(assign("S2"))
        .inspect_result()
        .unwrap();
    assert!(matches!(&reassigned[..], [CaseEvent::SupporterAssigned(a)] if a.supporter_id == "S2"));
}

#[test]
fn a_member_cannot_be_their_own_supporter() {
    refused(
        vec![open(contact(Some("n@example.org")))],
        assign("E7"),
        CaseError::SupporterIsTheMember,
    );
}

#[test]
fn a_supporter_named_in_the_same_report_cannot_be_assigned() {
    let command = CaseCommand::Assign {
        supporter_id: "E8".into(),
        named_in_report: true,
        at: at(23, 11),
    };
    refused(
        vec![open(contact(Some("n@example.org")))],
        command,
        CaseError::SupporterNamedInReport,
    );
}

#[test]
fn contact_needs_an_assigned_supporter() {
    refused(
        vec![open(contact(Some("n@example.org")))],
        attempt(ContactOutcome::NoAnswer),
        CaseError::NoSupporterAssigned,
    );
}

#[test]
fn after_a_decline_no_further_contact_is_possible() {
    refused(
        declined(),
        attempt(ContactOutcome::Reached),
        CaseError::ContactAfterDecline,
    );
    refused(
        declined(),
        encounter(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()),
        CaseError::ContactAfterDecline,
    );
}

#[test]
fn a_decline_claims_no_sheet_and_resources_can_still_be_given() {
    let events = history(declined());
    // Whether the sheet went out is for the e-mail publisher to record, once it did.
    assert!(
        matches!(events.last(), Some(CaseEvent::SupportDeclined(d)) if d.unverified_sheet_claim.is_none())
    );
    // And resources can still be recorded as given to a member who declined.
    scenario()
        .given(events)
        .when(CaseCommand::RecordResourcesSent { at: at(23, 15) })
        .then_expect_events(vec![CaseEvent::ResourcesSent(ResourcesSent {
            sent_at: at(23, 15),
        })]);
}

#[test]
fn a_sheet_is_recorded_as_sent_once_even_when_delivered_twice_or_after_closing() {
    let sheet = Uuid::from_u128(42);
    let sent = CaseCommand::RecordResourceSheetSent {
        sheet_id: sheet,
        at: at(23, 16),
    };
    let mut closed = declined();
    closed.push(CaseCommand::Close {
        reason: CloseReason::Declined,
        at: at(23, 14),
    });
    scenario()
        .given(history(closed.clone()))
        .when(sent.clone())
        .then_expect_events(vec![CaseEvent::ResourceSheetSent(ResourceSheetSent {
            sheet_id: sheet,
            sent_at: at(23, 16),
        })]);
    closed.push(sent.clone());
    scenario()
        .given(history(closed))
        .when(sent.clone())
        .then_expect_events(vec![]);
    refused(vec![], sent, CaseError::NotOpened);
}

#[test]
fn no_decision_and_no_encounter_before_the_member_is_reached() {
    let mut tried = assigned();
    tried.push(attempt(ContactOutcome::MessageLeft));
    refused(
        tried.clone(),
        CaseCommand::RecordAcceptance { at: at(23, 13) },
        CaseError::MemberNotReached,
    );
    refused(
        tried.clone(),
        CaseCommand::RecordDecline { at: at(23, 13) },
        CaseError::MemberNotReached,
    );
    refused(
        tried,
        encounter(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()),
        CaseError::MemberNotReached,
    );
}

#[test]
fn a_member_who_accepted_cannot_then_be_recorded_as_declining() {
    refused(
        accepted(),
        CaseCommand::RecordDecline { at: at(23, 14) },
        CaseError::AlreadyAccepted,
    );
}

#[test]
fn an_encounter_records_only_its_date_kind_and_length() {
    let held_on = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    scenario()
        .given(history(accepted()))
        .when(encounter(held_on))
        .then_expect_events(vec![CaseEvent::EncounterRecorded(EncounterRecorded {
            held_on,
            modality: Modality::Video,
            format: EncounterFormat::Individual,
            duration: DurationBand::ThirtyToSixtyMinutes,
            recorded_at: at(24, 9),
        })]);
}

#[test]
fn an_encounter_cannot_be_recorded_for_tomorrow() {
    refused(
        accepted(),
        encounter(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()),
        CaseError::EncounterInTheFuture,
    );
}

#[test]
fn referrals_and_escalations_record_their_category_only() {
    let refer = CaseCommand::ReferToProfessionalHelp {
        service: ProfessionalHelp::EmployeeAssistance,
        at: at(24, 10),
    };
    scenario()
        .given(history(accepted()))
        .when(refer)
        .then_expect_events(vec![CaseEvent::ReferredToProfessionalHelp(
            ReferredToProfessionalHelp {
                service: ProfessionalHelp::EmployeeAssistance,
                referred_at: at(24, 10),
            },
        )]);
    let escalate = CaseCommand::RecordEscalation {
        category: EscalationCategory::DangerToSelfOrOthers,
        at: at(24, 10),
    };
    refused(assigned(), escalate.clone(), CaseError::MemberNotReached);
    scenario()
        .given(history(reached()))
        .when(escalate)
        .then_expect_events(vec![CaseEvent::EscalationRecorded(EscalationRecorded {
            category: EscalationCategory::DangerToSelfOrOthers,
            recorded_at: at(24, 10),
        })]);
}

#[test]
fn a_member_who_declined_but_disclosed_danger_is_escalated_all_the_same() {
    let escalate = |category| CaseCommand::RecordEscalation {
        category,
        at: at(23, 14),
    };
    scenario()
        .given(history(declined()))
        .when(escalate(EscalationCategory::DangerToSelfOrOthers))
        .then_expect_events(vec![CaseEvent::EscalationRecorded(EscalationRecorded {
            category: EscalationCategory::DangerToSelfOrOthers,
            recorded_at: at(23, 14),
        })]);
    refused(
        declined(),
        escalate(EscalationCategory::AbuseOrNeglect),
        CaseError::EscalationAfterDecline,
    );
}

#[test]
fn a_case_closes_only_with_a_reason_that_fits() {
    let close = |reason| CaseCommand::Close {
        reason,
        at: at(25, 9),
    };
    refused(
        reached(),
        close(CloseReason::Completed),
        CaseError::CloseReasonDoesNotFit("completed", "the member has not accepted support"),
    );
    refused(
        reached(),
        close(CloseReason::Declined),
        CaseError::CloseReasonDoesNotFit("declined", "the member has not declined"),
    );
    refused(
        reached(),
        close(CloseReason::Unreachable),
        CaseError::CloseReasonDoesNotFit("unreachable", "the member was reached"),
    );
    let mut twice = assigned();
    twice.extend([
        attempt(ContactOutcome::NoAnswer),
        attempt(ContactOutcome::MessageLeft),
    ]);
    refused(
        twice.clone(),
        close(CloseReason::Unreachable),
        CaseError::CloseReasonDoesNotFit(
            "unreachable",
            "fewer contact attempts than the program requires",
        ),
    );
    twice.push(attempt(ContactOutcome::NoAnswer));
    scenario()
        .given(history(twice))
        .when(close(CloseReason::Unreachable))
        .then_expect_events(vec![CaseEvent::CaseClosed(CaseClosed {
            reason: CloseReason::Unreachable,
            closed_at: at(25, 9),
            merged_into: None,
        })]);
    for (story, reason) in [
        (accepted(), CloseReason::Completed),
        (declined(), CloseReason::Declined),
        (assigned(), CloseReason::Withdrawn),
    ] {
        scenario()
            .given(history(story))
            .when(close(reason))
            .then_expect_events(vec![CaseEvent::CaseClosed(CaseClosed {
                reason,
                closed_at: at(25, 9),
                merged_into: None,
            })]);
    }
}

#[test]
fn a_closed_case_refuses_everything_but_reopening() {
    let mut closed = accepted();
    closed.push(CaseCommand::Close {
        reason: CloseReason::Completed,
        at: at(25, 9),
    });
    refused(closed.clone(), assign("S2"), CaseError::Closed);
    refused(
        closed.clone(),
        attempt(ContactOutcome::Reached),
        CaseError::Closed,
    );
    scenario()
        .given(history(closed))
        .when(CaseCommand::Reopen { at: at(30, 9) })
        .then_expect_events(vec![CaseEvent::CaseReopened(CaseReopened {
            reopened_at: at(30, 9),
        })]);
}

#[test]
fn a_case_can_be_reopened_only_within_the_window() {
    let mut closed = accepted();
    closed.push(CaseCommand::Close {
        reason: CloseReason::Completed,
        at: at(2, 9),
    });
    let late = DateTime::parse_from_rfc3339("2026-12-03T09:00:00Z")
        .unwrap()
        .to_utc();
    refused(
        closed,
        CaseCommand::Reopen { at: late },
        CaseError::ReopenWindowPassed(30),
    );
    refused(
        accepted(),
        CaseCommand::Reopen { at: at(25, 9) },
        CaseError::NotClosed,
    );
}

#[test]
fn a_member_who_declined_and_comes_back_can_be_contacted_after_reopening() {
    let mut story = declined();
    story.push(CaseCommand::Close {
        reason: CloseReason::Declined,
        at: at(24, 9),
    });
    story.push(CaseCommand::Reopen { at: at(26, 9) });
    let events = history(story);
    let result = scenario()
        .given(events)
        .when(attempt(ContactOutcome::Reached))
        .inspect_result();
    assert!(
        matches!(result.as_deref(), Ok([CaseEvent::ContactAttempted(_)])),
        "{result:?}"
    );
}

#[test]
fn a_command_decided_on_an_old_version_is_refused_with_the_current_one() {
    let expecting = |version| CaseCommand::Expecting {
        version,
        command: Box::new(assign("S2")),
    };
    refused(assigned(), expecting(1), CaseError::StaleVersion(2));
    let reassigned = scenario()
        .given(history(assigned()))
        .when(expecting(2))
        .inspect_result()
        .unwrap();
    assert!(matches!(&reassigned[..], [CaseEvent::SupporterAssigned(a)] if a.supporter_id == "S2"));
}

#[test]
fn a_case_merges_into_the_members_other_case_and_not_by_a_plain_close() {
    let into = Uuid::from_u128(42);
    scenario()
        .given(history(assigned()))
        .when(CaseCommand::MergeInto {
            into,
            at: at(25, 9),
        })
        .then_expect_events(vec![CaseEvent::CaseClosed(CaseClosed {
            reason: CloseReason::Merged,
            closed_at: at(25, 9),
            merged_into: Some(into),
        })]);
    refused(
        assigned(),
        CaseCommand::Close {
            reason: CloseReason::Merged,
            at: at(25, 9),
        },
        CaseError::CloseReasonDoesNotFit(
            "merged",
            "merge the case into the member's other case instead",
        ),
    );
    refused(
        assigned(),
        CaseCommand::MergeInto {
            into: Uuid::nil(),
            at: at(25, 9),
        },
        CaseError::MergeIntoItself,
    );
}

/// Any sequence of commands, in any order, keeps the case's promises.
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn command(choice: u8, variant: u8, step: u32) -> CaseCommand {
        // Every step an hour after the last, from the Monday the case opens.
        let at = at(23, 10) + Duration::hours(i64::from(step) + 1);
        match choice {
            0 => open(contact(Some("noor@example.org"))),
            1 => assign(if variant.is_multiple_of(2) {
                "S1"
            } else {
                "S2"
            }),
            2 => CaseCommand::RecordContactAttempt {
                channel: Channel::Phone,
                outcome: [
                    ContactOutcome::NoAnswer,
                    ContactOutcome::MessageLeft,
                    ContactOutcome::Reached,
                ][usize::from(variant % 3)],
                at,
            },
            3 => CaseCommand::RecordDecline { at },
            4 => CaseCommand::RecordAcceptance { at },
            5 => CaseCommand::RecordEncounter {
                held_on: at.date_naive(),
                modality: Modality::Phone,
                format: EncounterFormat::Individual,
                duration: DurationBand::FifteenToThirtyMinutes,
                at,
            },
            6 => CaseCommand::RecordResourcesSent { at },
            7 => CaseCommand::ReferToProfessionalHelp {
                service: ProfessionalHelp::EmployeeAssistance,
                at,
            },
            8 => CaseCommand::RecordEscalation {
                category: [
                    EscalationCategory::DangerToSelfOrOthers,
                    EscalationCategory::ImpairmentPuttingPatientsAtRisk,
                    EscalationCategory::AbuseOrNeglect,
                    EscalationCategory::DiscriminationHarassmentOrRetaliation,
                ][usize::from(variant % 4)],
                at,
            },
            9 => CaseCommand::Close {
                reason: [
                    CloseReason::Completed,
                    CloseReason::Declined,
                    CloseReason::Unreachable,
                    CloseReason::Withdrawn,
                ][usize::from(variant % 4)],
                at,
            },
            10 => CaseCommand::Reopen { at },
            11 => CaseCommand::NoticeDeadlinePassed {
                at: at + Duration::days(i64::from(variant % 5)),
            },
            12 => CaseCommand::RecordResourceSheetSent {
                sheet_id: Uuid::from_u128(u128::from(variant % 2)),
                at,
            },
            13 => open_to_confirm(
                contact(Some("suggested@example.org")),
                TriggerKind::ColleagueReferral,
            ),
            14 => CaseCommand::ConfirmContact {
                replacement: variant.is_multiple_of(2).then(|| ContactRoutes {
                    email: None,
                    phone: Some("+14155550100".into()),
                    mobile: None,
                    preferred_channel: None,
                }),
                at,
            },
            _ => CaseCommand::Cancel {
                reason: CancelReason::ReportWithdrawn,
                cancelled_at: at,
            },
        }
    }

    /// The rules every history must keep, checked event by event.
    fn check(history: &[CaseEvent]) -> Result<(), String> {
        let (mut assigned, mut reached, mut declined, mut accepted) = (false, false, false, false);
        let (mut attempted, mut noticed, mut closed, mut cancelled) = (false, false, false, false);
        let mut to_confirm = false;
        for (n, event) in history.iter().enumerate() {
            let fail = |rule: &str| Err(format!("event {n} ({event:?}) breaks: {rule}"));
            if n == 0 && !matches!(event, CaseEvent::CaseOpened(_)) {
                return fail("a case starts with its opening");
            }
            if cancelled {
                return fail("nothing follows a cancellation");
            }
            // A sheet's delivery is a fact that may come in after the case closed.
            if closed
                && !matches!(
                    event,
                    CaseEvent::CaseReopened(_) | CaseEvent::ResourceSheetSent(_)
                )
            {
                return fail("only reopening follows a closing");
            }
            match event {
                CaseEvent::CaseOpened(_) if n > 0 => return fail("a case opens once"),
                CaseEvent::SupporterAssigned(_) | CaseEvent::ContactAttempted(_) if to_confirm => {
                    return fail("nobody reaches out through a contact to confirm")
                }
                CaseEvent::ContactToConfirm(_) if n != 1 => {
                    return fail("a contact is held for confirmation only at opening")
                }
                CaseEvent::ContactToConfirm(_) => to_confirm = true,
                CaseEvent::ContactConfirmed(_) if !to_confirm => {
                    return fail("only a held contact is confirmed, once")
                }
                CaseEvent::ContactConfirmed(_) => to_confirm = false,
                CaseEvent::SupporterAssigned(_) => assigned = true,
                CaseEvent::ContactAttempted(attempt) => {
                    if !assigned {
                        return fail("contact needs a supporter");
                    }
                    if declined {
                        return fail("no contact after a decline (unless reopened since)");
                    }
                    attempted = true;
                    reached |= attempt.outcome == ContactOutcome::Reached;
                }
                CaseEvent::SupportDeclined(_) | CaseEvent::SupportAccepted(_) if !reached => {
                    return fail("a decision needs the member reached")
                }
                CaseEvent::SupportAccepted(_) if accepted || declined => {
                    return fail("one decision, at most one acceptance")
                }
                CaseEvent::SupportDeclined(_) if accepted => {
                    return fail("an accepted member does not then decline")
                }
                CaseEvent::SupportAccepted(_) => accepted = true,
                CaseEvent::SupportDeclined(_) => declined = true,
                CaseEvent::EncounterRecorded(_) if !reached || declined => {
                    return fail("an encounter needs a reached member who did not decline")
                }
                CaseEvent::EscalationRecorded(escalation)
                    if declined
                        && escalation.category != EscalationCategory::DangerToSelfOrOthers =>
                {
                    return fail("after a decline, only danger to self or others is escalated")
                }
                CaseEvent::ResourceSheetSent(sent)
                    if history[..n].iter().any(|earlier| {
                        matches!(earlier, CaseEvent::ResourceSheetSent(e) if e.sheet_id == sent.sheet_id)
                    }) =>
                {
                    return fail("a sheet is recorded as sent once")
                }
                CaseEvent::FirstContactDeadlinePassed(_) if noticed || attempted => {
                    return fail("a passed deadline is noticed once, and only before contact")
                }
                CaseEvent::FirstContactDeadlinePassed(_) => noticed = true,
                CaseEvent::CaseClosed(_) => closed = true,
                // The member asking again: an earlier decline no longer stands.
                CaseEvent::CaseReopened(_) => (closed, declined) = (false, false),
                CaseEvent::CaseCancelled(_) => cancelled = true,
                _ => {}
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn no_sequence_of_commands_breaks_a_promise(
            steps in proptest::collection::vec((0u8..16, any::<u8>()), 1..40)
        ) {
            let mut history: Vec<CaseEvent> = Vec::new();
            for (step, (choice, variant)) in steps.into_iter().enumerate() {
                let produced = scenario()
                    .given(history.clone())
                    .when(command(choice, variant, step as u32))
                    .inspect_result()
                    .unwrap_or_default();
                history.extend(produced);
                if let Err(broken) = check(&history) {
                    prop_assert!(false, "{}", broken);
                }
            }
        }
    }
}
