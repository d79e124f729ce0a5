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

/// Which reports are urgent: first contact within the urgent allowance, in clock time, and the
/// supporter on call paged at once (Lurie Children's RISE answers within 30 minutes around the
/// clock). Read at intake beside the trigger policy, from the same harm level and category;
/// only the decision is kept, never the harm or the category it read.
///
/// The default: a death or a severe harm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UrgencyPolicy {
    /// Harm levels that make a report urgent.
    pub harm: BTreeSet<HarmLevel>,
    /// Report categories that make a report urgent whatever its harm, as the reporting system
    /// names them (e.g. `unexpected_death`); compared ignoring case and surrounding space.
    pub categories: BTreeSet<String>,
    /// How soon first contact is due for an urgent case: clock time, nights and weekends
    /// included (`{ minutes = 30 }`).
    pub first_contact: crate::deadline::Allowance,
}

impl Default for UrgencyPolicy {
    fn default() -> Self {
        Self {
            harm: BTreeSet::from([HarmLevel::Severe, HarmLevel::Death]),
            categories: BTreeSet::new(),
            first_contact: crate::deadline::Allowance::Minutes(30),
        }
    }
}

impl UrgencyPolicy {
    /// Never urgent: every case gets the routine allowance and nobody is paged.
    pub fn never() -> Self {
        Self {
            harm: BTreeSet::new(),
            categories: BTreeSet::new(),
            ..Self::default()
        }
    }

    /// `harm` and `category` as the report gives them (`None`: not graded, "unknown", or no
    /// category). Only the referrals' triggers are never urgent: nothing grades them.
    pub fn is_urgent(&self, harm: Option<HarmLevel>, category: Option<&str>) -> bool {
        let by_harm = harm.is_some_and(|level| self.harm.contains(&level));
        let by_category = category.is_some_and(|category| {
            let category = category.trim();
            self.categories
                .iter()
                .any(|listed| listed.trim().eq_ignore_ascii_case(category))
        });
        by_harm || by_category
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
    fn a_death_or_a_severe_harm_is_urgent_by_default_and_nothing_else() {
        let policy = UrgencyPolicy::default();
        assert!(policy.is_urgent(Some(HarmLevel::Death), None));
        assert!(policy.is_urgent(Some(HarmLevel::Severe), Some("fall")));
        for harm in [None, Some(HarmLevel::None), Some(HarmLevel::Moderate)] {
            assert!(!policy.is_urgent(harm, Some("medication")), "{harm:?}");
        }
        assert!(!UrgencyPolicy::never().is_urgent(Some(HarmLevel::Death), None));
    }

    #[test]
    fn a_listed_category_is_urgent_whatever_its_harm() {
        let policy = UrgencyPolicy {
            categories: BTreeSet::from(["unexpected_death".to_string()]),
            ..UrgencyPolicy::never()
        };
        assert!(policy.is_urgent(None, Some(" Unexpected_Death ")));
        assert!(policy.is_urgent(Some(HarmLevel::None), Some("unexpected_death")));
        assert!(!policy.is_urgent(Some(HarmLevel::Death), Some("fall")));
        assert!(!policy.is_urgent(None, None));
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
