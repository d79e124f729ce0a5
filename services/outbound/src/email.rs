//! The e-mail channel: outbox rows with `channel = 'email'` sent through an SMTP relay, at least
//! once: assignment e-mails to supporters, feedback invitations and resource sheets to members,
//! alerts to program managers and the director, reminders, and pages to SMS gateways. A
//! feedback invitation's row is emptied as it is marked sent, so that the link lives in the
//! member's mailbox only.
//!
//! A round has the shape of the Kafka publisher's: it locks up to `batch` unpublished rows,
//! oldest first (`FOR UPDATE SKIP LOCKED`, so several instances share the work), sends them one
//! after the other, and in the same transaction marks published those the SMTP server accepted
//! (answered 250 to the message) and counts an attempt on the others, which stay queued for a
//! later round. A crash between the server's acceptance and the commit sends a message again:
//! each carries `Message-ID: <row id@sender's domain>`, the same on every try, for mail systems
//! and readers to recognise the repeat.
//!
//! A server that refuses one message for good (a 5xx reply, e.g. an unknown mailbox) costs that
//! row an attempt and the round goes on; any other failure (connection refused, timeout, TLS, a
//! 4xx reply) ends the round, leaving the rows not yet tried untouched. After a round with a
//! failure the publisher backs off (up to a minute) rather than retrying every interval. A
//! refused message is retried like the rest, for ever: its `attempts` count shows it.
//!
//! A resource sheet (kind `resource-sheet`) is recorded on its case once the server accepted it:
//! the publisher issues `RecordResourceSheetSent` (the row id as the sheet's id, so a repeat is
//! recorded once) before the row is marked published. If that command cannot be stored (the
//! database is away), the row counts as failed and is sent again later: the member may get the
//! sheet twice (same `Message-ID`), but the case never says "sent" for a sheet that was not.
//!
//! A row's payload is `{"to", "to_name", "subject", "body"}`: a plain-text message the reaction
//! that recorded it composed. It holds personal data (names and contact details), so logs name
//! rows by id and kind only, never an address, a subject or a body, and SMTP errors are logged
//! by their class and reply code only: a server's reply text may quote the address.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use outreach_command_side::{CommandError, CommandSide, Metadata};
use outreach_domain::CaseCommand;

use crate::{Channel, Failure, OutboundError, OutboxRow, Round};

/// Rows sent per round, unless told otherwise. Sent one at a time, so fewer than Kafka's.
pub const DEFAULT_BATCH: i64 = 20;

/// How long one SMTP command may take before the send counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the events the publisher causes come from, in their metadata.
const SOURCE: &str = "email-publisher";

/// `[notifications.smtp]`: the relay assignment e-mails are sent through.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// The sender, e.g. `Peer Support Program <peer-support@hospital.example>`.
    pub from: String,
    /// Credentials for SMTP AUTH; both or neither.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub tls: SmtpTls,
}

/// Written by hand so the password never reaches a log through `{:?}`.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host or a test server.
    None,
    /// STARTTLS, required (usually port 587).
    Starttls,
    /// TLS from the first byte, "SMTPS" (usually port 465).
    Tls,
}

/// Whether `text` is an e-mail address as the publisher will send to it (for checking
/// configured recipients when the settings are read).
pub fn is_email_address(text: &str) -> bool {
    text.parse::<Address>().is_ok()
}

/// Sends the outbox's `email` rows through one SMTP relay.
pub struct EmailPublisher {
    pub pool: PgPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// How long to wait for new rows (or a notification of them) between rounds.
    pub interval: Duration,
    /// Rows sent per round.
    pub batch: i64,
    /// Records resource sheets as sent once delivered; `None`: sheets are sent but not recorded
    /// (only in tests of the channel itself; the service always records them).
    commands: Option<Arc<CommandSide>>,
}

/// What a row's payload must hold.
#[derive(Deserialize)]
struct EmailPayload {
    to: String,
    #[serde(default)]
    to_name: Option<String>,
    subject: String,
    body: String,
}

impl Failure {
    fn of_smtp(error: &lettre::transport::smtp::Error) -> Self {
        let code = error
            .status()
            .map(|code| format!(" (reply {code})"))
            .unwrap_or_default();
        let class = if error.is_permanent() {
            "refused for good"
        } else if error.is_transient() {
            "refused for now"
        } else if error.is_timeout() {
            "timed out"
        } else if error.is_tls() {
            "TLS failed"
        } else {
            "connection or protocol failed"
        };
        Failure {
            reason: format!("SMTP {class}{code}"),
            ends_round: !error.is_permanent(),
        }
    }
}

