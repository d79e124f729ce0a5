//! Policies evaluated at intake. Only their decisions are kept: the harm level and the
//! category they read are clinical detail and are dropped right after.

use std::collections::BTreeSet;

use outreach_events::{Discipline, TriggerKind};
use serde::{Deserialize, Serialize};

/// Harm levels as reporting systems grade them, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HarmLevel {
    None,
    Mild,
    Moderate,
    Severe,
    Death,
}

/// Which reports start outreach.
///
/// The default follows seed 002: "after a known difficult clinical event, as a matter of
/// routine, all involved care team members will be contacted", so every incident and every
/// I-report triggers, whatever its harm level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriggerPolicy {
    pub incidents: bool,
    pub i_reports: bool,
    /// Reports graded below this level start no outreach.
    pub minimum_harm: HarmLevel,
}

impl Default for TriggerPolicy {
    fn default() -> Self {
        Self {
            incidents: true,
            i_reports: true,
            minimum_harm: HarmLevel::None,
        }
    }
}

impl TriggerPolicy {
    /// `harm` is `None` when the report does not grade harm or grades it "unknown": when in
    /// doubt, support is offered.
    pub fn starts_outreach(&self, kind: TriggerKind, harm: Option<HarmLevel>) -> bool {
        let kind_enabled = match kind {
            TriggerKind::Incident => self.incidents,
            TriggerKind::IReport => self.i_reports,
            // Someone asked for support: that always starts outreach.
            TriggerKind::SelfReferral
            | TriggerKind::ColleagueReferral
            | TriggerKind::SupervisorReferral => true,
        };
        kind_enabled && harm.is_none_or(|level| level >= self.minimum_harm)
    }
}

/// Which care team members the program serves.
///
/// Default: everyone on the care team (seed 002). Seed 000's program serves staff and faculty
/// physicians only: `disciplines = ["physician"]`, with `resident` and `fellow` added when it
/// expands to trainees.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EligibilityPolicy {
    /// Empty means every discipline.
    pub disciplines: BTreeSet<Discipline>,
}

impl EligibilityPolicy {
    pub fn physicians_only() -> Self {
        Self {
            disciplines: BTreeSet::from([Discipline::Physician]),
        }
    }

    pub fn serves(&self, discipline: Discipline) -> bool {
        self.disciplines.is_empty() || self.disciplines.contains(&discipline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_every_report_starts_outreach_whatever_the_harm() {
        let policy = TriggerPolicy::default();
        for harm in [None, Some(HarmLevel::None), Some(HarmLevel::Death)] {
            assert!(policy.starts_outreach(TriggerKind::Incident, harm));
            assert!(policy.starts_outreach(TriggerKind::IReport, harm));
        }
    }

    #[test]
    fn a_harm_threshold_skips_lesser_reports_but_not_ungraded_ones() {
        let policy = TriggerPolicy {
            minimum_harm: HarmLevel::Moderate,
            ..Default::default()
        };
        assert!(!policy.starts_outreach(TriggerKind::Incident, Some(HarmLevel::Mild)));
        assert!(policy.starts_outreach(TriggerKind::Incident, Some(HarmLevel::Moderate)));
        assert!(policy.starts_outreach(TriggerKind::Incident, Some(HarmLevel::Death)));
        assert!(policy.starts_outreach(TriggerKind::Incident, None));
    }

    #[test]
    fn a_program_can_leave_i_reports_to_self_referral() {
        let policy = TriggerPolicy {
            i_reports: false,
            ..Default::default()
        };
        assert!(!policy.starts_outreach(TriggerKind::IReport, Some(HarmLevel::Severe)));
        assert!(policy.starts_outreach(TriggerKind::Incident, Some(HarmLevel::Severe)));
    }

    #[test]
    fn everyone_on_the_care_team_is_served_by_default() {
        let policy = EligibilityPolicy::default();
        assert!(Discipline::ALL.iter().all(|d| policy.serves(*d)));
    }

    #[test]
    fn a_physicians_only_program_serves_staff_and_faculty_physicians() {
        let policy = EligibilityPolicy::physicians_only();
        assert!(policy.serves(Discipline::Physician));
        assert!(!policy.serves(Discipline::Resident));
        assert!(!policy.serves(Discipline::Nurse));
        assert!(!policy.serves(Discipline::Pharmacist));
    }
}

/// How matching ranks supporters, and whether the best is assigned without a manager.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingPolicy {
    pub weights: crate::matching::MatchingWeights,
    pub auto_assign: AutoAssignPolicy,
}

/// Off by default: the programs have a manager match by hand. When on, a case awaiting
/// assignment gets the top candidate if their score reaches `threshold`; otherwise it waits
/// for a manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoAssignPolicy {
    pub enabled: bool,
    pub threshold: i32,
}

impl Default for AutoAssignPolicy {
    fn default() -> Self {
        // Same campus, discipline and seniority with a different department: 85 by default.
        Self {
            enabled: false,
            threshold: 80,
        }
    }
}
