//! Contact details held for confirmation. A care team member who refers a colleague the program
//! has no record of suggests how to reach them; nobody is reached through a suggestion until the
//! program's staff confirm it or enter other details. Until then the case is open and waits:
//! no supporter is assigned (they would be told how to reach the member) and no contact is
//! attempted, so nothing that follows contact (a decision, a resource sheet, feedback) can be
//! recorded either.

use chrono::{DateTime, Utc};
use outreach_events::contact_confirmation::{ContactConfirmed, ContactToConfirm};
use outreach_events::{CaseEvent, CaseOpened, CaseOpenedFacts, Channel, MemberContact};

use super::{CaseError, OutreachCase};

/// The ways to reach a member a program manager enters in place of a referrer's suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRoutes {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub preferred_channel: Option<Channel>,
}

impl ContactRoutes {
    fn any(&self) -> bool {
        self.email.is_some() || self.phone.is_some() || self.mobile.is_some()
    }
}

/// The opening of a case whose contact details are a referrer's suggestion: the opening knows
/// the member's name and no way to reach them; the suggestion is held apart.
pub(super) fn held_for_confirmation(
    facts: CaseOpenedFacts,
    suggested: MemberContact,
) -> Vec<CaseEvent> {
    let name_only = MemberContact {
        given_name: suggested.given_name.clone(),
        family_name: suggested.family_name.clone(),
        email: None,
        phone: None,
        mobile: None,
        preferred_channel: None,
    };
    // A case opens with its member's profile; only a purge takes it, long after this.
    let staff_id = facts.member.as_ref().map(|member| member.staff_id.clone());
    let held = ContactToConfirm {
        staff_id: staff_id.unwrap_or_default(),
        personal: Some(suggested),
        held_at: facts.opened_at,
    };
    vec![
        CaseEvent::CaseOpened(CaseOpened {
            facts,
            personal: Some(name_only),
        }),
        CaseEvent::ContactToConfirm(held),
    ]
}

impl OutreachCase {
    /// Reaching out needs contact details the program stands behind.
    pub(super) fn ensure_contact_confirmed(&self) -> Result<(), CaseError> {
        match self.contact_to_confirm {
            Some(_) => Err(CaseError::ContactToConfirm),
            None => Ok(()),
        }
    }

    pub(super) fn confirm_contact(
        &self,
        replacement: Option<ContactRoutes>,
        at: DateTime<Utc>,
    ) -> Result<CaseEvent, CaseError> {
        self.ensure_open()?;
        let Some(suggested) = &self.contact_to_confirm else {
            return Err(CaseError::NoContactToConfirm);
        };
        // A purged suggestion has nothing left to confirm, and no name to keep.
        let Some(suggested) = suggested else {
            return Err(CaseError::NoContactRoute);
        };
        let as_suggested = replacement.is_none();
        let confirmed = match replacement {
            None => suggested.clone(),
            Some(routes) if !routes.any() => return Err(CaseError::NoContactRoute),
            Some(routes) => MemberContact {
                given_name: suggested.given_name.clone(),
                family_name: suggested.family_name.clone(),
                email: routes.email,
                phone: routes.phone,
                mobile: routes.mobile,
                preferred_channel: routes.preferred_channel,
            },
        };
        // Purged with the suggestion: refused above already.
        let staff_id = self.staff_id.clone().ok_or(CaseError::NoContactRoute)?;
        Ok(CaseEvent::ContactConfirmed(ContactConfirmed {
            staff_id,
            as_suggested,
            personal: Some(confirmed),
            confirmed_at: at,
        }))
    }
}
