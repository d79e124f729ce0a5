//! The contracts of peer-outreach: the domain events every aggregate records.
//!
//! Two rules shape every type here:
//! - **No clinical detail has a place to live.** There is no field for a patient, a narrative,
//!   a diagnosis, a harm level or a room. Intake drops those before anything is built.
//! - **Personal data sits in its own parts of each event** (`personal`, a case opening's
//!   member, the staff ids of a member's record and of a report), apart from the facts, so that
//!   it is stored sealed under the member's key and purged with it without touching the facts
//!   that statistics and read models are built from.

/// A code's variants in declaration order (`ALL`) and each one's wire name (`as_str`), as serde
/// reads and writes it (the tests hold the two to each other). Pages list their options from
/// these, so a new variant is named here, beside its enum, and nowhere else; a variant left out
/// does not compile.
macro_rules! codes {
    ($code:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $code {
            /// Every variant, in declaration order.
            pub const ALL: [$code; [$($name),+].len()] = [$($code::$variant),+];

            /// The code as it is written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($code::$variant => $name,)+
                }
            }
        }
    };
}
// A path to the macro (`crate::codes!`), so no module depends on the order of declarations.
pub(crate) use codes;

pub mod author;
pub mod care_team_member;
pub mod case;
pub mod contact_confirmation;
mod gone;
pub mod lifecycle;
pub mod member;
pub mod report;
pub mod supporter;

pub use case::{CancelReason, CaseCancelled, CaseEvent, CaseOpened, CaseOpenedFacts};
pub use member::{Channel, Discipline, Involvement, MemberContact, MemberProfile, Seniority};
pub use report::{ReportEvent, ReportMember, ReportRef, Revision, TriggerKind};

/// The versions events are written at today; cqrs-es stores them beside each payload so that
/// later readers can upcast old shapes.
pub const CURRENT_VERSION: &str = "1";

#[cfg(test)]
mod tests {
    use super::care_team_member::{DepartmentPreference, Gender, SeniorityPreference};
    use super::lifecycle::{
        CloseReason, ContactOutcome, DurationBand, EncounterFormat, EscalationCategory, Modality,
        ProfessionalHelp,
    };
    use super::supporter::{Day, TrainingStatus};
    use super::*;

    /// Each variant's `as_str` is what serde writes and reads back; `ALL` holds no variant twice.
    fn named_as_serde_names_them<Code>(all: &[Code], as_str: fn(Code) -> &'static str)
    where
        Code: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        for (i, &code) in all.iter().enumerate() {
            let wire = serde_json::Value::String(as_str(code).to_owned());
            assert_eq!(serde_json::to_value(code).unwrap(), wire);
            assert_eq!(serde_json::from_value::<Code>(wire).unwrap(), code);
            assert!(!all[..i].contains(&code), "{code:?} listed twice");
        }
    }

    #[test]
    fn every_code_is_named_as_serde_names_it() {
        named_as_serde_names_them(&Channel::ALL, Channel::as_str);
        named_as_serde_names_them(&Discipline::ALL, Discipline::as_str);
        named_as_serde_names_them(&Seniority::ALL, Seniority::as_str);
        named_as_serde_names_them(&ContactOutcome::ALL, ContactOutcome::as_str);
        named_as_serde_names_them(&Modality::ALL, Modality::as_str);
        named_as_serde_names_them(&EncounterFormat::ALL, EncounterFormat::as_str);
        named_as_serde_names_them(&DurationBand::ALL, DurationBand::as_str);
        named_as_serde_names_them(&ProfessionalHelp::ALL, ProfessionalHelp::as_str);
        named_as_serde_names_them(&EscalationCategory::ALL, EscalationCategory::as_str);
        named_as_serde_names_them(&CloseReason::ALL, CloseReason::as_str);
        named_as_serde_names_them(&Gender::ALL, Gender::as_str);
        named_as_serde_names_them(&DepartmentPreference::ALL, DepartmentPreference::as_str);
        named_as_serde_names_them(&SeniorityPreference::ALL, SeniorityPreference::as_str);
        named_as_serde_names_them(&TrainingStatus::ALL, TrainingStatus::as_str);
        named_as_serde_names_them(&Day::ALL, Day::as_str);
    }
}
