//! Who a command's events say issued it: every command sent through the API or the dashboard
//! records its author in the events' metadata (see [`outreach_events::author`] for what is
//! recorded, and why a care team member is not named), and the program director reads it back
//! as an [`Author`].

use std::collections::HashMap;

use outreach_auth::Role;
use outreach_events::author::{self as recorded, Attribution, Relation};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::Caller;

/// Who took a step of a case or changed a roster entry, as its event's metadata records it.
/// Shown to the program director only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Author {
    /// How it came in: `api` or `dashboard` (a person), `intake` (a safety report), or one of
    /// the service's own processes (`deadline-watch`, `auto-assign`, `caseload-keeper`,
    /// `retention-purge`).
    #[sqlx(rename = "author_source")]
    #[schema(required = true)]
    pub source: Option<String>,
    /// The role they acted under: `director`, `program_manager`, `peer_supporter`, `service`,
    /// or `care_team_member`; null for the service's own steps.
    #[sqlx(rename = "author_role")]
    #[schema(required = true)]
    pub role: Option<String>,
    /// The program's staff only: as the identity provider names them (`sub`).
    #[sqlx(rename = "author_subject")]
    #[schema(required = true)]
    pub subject: Option<String>,
    /// The program's staff only: their staff id, if their token carries one.
    #[sqlx(rename = "author_staff_id")]
    #[schema(required = true)]
    pub staff_id: Option<String>,
    /// A care team member only, who is never named: how they stand to the member (`self`,
    /// `colleague`, `supervisor`).
    #[sqlx(rename = "author_relation")]
    #[schema(required = true)]
    pub relation: Option<String>,
}

impl From<Attribution> for Author {
    fn from(attribution: Attribution) -> Self {
        Author {
            source: attribution.source,
            role: attribution.role,
            subject: attribution.subject,
            staff_id: attribution.staff_id,
            relation: attribution.relation.map(|r| r.code().to_owned()),
        }
    }
}

/// The way a command came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Api,
    Dashboard,
}

/// Who is acting, and through which door.
#[derive(Debug, Clone, Copy)]
pub(crate) struct By<'a> {
    pub caller: &'a Caller,
    pub via: Via,
}

/// The program's staff roles, most privileged first: the one a caller is recorded under.
const STAFF_ROLES: [Role; 4] = [
    Role::Director,
    Role::ProgramManager,
    Role::PeerSupporter,
    Role::Service,
];

impl<'a> By<'a> {
    pub(crate) fn api(caller: &'a Caller) -> Self {
        By {
            caller,
            via: Via::Api,
        }
    }

    pub(crate) fn dashboard(caller: &'a Caller) -> Self {
        By {
            caller,
            via: Via::Dashboard,
        }
    }

    /// The metadata of a command about a case or the roster: the program's staff issue those.
    pub(crate) fn metadata(&self) -> HashMap<String, String> {
        self.author(None).metadata(self.source())
    }

    /// The metadata of a command about the member with `staff_id`: by the member themselves
    /// (recorded as `self`, not named, whatever their role), or by someone acting for them.
    pub(crate) fn metadata_about_member(&self, staff_id: &str) -> HashMap<String, String> {
        let relation = self
            .caller
            .0
            .is_staff(staff_id)
            .then_some(Relation::Themselves);
        self.author(relation).metadata(self.source())
    }

    /// The metadata of a referral of the member with `staff_id`, which says how the referrer
    /// stands to them.
    pub(crate) fn metadata_of_referral(
        &self,
        staff_id: &str,
        stated: Relation,
    ) -> HashMap<String, String> {
        let relation = if self.caller.0.is_staff(staff_id) {
            Relation::Themselves
        } else {
            stated
        };
        self.author(Some(relation)).metadata(self.source())
    }

    /// Named if the caller is on the program's staff and not acting about themselves; by
    /// relation only otherwise.
    fn author(&self, relation: Option<Relation>) -> recorded::Author {
        let caller = &self.caller.0;
        let staff_role = STAFF_ROLES.into_iter().find(|role| caller.has(*role));
        match (relation, staff_role) {
            (Some(Relation::Themselves), _) | (Some(_), None) => recorded::Author::CareTeamMember {
                relation: relation.unwrap_or(Relation::Themselves),
            },
            (_, Some(role)) => recorded::Author::Staff {
                subject: caller.subject.clone(),
                staff_id: caller.staff_id.clone(),
                role: role.code().to_owned(),
            },
            // Commands about cases and the roster are for the program's staff only; should one
            // come from anyone else, they are recorded as a member acting for themselves,
            // never by name.
            (None, None) => recorded::Author::CareTeamMember {
                relation: Relation::Themselves,
            },
        }
    }

    fn source(&self) -> &'static str {
        match self.via {
            Via::Api => "api",
            Via::Dashboard => "dashboard",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn caller(roles: &[Role], staff_id: &str) -> Caller {
        Caller(outreach_auth::Caller {
            subject: format!("oidc|{staff_id}"),
            staff_id: Some(staff_id.to_owned()),
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
            expires_at: 0,
        })
    }

    #[test]
    fn the_programs_staff_are_named_under_their_highest_role() {
        let manager = caller(&[Role::ProgramManager, Role::CareTeamMember], "E90002");

        let metadata = By::dashboard(&manager).metadata();

        assert_eq!(metadata["author_subject"], "oidc|E90002");
        assert_eq!(metadata["author_staff_id"], "E90002");
        assert_eq!(metadata["author_role"], "program_manager");
        assert_eq!(metadata["source"], "dashboard");
        let for_a_member = By::api(&manager).metadata_about_member("E10001");
        assert_eq!(for_a_member["author_staff_id"], "E90002");
    }

    #[test]
    fn a_care_team_member_and_anyone_acting_for_themselves_are_not_named() {
        let member = caller(&[Role::CareTeamMember], "E10001");
        let manager = caller(&[Role::ProgramManager], "E90002");

        let own_record = By::api(&member).metadata_about_member("E10001");
        let colleague = By::api(&member).metadata_of_referral("E10002", Relation::Colleague);
        let manager_refers_themselves =
            By::api(&manager).metadata_of_referral("E90002", Relation::Colleague);

        for metadata in [&own_record, &colleague, &manager_refers_themselves] {
            assert!(!metadata.contains_key("author_subject"), "{metadata:?}");
            assert!(!metadata.contains_key("author_staff_id"), "{metadata:?}");
            assert!(
                !metadata
                    .values()
                    .any(|v| v.contains("E1000") || v.contains("E9000")),
                "{metadata:?}"
            );
            assert_eq!(metadata["author_role"], "care_team_member");
        }
        assert_eq!(own_record["author_relation"], "self");
        assert_eq!(colleague["author_relation"], "colleague");
        assert_eq!(manager_refers_themselves["author_relation"], "self");
    }
}
