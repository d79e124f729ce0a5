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
    /// `[matching]`: the caseload keeper and automatic assignment. How supporters are ranked is
    /// `[policy.matching]`.
    pub matching: MatchingSweepSettings,
    /// `[statistics]`: the quarterly publication.
    pub statistics: StatisticsSettings,
    /// `[feedback]`: the anonymous feedback links sent when a case completes.
    pub feedback: FeedbackSettings,
    /// `[privacy]`: the retention purge of members' personal data.
    pub privacy: PrivacySettings,
    pub notifications: NotificationSettings,
    /// `[auth]`: the identity provider whose tokens the API accepts. Required to serve: there
    /// is no setting that turns authentication off. Locally, `peer-outreach dev-issuer init`
    /// makes a development issuer and prints these settings.
    #[serde(default)]
    pub auth: Option<outreach_auth::AuthSettings>,
    /// `[dashboard]`: the web pages under `/dashboard` and their sign-in. Absent: the service
    /// serves the API only. Locally, `peer-outreach dev-issuer serve` prints these settings.
    #[serde(default)]
    pub dashboard: Option<outreach_api::DashboardSettings>,
}

/// `[notifications]`: messages published from the outbox: notices to the program director, and
/// assignment notices to supporters (on Kafka, and by e-mail when `[notifications.smtp]` is set).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// The topic director notices go to. Carries case ids and categories only.
    pub topic: String,
    /// The topic assignment notices go to. They carry the member's name and contact details
    /// (for the assigned supporter), so they are kept off the director's facts-only topic.
    pub assignments_topic: String,
    /// The topic each period's statistics are published on, as a CloudEvent: counts only,
    /// small cells suppressed.
    pub statistics_topic: String,
    /// How often the outbox publishers look for unpublished notices when not woken sooner.
    pub publish_interval_ms: u64,
    /// The SMTP relay assignment e-mails go through. Absent: no e-mail is sent (the e-mail
    /// rows wait in the outbox, and go out once a relay is configured).
    #[serde(default)]
    pub smtp: Option<outreach_outbound::SmtpSettings>,
}

