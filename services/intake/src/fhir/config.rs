//! How a hospital's FHIR maps onto the program: configuration (`[fhir]`), with defaults that
//! read HL7's own code systems.

use outreach_domain::HarmLevel;
use outreach_events::{Discipline, Seniority};
use serde::Deserialize;

/// `[fhir]`: where the staff id is, and what the hospital's codes mean.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FhirMapping {
    /// The `Practitioner.identifier.system` whose value is the staff id. A practitioner
    /// without an identifier in this system is not offered outreach (the service could not
    /// tell one person's cases from another's).
    pub staff_identifier_system: String,
    /// The source of reports that arrive as bare FHIR records (no CloudEvent `source`).
    pub bare_record_source: String,
    /// `PractitionerRole.code`, `PractitionerRole.specialty` and
    /// `Practitioner.qualification.code` codings, to discipline, department and seniority.
    pub codes: Vec<CodeRule>,
    /// When no rule gives one.
    pub default_discipline: Discipline,
    pub default_department: String,
    /// Names of Organizations and Locations (the event's Location, its `partOf` chain and
    /// their `managingOrganization`) to campus names.
    pub campuses: Vec<CampusRule>,
    pub default_campus: String,
    /// When the AdverseEvent names no Location (or one outside the message).
    pub default_unit: String,
    /// Severity codings to harm levels, before HL7's own (`mild`, `moderate`, `severe`).
    pub harm: Vec<HarmRule>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRule {
    pub system: String,
    pub code: String,
    pub discipline: Option<Discipline>,
    pub department: Option<String>,
    pub seniority: Option<Seniority>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampusRule {
    pub name: String,
    pub campus: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarmRule {
    pub system: String,
    pub code: String,
    pub harm: HarmLevel,
}

impl Default for FhirMapping {
    fn default() -> Self {
        Self {
            staff_identifier_system: "urn:peer-outreach:staff-id".into(),
            bare_record_source: "urn:peer-outreach:fhir".into(),
            codes: Vec::new(),
            default_discipline: Discipline::Other,
            default_department: "Unknown".into(),
            campuses: Vec::new(),
            default_campus: "Unknown".into(),
            default_unit: "Unknown".into(),
            harm: Vec::new(),
        }
    }
}

impl FhirMapping {
    /// The first rule for any of `codes` (in the order given) that sets what `pick` reads.
    pub fn code_rule<'s, T>(
        &'s self,
        codes: &[(&str, &str)],
        pick: impl Fn(&'s CodeRule) -> Option<T>,
    ) -> Option<T> {
        codes.iter().find_map(|(system, code)| {
            self.codes
                .iter()
                .filter(|r| r.system == *system && r.code == *code)
                .find_map(&pick)
        })
    }

    pub fn campus_for(&self, name: &str) -> Option<&str> {
        let name = name.trim();
        self.campuses
            .iter()
            .find(|r| r.name.trim().eq_ignore_ascii_case(name))
            .map(|r| r.campus.as_str())
    }

    pub fn harm_for(&self, system: &str, code: &str) -> Option<HarmLevel> {
        self.harm
            .iter()
            .find(|r| r.system == system && r.code == code)
            .map(|r| r.harm)
    }
}
