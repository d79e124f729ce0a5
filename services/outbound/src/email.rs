//! The e-mail channel: outbox rows with `channel = 'email'` sent through an SMTP relay, at least
//! once. Today these are the assignment e-mails to supporters (kind `assignment-email`).
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
//! A row's payload is `{"to", "to_name", "subject", "body"}`: a plain-text message the reaction
//! that recorded it composed. It holds personal data (names and contact details), so logs name
//! rows by id and kind only, never an address, a subject or a body, and SMTP errors are logged
//! by their class and reply code only: a server's reply text may quote the address.

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{listen, record_backlog, wait_for_notification, Channel, OutboundError, Round};

/// Rows sent per round, unless told otherwise. Sent one at a time, so fewer than Kafka's.
pub const DEFAULT_BATCH: i64 = 20;

/// How long one SMTP command may take before the send counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest pause between rounds while the SMTP server cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

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

/// Sends the outbox's `email` rows through one SMTP relay.
pub struct EmailPublisher {
    pub pool: PgPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// How long to wait for new rows (or a notification of them) between rounds.
    pub interval: Duration,
    /// Rows sent per round.
    pub batch: i64,
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

#[derive(sqlx::FromRow)]
struct EmailRow {
    id: Uuid,
    kind: String,
    payload: serde_json::Value,
}

/// Why a row was not sent, in words that hold no address or content.
#[derive(Debug)]
struct Failure {
    reason: String,
    /// The server is unavailable, not refusing this one message: stop the round.
    ends_round: bool,
}

impl Failure {
    fn of_row(reason: &str) -> Self {
        Failure {
            reason: reason.to_string(),
            ends_round: false,
        }
    }

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
        })
    }

    /// Publishes until `shutdown` is cancelled: a round every `interval`, at once when new rows
    /// are notified, again straight away after a full round, and after a growing pause (up to a
    /// minute) while rounds fail, so a dead relay or a refused message is not retried twice a
    /// second. Stopping abandons the round in hand: its rows stay unpublished and go out later.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = listen(&self.pool).await;
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let round = tokio::select! {
                round = self.publish_round() => round,
                _ = shutdown.cancelled() => break,
            };
            match round {
                Ok(round) => {
                    record_backlog(&self.pool, Channel::Email).await;
                    if round.failed > 0 {
                        tokio::select! {
                            _ = tokio::time::sleep(backoff.max(self.interval)) => {}
                            _ = shutdown.cancelled() => break,
                        }
                        backoff = (backoff.max(self.interval) * 2).min(MAX_BACKOFF);
                        continue;
                    }
                    backoff = Duration::from_millis(100);
                    if round.failed == 0 && round.published as i64 == self.batch {
                        continue;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "e-mail outbox round failed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            }
            tokio::select! {
                _ = wait_for_notification(&mut listener) => {}
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::info!("e-mail outbox publisher stopped");
    }

    /// Sends up to `batch` unpublished `email` rows, oldest first, in one transaction that
    /// holds their locks: each is marked published once the server accepted it, or has its
    /// attempts counted and is left for a later round.
    pub async fn publish_round(&self) -> Result<Round, OutboundError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<EmailRow> = sqlx::query_as(
            "SELECT id, kind, payload
               FROM outbox
              WHERE published_at IS NULL AND channel = 'email'
              ORDER BY created_at
              LIMIT $1
                FOR UPDATE SKIP LOCKED",
        )
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(Round::default());
        }
        let (mut published, mut failed) = (Vec::new(), Vec::new());
        // One at a time: a relay takes one connection per message without a pool, and a dead
        // one should cost one timeout, not a batch of them.
        for row in &rows {
            match self.send(row).await {
                Ok(()) => published.push(row.id),
                Err(failure) => {
                    tracing::warn!(id = %row.id, kind = %row.kind, reason = %failure.reason,
                        "e-mail not accepted; will retry");
                    failed.push(row.id);
                    if failure.ends_round {
                        break;
                    }
                }
            }
        }
        let round = crate::finish_round(tx, &published, &failed).await?;
        tracing::debug!(
            published = round.published,
            failed = round.failed,
            "e-mail outbox round committed"
        );
        Ok(round)
    }

    /// Sends one row and waits for the server's acceptance.
    async fn send(&self, row: &EmailRow) -> Result<(), Failure> {
        let message = self.message(row)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|error| Failure::of_smtp(&error))
    }

    /// The message a row describes, or why it cannot be built (the same on every try).
    fn message(&self, row: &EmailRow) -> Result<Message, Failure> {
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
        let row = EmailRow {
            id: Uuid::from_u128(9),
            kind: "assignment-email".into(),
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

        let unreadable = EmailRow {
            payload: serde_json::json!({"to": "not an address", "subject": "s", "body": "b"}),
            ..row
        };
        let failure = publisher.message(&unreadable).unwrap_err();
        assert!(!failure.ends_round);
        assert!(!failure.reason.contains("not an address"));
    }
}
