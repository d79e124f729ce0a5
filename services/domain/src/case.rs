//! The outreach case aggregate: one care team member's path through outreach after one trigger.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use outreach_events::{
    CancelReason, CaseCancelled, CaseEvent, CaseOpened, CaseOpenedFacts, MemberContact,
    MemberProfile, ReportRef, TriggerKind,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What may be asked of a case. No variant has a field for clinical detail or for what was said.
// Opening carries the whole case; boxing it would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CaseCommand {
    Open {
        case_id: Uuid,
        report: ReportRef,
        trigger: TriggerKind,
        campus: String,
        unit: String,
        member: MemberProfile,
        contact: MemberContact,
        opened_at: DateTime<Utc>,
    },
    Cancel {
        reason: CancelReason,
        cancelled_at: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaseError {
    #[error("a case needs at least one way to reach the member: an e-mail address, a phone or a mobile number")]
    NoContactRoute,
}

impl CaseError {
    /// The rule that refused the command, as a stable name for clients and dead letters.
    pub fn rule(&self) -> &'static str {
        match self {
            CaseError::NoContactRoute => "case-needs-a-contact-route",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseStatus {
    Open,
    Cancelled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutreachCase {
    /// `None` until the case is opened.
    status: Option<CaseStatus>,
}

impl OutreachCase {
    pub fn status(&self) -> Option<CaseStatus> {
        self.status
    }
}

impl Aggregate for OutreachCase {
    const TYPE: &'static str = "OutreachCase";
    type Command = CaseCommand;
    type Event = CaseEvent;
    type Error = CaseError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            CaseCommand::Open {
                case_id,
                report,
                trigger,
                campus,
                unit,
                member,
                contact,
                opened_at,
            } => {
                if self.status.is_some() {
                    return Ok(()); // the same trigger again: the case exists already
                }
                if contact.email.is_none() && contact.phone.is_none() && contact.mobile.is_none() {
                    return Err(CaseError::NoContactRoute);
                }
                let facts = CaseOpenedFacts {
                    case_id,
                    report,
                    trigger,
                    campus,
                    unit,
                    member,
                    opened_at,
                };
                sink.write(
                    CaseEvent::CaseOpened(CaseOpened {
                        facts,
                        personal: contact,
                    }),
                    self,
                )
                .await;
            }
            CaseCommand::Cancel {
                reason,
                cancelled_at,
            } => {
                // Only a case nobody has acted on yet is cancelled; anything else is left alone.
                if self.status == Some(CaseStatus::Open) {
                    sink.write(
                        CaseEvent::CaseCancelled(CaseCancelled {
                            reason,
                            cancelled_at,
                        }),
                        self,
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.status = Some(match event {
            CaseEvent::CaseOpened(_) => CaseStatus::Open,
            CaseEvent::CaseCancelled(_) => CaseStatus::Cancelled,
        });
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;
    use outreach_events::{Discipline, Involvement};

    use super::*;

    type Scenario = TestFramework<OutreachCase>;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
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
            opened_at: at(),
        }
    }

    fn opened() -> CaseEvent {
        let Ok(events) = Scenario::with(())
            .given_no_previous_events()
            .when(open(contact(Some("noor@example.org"))))
            .inspect_result()
        else {
            panic!("opening a case failed")
        };
        events.into_iter().next().unwrap()
    }

    #[test]
    fn a_case_opens_once_whatever_the_redelivery() {
        let first = opened();
        assert!(matches!(&first, CaseEvent::CaseOpened(o) if o.personal.given_name == "Noor"));
        Scenario::with(())
            .given(vec![first])
            .when(open(contact(Some("noor@example.org"))))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_member_with_no_way_to_be_reached_gets_no_case() {
        Scenario::with(())
            .given_no_previous_events()
            .when(open(contact(None)))
            .then_expect_error(CaseError::NoContactRoute);
    }

    #[test]
    fn an_untouched_case_is_cancelled_once() {
        let cancel = CaseCommand::Cancel {
            reason: CancelReason::ReportWithdrawn,
            cancelled_at: at(),
        };
        let cancelled = CaseEvent::CaseCancelled(CaseCancelled {
            reason: CancelReason::ReportWithdrawn,
            cancelled_at: at(),
        });
        Scenario::with(())
            .given(vec![opened()])
            .when(cancel.clone())
            .then_expect_events(vec![cancelled.clone()]);
        Scenario::with(())
            .given(vec![opened(), cancelled])
            .when(cancel)
            .then_expect_events(vec![]);
    }

    #[test]
    fn cancelling_a_case_that_was_never_opened_does_nothing() {
        Scenario::with(())
            .given_no_previous_events()
            .when(CaseCommand::Cancel {
                reason: CancelReason::RemovedFromReport,
                cancelled_at: at(),
            })
            .then_expect_events(vec![]);
    }
}
