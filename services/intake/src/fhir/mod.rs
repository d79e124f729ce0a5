//! HL7 FHIR in: an AdverseEvent (R4, R4B or R5), alone, with contained practitioners, or in a
//! Bundle with the resources it references, to the same report command as the native events.
//!
//! One pure pipeline, like the native contract's: what is it (resourceType), which FHIR
//! (content type, `meta.profile`, shape), is it well formed (HL7's schema), which AdverseEvent,
//! which revision of it, who it names and where, and what the trigger policy decides.

mod config;
mod graph;
mod resources;
mod schema;
mod staff;

use chrono::{DateTime, Utc};
use outreach_domain::{HarmLevel, ReportCommand};
use outreach_events::{ReportRef, Revision, TriggerKind};
use serde_json::Value;

pub use config::{CampusRule, CodeRule, FhirMapping, HarmRule};
use graph::{Graph, Located};
use resources::{AdverseEvent, CodeableConcept};
use schema::Definition;
use staff::Staff;

use crate::{Policies, Rejection};

/// The media type FHIR JSON travels under.
pub const MEDIA_TYPE: &str = "application/fhir+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FhirVersion {
    R4,
    R4B,
    R5,
}

impl FhirVersion {
    /// How the message is named in logs and in the metadata of the events it causes.
    pub fn event_type(self) -> &'static str {
        match self {
            FhirVersion::R4 => "hl7.fhir.r4.AdverseEvent",
            FhirVersion::R4B => "hl7.fhir.r4b.AdverseEvent",
            FhirVersion::R5 => "hl7.fhir.r5.AdverseEvent",
        }
    }

    fn from_number(number: &str) -> Result<Self, Rejection> {
        let mut parts = number.trim().split('.');
        match (parts.next(), parts.next()) {
            (Some("4"), Some("0")) => Ok(FhirVersion::R4),
            (Some("4"), Some("3")) => Ok(FhirVersion::R4B),
            (Some("5"), Some("0")) => Ok(FhirVersion::R5),
            _ => Err(Rejection::UnsupportedFhirVersion(
                number
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '.')
                    .take(16)
                    .collect(),
            )),
        }
    }
}

/// Whether a content type is FHIR JSON.
pub fn is_fhir(content_type: &str) -> bool {
    essence(content_type) == MEDIA_TYPE
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The `fhirVersion` parameter of a content type, if it has one.
fn version_parameter(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("fhirVersion")
            .then(|| value.trim().trim_matches('"'))
    })
}

pub fn to_command(
    data: &Value,
    content_type: &str,
    source: &str,
    policies: &Policies,
    received_at: DateTime<Utc>,
) -> Result<(FhirVersion, ReportCommand), Rejection> {
    let Some(resource_type) = data.get("resourceType").and_then(Value::as_str) else {
        return Err(Rejection::NotFhir);
    };
    let message = match resource_type {
        "AdverseEvent" => Message::single(data),
        "Bundle" => Message::bundle(data)?,
        other => return Err(Rejection::UnknownResourceType(type_name(other))),
    };
    let version = match version_parameter(content_type) {
        Some(number) => FhirVersion::from_number(number)?,
        None => message.version()?,
    };
    message.validate(version)?;
    let report = |report_id: String| ReportRef {
        source: source.to_string(),
        report_id,
    };
    let (event, report_id) = match message.adverse_event()? {
        Chosen::Deleted(report_id) => {
            return Ok((
                version,
                ReportCommand::Withdraw {
                    report: report(report_id),
                    withdrawn_at: received_at,
                },
            ))
        }
        Chosen::Event(event, report_id) => (event, report_id),
    };
    let read: AdverseEvent = graph::read(event.resource, "AdverseEvent")?;
    if read.status.as_deref() == Some("entered-in-error") {
        return Ok((
            version,
            ReportCommand::Withdraw {
                report: report(report_id),
                withdrawn_at: received_at,
            },
        ));
    }
    let graph = message.graph();
    let staff = Staff {
        graph: &graph,
        mapping: &policies.fhir,
        eligibility: &policies.eligibility,
        event,
    };
    let members = staff.members(&read)?;
    if members.is_empty() {
        return Err(Rejection::NoStaffIdentifier);
    }
    let (campus, unit) = staff.place(&read)?;
    let harm = harm(&read, &policies.fhir);
    let outreach = policies
        .trigger
        .starts_outreach(TriggerKind::Incident, harm);
    // FHIR's AdverseEvent categories are not the program's; urgency follows harm alone.
    let urgent = policies.urgency.is_urgent(harm, None);
    Ok((
        version,
        ReportCommand::Record {
            report: report(report_id),
            trigger: TriggerKind::Incident,
            outreach,
            campus,
            unit,
            members,
            recorded_at: received_at,
            revision: Some(read_revision(event.resource)),
            urgent,
        },
    ))
}

