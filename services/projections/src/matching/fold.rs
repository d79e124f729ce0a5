//! How matching's rows follow the events: in memory, no I/O.

use chrono::{DateTime, Utc};
use outreach_events::care_team_member::MemberEvent;
use outreach_events::supporter::{SupporterContact, SupporterEvent, SupporterProfile};
use outreach_events::{CaseEvent, CaseOpened, ReportEvent, ReportRef};
use uuid::Uuid;

use super::{Matching, MatchingCase, MatchingReport, Read, RosterSupporter};

/// The name an enum is stored under: its serde name, as in the event payload.
fn name<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, &'static str> {
    serde_json::to_value(value).map_err(|_| "cannot be stored as JSON")
}

impl Matching {
    /// Folds one event in. Fails, saying why, for an event whose payload is not of a kind
    /// matching reads.
    pub(crate) fn fold(&mut self, read: Read) -> Result<(), &'static str> {
        match read {
            Read::Case {
                case_id,
                sequence,
                event,
            } => self.follow_case(case_id, sequence, event),
            Read::Report {
                aggregate,
                sequence,
                event,
            } => self.follow_report(aggregate, sequence, event),
            Read::Member { member, event } => self.follow_member(member, event),
            Read::Purge { member, cases } => {
                self.preferences.insert(member, None);
                for case in cases {
                    self.cases.remove(&case);
                    self.case_reports.retain(|(of, _, _)| *of != case);
                    self.purged.insert(case);
                }
                Ok(())
            }
            Read::Supporter {
                supporter_id,
                sequence,
                event,
            } => self.follow_supporter(supporter_id, sequence, event),
        }
    }

    fn add_case_report(&mut self, case: Uuid, report: &ReportRef) {
        self.case_reports
            .insert((case, report.source.clone(), report.report_id.clone()));
    }

    fn follow_case(
        &mut self,
        case: Uuid,
        sequence: i64,
        event: CaseEvent,
    ) -> Result<(), &'static str> {
        let change: fn(&mut MatchingCase, &CaseEvent) = match &event {
            CaseEvent::CaseOpened(opened) => {
                // Rebuilt after the member's purge, the opening names no one: no one to match.
                let Some(row) = opened_case(opened, sequence) else {
                    return Ok(());
                };
                // A case opens once; its opening again leaves the row as later events made it.
                self.cases.entry(opened.facts.case_id).or_insert(row);
                self.add_case_report(opened.facts.case_id, &opened.facts.report);
                return Ok(());
            }
            CaseEvent::SupporterAssigned(_) => |case, event| {
                if let CaseEvent::SupporterAssigned(e) = event {
                    case.supporter_id = Some(e.supporter_id.clone());
                    case.assigned_at = Some(e.assigned_at);
                }
            },
            // Merging closes the case too (reason `merged`); its report joins the other case.
            CaseEvent::CaseClosed(_) => |case, event| {
                if let CaseEvent::CaseClosed(e) = event {
                    case.ended_at = Some(e.closed_at);
                }
            },
            CaseEvent::CaseCancelled(_) => |case, event| {
                if let CaseEvent::CaseCancelled(e) = event {
                    case.ended_at = Some(e.cancelled_at);
                }
            },
            // The supporter stays assigned: the case goes back to them.
            CaseEvent::CaseReopened(_) => |case, _| case.ended_at = None,
            CaseEvent::TriggerLinked(linked) => {
                self.add_case_report(case, &linked.report);
                // An urgent report made the case urgent: first contact is due sooner.
                |case, event| {
                    if let CaseEvent::TriggerLinked(e) = event {
                        if e.first_contact_due.is_some() {
                            case.first_contact_due = e.first_contact_due;
                        }
                    }
                }
            }
            _ => return Err("event type and payload disagree"),
        };
        if let Some(row) = self.cases.get_mut(&case).filter(|r| r.version < sequence) {
            change(row, &event);
            row.version = sequence;
        }
        Ok(())
    }

    fn follow_report(
        &mut self,
        aggregate: Uuid,
        sequence: i64,
        event: ReportEvent,
    ) -> Result<(), &'static str> {
        let (report, added, removed) = match event {
            ReportEvent::ReportRecorded {
                report, members, ..
            } => {
                if self.reports.contains_key(&aggregate) {
                    return Ok(()); // recorded already: later amendments may have changed the staff
                }
                // Amendments name only the aggregate: remember which report it is.
                self.reports.insert(
                    aggregate,
                    MatchingReport {
                        report_aggregate_id: aggregate,
                        report_source: report.source.clone(),
                        report_id: report.report_id.clone(),
                        version: sequence,
                    },
                );
                (report, members, Vec::new())
            }
            ReportEvent::StaffAdded { members, .. } => {
                let Some(report) = self.report_at(aggregate, sequence) else {
                    return Ok(());
                };
                (report, members, Vec::new())
            }
            ReportEvent::StaffRemoved { staff_ids, .. } => {
                let Some(report) = self.report_at(aggregate, sequence) else {
                    return Ok(());
                };
                (report, Vec::new(), staff_ids)
            }
            _ => return Err("event type and payload disagree"),
        };
        // Everyone named, eligible for outreach or not: they were all there.
        let key = |staff_id| (report.source.clone(), report.report_id.clone(), staff_id);
        // A member whose data was purged (a rebuild after the purge) is named no more.
        for member in added.into_iter().filter(|m| !m.staff_id.is_empty()) {
            self.report_staff_cases
                .insert(key(member.staff_id.clone()), member.case_id);
            self.report_staff.insert(key(member.staff_id), true);
        }
        for staff_id in removed.into_iter().filter(|s| !s.is_empty()) {
            self.report_staff.insert(key(staff_id), false);
        }
        Ok(())
    }

    /// The report a SafetyReport aggregate is, moving its version to `sequence`; `None` if the
    /// report is unknown or already holds this event (so applying an amendment twice is a no-op).
    fn report_at(&mut self, aggregate: Uuid, sequence: i64) -> Option<ReportRef> {
        let row = self
            .reports
            .get_mut(&aggregate)
            .filter(|r| r.version < sequence)?;
        row.version = sequence;
        Some(ReportRef {
            source: row.report_source.clone(),
            report_id: row.report_id.clone(),
        })
    }

    fn follow_member(&mut self, member: String, event: MemberEvent) -> Result<(), &'static str> {
        let (staff_id, personal) = match event {
            MemberEvent::PreferencesStated {
                staff_id, personal, ..
            } => (staff_id, personal),
            MemberEvent::PersonalDataPurged { .. } => (String::new(), None),
            _ => return Err("event type and payload disagree"),
        };
        // The whole set, as last stated: a preference left out is no longer held. Purged (or
        // stated before a purge and rebuilt after it: no staff id, no preferences): none held.
        let stated = match personal {
            Some(preferences) if !staff_id.is_empty() => Some((staff_id, json(&preferences)?)),
            _ => None,
        };
        self.preferences.insert(member, stated);
        Ok(())
    }

    fn follow_supporter(
        &mut self,
        supporter: Uuid,
        sequence: i64,
        event: SupporterEvent,
    ) -> Result<(), &'static str> {
        let (taken, case, at) = match event {
            SupporterEvent::SupporterJoined {
                profile,
                personal,
                joined_at,
            } => {
                let entry = roster_entry(supporter, sequence, &profile, &personal, joined_at)?;
                self.write_profile(entry, Some(joined_at));
                return Ok(());
            }
            SupporterEvent::SupporterProfileChanged {
                profile,
                personal,
                changed_at,
            } => {
                let entry = roster_entry(supporter, sequence, &profile, &personal, changed_at)?;
                self.write_profile(entry, None);
                return Ok(());
            }
            SupporterEvent::SupporterPaused { .. } => {
                self.set_paused(supporter, sequence, true);
                return Ok(());
            }
            SupporterEvent::SupporterResumed { .. } => {
                self.set_paused(supporter, sequence, false);
                return Ok(());
            }
            SupporterEvent::CaseTaken { case_id, taken_at } => (true, case_id, taken_at),
            SupporterEvent::CaseReleased {
                case_id,
                released_at,
            } => (false, case_id, released_at),
        };
        // A supporter the roster does not know, or an event already applied, changes nothing.
        let Some(row) = self
            .supporters
            .get_mut(&supporter)
            .filter(|r| r.version < sequence)
        else {
            return Ok(());
        };
        row.version = sequence;
        let caseload = self.caseloads.entry(supporter).or_default();
        if taken {
            // Taking a case held already keeps the first taking (and counts it once).
            caseload.entry(case).or_insert(at);
        } else {
            caseload.remove(&case);
        }
        // Counted, not incremented: the count can never drift from the rows.
        row.open_cases = i32::try_from(caseload.len()).unwrap_or(i32::MAX);
        Ok(())
    }

    /// The roster entry as a whole: on joining (`joined_at`) or on a change, which keeps the
    /// joining date, the pause and the caseload. A change of a supporter the roster does not
    /// know yet (no joining seen) enters them as joined at that change, so the roster never
    /// lacks someone whose events it has.
    fn write_profile(&mut self, entry: RosterSupporter, joined_at: Option<DateTime<Utc>>) {
        match self.supporters.get_mut(&entry.supporter_id) {
            None => {
                self.supporters.insert(entry.supporter_id, entry);
            }
            Some(row) if row.version < entry.version => {
                *row = RosterSupporter {
                    joined_at: joined_at.unwrap_or(row.joined_at),
                    paused: row.paused,
                    open_cases: row.open_cases,
                    ..entry
                };
            }
            Some(_) => {}
        }
    }

    fn set_paused(&mut self, supporter: Uuid, sequence: i64, paused: bool) {
        if let Some(row) = self
            .supporters
            .get_mut(&supporter)
            .filter(|r| r.version < sequence)
        {
            row.paused = paused;
            row.version = sequence;
        }
    }
}