impl EmailPublisher {
    /// A publisher through the relay `settings` describe. Fails on settings that cannot work
    /// (an unparseable sender, a username without a password); connects only when sending.
    pub fn new(
        pool: PgPool,
        settings: &SmtpSettings,
        interval: Duration,
    ) -> Result<Self, OutboundError> {
        let invalid = |what: &str| OutboundError::SmtpSettings(what.to_string());
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| invalid("`from` is not a mailbox (name <address> or address)"))?;
        let mut builder = match settings.tls {
            SmtpTls::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
            }
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(|_| invalid("TLS cannot be set up for `host`"))?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(|_| invalid("TLS cannot be set up for `host`"))?,
        }
        .port(settings.port)
        .timeout(Some(SMTP_TIMEOUT));
        match (&settings.username, &settings.password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(username.clone(), password.clone()))
            }
            (None, None) => {}
            _ => return Err(invalid("`username` and `password` go together")),
        }
        Ok(Self {
            pool,
            transport: builder.build(),
            from,
            interval,
            batch: DEFAULT_BATCH,
            commands: None,
        })
    }

    /// Records each resource sheet on its case (`ResourceSheetSent`) once the server accepted it.
    pub fn recording_sheets_with(mut self, commands: Arc<CommandSide>) -> Self {
        self.commands = Some(commands);
        self
    }

    /// Publishes until `shutdown` is cancelled: a round every `interval`, at once when new rows
    /// are notified, again straight away after a full round, and after a growing pause (up to a
    /// minute) while rounds fail. Stopping abandons the round in hand: its rows go out later.
    pub async fn run(self, shutdown: CancellationToken) {
        outreach_rounds::run(
            &self,
            &self.pool,
            crate::OUTBOX_CHANNEL,
            self.interval,
            shutdown,
        )
        .await
    }

    /// Sends up to `batch` unpublished `email` rows, oldest first, one after the other (a
    /// relay takes one connection per message without a pool, and a dead one should cost one
    /// timeout, not a batch of them), in one transaction that holds their locks: each is marked
    /// published once the server accepted it (and a sheet once it is recorded on its case), or
    /// has its attempts counted and is left for a later round.
    pub async fn publish_round(&self) -> Result<Round, OutboundError> {
        crate::sequential_round(&self.pool, Channel::Email, self.batch, self).await
    }

    /// The message a row describes, or why it cannot be built (the same on every try).
    fn message(&self, row: &OutboxRow) -> Result<Message, Failure> {
        let payload: EmailPayload = serde_json::from_value(row.payload.clone())
            .map_err(|_| Failure::of_row("payload is not an e-mail"))?;
        let address: Address = payload
            .to
            .parse()
            .map_err(|_| Failure::of_row("recipient is not an e-mail address"))?;
        Message::builder()
            .message_id(Some(format!("<{}@{}>", row.id, self.from.email.domain())))
            .from(self.from.clone())
            .to(Mailbox::new(payload.to_name, address))
            .subject(payload.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(payload.body)
            .map_err(|_| Failure::of_row("message cannot be built"))
    }

    /// `ResourceSheetSent` on the row's case. A refusal (no such case) cannot be helped by
    /// sending again, so the row counts as delivered; a database failure leaves it queued.
    async fn record_sheet_sent(&self, row: &OutboxRow) -> Result<(), Failure> {
        let Some(commands) = &self.commands else {
            return Ok(());
        };
        let Ok(case_id) = row.topic_key.parse::<Uuid>() else {
            tracing::warn!(id = %row.id, "a resource sheet's key is not a case id; not recorded");
            return Ok(());
        };
        let command = CaseCommand::RecordResourceSheetSent {
            sheet_id: row.id,
            at: chrono::Utc::now(),
        };
        let metadata = Metadata::from([("source".to_string(), SOURCE.to_string())]);
        match commands.handle_case(case_id, command, &metadata).await {
            Ok(()) => Ok(()),
            Err(CommandError::Refused { rule, .. }) => {
                tracing::warn!(id = %row.id, %case_id, rule,
                    "a delivered resource sheet could not be recorded on its case");
                Ok(())
            }
            Err(error) => Err(Failure {
                reason: format!("delivered, but not recorded on the case ({error})"),
                ends_round: true,
            }),
        }
    }
}