/// A resource type named in a reason: a type name, or nothing of what was sent.
fn type_name(name: &str) -> String {
    if !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphabetic()) {
        name.to_string()
    } else {
        "(not a resource type name)".to_string()
    }
}

/// The AdverseEvent as a message carries it: alone, or among a Bundle's entries.
struct Message<'a> {
    root: &'a Value,
    /// `(fullUrl, resource)` of each Bundle entry that has a resource; none for a lone event.
    entries: Vec<(Option<&'a str>, &'a Value)>,
    /// Logical ids of AdverseEvents a Bundle deletes (`request.method` DELETE).
    deleted: Vec<String>,
    bundle_type: Option<&'a str>,
}

enum Chosen<'a> {
    Event(Located<'a>, String),
    Deleted(String),
}

impl<'a> Message<'a> {
    fn single(root: &'a Value) -> Self {
        Message {
            root,
            entries: Vec::new(),
            deleted: Vec::new(),
            bundle_type: None,
        }
    }

    fn bundle(root: &'a Value) -> Result<Self, Rejection> {
        let entries = match root.get("entry") {
            None => &[][..],
            Some(Value::Array(entries)) => entries.as_slice(),
            Some(_) => {
                return Err(Rejection::SchemaViolation(vec![
                    "/entry fails `type`".to_string()
                ]))
            }
        };
        let mut message = Message {
            root,
            entries: Vec::new(),
            deleted: Vec::new(),
            bundle_type: root.get("type").and_then(Value::as_str),
        };
        for entry in entries {
            let full_url = entry.get("fullUrl").and_then(Value::as_str);
            if let Some(resource) = entry.get("resource").filter(|r| r.is_object()) {
                message.entries.push((full_url, resource));
            }
            let request = entry.get("request");
            let method = request
                .and_then(|r| r.get("method"))
                .and_then(Value::as_str);
            let url = request.and_then(|r| r.get("url")).and_then(Value::as_str);
            if let (Some("DELETE"), Some(url)) = (method, url) {
                let path = url.split('?').next().unwrap_or(url);
                if let Some(("AdverseEvent", id)) = path
                    .rsplit_once('/')
                    .map(|(ty, id)| (ty.rsplit('/').next().unwrap_or(ty), id))
                {
                    message.deleted.push(id.to_string());
                }
            }
        }
        Ok(message)
    }

    fn events(&self) -> Vec<(Option<&'a str>, &'a Value)> {
        if self.bundle_type.is_none() {
            return vec![(None, self.root)];
        }
        self.entries
            .iter()
            .copied()
            .filter(|(_, r)| graph::resource_type(r) == Some("AdverseEvent"))
            .collect()
    }

    /// Which FHIR: a versioned core profile (`...StructureDefinition/AdverseEvent|5.0.0`) names it; failing that, the shape does (R5's
    /// AdverseEvent has a `status` and elements R4 does not; R4B frames notifications in
    /// Bundles of type `subscription-notification`, which R4 does not have).
    fn version(&self) -> Result<FhirVersion, Rejection> {
        let events = self.events();
        let mut resources = std::iter::once(self.root).chain(events.iter().map(|(_, r)| *r));
        let profiled = resources.find_map(|r| {
            r.get("meta")?
                .get("profile")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                // Only HL7's core profiles version FHIR itself; an IG's profile has its own.
                .filter(|p| p.starts_with("http://hl7.org/fhir/StructureDefinition/"))
                .find_map(|p| p.rsplit_once('|').map(|(_, version)| version))
        });
        if let Some(number) = profiled {
            return FhirVersion::from_number(number);
        }
        const R5_ONLY: [&str; 12] = [
            "status",
            "participant",
            "code",
            "resultingEffect",
            "occurrenceDateTime",
            "occurrencePeriod",
            "occurrenceTiming",
            "contributingFactor",
            "mitigatingAction",
            "preventiveAction",
            "supportingInfo",
            "note",
        ];
        let r5 = events
            .iter()
            .any(|(_, e)| R5_ONLY.iter().any(|element| e.get(element).is_some()));
        Ok(if r5 {
            FhirVersion::R5
        } else if self.bundle_type == Some("subscription-notification") {
            FhirVersion::R4B
        } else {
            FhirVersion::R4
        })
    }

