use serde::Deserialize;

use crate::{discovery, provider, AuthError};

/// `[auth]`: which identity provider to trust. Required: the service does not start without it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The issuer (`iss`) tokens must name, e.g. `https://login.hospital.example/realms/staff`.
    pub issuer: String,
    /// The audience (`aud`) tokens must be meant for, e.g. `peer-outreach`.
    pub audience: String,
    /// Where the issuer's public keys are: an `https://` URL. Unset: found through the issuer's
    /// `/.well-known/openid-configuration`. An `http://` URL on loopback, or a `file:` path
    /// (the development issuer's), only with `allow_development_issuer`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Trust a development issuer (one under `.invalid`, as `peer-outreach dev-issuer` makes),
    /// and keys over `http://` on loopback or from a `file:`: for a local run only. The service
    /// then warns at start and serves on loopback only. Off by default: a development issuer
    /// signs anyone in as anyone.
    #[serde(default)]
    pub allow_development_issuer: bool,
    /// How often the issuer's keys are fetched again, in seconds: a key the provider stopped
    /// publishing is no longer trusted once this has passed.
    #[serde(default = "default_jwks_refresh_seconds")]
    pub jwks_refresh_seconds: u64,
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

fn default_jwks_refresh_seconds() -> u64 {
    15 * 60
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
    /// Whether the issuer is a development issuer: one under `.invalid` (RFC 2606), a domain
    /// that cannot exist, as `peer-outreach dev-issuer` makes.
    pub fn is_development_issuer(&self) -> bool {
        reqwest::Url::parse(&self.issuer)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
            .is_some_and(|host| host == "invalid" || host.ends_with(".invalid"))
    }

    /// Refuses settings that would trust keys by accident: a development issuer without
    /// `allow_development_issuer`, or a key set that does not come over `https://`.
    pub fn check(&self) -> Result<(), AuthError> {
        if self.is_development_issuer() && !self.allow_development_issuer {
            return Err(AuthError::Settings(format!(
                "auth.issuer {} is a development issuer, which signs anyone in as anyone; it is \
                 trusted only on a local run, with auth.allow_development_issuer = true (never \
                 in production)",
                self.issuer
            )));
        }
        let keys = match &self.jwks_uri {
            Some(uri) => ("auth.jwks_uri", uri.clone()),
            None => (
                "auth.issuer's discovery document",
                discovery::url_of(&self.issuer),
            ),
        };
        if let Some(reason) = provider::refuse_url(&keys.1, self.allow_development_issuer) {
            return Err(AuthError::Settings(format!("{}: {reason}", keys.0)));
        }
        Ok(())
    }

    /// Settings for tokens from `issuer` to `audience`, everything else by default.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        AuthSettings {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_uri: None,
            allow_development_issuer: false,
            jwks_refresh_seconds: default_jwks_refresh_seconds(),
            roles_claim: default_roles_claim(),
            staff_id_claim: default_staff_id_claim(),
            role_names: RoleNames::default(),
            leeway_seconds: default_leeway_seconds(),
        }
    }
}
