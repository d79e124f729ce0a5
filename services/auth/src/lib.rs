//! Who is calling. Every request to peer-outreach carries an OpenID Connect bearer token (a
//! JWT) from the hospital's identity provider; this crate checks it against the configured
//! issuer, audience and the issuer's published keys (RS256 or ES256), and maps the roles claim
//! to the program's roles. There is no setting that turns the check off: local runs and tests
//! use a [`DevIssuer`] of their own instead, which [`DevProvider`] serves as an OpenID provider
//! for the dashboard's sign-in ([`sign_in`]).

mod authenticator;
mod dev_issuer;
mod dev_provider;
mod discovery;
mod error;
mod key_set;
mod provider;
mod settings;
pub mod sign_in;
mod verified_tokens;

use std::collections::BTreeSet;
use std::fmt;

pub use authenticator::Authenticator;
pub use dev_issuer::{DevIssuer, TokenRequest};
pub use dev_provider::DevProvider;
pub use error::AuthError;
pub use settings::{AuthSettings, RoleNames};

/// The program's roles (DOMAIN.md, "Who uses it").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The peer support program director: everything a manager may, and the access audit.
    Director,
    /// Views and acts on cases, matches and assigns supporters, keeps the roster.
    ProgramManager,
    /// Sees only the cases assigned to them, and in them only contact details.
    PeerSupporter,
    /// Receives statistics, nothing else.
    SafetyOffice,
    /// Any care team member: refers themselves or a colleague, states their own preferences,
    /// opts out or in.
    CareTeamMember,
    /// Automation acting for the program (schedulers, an HR system referring staff).
    Service,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Director,
        Role::ProgramManager,
        Role::PeerSupporter,
        Role::SafetyOffice,
        Role::CareTeamMember,
        Role::Service,
    ];

    /// The role's name in audit records and problem documents.
    pub fn code(self) -> &'static str {
        match self {
            Role::Director => "director",
            Role::ProgramManager => "program_manager",
            Role::PeerSupporter => "peer_supporter",
            Role::SafetyOffice => "safety_office",
            Role::CareTeamMember => "care_team_member",
            Role::Service => "service",
        }
    }
}

/// A role by its code; `-` may stand for `_` (`program-manager`), as on a command line.
impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let code = code.replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|role| role.code() == code)
            .ok_or_else(|| {
                let known: Vec<_> = Role::ALL.iter().map(|role| role.code()).collect();
                format!(
                    "no role is called {code:?}; the roles: {}",
                    known.join(", ")
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A caller whose token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`: who the identity provider says this is.
    pub subject: String,
    /// The caller's hospital staff id, from the configured claim; a supporter's cases and a
    /// member's own record are found by it.
    pub staff_id: Option<String>,
    /// At least one: a token that maps to no role of the program is refused.
    pub roles: BTreeSet<Role>,
    /// The token's `exp`, in seconds since the Unix epoch: a dashboard session ends with it.
    pub expires_at: i64,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|role| self.has(*role))
    }

    /// Whether this caller is the hospital staff member with this id.
    pub fn is_staff(&self, staff_id: &str) -> bool {
        self.staff_id.as_deref() == Some(staff_id)
    }
}
