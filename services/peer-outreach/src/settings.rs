//! Configuration: embedded defaults, then an optional file, then `PEER_OUTREACH__*` variables.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use outreach_domain::deadline::DeadlinePolicy;
use outreach_domain::{CasePolicies, EligibilityPolicy, LifecyclePolicy, TriggerPolicy};
use outreach_intake::admin::TopicSpec;
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
    /// `[language]`: what members read (their pages, the feedback page, their e-mails).
    pub language: LanguageSettings,
    pub notifications: NotificationSettings,
    /// `[fhir]`: how the hospital's HL7 FHIR maps onto the program.
    #[serde(default)]
    pub fhir: outreach_intake::FhirMapping,
    /// `[resources]`: the directory the resource sheet lists and supporters see (tier 3).
    pub resources: outreach_domain::resources::ResourceDirectory,
    /// `[alerts]`: whom the service tells about cases, and when.
    pub alerts: AlertSettings,
    /// `[paging]`: how the supporter on call is paged for an urgent case.
    #[serde(default)]
    pub paging: PagingSettings,
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

/// `[alerts]`: reminders, alerts and the director's e-mail. Messages carry a case link (to the
/// dashboard) and facts named in each, never a member's name or anything clinical.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// The dashboard's address: links are `{dashboard_url}/cases/{id}` (managers, director) and
    /// `{dashboard_url}/my-cases/{id}` (the supporter).
    pub dashboard_url: String,
    /// The program managers' list: alerts when first contact is overdue, a case waits for a
    /// supporter, or an urgent case finds nobody on call.
    pub managers: Vec<String>,
    /// The program director: an e-mail per escalation.
    pub director: Vec<String>,
    /// The assigned supporter is reminded when this is left before first contact is due.
    pub remind_before: outreach_domain::alerts::Span,
    /// The managers are alerted when a case has waited this long for a supporter.
    pub unassigned_after: outreach_domain::alerts::Span,
    /// How often the alert watch looks for reminders and waiting cases.
    pub watch_interval_ms: u64,
}

impl AlertSettings {
    pub fn watch_interval(&self) -> Duration {
        Duration::from_millis(self.watch_interval_ms)
    }

    pub fn timing(&self) -> outreach_domain::alerts::AlertTiming {
        outreach_domain::alerts::AlertTiming {
            remind_before: self.remind_before,
            unassigned_after: self.unassigned_after,
        }
    }

    fn validate(&self) -> Result<(), String> {
        let link = url::Url::parse(&self.dashboard_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "https" | "http"));
        if link.is_none() {
            return Err("alerts.dashboard_url: not an http(s) URL".into());
        }
        for (list, addresses) in [("managers", &self.managers), ("director", &self.director)] {
            if let Some(at) = addresses
                .iter()
                .position(|a| !outreach_outbound::is_email_address(a))
            {
                return Err(format!("alerts.{list}[{at}]: not an e-mail address"));
            }
        }
        Ok(())
    }
}

/// `[paging]`: how an urgent case's supporter on call is paged. Neither set: nobody is paged,
/// and the program managers are alerted of every urgent case instead.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagingSettings {
    /// `[paging.webhook]`: a paging service's events endpoint (PagerDuty Events API v2 shape).
    #[serde(default)]
    pub webhook: Option<outreach_outbound::WebhookSettings>,
    /// `[paging.sms]`: e-mail to an SMS gateway (sent through `[notifications.smtp]`).
    #[serde(default)]
    pub sms: Option<SmsGatewaySettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsGatewaySettings {
    /// The gateway's address for the on-call supporter's roster phone, `{phone}` standing for
    /// its digits, e.g. `{phone}@sms.hospital.example`.
    pub address: String,
}

impl PagingSettings {
    fn validate(&self) -> Result<(), String> {
        if let Some(sms) = &self.sms {
            let example = sms.address.replace("{phone}", "14155550100");
            if !sms.address.contains("{phone}") || !outreach_outbound::is_email_address(&example) {
                return Err(
                    "paging.sms.address: an e-mail address with {phone} in it, e.g.                      \"{phone}@sms.hospital.example\""
                        .into(),
                );
            }
        }
        Ok(())
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Days after a member's last case closed (with none open), or after the last change of a
    /// member who never had a case, before their personal data is purged.
    pub retention_days: u32,
    /// How often the retention purge looks for members whose period is over.
    pub purge_interval_ms: u64,
    /// The key-encryption key every data key is stored wrapped under: 32 bytes in base64.
    /// Give it through the environment (PEER_OUTREACH__PRIVACY__KEY_ENCRYPTION_KEY) or as a
    /// file (`key_encryption_key_file`), never in a file that is committed. Never stored in
    /// the database. The service refuses to start without one.
    #[serde(default)]
    pub key_encryption_key: Option<String>,
    /// A file holding the key-encryption key (its whole content, base64), e.g. a mounted
    /// secret. One of the two, not both.
    #[serde(default)]
    pub key_encryption_key_file: Option<std::path::PathBuf>,
    /// The key-encryption key being retired, during an overlap: keys wrapped under it still
    /// unwrap (and feedback links made under it are still taken) while `keys rewrap` moves
    /// the keys to `key_encryption_key`; nothing new is wrapped under it. Removed from the
    /// configuration once the rewrap is done. As secret as the KEK: environment or file.
    #[serde(default)]
    pub previous_key_encryption_key: Option<String>,
    /// A file holding the previous key-encryption key. One of the two, not both.
    #[serde(default)]
    pub previous_key_encryption_key_file: Option<std::path::PathBuf>,
}

impl PrivacySettings {
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }

