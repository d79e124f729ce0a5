//! Configuration: embedded defaults, then an optional file, then `PEER_OUTREACH__*` variables.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use outreach_domain::deadline::DeadlinePolicy;
use outreach_domain::{CasePolicies, EligibilityPolicy, LifecyclePolicy, TriggerPolicy};
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub kafka: KafkaSettings,
    pub http: HttpSettings,
    pub projections: ProjectionSettings,
    pub policy: PolicySettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    /// `[deadlines]`: the deadline watch. When first contact is due is `[policy.deadlines]`.
    #[serde(rename = "deadlines")]
    pub deadline_watch: DeadlineWatchSettings,
    pub notifications: NotificationSettings,
}

/// `[notifications]`: notices to the program director, published from the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// The topic director notices go to. Carries case ids and categories only.
    pub topic: String,
    /// How often the outbox publisher looks for unpublished notices when not woken sooner.
    pub publish_interval_ms: u64,
}

impl NotificationSettings {
    pub fn publish_interval(&self) -> Duration {
        Duration::from_millis(self.publish_interval_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineWatchSettings {
    /// How often to look for cases whose first-contact deadline passed without an attempt.
    pub watch_interval_ms: u64,
}

impl DeadlineWatchSettings {
    pub fn watch_interval(&self) -> Duration {
        Duration::from_millis(self.watch_interval_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub otlp: bool,
    pub gauge_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub create_database: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    pub brokers: String,
    pub group_id: String,
    pub incidents_topic: String,
    pub dead_letter_topic: String,
    pub max_message_bytes: usize,
    pub create_topics: bool,
    pub partitions: i32,
    pub statistics_interval_ms: u64,
    pub fetch_wait_max_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionSettings {
    pub enabled: bool,
    pub batch_size: i64,
    pub poll_interval_ms: u64,
}

impl ProjectionSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    pub trigger: TriggerPolicy,
    pub eligibility: EligibilityPolicy,
    pub deadlines: DeadlinePolicy,
    pub lifecycle: LifecyclePolicy,
    pub group_debrief: outreach_domain::report::GroupDebriefPolicy,
}

impl PolicySettings {
    pub fn case_policies(&self) -> CasePolicies {
        CasePolicies {
            deadlines: self.deadlines.clone(),
            lifecycle: self.lifecycle.clone(),
            eligibility: self.eligibility.clone(),
            group_debrief: self.group_debrief.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

impl Settings {
    /// The defaults, overridden by `file` when given, then by the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        let settings = Self::read(file)?;
        settings
            .policy
            .deadlines
            .calendar
            .validate()
            .map_err(|e| config::ConfigError::Message(format!("policy.deadlines.calendar: {e}")))?;
        Ok(settings)
    }

    fn read(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        builder
            .add_source(
                config::Environment::with_prefix("PEER_OUTREACH")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("policy.eligibility.disciplines")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_load_and_serve_everyone() {
        let settings = Settings::load(None).unwrap();
        assert_eq!(settings.kafka.incidents_topic, "safety.incidents");
        assert_eq!(settings.policy.eligibility, EligibilityPolicy::default());
        assert_eq!(settings.policy.trigger, TriggerPolicy::default());
    }

    #[test]
    fn a_file_overrides_the_defaults_and_unknown_keys_are_refused() {
        let dir =
            std::env::temp_dir().join(format!("peer-outreach-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("physicians.toml");
        std::fs::write(
            &good,
            "[policy.eligibility]\ndisciplines = [\"physician\"]\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&good)).unwrap();
        assert_eq!(
            settings.policy.eligibility,
            EligibilityPolicy::physicians_only()
        );

        let typo = dir.join("typo.toml");
        std::fs::write(
            &typo,
            "[policy.eligibility]\ndiscipline = [\"physician\"]\n",
        )
        .unwrap();
        assert!(Settings::load(Some(&typo)).is_err());
    }
}