/// The row of an opening; `None` for one whose member was purged.
fn opened_case(opened: &CaseOpened, version: i64) -> Option<MatchingCase> {
    let facts = &opened.facts;
    let member = facts.member.as_ref()?;
    Some(MatchingCase {
        case_id: facts.case_id,
        member_staff_id: member.staff_id.clone(),
        campus: facts.campus.clone(),
        department: member.department.clone(),
        discipline: member.discipline.as_str().into(),
        seniority: member.seniority.map(|s| s.as_str().into()),
        role: member.role.clone(),
        involvement: member.involvement.as_str().into(),
        first_contact_due: facts.first_contact_due,
        opened_at: facts.opened_at,
        supporter_id: None,
        assigned_at: None,
        ended_at: None,
        version,
    })
}

/// A new roster entry from a joining or a change at `at`: not paused, no cases held.
fn roster_entry(
    supporter: Uuid,
    version: i64,
    profile: &SupporterProfile,
    personal: &SupporterContact,
    at: DateTime<Utc>,
) -> Result<RosterSupporter, &'static str> {
    Ok(RosterSupporter {
        supporter_id: supporter,
        staff_id: profile.staff_id.clone(),
        campus: profile.campus.clone(),
        department: profile.department.clone(),
        discipline: profile.discipline.as_str().into(),
        specialty: profile.specialty.clone(),
        seniority: profile.seniority.as_str().into(),
        languages: profile.languages.clone(),
        interests: profile.interests.clone(),
        training_status: profile.training.status.as_str().into(),
        trained_on: profile.training.completed_on,
        capacity: i32::try_from(profile.capacity).unwrap_or(i32::MAX),
        availability: json(&profile.availability)?,
        paused: false,
        open_cases: 0,
        given_name: Some(personal.given_name.clone()),
        family_name: Some(personal.family_name.clone()),
        email: Some(personal.email.clone()),
        phone: personal.phone.clone(),
        gender: personal.gender.as_ref().and_then(name),
        joined_at: at,
        changed_at: at,
        version,
    })
}