    /// Checks shape against HL7's schema: every element, clinical ones included, though only
    /// the elements intake reads are ever read. R4 and R5 whole; R4B resource by resource (its
    /// Bundle and SubscriptionStatus are R4B's own, its other resources R4's).
    fn validate(&self, version: FhirVersion) -> Result<(), Rejection> {
        let release = match version {
            FhirVersion::R5 => schema::r5,
            FhirVersion::R4 | FhirVersion::R4B => schema::r4,
        };
        let check = |definition, value: &Value, at: &str| {
            crate::contract::check(release(definition), value).map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| format!("{at}{e}"))
                    .collect::<Vec<_>>()
            })
        };
        let result = match (version, self.bundle_type.is_some()) {
            (FhirVersion::R4 | FhirVersion::R5, true) => check(Definition::Bundle, self.root, ""),
            (_, false) => check(Definition::AdverseEvent, self.root, ""),
            (FhirVersion::R4B, true) => {
                let mut errors = Vec::new();
                let entries = self.root["entry"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                for (i, entry) in entries.iter().enumerate() {
                    let Some(resource) = entry.get("resource") else {
                        continue;
                    };
                    if graph::resource_type(resource) == Some("SubscriptionStatus") {
                        continue;
                    }
                    let at = format!("/entry/{i}/resource");
                    if let Err(more) = check(Definition::Resource, resource, &at) {
                        errors.extend(more);
                    }
                }
                errors.truncate(10);
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors)
                }
            }
        };
        result.map_err(Rejection::SchemaViolation)
    }

    /// The one AdverseEvent the message is about: its newest version if a history carries
    /// several. Two different AdverseEvents in one message are refused, so that each message
    /// is one report, recorded or refused whole.
    fn adverse_event(&self) -> Result<Chosen<'a>, Rejection> {
        let events = self.events();
        let logical = |(full_url, resource): &(Option<&'a str>, &'a Value)| {
            resource
                .get("id")
                .and_then(Value::as_str)
                .or(*full_url)
                .map(str::to_string)
        };
        let mut ids: Vec<String> = events.iter().filter_map(logical).collect();
        ids.extend(self.deleted.iter().cloned());
        ids.sort();
        ids.dedup();
        if ids.len() > 1 {
            return Err(Rejection::SeveralAdverseEvents);
        }
        let newest = events.iter().copied().reduce(|newest, candidate| {
            let revision = |r: &Value| read_revision(r);
            if revision(candidate.1).is_newer_than(&revision(newest.1)) {
                candidate
            } else {
                newest
            }
        });
        match (newest, ids.pop()) {
            (Some(event), Some(id)) => {
                if self.deleted.contains(&id) {
                    return Ok(Chosen::Deleted(id));
                }
                Ok(Chosen::Event(
                    Located {
                        resource: event.1,
                        container: event.1,
                    },
                    id,
                ))
            }
            (Some(_), None) => Err(Rejection::NoLogicalId),
            (None, Some(id)) => Ok(Chosen::Deleted(id)),
            (None, None) => Err(Rejection::NoAdverseEvent),
        }
    }

    fn graph(&self) -> Graph<'a> {
        Graph::new(&self.entries, self.bundle_type.is_some())
    }
}

fn read_revision(resource: &Value) -> Revision {
    let meta = resource.get("meta");
    let text = |name: &str| meta.and_then(|m| m.get(name)).and_then(Value::as_str);
    Revision {
        version_id: text("versionId").map(|v| v.chars().take(64).collect()),
        last_updated: text("lastUpdated")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// The harm level the trigger policy reads: the severity (R4's element, R5's extension)
/// through configuration then HL7's codes, raised to severe for a serious event; a near miss
/// (`actuality` potential) harmed no one. Unknown: `None`, and the policy offers support.
fn harm(event: &AdverseEvent, mapping: &FhirMapping) -> Option<HarmLevel> {
    let severity_extension = event.extension.iter().find(|e| {
        e.url.as_deref().is_some_and(|url| {
            url.ends_with("/adverseevent-severity")
                || url.ends_with("extension-AdverseEvent.severity")
        })
    });
    let severity = event
        .severity
        .as_ref()
        .or_else(|| severity_extension.and_then(|e| e.value_codeable_concept.as_ref()));
    let graded = severity.and_then(|s| grade(s, mapping));
    let serious = event.seriousness.as_ref().is_some_and(|s| {
        s.codes()
            .any(|(_, code)| code.eq_ignore_ascii_case("serious"))
    });
    let level = match (graded, serious) {
        (Some(level), true) => Some(level.max(HarmLevel::Severe)),
        (None, true) => Some(HarmLevel::Severe),
        (level, false) => level,
    };
    level.or_else(|| (event.actuality.as_deref() == Some("potential")).then_some(HarmLevel::None))
}

fn grade(severity: &CodeableConcept, mapping: &FhirMapping) -> Option<HarmLevel> {
    severity
        .codes()
        .find_map(|(system, code)| mapping.harm_for(system, code))
        .or_else(|| {
            severity.codes().find_map(|(_, code)| match code {
                "mild" => Some(HarmLevel::Mild),
                "moderate" => Some(HarmLevel::Moderate),
                "severe" => Some(HarmLevel::Severe),
                _ => None,
            })
        })
}

#[cfg(test)]
pub(crate) mod tests;
