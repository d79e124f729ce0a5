use serde::Deserialize;

/// `[auth]`: which identity provider to trust. Required: the service does not start without it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The issuer (`iss`) tokens must name, e.g. `https://login.hospital.example/realms/staff`.
    pub issuer: String,
    /// The audience (`aud`) tokens must be meant for, e.g. `peer-outreach`.
    pub audience: String,
    /// Where the issuer's public keys are: an `https://` (or `http://` on loopback) URL, or a
    /// `file:` path (the development issuer's). Unset: found through the issuer's
    /// `/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The claim that lists the caller's roles; a dotted path reaches into objects
    /// (`realm_access.roles` for Keycloak).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// The claim that holds the caller's hospital staff id.
    #[serde(default = "default_staff_id_claim")]
    pub staff_id_claim: String,
    /// How the identity provider names each of the program's roles.
    #[serde(default)]
    pub role_names: RoleNames,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway_seconds")]
    pub leeway_seconds: u64,
}

fn default_roles_claim() -> String {
    "roles".into()
}

fn default_staff_id_claim() -> String {
    "staff_id".into()
}

fn default_leeway_seconds() -> u64 {
    30
}

/// The identity provider's name for each role; defaults to the roles' own codes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleNames {
    pub director: String,
    pub program_manager: String,
    pub peer_supporter: String,
    pub safety_office: String,
    pub care_team_member: String,
    pub service: String,
}

impl Default for RoleNames {
    fn default() -> Self {
        RoleNames {
            director: "director".into(),
            program_manager: "program_manager".into(),
            peer_supporter: "peer_supporter".into(),
            safety_office: "safety_office".into(),
            care_team_member: "care_team_member".into(),
            service: "service".into(),
        }
    }
}

impl RoleNames {
    pub(crate) fn role_named(&self, name: &str) -> Option<crate::Role> {
        use crate::Role;
        Role::ALL
            .into_iter()
            .find(|role| self.name_of(*role) == name)
    }

    pub fn name_of(&self, role: crate::Role) -> &str {
        use crate::Role;
        match role {
            Role::Director => &self.director,
            Role::ProgramManager => &self.program_manager,
            Role::PeerSupporter => &self.peer_supporter,
            Role::SafetyOffice => &self.safety_office,
            Role::CareTeamMember => &self.care_team_member,
            Role::Service => &self.service,
        }
    }
}

impl AuthSettings {
    /// Settings for tokens from `issuer` to `audience`, everything else by default.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        AuthSettings {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_uri: None,
            roles_claim: default_roles_claim(),
            staff_id_claim: default_staff_id_claim(),
            role_names: RoleNames::default(),
            leeway_seconds: default_leeway_seconds(),
        }
    }
}
