//! Who caused an event: part of the metadata stored beside each event (a string map), written
//! by whoever issued the command and read back by the case timeline and the roster's history.
//!
//! Program staff (the director, program managers, peer supporters, and service clients acting
//! for the program) are named: subject, staff id and role. A care team member is not: who they
//! are is personal data of a member, which the retention purge must be able to forget, and
//! metadata is never sealed. For them the metadata records the role and the relation to the
//! member the command is about (`self`, `colleague`, `supervisor`), and no identifier. The same
//! holds for anyone acting on their own member record or referring themselves, whatever their
//! role: there, the author is the member.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The metadata keys, as the event store keeps them.
const SOURCE: &str = "source";
const ROLE: &str = "author_role";
const SUBJECT: &str = "author_subject";
const STAFF_ID: &str = "author_staff_id";
const RELATION: &str = "author_relation";

/// The role code recorded for someone acting as a care team member.
pub const CARE_TEAM_MEMBER: &str = "care_team_member";

/// Whoever issued a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// A member of the program's staff, or a service client, named.
    Staff {
        /// As the identity provider names them (`sub`).
        subject: String,
        staff_id: Option<String>,
        /// The role code they acted under, e.g. `program_manager`.
        role: String,
    },
    /// A care team member, not named: only how they stand to the member.
    CareTeamMember { relation: Relation },
}

/// How a care team member who issued a command stands to the member it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The member themselves.
    #[serde(rename = "self")]
    Themselves,
    Colleague,
    Supervisor,
}

impl Relation {
    pub fn code(self) -> &'static str {
        match self {
            Relation::Themselves => "self",
            Relation::Colleague => "colleague",
            Relation::Supervisor => "supervisor",
        }
    }
}

impl Author {
    /// The metadata of a command this author issued through `source` (`api`, `dashboard`).
    pub fn metadata(&self, source: &str) -> HashMap<String, String> {
        let mut metadata = HashMap::from([(SOURCE.to_owned(), source.to_owned())]);
        match self {
            Author::Staff {
                subject,
                staff_id,
                role,
            } => {
                metadata.insert(ROLE.to_owned(), role.clone());
                metadata.insert(SUBJECT.to_owned(), subject.clone());
                if let Some(staff_id) = staff_id {
                    metadata.insert(STAFF_ID.to_owned(), staff_id.clone());
                }
            }
            Author::CareTeamMember { relation } => {
                metadata.insert(ROLE.to_owned(), CARE_TEAM_MEMBER.to_owned());
                metadata.insert(RELATION.to_owned(), relation.code().to_owned());
            }
        }
        metadata
    }
}

/// What an event's metadata says about its author, as stored: read from the whole metadata
/// object (other keys are ignored). Events the service stored by itself (intake, a process
/// manager) have a source and no author.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// `api`, `dashboard`, or the process that stored the event (`deadline-watch`, ...); none
    /// for intake, whose events name their CloudEvent instead.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, rename = "author_role")]
    pub role: Option<String>,
    #[serde(default, rename = "author_subject")]
    pub subject: Option<String>,
    #[serde(default, rename = "author_staff_id")]
    pub staff_id: Option<String>,
    #[serde(default, rename = "author_relation")]
    pub relation: Option<Relation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_are_named_and_care_team_members_are_not() {
        let manager = Author::Staff {
            subject: "oidc|pm".into(),
            staff_id: Some("E90002".into()),
            role: "program_manager".into(),
        }
        .metadata("api");
        assert_eq!(manager["author_subject"], "oidc|pm");
        assert_eq!(manager["author_staff_id"], "E90002");
        assert_eq!(manager["author_role"], "program_manager");
        assert_eq!(manager["source"], "api");

        let colleague = Author::CareTeamMember {
            relation: Relation::Colleague,
        }
        .metadata("dashboard");
        assert_eq!(
            colleague,
            HashMap::from([
                ("source".to_owned(), "dashboard".to_owned()),
                ("author_role".to_owned(), "care_team_member".to_owned()),
                ("author_relation".to_owned(), "colleague".to_owned()),
            ])
        );
    }

    #[test]
    fn the_metadata_reads_back_as_it_was_written_whatever_else_it_holds() {
        let mut metadata = Author::CareTeamMember {
            relation: Relation::Themselves,
        }
        .metadata("api");
        metadata.insert("traceparent".into(), "00-abc-def-01".into());
        let stored = serde_json::to_value(&metadata).unwrap();

        let read: Attribution = serde_json::from_value(stored).unwrap();

        assert_eq!(
            read,
            Attribution {
                source: Some("api".into()),
                role: Some("care_team_member".into()),
                relation: Some(Relation::Themselves),
                ..Attribution::default()
            }
        );
        let intake: Attribution =
            serde_json::from_value(serde_json::json!({"event_id": "e-1"})).unwrap();
        assert_eq!(intake, Attribution::default());
    }
}
