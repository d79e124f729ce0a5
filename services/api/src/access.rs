//! Who may do what. Every handler but the health probes, the OpenAPI document and the
//! anonymous feedback link takes an [`Allowed<P>`]: a caller whose bearer token checked out and
//! who holds permission `P` of the one table below. The table-driven test in
//! `tests/access_api.rs` holds every route to it.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use outreach_auth::Role;
use uuid::Uuid;

use crate::error::ApiError;
use crate::ApiState;

pub use outreach_auth::Role::{
    CareTeamMember, Director, PeerSupporter, ProgramManager, SafetyOffice, Service,
};

/// A permission: the roles that hold it. Handlers take [`Allowed<P>`], so who may call a route
/// reads off its signature, and a caller without the role is refused before the body is read.
pub(crate) trait Permission {
    const ROLES: &'static [Role];
}

macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident = [$($role:ident),+];)+) => {
        $(
            $(#[$doc])*
            pub(crate) struct $name;
            impl Permission for $name {
                const ROLES: &'static [Role] = &[$($role),+];
            }
        )+
    };
}

permissions! {
    /// Case facts and members' contact details, case commands, the roster, candidates: the
    /// program's staff.
    RunTheProgram = [Director, ProgramManager];
    /// Recording the steps of outreach: the program's staff, and the supporter of that case
    /// (checked per case by [`Caller::require_on_case`]).
    RecordOutreach = [Director, ProgramManager, PeerSupporter];
    /// Counts, small cells suppressed.
    ReadStatistics = [Director, ProgramManager, SafetyOffice];
    /// Publishing the quarter's statistics: the director, or the scheduler that does it.
    PublishStatistics = [Director, Service];
    /// Referring oneself or a colleague: care team members (supporters are too), the
    /// program's staff, and systems that refer for the program. The safety office sees
    /// statistics only.
    Refer = [Director, ProgramManager, PeerSupporter, CareTeamMember, Service];
    /// A member's own record, preferences and opt-out (checked per member by
    /// [`Caller::require_member_or_staff`]); the program's staff may act for them.
    ActAsMember = [Director, ProgramManager, PeerSupporter, CareTeamMember];
    /// The supporter's own cases.
    Support = [PeerSupporter];
    /// Who read whose personal data: the director only.
    ReadAccessAudit = [Director];
    /// Who recorded each step of a case and changed each roster entry: the director only.
    ReadAuthors = [Director];
    /// Operational metrics (counts and timings, nothing personal): the scraper and the
    /// director.
    ScrapeMetrics = [Service, Director];
}

/// A caller who holds permission `P`.
pub(crate) struct Allowed<P>(pub Caller, pub PhantomData<P>);

impl<P: Permission> FromRequestParts<ApiState> for Allowed<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.0.has_any(P::ROLES) {
            Ok(Allowed(caller, PhantomData))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The caller of a request, authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub outreach_auth::Caller);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(ApiError::Unauthenticated(
                outreach_auth::AuthError::MissingToken,
            ))?;
        let caller = state
            .auth
            .authenticate(token)
            .await
            .map_err(ApiError::Unauthenticated)?;
        Ok(Caller(caller))
    }
}

impl Caller {
    /// Whether the caller runs the program (director or program manager).
    pub(crate) fn runs_the_program(&self) -> bool {
        self.0.has_any(RunTheProgram::ROLES)
    }

    /// Goes on for the program's staff, and for a peer supporter only on a case assigned to
    /// them (as the event store has it, not the read model, which may lag an assignment).
    pub(crate) async fn require_on_case(
        &self,
        state: &ApiState,
        case_id: Uuid,
    ) -> Result<(), ApiError> {
        if self.runs_the_program() {
            return Ok(());
        }
        let (case, version) = state.commands.case(case_id).await?;
        let assigned_to_caller = version > 0
            && matches!(
                (case.supporter_id(), self.0.staff_id.as_deref()),
                (Some(supporter), Some(caller)) if supporter == caller
            );
        if assigned_to_caller {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// Goes on for the member themselves and for the program's staff.
    pub(crate) fn require_member_or_staff(&self, staff_id: &str) -> Result<(), ApiError> {
        if self.runs_the_program() || self.0.is_staff(staff_id) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub(crate) fn subject(&self) -> &str {
        &self.0.subject
    }

    pub(crate) fn role_codes(&self) -> Vec<String> {
        self.0.roles.iter().map(|r| r.code().to_owned()).collect()
    }
}