impl crate::SendsOneByOne for EmailPublisher {
    /// Sends one row and waits for the server's acceptance; a sheet is then recorded as sent.
    async fn send(&self, row: &OutboxRow) -> Result<(), Failure> {
        let message = self.message(row)?;
        self.transport
            .send(message)
            .await
            .map_err(|error| Failure::of_smtp(&error))?;
        if row.kind == outreach_projections::RESOURCE_SHEET {
            self.record_sheet_sent(row).await?;
        }
        Ok(())
    }
}

impl outreach_rounds::Rounds for EmailPublisher {
    const NAME: &'static str = "outbox publisher (email)";
    type Error = OutboundError;

    /// A round, then the backlog; a pause after a failed row.
    async fn round(&self) -> Result<outreach_rounds::After, OutboundError> {
        let round = self.publish_round().await?;
        crate::record_backlog(&self.pool, Channel::Email).await;
        Ok(crate::after_sequential(round, self.batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: 2525,
            from: "Peer Support <peer-support@hospital.example>".into(),
            username: None,
            password: None,
            tls: SmtpTls::None,
        }
    }

    fn lazy_pool() -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://postgres@127.0.0.1:1/unused")
            .unwrap()
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let settings = SmtpSettings {
            username: Some("relay-user".into()),
            password: Some("s3cret".into()),
            ..settings()
        };
        let shown = format!("{settings:?}");
        assert!(shown.contains("relay-user"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn settings_deserialise_with_optional_credentials() {
        let settings: SmtpSettings = serde_json::from_value(serde_json::json!({
            "host": "smtp.hospital.example", "port": 587,
            "from": "peer-support@hospital.example", "tls": "starttls",
        }))
        .unwrap();
        assert_eq!(settings.tls, SmtpTls::Starttls);
        assert!(settings.username.is_none());
        assert!(serde_json::from_value::<SmtpSettings>(serde_json::json!({
            "host": "h", "port": 25, "from": "a@b.example", "tls": "ssl",
        }))
        .is_err());
    }

    #[tokio::test]
    async fn settings_that_cannot_work_are_refused_at_start() {
        let pool = lazy_pool();
        let interval = Duration::from_secs(1);
        assert!(EmailPublisher::new(pool.clone(), &settings(), interval).is_ok());
        let bad_from = SmtpSettings {
            from: "not an address".into(),
            ..settings()
        };
        assert!(EmailPublisher::new(pool.clone(), &bad_from, interval).is_err());
        let half_credentials = SmtpSettings {
            username: Some("relay-user".into()),
            ..settings()
        };
        assert!(EmailPublisher::new(pool, &half_credentials, interval).is_err());
    }

    #[tokio::test]
    async fn a_row_becomes_a_plain_text_message_with_a_stable_message_id() {
        let publisher =
            EmailPublisher::new(lazy_pool(), &settings(), Duration::from_secs(1)).unwrap();
        let row = OutboxRow {
            id: Uuid::from_u128(9),
            kind: "assignment-email".into(),
            topic_key: Uuid::from_u128(7).to_string(),
            payload: serde_json::json!({
                "to": "grace@example.org", "to_name": "Grace Hopper",
                "subject": "Hello", "body": "Line one\nLine two\n",
            }),
        };
        let text = String::from_utf8(publisher.message(&row).unwrap().formatted()).unwrap();
        assert!(
            text.contains("To: \"Grace Hopper\" <grace@example.org>\r\n"),
            "{text}"
        );
        assert!(text.contains("Subject: Hello\r\n"), "{text}");
        assert!(
            text.contains("Message-ID: <00000000-0000-0000-0000-000000000009@hospital.example>"),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8"),
            "{text}"
        );
        assert!(text.ends_with("Line one\r\nLine two\r\n"), "{text}");

        let unreadable = OutboxRow {
            payload: serde_json::json!({"to": "not an address", "subject": "s", "body": "b"}),
            ..row
        };
        let failure = publisher.message(&unreadable).unwrap_err();
        assert!(!failure.ends_round);
        assert!(!failure.reason.contains("not an address"));
    }
}