    pub fn purge_interval(&self) -> Duration {
        Duration::from_millis(self.purge_interval_ms)
    }

    /// The configured key-encryption key, if any; an error says what is wrong with it (never
    /// what it is).
    pub fn key_encryption_key(&self) -> anyhow::Result<Option<outreach_privacy::KeyEncryptionKey>> {
        key_from(
            "key_encryption_key",
            &self.key_encryption_key,
            &self.key_encryption_key_file,
        )
    }

    /// The previous key-encryption key of an overlap, if one is configured; refused if it is
    /// the key-encryption key itself, or given without one.
    pub fn previous_key_encryption_key(
        &self,
    ) -> anyhow::Result<Option<outreach_privacy::KeyEncryptionKey>> {
        let previous = key_from(
            "previous_key_encryption_key",
            &self.previous_key_encryption_key,
            &self.previous_key_encryption_key_file,
        )?;
        if let Some(previous) = &previous {
            match self.key_encryption_key()? {
                None => anyhow::bail!(
                    "privacy.previous_key_encryption_key is set without \
                     privacy.key_encryption_key: the new key is the one keys are wrapped under"
                ),
                Some(current) if current.id() == previous.id() => anyhow::bail!(
                    "privacy.previous_key_encryption_key is privacy.key_encryption_key \
                     ({}): an overlap is of two keys",
                    current.id()
                ),
                Some(_) => {}
            }
        }
        Ok(previous)
    }

    /// The key-encryption key, required: the service stores no data key unwrapped.
    pub fn required_key_encryption_key(
        &self,
    ) -> anyhow::Result<outreach_privacy::KeyEncryptionKey> {
        self.key_encryption_key()?
            .ok_or_else(|| outreach_privacy::PrivacyError::NoKeyEncryptionKey.into())
    }
}

/// A key-encryption key given as `privacy.{name}` or `privacy.{name}_file`, if either is; an
/// error says what is wrong with it (never what it is).
fn key_from(
    name: &str,
    value: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> anyhow::Result<Option<outreach_privacy::KeyEncryptionKey>> {
    use anyhow::Context;
    let text = match (value, file) {
        (Some(_), Some(_)) => {
            anyhow::bail!("privacy.{name} and privacy.{name}_file are both set: give one")
        }
        (Some(text), None) => text.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("reading privacy.{name}_file {}", file.display()))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(
        outreach_privacy::KeyEncryptionKey::parse(&text)
            .with_context(|| format!("privacy.{name}"))?,
    ))
}

