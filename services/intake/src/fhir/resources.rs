//! The elements of FHIR resources that intake reads, R4 and R5 alike. Everything else in a
//! resource (an AdverseEvent's subject, encounter, code, suspectEntity, resultingCondition or
//! resultingEffect, outcome, note, supportingInfo, contributingFactor, mitigatingAction, the
//! narrative `text`, any extension but the severity one) has no field here and is never
//! deserialised; it is checked for shape by HL7's schema and dropped with the message.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdverseEvent {
    /// R5 only: `entered-in-error` withdraws the report.
    pub status: Option<String>,
    /// `potential`: a near miss, which harmed no one.
    pub actuality: Option<String>,
    /// R4: the practitioners involved.
    #[serde(default)]
    pub contributor: Vec<Reference>,
    /// R5: who was involved and how.
    #[serde(default)]
    pub participant: Vec<Participant>,
    pub recorder: Option<Reference>,
    pub location: Option<Reference>,
    /// Read by the trigger policy only, and dropped with its decision.
    pub seriousness: Option<CodeableConcept>,
    /// R4's severity (R5 carries it as an extension). Read by the trigger policy only.
    pub severity: Option<CodeableConcept>,
    #[serde(default)]
    pub extension: Vec<SeverityExtension>,
}

#[derive(Debug, Deserialize)]
pub struct Participant {
    pub function: Option<CodeableConcept>,
    pub actor: Option<Reference>,
}

/// An extension as far as the severity extension needs: any other value is not read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeverityExtension {
    pub url: Option<String>,
    pub value_codeable_concept: Option<CodeableConcept>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reference {
    /// Only literal references are followed: a logical one (`identifier`) names no resource
    /// the message carries, so no name or contact to reach anyone by.
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Identifier {
    pub system: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CodeableConcept {
    #[serde(default)]
    pub coding: Vec<Coding>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Practitioner {
    #[serde(default)]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub name: Vec<HumanName>,
    #[serde(default)]
    pub telecom: Vec<ContactPoint>,
    #[serde(default)]
    pub qualification: Vec<Qualification>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Qualification {
    pub code: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PractitionerRole {
    pub practitioner: Option<Reference>,
    #[serde(default)]
    pub code: Vec<CodeableConcept>,
    #[serde(default)]
    pub specialty: Vec<CodeableConcept>,
    /// R4.
    #[serde(default)]
    pub telecom: Vec<ContactPoint>,
    /// R5: ExtendedContactDetail, of which only the telecom is read.
    #[serde(default)]
    pub contact: Vec<RoleContact>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RoleContact {
    #[serde(default)]
    pub telecom: Vec<ContactPoint>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CareTeam {
    #[serde(default)]
    pub participant: Vec<CareTeamParticipant>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CareTeamParticipant {
    pub member: Option<Reference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub name: Option<String>,
    /// R4's name for what R5 calls `form`: a site, a building, a room, a bed.
    pub physical_type: Option<CodeableConcept>,
    pub form: Option<CodeableConcept>,
    pub part_of: Option<Reference>,
    pub managing_organization: Option<Reference>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Organization {
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HumanName {
    #[serde(rename = "use")]
    pub use_: Option<String>,
    pub family: Option<String>,
    #[serde(default)]
    pub given: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContactPoint {
    pub system: Option<String>,
    pub value: Option<String>,
    #[serde(rename = "use")]
    pub use_: Option<String>,
    pub rank: Option<u32>,
    pub period: Option<Period>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Period {
    pub end: Option<String>,
}

impl CodeableConcept {
    pub fn codes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.coding
            .iter()
            .filter_map(|c| Some((c.system.as_deref().unwrap_or(""), c.code.as_deref()?)))
    }

    /// Words for the concept: its text, or its first coding's display.
    pub fn words(&self) -> Option<&str> {
        self.text
            .as_deref()
            .or_else(|| self.coding.iter().find_map(|c| c.display.as_deref()))
    }
}

impl Period {
    /// Whether the period ended (a FHIR date or dateTime compares as text within one format).
    pub fn ended(&self) -> bool {
        self.end.is_some()
    }
}