impl NotificationSettings {
    pub fn publish_interval(&self) -> Duration {
        Duration::from_millis(self.publish_interval_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Days after a member's last case closed (with none open) before their personal data is
    /// purged.
    pub retention_days: u32,
    /// How often the retention purge looks for members whose period is over.
    pub purge_interval_ms: u64,
}

impl PrivacySettings {
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }

    pub fn purge_interval(&self) -> Duration {
        Duration::from_millis(self.purge_interval_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackSettings {
    /// Where the feedback page is: a link is `{link_base}/{token}`, and the page posts the
    /// answers to `POST /v1/feedback/{token}`.
    pub link_base: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsSettings {
    /// How often to check whether the last quarter is over and unpublished.
    pub schedule_interval_ms: u64,
}

impl StatisticsSettings {
    pub fn schedule_interval(&self) -> Duration {
        Duration::from_millis(self.schedule_interval_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchingSweepSettings {
    /// How often the caseload keeper frees slots of ended cases, and automatic assignment (when
    /// on) looks for cases awaiting assignment.
    pub sweep_interval_ms: u64,
}

impl MatchingSweepSettings {
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms)
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
    /// `[kafka.security]`: TLS and SASL for a secured cluster; plaintext when absent.
    #[serde(default)]
    pub security: outreach_kafka::Security,
    pub group_id: String,
    pub incidents_topic: String,
    pub dead_letter_topic: String,
    pub max_message_bytes: usize,
    pub create_topics: bool,
    pub partitions: i32,
    pub statistics_interval_ms: u64,
    pub fetch_wait_max_ms: u64,
    /// How long handling one message may take before the consumer gives its partitions up;
    /// also bounds how long a restart after a crash waits for the group on some brokers.
    pub max_poll_interval_ms: u64,
    /// How long the group coordinator may go without a heartbeat before the consumer counts
    /// as gone (librdkafka's `session.timeout.ms`; at most `max_poll_interval_ms`).
    pub session_timeout_ms: u64,
    /// A name of this instance that stays the same across restarts (static group membership):
    /// a restarted instance takes its partitions back at once instead of after a rebalance.
    #[serde(default)]
    pub group_instance_id: Option<String>,
    /// At most this many messages are decided and stored in one transaction.
    pub max_batch_messages: usize,
    /// librdkafka's `debug` contexts for the consumer (e.g. `cgrp,fetch`), logged at debug
    /// level under the `librdkafka` target; none by default.
    #[serde(default)]
    pub librdkafka_debug: Option<String>,
}

impl KafkaSettings {
    /// What every Kafka client of the service connects with.
    pub fn connection(&self) -> outreach_kafka::KafkaConnection {
        outreach_kafka::KafkaConnection {
            brokers: self.brokers.clone(),
            security: self.security.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// `[http.rate_limits]`: per-minute limits on referrals and feedback answers.
    #[serde(default)]
    pub rate_limits: outreach_api::RateLimitSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionSettings {
    pub enabled: bool,
    pub batch_size: i64,
    pub rebuild_batch_size: i64,
    pub poll_interval_ms: u64,
    pub gather_ms: u64,
}

impl ProjectionSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn gather(&self) -> Duration {
        Duration::from_millis(self.gather_ms)
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
    pub roster: outreach_domain::RosterPolicy,
    pub matching: outreach_domain::MatchingPolicy,
    /// `[policy.urgency]`: which reports are urgent, and the urgent allowance.
    pub urgency: outreach_domain::UrgencyPolicy,
}

impl PolicySettings {
    pub fn case_policies(&self) -> CasePolicies {
        CasePolicies {
            deadlines: self.deadlines.clone(),
            lifecycle: self.lifecycle.clone(),
            eligibility: self.eligibility.clone(),
            group_debrief: self.group_debrief.clone(),
            roster: self.roster.clone(),
            matching: self.matching.clone(),
            urgency: self.urgency.clone(),
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
    /// What the projections are built with.
    pub fn projection_setup(&self) -> outreach_projections::Setup {
        outreach_projections::Setup {
            policies: self.policy.case_policies(),
            feedback_link_base: self.feedback.link_base.clone(),
        }
    }

    /// Every topic the service reads or writes, with its partition count: what it creates at
    /// start (`kafka.create_topics`) and `peer-outreach create-topics` creates.
    pub fn topics(&self) -> Vec<(&str, i32)> {
        let partitions = self.kafka.partitions;
        vec![
            (self.kafka.incidents_topic.as_str(), partitions),
            (self.kafka.dead_letter_topic.as_str(), partitions),
            (self.notifications.topic.as_str(), partitions),
            (self.notifications.assignments_topic.as_str(), partitions),
            (self.notifications.statistics_topic.as_str(), partitions),
        ]
    }

    /// The defaults, overridden by `file` when given, then by the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        let settings = Self::read(file)?;
        settings
            .policy
            .deadlines
            .calendar
            .validate()
            .map_err(|e| config::ConfigError::Message(format!("policy.deadlines.calendar: {e}")))?;
        settings
            .kafka
            .connection()
            .validate()
            .map_err(|e| config::ConfigError::Message(e.to_string()))?;
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

    #[test]
    fn a_secured_cluster_is_configured_once_for_every_kafka_client() {
        let settings = Settings::load(None).unwrap();
        assert_eq!(
            settings.kafka.connection().security,
            outreach_kafka::Security::default()
        );

        let dir = std::env::temp_dir().join(format!("peer-outreach-kafka-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secured = dir.join("secured.toml");
        std::fs::write(
            &secured,
            "[kafka]\nbrokers = \"kafka-1.hospital.internal:9093\"\n\
             [kafka.security]\nprotocol = \"sasl_ssl\"\n\
             [kafka.security.sasl]\nmechanism = \"SCRAM-SHA-512\"\n\
             username = \"peer-outreach\"\npassword = \"s3cret\"\n\
             [kafka.security.tls]\nca_location = \"/etc/peer-outreach/hospital-ca.pem\"\n",
        )
        .unwrap();
        let connection = Settings::load(Some(&secured)).unwrap().kafka.connection();
        let intake = connection.client_config("peer-outreach-intake");
        assert_eq!(intake.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(intake.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(
            intake.get("ssl.ca.location"),
            Some("/etc/peer-outreach/hospital-ca.pem")
        );

        // Credentials without a protocol that sends them are a mistake, not a default.
        let unused = dir.join("unused.toml");
        std::fs::write(
            &unused,
            "[kafka.security.sasl]\nmechanism = \"PLAIN\"\n\
             username = \"peer-outreach\"\npassword = \"s3cret\"\n",
        )
        .unwrap();
        let refused = Settings::load(Some(&unused)).unwrap_err().to_string();
        assert!(refused.contains("does not use SASL"), "{refused}");
    }

    #[test]
    fn the_dashboard_is_served_only_when_its_sign_in_is_configured() {
        assert!(Settings::load(None).unwrap().dashboard.is_none());
        let dir =
            std::env::temp_dir().join(format!("peer-outreach-dashboard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dashboard.toml");
        std::fs::write(
            &file,
            "[dashboard.sign_in]\nclient_id = \"peer-outreach-dashboard\"\n\
             redirect_uri = \"https://peer-support.hospital.example/dashboard/sign-in/callback\"\n",
        )
        .unwrap();
        let dashboard = Settings::load(Some(&file))
            .unwrap()
            .dashboard
            .expect("the dashboard is configured");
        assert_eq!(dashboard.sign_in.client_id, "peer-outreach-dashboard");
        // Unset endpoints are found through the issuer's discovery document.
        assert!(dashboard.sign_in.authorization_endpoint.is_none());
        assert_eq!(dashboard.queue_refresh_seconds, 5);
    }

    #[test]
    fn no_email_is_sent_unless_an_smtp_relay_is_configured() {
        let settings = Settings::load(None).unwrap();
        assert!(settings.notifications.smtp.is_none());
        assert_ne!(
            settings.notifications.assignments_topic,
            settings.notifications.topic
        );

        let dir = std::env::temp_dir().join(format!("peer-outreach-smtp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("smtp.toml");
        std::fs::write(
            &file,
            "[notifications.smtp]\nhost = \"smtp.hospital.example\"\nport = 587\n\
             from = \"Peer Support <peer-support@hospital.example>\"\ntls = \"starttls\"\n",
        )
        .unwrap();
        let smtp = Settings::load(Some(&file))
            .unwrap()
            .notifications
            .smtp
            .expect("the relay is configured");
        assert_eq!(smtp.port, 587);
        assert_eq!(smtp.tls, outreach_outbound::SmtpTls::Starttls);
        assert!(smtp.username.is_none());
    }
}
