//! Who an AdverseEvent names, and where it happened: the practitioners it references (as
//! contributors, participants, members of a participating CareTeam, or its recorder) with
//! what outreach keeps of them, and the campus and unit of its Location.

use std::collections::{BTreeSet, HashSet};

use super::config::FhirMapping;
use super::graph::{self, Graph, Located, Target};
use super::resources::{
    AdverseEvent, CareTeam, CodeableConcept, ContactPoint, Location, Organization, Practitioner,
    PractitionerRole, Reference,
};
use crate::Rejection;
use outreach_domain::{EligibilityPolicy, InvolvedMember};
use outreach_events::{Involvement, MemberContact, MemberProfile};
use serde_json::Value;

/// As many staff as the native contract takes in one report.
const MAX_STAFF: usize = 1000;
/// CareTeams name CareTeams; this deep and no deeper.
const MAX_TEAM_DEPTH: usize = 3;
/// Kept text is bounded as in the native contract.
const MAX_TEXT: usize = 100;

pub struct Staff<'m, 'a> {
    pub graph: &'m Graph<'a>,
    pub mapping: &'m FhirMapping,
    pub eligibility: &'m EligibilityPolicy,
    pub event: Located<'a>,
}

impl<'a> Staff<'_, 'a> {
    /// Everyone the event names with a staff id, each once (first mention wins), in the order
    /// named: contributors or participants, then the recorder.
    pub fn members(&self, event: &AdverseEvent) -> Result<Vec<InvolvedMember>, Rejection> {
        let mut named: Vec<(String, Involvement, &Reference)> = Vec::new();
        for (i, actor) in event.contributor.iter().enumerate() {
            named.push((
                format!("AdverseEvent.contributor[{i}]"),
                Involvement::Primary,
                actor,
            ));
        }
        for (i, participant) in event.participant.iter().enumerate() {
            if let Some(actor) = &participant.actor {
                named.push((
                    format!("AdverseEvent.participant[{i}].actor"),
                    involvement(participant.function.as_ref()),
                    actor,
                ));
            }
        }
        if let Some(recorder) = &event.recorder {
            named.push((
                "AdverseEvent.recorder".to_string(),
                Involvement::Reporter,
                recorder,
            ));
        }
        let mut members = Vec::new();
        let mut seen = BTreeSet::new();
        // Each resource is read once, at its first mention (which decides the involvement):
        // a message that names one CareTeam many times costs no more than naming it once.
        let mut visited = HashSet::new();
        for (at, involvement, reference) in named {
            let from = self.event;
            self.follow(
                reference,
                from,
                &at,
                involvement,
                0,
                &mut visited,
                &mut members,
            )?;
        }
        members.retain(|m: &InvolvedMember| seen.insert(m.profile.staff_id.clone()));
        if members.len() > MAX_STAFF {
            return Err(Rejection::SchemaViolation(vec![format!(
                "AdverseEvent names more than {MAX_STAFF} staff"
            )]));
        }
        Ok(members)
    }

    #[allow(clippy::too_many_arguments)]
    fn follow(
        &self,
        reference: &Reference,
        from: Located<'a>,
        at: &str,
        involvement: Involvement,
        depth: usize,
        visited: &mut HashSet<*const Value>,
        out: &mut Vec<InvolvedMember>,
    ) -> Result<(), Rejection> {
        let Some(literal) = reference.reference.as_deref() else {
            return Ok(()); // a logical reference names no one outreach can reach
        };
        // Patients, related persons, devices and the like are never followed.
        if let Some(ty) = graph::referenced_type(literal) {
            if !matches!(ty, "Practitioner" | "PractitionerRole" | "CareTeam") {
                return Ok(());
            }
        }
        let Target::Found(target) = self.graph.resolve(literal, from, at)? else {
            return Ok(());
        };
        let resource = target.resource;
        if !visited.insert(resource as *const Value) {
            return Ok(());
        }
        match graph::resource_type(resource) {
            Some("Practitioner") => {
                let practitioner: Practitioner = graph::read(resource, at)?;
                let role: Option<PractitionerRole> = match self.graph.role_of(target) {
                    Some(role) => Some(graph::read(role.resource, "PractitionerRole")?),
                    None => None,
                };
                out.extend(self.member(&practitioner, role.as_ref(), involvement));
            }
            Some("PractitionerRole") => {
                let role: PractitionerRole = graph::read(resource, at)?;
                let Some(of) = role
                    .practitioner
                    .as_ref()
                    .and_then(|r| r.reference.as_deref())
                else {
                    return Ok(());
                };
                let at = format!("{at}.resolve().practitioner");
                if let Target::Found(p) = self.graph.resolve(of, target, &at)? {
                    if graph::resource_type(p.resource) == Some("Practitioner") {
                        let practitioner: Practitioner = graph::read(p.resource, &at)?;
                        out.extend(self.member(&practitioner, Some(&role), involvement));
                    }
                }
            }
            Some("CareTeam") if depth < MAX_TEAM_DEPTH => {
                let team: CareTeam = graph::read(resource, at)?;
                for (i, participant) in team.participant.iter().enumerate() {
                    if let Some(member) = &participant.member {
                        let at = format!("{at}.resolve().participant[{i}].member");
                        self.follow(member, target, &at, involvement, depth + 1, visited, out)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn member(
        &self,
        practitioner: &Practitioner,
        role: Option<&PractitionerRole>,
        involvement: Involvement,
    ) -> Option<InvolvedMember> {
        let system = self.mapping.staff_identifier_system.as_str();
        let staff_id = practitioner
            .identifier
            .iter()
            .find(|i| i.system.as_deref() == Some(system))
            .and_then(|i| i.value.as_deref())
            .filter(|v| !v.trim().is_empty() && v.len() <= 64)?
            .to_string();
        let role_codes: Vec<&CodeableConcept> =
            role.map(|r| r.code.iter().collect()).unwrap_or_default();
        let qualifications: Vec<&CodeableConcept> = practitioner
            .qualification
            .iter()
            .filter_map(|q| q.code.as_ref())
            .collect();
        let codes: Vec<(&str, &str)> = role_codes
            .iter()
            .chain(&qualifications)
            .flat_map(|c| c.codes())
            .collect();
        let specialties: Vec<&CodeableConcept> = role
            .map(|r| r.specialty.iter().collect())
            .unwrap_or_default();
        let specialty_codes: Vec<(&str, &str)> =
            specialties.iter().flat_map(|c| c.codes()).collect();
        let mapping = self.mapping;
        let discipline = mapping
            .code_rule(&codes, |r| r.discipline)
            .unwrap_or(mapping.default_discipline);
        let department = mapping
            .code_rule(&specialty_codes, |r| r.department.clone())
            .or_else(|| {
                specialties
                    .iter()
                    .find_map(|c| c.words())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| mapping.default_department.clone());
        let title = role_codes
            .iter()
            .chain(&qualifications)
            .find_map(|c| c.words())
            .map(str::to_string)
            .unwrap_or_else(|| discipline.as_str().replace('_', " "));
        let telecom: Vec<&ContactPoint> = role
            .map(|r| {
                r.telecom
                    .iter()
                    .chain(r.contact.iter().flat_map(|c| &c.telecom))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .chain(&practitioner.telecom)
            .filter(|t| !t.period.as_ref().is_some_and(|p| p.ended()))
            .collect();
        let name = practitioner
            .name
            .iter()
            .filter(|n| n.use_.as_deref() != Some("old"))
            .min_by_key(|n| match n.use_.as_deref() {
                Some("official") => 0,
                Some("usual") => 1,
                _ => 2,
            });
        Some(InvolvedMember {
            eligible: self.eligibility.serves(discipline),
            // Derived by the command side under the member's key.
            case_id: None,
            profile: MemberProfile {
                staff_id,
                role: bounded(&title),
                discipline,
                department: bounded(&department),
                seniority: mapping.code_rule(&codes, |r| r.seniority),
                involvement,
            },
            contact: MemberContact {
                given_name: bounded(&name.map(|n| n.given.join(" ")).unwrap_or_default()),
                family_name: bounded(name.and_then(|n| n.family.as_deref()).unwrap_or("")),
                email: pick(&telecom, |t| t.system.as_deref() == Some("email"), 254),
                phone: pick(
                    &telecom,
                    |t| t.system.as_deref() == Some("phone") && t.use_.as_deref() != Some("mobile"),
                    32,
                ),
                mobile: pick(
                    &telecom,
                    |t| {
                        t.system.as_deref() == Some("sms")
                            || (t.system.as_deref() == Some("phone")
                                && t.use_.as_deref() == Some("mobile"))
                    },
                    32,
                ),
                preferred_channel: None,
            },
        })
    }

    /// Campus and unit: the unit is the event's Location (or, for a room or a bed, which are
    /// clinical detail, the first Location above it); the campus is the first name up the
    /// `partOf` chain, or of a managing Organization, that configuration maps, else the
    /// nearest managing Organization's name, else the topmost Location's.
    pub fn place(&self, event: &AdverseEvent) -> Result<(String, String), Rejection> {
        let mapping = self.mapping;
        let mut chain: Vec<(Location, Located<'a>)> = Vec::new();
        let mut next = event.location.clone();
        let mut from = self.event;
        let mut at = "AdverseEvent.location".to_string();
        while let Some(reference) = next.take() {
            if chain.len() >= 5 {
                break;
            }
            let Some(literal) = reference.reference.as_deref() else {
                break;
            };
            let Target::Found(found) = self.graph.resolve(literal, from, &at)? else {
                break;
            };
            if graph::resource_type(found.resource) != Some("Location") {
                break;
            }
            let location: Location = graph::read(found.resource, &at)?;
            next = location.part_of.clone();
            at = format!("{at}.resolve().partOf");
            from = found;
            chain.push((location, found));
        }
        let is_bed_or_room = |l: &Location| {
            [&l.physical_type, &l.form]
                .into_iter()
                .flatten()
                .any(|t| t.codes().any(|(_, code)| matches!(code, "ro" | "bd")))
        };
        let unit_at = chain.iter().position(|(l, _)| !is_bed_or_room(l));
        let unit = unit_at
            .and_then(|i| chain[i].0.name.as_deref())
            .map(bounded)
            .unwrap_or_else(|| mapping.default_unit.clone());
        let above = &chain[unit_at.unwrap_or(chain.len())..];
        let mut organizations = Vec::new();
        for (location, located) in above {
            let Some(literal) = location
                .managing_organization
                .as_ref()
                .and_then(|r| r.reference.as_deref())
            else {
                continue;
            };
            if let Target::Found(o) =
                self.graph
                    .resolve(literal, *located, "Location.managingOrganization")?
            {
                if graph::resource_type(o.resource) == Some("Organization") {
                    let organization: Organization =
                        graph::read(o.resource, "Location.managingOrganization")?;
                    organizations.extend(organization.name);
                }
            }
        }
        let names: Vec<&str> = above
            .iter()
            .filter_map(|(l, _)| l.name.as_deref())
            .chain(organizations.iter().map(String::as_str))
            .collect();
        let campus = names
            .iter()
            .find_map(|n| mapping.campus_for(n))
            .map(str::to_string)
            .or_else(|| organizations.first().cloned())
            .or_else(|| above.iter().skip(1).rev().find_map(|(l, _)| l.name.clone()))
            .map(|c| bounded(&c))
            .unwrap_or_else(|| mapping.default_campus.clone());
        Ok((campus, unit))
    }
}

/// R5 `participant.function` (v3 ParticipationType) to how the member was involved.
fn involvement(function: Option<&CodeableConcept>) -> Involvement {
    let Some(function) = function else {
        return Involvement::Primary; // involved, with no role named: as R4's contributors
    };
    function
        .codes()
        .find_map(|(_, code)| match code {
            "PRF" | "PPRF" | "SPRF" => Some(Involvement::Primary),
            "WIT" => Some(Involvement::Witness),
            "AUT" | "INF" | "ENT" => Some(Involvement::Reporter),
            _ => None,
        })
        .unwrap_or(Involvement::Other)
}

/// The contact point of the kind `wanted` a supporter should use: work before others, then by
/// rank; values longer than the native contract allows are not kept.
fn pick(
    telecom: &[&ContactPoint],
    wanted: impl Fn(&ContactPoint) -> bool,
    limit: usize,
) -> Option<String> {
    telecom
        .iter()
        .filter(|t| wanted(t))
        .filter_map(|t| Some((t, t.value.as_deref()?.trim())))
        .filter(|(_, v)| !v.is_empty() && v.len() <= limit)
        .min_by_key(|(t, _)| {
            (
                t.use_.as_deref() != Some("work"),
                t.rank.unwrap_or(u32::MAX),
            )
        })
        .map(|(_, v)| v.to_string())
}

fn bounded(text: &str) -> String {
    text.trim().chars().take(MAX_TEXT).collect()
}
