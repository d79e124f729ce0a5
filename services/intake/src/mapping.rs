//! From a validated inbound message to a domain command, applying the trigger and eligibility
//! policies on the way. Only the policies' decisions leave this module.

use chrono::{DateTime, Utc};
use outreach_domain::{
    EligibilityPolicy, InvolvedMember, ReportCommand, TriggerPolicy, UrgencyPolicy,
};
use outreach_events::{MemberContact, MemberProfile, ReportRef, TriggerKind};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::inbound::{
    IReportFiled, IncidentAmended, IncidentReported, IncidentWithdrawn, StaffMember,
};
use crate::{MessageType, Rejection};

/// The policies intake applies, from configuration.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub trigger: TriggerPolicy,
    pub eligibility: EligibilityPolicy,
    /// How the hospital's FHIR maps onto the program (`[fhir]`).
    pub fhir: crate::fhir::FhirMapping,
    /// Read beside the trigger policy, from the same harm level and category.
    pub urgency: UrgencyPolicy,
}

pub fn to_command(
    ty: MessageType,
    source: &str,
    data: Value,
    policies: &Policies,
    received_at: DateTime<Utc>,
) -> Result<ReportCommand, Rejection> {
    let report = |report_id: String| ReportRef {
        source: source.to_string(),
        report_id,
    };
    let members = |staff: Vec<StaffMember>| -> Vec<InvolvedMember> {
        staff
            .into_iter()
            .map(|s| member(s, &policies.eligibility))
            .collect()
    };
    Ok(match ty {
        MessageType::IncidentReported => {
            let message: IncidentReported = read(data)?;
            let harm = message.harm.level.level();
            ReportCommand::Record {
                report: report(message.report_id),
                trigger: TriggerKind::Incident,
                outreach: policies
                    .trigger
                    .starts_outreach(TriggerKind::Incident, harm),
                urgent: policies
                    .urgency
                    .is_urgent(harm, message.category.as_deref()),
                campus: message.location.campus,
                unit: message.location.unit,
                members: members(message.involved_staff),
                recorded_at: received_at,
                revision: None,
            }
        }
        MessageType::IReportFiled => {
            let message: IReportFiled = read(data)?;
            let harm = message.harm.and_then(|h| h.level.level());
            // A named reporter may be as shaken as those involved: they are offered support too.
            let staff = message
                .reporter
                .into_iter()
                .chain(message.involved_staff)
                .collect();
            ReportCommand::Record {
                report: report(message.report_id),
                trigger: TriggerKind::IReport,
                outreach: policies.trigger.starts_outreach(TriggerKind::IReport, harm),
                urgent: policies
                    .urgency
                    .is_urgent(harm, message.category.as_deref()),
                campus: message.location.campus,
                unit: message.location.unit,
                members: members(staff),
                recorded_at: received_at,
                revision: None,
            }
        }
        MessageType::IncidentAmended => {
            let message: IncidentAmended = read(data)?;
            ReportCommand::Amend {
                report: report(message.report_id),
                added: members(message.staff_added),
                removed: message.staff_removed,
                amended_at: received_at,
            }
        }
        MessageType::IncidentWithdrawn => {
            let message: IncidentWithdrawn = read(data)?;
            ReportCommand::Withdraw {
                report: report(message.report_id),
                withdrawn_at: received_at,
            }
        }
    })
}

fn member(staff: StaffMember, eligibility: &EligibilityPolicy) -> InvolvedMember {
    InvolvedMember {
        eligible: eligibility.serves(staff.discipline),
        // Derived by the command side under the member's key.
        case_id: None,
        profile: MemberProfile {
            staff_id: staff.staff_id,
            role: staff.role,
            discipline: staff.discipline,
            department: staff.department,
            seniority: staff.seniority,
            involvement: staff.involvement,
        },
        contact: MemberContact {
            given_name: staff.name.given,
            family_name: staff.name.family,
            email: staff.contact.email,
            phone: staff.contact.phone,
            mobile: staff.contact.mobile,
            preferred_channel: staff.preferred_channel,
        },
    }
}

/// The schema has passed, so this only fails if schema and code disagree; the message is still
/// described without its values.
fn read<T: DeserializeOwned>(data: Value) -> Result<T, Rejection> {
    serde_json::from_value(data).map_err(|e| {
        Rejection::SchemaViolation(vec![format!(
            "data passed the schema but not the reader ({:?} error)",
            e.classify()
        )])
    })
}