/// Written by hand so that the key-encryption key never reaches a log through `{:?}`.
impl std::fmt::Debug for PrivacySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivacySettings")
            .field("retention_days", &self.retention_days)
            .field("purge_interval_ms", &self.purge_interval_ms)
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field("key_encryption_key_file", &self.key_encryption_key_file)
            .field(
                "previous_key_encryption_key",
                &self
                    .previous_key_encryption_key
                    .as_ref()
                    .map(|_| "<redacted>"),
            )
            .field(
                "previous_key_encryption_key_file",
                &self.previous_key_encryption_key_file,
            )
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackSettings {
    /// Where the feedback page is: a link is `{link_base}/{token}`. Unset: the service's own
    /// page, `{http.public_url}/feedback`.
    #[serde(default)]
    pub link_base: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageSettings {
    /// The language of what members read when neither the member's stated preference nor
    /// their browser names one the program speaks (`en` or `es`).
    pub default: outreach_texts::Language,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsSettings {
    /// How often to check whether the last quarter is over and unpublished.
    pub schedule_interval_ms: u64,
    /// Whether the safety office (and the statistics topic) gets months as well as quarters:
    /// each suppressed together with its quarter and the quarter's other months.
    pub safety_office_months: bool,
}

impl StatisticsSettings {
    pub fn safety_office(&self) -> outreach_domain::period::SafetyOfficePeriods {
        outreach_domain::period::SafetyOfficePeriods {
            months: self.safety_office_months,
        }
    }

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

/// `[database]`: two roles. The service runs as the runtime role (`url`), which owns nothing
/// and holds only what the migrations grant it; migrations run as the owner
/// (`migration_url`), which grants the runtime role its privileges. One URL for both is a
/// local run's shortcut: least privilege is then not in force.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// The runtime role's connection.
    pub url: String,
    /// The owner's connection, for `peer-outreach migrate` (and `run` when it migrates).
    /// Unset: `url`.
    #[serde(default)]
    pub migration_url: Option<String>,
    pub max_connections: u32,
    /// Create the database at start (as the owner) if it is missing.
    pub create_database: bool,
    /// `run` applies pending migrations (as the owner) before serving. Off: it only checks
    /// that the schema is current and refuses to start otherwise, so the service need not be
    /// given the owner's credentials at all (`peer-outreach migrate` runs them beforehand).
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    /// The owner's connection: `migration_url`, or `url` when it is unset.
    pub fn migration_url(&self) -> &str {
        self.migration_url.as_deref().unwrap_or(&self.url)
    }
}

/// Written by hand so that a password in either URL never reaches a log through `{:?}`.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redacted(&self.url))
            .field(
                "migration_url",
                &self.migration_url.as_deref().map(redacted),
            )
            .field("max_connections", &self.max_connections)
            .field("create_database", &self.create_database)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

/// A connection URL with its password, if any, replaced.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only a URL that cannot have a password refuses one; this one has one.
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<a URL that does not parse, not shown>".to_owned(),
    }
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
    /// Where the originals of dead-lettered messages go too, for replay. Unset (the default):
    /// no original is kept anywhere; a dead letter identifies the message only.
    #[serde(default)]
    pub dead_letter_originals_topic: Option<String>,
    /// `[kafka.retention_hours]`: how long each topic the service creates keeps its records.
    pub retention_hours: RetentionHours,
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

/// `[kafka.retention_hours]`: each topic's `retention.ms`, in hours.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionHours {
    pub incidents: u64,
    pub dead_letter: u64,
    pub dead_letter_originals: u64,
    pub director_notices: u64,
    /// Never more than `privacy.retention_days`: the notices carry members' contact details.
    pub assignments: u64,
    pub statistics: u64,
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
    /// The address members and staff reach the service at (e.g. `https://peer-support.hospital.example`),
    /// which links in e-mails start with. Unset: `http://{listen}`, right for a local run only.
    #[serde(default)]
    pub public_url: Option<String>,
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
    /// The service's own address, as people reach it.
    pub fn public_url(&self) -> String {
        match &self.http.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.http.listen),
        }
    }

    /// Where feedback links lead: the configured page, else the service's own.
    pub fn feedback_link_base(&self) -> String {
        match &self.feedback.link_base {
            Some(base) => base.clone(),
            None => format!("{}{}", self.public_url(), outreach_api::FEEDBACK_PAGE),
        }
    }

    /// What the projections are built with.
    pub fn projection_setup(&self) -> outreach_projections::Setup {
        outreach_projections::Setup {
            policies: self.policy.case_policies(),
            feedback_link_base: self.feedback_link_base(),
            alerts: self.alert_setup(),
            resources: self.resources.clone(),
            default_language: self.language.default,
        }
    }

    /// Whom the alerts and pages reach, and what they link to.
    pub fn alert_setup(&self) -> outreach_projections::alert_messages::AlertSetup {
        outreach_projections::alert_messages::AlertSetup {
            dashboard_url: self.alerts.dashboard_url.clone(),
            managers: self.alerts.managers.clone(),
            director: self.alerts.director.clone(),
            webhook: self.paging.webhook.is_some(),
            sms_gateway: self.paging.sms.as_ref().map(|sms| sms.address.clone()),
            time_zone: self.policy.deadlines.calendar.time_zone,
        }
    }

    /// Every topic the service reads or writes, with its partitions and retention: what it
    /// creates at start (`kafka.create_topics`) and `peer-outreach create-topics` creates, and
    /// whose settings it checks at start. The assignments topic keeps its records no longer
    /// than the retention purge's period, whatever `kafka.retention_hours.assignments` says.
    pub fn topics(&self) -> Vec<TopicSpec> {
        let partitions = self.kafka.partitions;
        let hours = &self.kafka.retention_hours;
        let purge_hours = u64::from(self.privacy.retention_days) * 24;
        let topic = |name: &str, hours: u64| {
            TopicSpec::new(name, partitions, Duration::from_secs(hours * 3600))
        };
        let mut topics = vec![
            topic(&self.kafka.incidents_topic, hours.incidents),
            topic(&self.kafka.dead_letter_topic, hours.dead_letter),
            topic(&self.notifications.topic, hours.director_notices),
            topic(
                &self.notifications.assignments_topic,
                hours.assignments.min(purge_hours),
            ),
            topic(&self.notifications.statistics_topic, hours.statistics),
        ];
        if let Some(originals) = &self.kafka.dead_letter_originals_topic {
            topics.push(topic(originals, hours.dead_letter_originals));
        }
        topics
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
        settings
            .resources
            .validate()
            .map_err(|e| config::ConfigError::Message(e.to_string()))?;
        settings
            .alerts
            .validate()
            .and_then(|()| settings.paging.validate())
            .map_err(config::ConfigError::Message)?;
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
                    .with_list_parse_key("alerts.managers")
                    .with_list_parse_key("alerts.director")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
