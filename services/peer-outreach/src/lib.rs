//! The peer-outreach service, wired: intake -> command side -> event store -> projections -> API.

pub mod database;
pub mod privacy_migrate;
pub mod settings;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use outreach_api::{ApiState, BrokerHealth, Dashboard, MetricsExposition, RateLimits};
use outreach_auth::Authenticator;
use outreach_command_side::CommandSide;
use outreach_intake::admin::{check_topics, ensure_topics, BrokerProbe};
use outreach_intake::{Intake, IntakeSettings, Policies};
use outreach_outbound::{EmailPublisher, OutboxPublisher, WebhookPublisher};
use outreach_process_managers::{
    AlertWatch, AutoAssign, CaseloadKeeper, DeadlineWatch, RetentionPurge, StatisticsSchedule,
};
use outreach_projections::{Leadership, ProjectionRunner, RunnerSettings};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use settings::Settings;

/// A running service: its HTTP address, and the means to stop it.
pub struct Service {
    pub addr: SocketAddr,
    pub pool: PgPool,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Service {
    /// Prepares the database and topics, then starts intake, the projections and the API.
    pub async fn start(settings: &Settings) -> anyhow::Result<Service> {
        // Before anything records a metric (a no-op when main installed it already).
        telemetry::install_metrics(false)?;
        // First: a service that could not check its callers must not start at all.
        let auth = settings.auth.clone().context(
            "[auth] is not configured: the API serves only callers with a token from the \
             hospital's identity provider. Set auth.issuer and auth.audience (and auth.jwks_uri \
             unless the issuer publishes a discovery document); for a local run, \
             `peer-outreach dev-issuer init` prints the settings of a development issuer",
        )?;
        // Nor one that would trust a development issuer by accident.
        auth.check()?;
        if auth.allow_development_issuer {
            let listen = settings.http.listen;
            if !listen.ip().is_loopback() {
                anyhow::bail!(
                    "auth.allow_development_issuer is set, so the service serves on a loopback \
                     address only (127.0.0.1 or ::1), and http.listen is {listen}: a development \
                     issuer signs anyone in as anyone"
                );
            }
            tracing::warn!(
                issuer = %auth.issuer,
                "auth.allow_development_issuer is set: a development issuer, http:// keys on \
                 loopback and file: keys are trusted, and the service serves on loopback only; \
                 never set it in production"
            );
        }
        let dashboard = match settings.dashboard.clone() {
            Some(dashboard) => Some(Arc::new(
                Dashboard::connect(dashboard, &auth)
                    .await
                    .context("finding the identity provider's sign-in endpoints")?
                    .with_resources(settings.resources.clone()),
            )),
            None => None,
        };
        let auth = Arc::new(
            Authenticator::connect(auth)
                .await
                .context("loading the identity provider's keys")?,
        );
        // Nor one that would store a data key unwrapped: the key-encryption key is required,
        // and is the process's from here on.
        let kek = settings
            .privacy
            .required_key_encryption_key()
            .context("privacy.key_encryption_key")?;
        outreach_privacy::KeyEncryptionKey::install(Some(kek.clone()));
        // During an overlap, the KEK being retired still unwraps what `keys rewrap` has not
        // moved yet.
        let previous = settings
            .privacy
            .previous_key_encryption_key()
            .context("privacy.previous_key_encryption_key")?;
        if let Some(previous) = &previous {
            tracing::warn!(
                previous = previous.id(),
                current = kek.id(),
                "key-encryption key overlap: keys under the previous KEK still unwrap; run \
                 `peer-outreach keys rewrap`, then remove privacy.previous_key_encryption_key"
            );
        }
        outreach_privacy::KeyEncryptionKey::install_previous(previous);
        let pool = database::prepare(&settings.database).await?;
        // Every stored key must open under the configured KEK: a key under another (an
        // unfinished rewrap, the wrong secret) is refused here rather than at a member's case.
        outreach_privacy::check_store(&mut *pool.acquire().await?, &kek)
            .await
            .context("checking the data keys against privacy.key_encryption_key")?;
        let kafka = &settings.kafka;
        let topics = settings.topics();
        if kafka.create_topics {
            ensure_topics(&kafka.connection(), &topics)
                .await
                .context("creating the Kafka topics")?;
        }

        let commands = Arc::new(CommandSide::new(
            pool.clone(),
            settings.policy.case_policies(),
        ));
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        if settings.projections.enabled {
            // Every instance may drive the projections; one at a time drives each (see
            // `outreach_projections::leadership`), and a standby takes over when it dies.
            let mut leadership = Leadership::new(
                pool.clone(),
                outreach_projections::leadership::DEFAULT_INTERVAL,
            );
            for projection in outreach_projections::all(&settings.projection_setup()) {
                let lead = leadership.compete_for(projection.name());
                let runner =
                    ProjectionRunner::new(pool.clone(), projection, runner_settings(settings))
                        .following(lead);
                tasks.spawn(runner.run(shutdown.child_token()));
            }
            tasks.spawn(leadership.run(shutdown.child_token()));
        }
        // Every instance watches; an advisory lock lets one sweep at a time (see the module).
        let deadline_watch = DeadlineWatch::new(
            pool.clone(),
            commands.clone(),
            settings.deadline_watch.watch_interval(),
        );
        tasks.spawn(deadline_watch.run(shutdown.child_token()));
        // Slots of ended cases go back to their supporters; so do those of interrupted
        // assignments (see the module).
        let keeper = CaseloadKeeper {
            pool: pool.clone(),
            commands: commands.clone(),
            interval: settings.matching.sweep_interval(),
        };
        tasks.spawn(keeper.run(shutdown.child_token()));
        // Each quarter's statistics, once it is over.
        let schedule = StatisticsSchedule {
            pool: pool.clone(),
            commands: commands.clone(),
            interval: settings.statistics.schedule_interval(),
            periods: settings.statistics.safety_office(),
        };
        tasks.spawn(schedule.run(shutdown.child_token()));
        // Personal data goes once the retention period after a member's last case is over.
        let purge = RetentionPurge::new(
            pool.clone(),
            commands.clone(),
            settings.privacy.retention(),
            settings.privacy.purge_interval(),
        );
        tasks.spawn(purge.run(shutdown.child_token()));
        // Off by default: a program manager assigns.
        if settings.policy.matching.auto_assign.enabled {
            let auto_assign = AutoAssign {
                pool: pool.clone(),
                commands: commands.clone(),
                interval: settings.matching.sweep_interval(),
            };
            tasks.spawn(auto_assign.run(shutdown.child_token()));
        }
        // Director and assignment notices leave from the outbox, at least once (see
        // outreach_outbound); assignment notices, which carry contact details, on their own topic.
        let notices = OutboxPublisher::new(
            pool.clone(),
            &kafka.connection(),
            &settings.notifications.topic,
            settings.notifications.publish_interval(),
        )?
        .with_topic_for(
            outreach_projections::ASSIGNMENT,
            &settings.notifications.assignments_topic,
        )
        .with_topic_for(
            outreach_projections::statistics_publication::STATISTICS,
            &settings.notifications.statistics_topic,
        );
        tasks.spawn(notices.run(shutdown.child_token()));
        // E-mails (assignments, feedback invitations, resource sheets, alerts, SMS pages), only
        // when an SMTP relay is configured; a resource sheet is recorded on its case once sent.
        if let Some(smtp) = &settings.notifications.smtp {
            let emails = EmailPublisher::new(
                pool.clone(),
                smtp,
                settings.notifications.publish_interval(),
            )?
            .recording_sheets_with(commands.clone());
            tasks.spawn(emails.run(shutdown.child_token()));
        }
        // The access audit's whole hash chain, walked now and then; the API checks what is new.
        tasks.spawn(walk_access_audit(
            pool.clone(),
            ACCESS_AUDIT_WALK_INTERVAL,
            shutdown.child_token(),
        ));
        // Pages to the paging webhook, when one is configured.
        if let Some(webhook) = &settings.paging.webhook {
            let pages = WebhookPublisher::new(
                pool.clone(),
                webhook,
                settings.notifications.publish_interval(),
            )?;
            tasks.spawn(pages.run(shutdown.child_token()));
        }
        // Reminders before first contact is due, and cases waiting too long for a supporter.
        let alert_watch = AlertWatch {
            pool: pool.clone(),
            setup: settings.alert_setup(),
            timing: settings.alerts.timing(),
            calendar: settings.policy.deadlines.calendar.clone(),
            interval: settings.alerts.watch_interval(),
            batch: outreach_process_managers::alert_watch::DEFAULT_BATCH,
        };
        tasks.spawn(alert_watch.run(shutdown.child_token()));
        tasks.spawn(observe_gauges(
            pool.clone(),
            Duration::from_millis(settings.telemetry.gauge_interval_ms),
            shutdown.child_token(),
        ));

        let intake = Intake::new(
            IntakeSettings {
                connection: kafka.connection(),
                group_id: kafka.group_id.clone(),
                topic: kafka.incidents_topic.clone(),
                dead_letter_topic: kafka.dead_letter_topic.clone(),
                dead_letter_originals_topic: kafka.dead_letter_originals_topic.clone(),
                max_message_bytes: kafka.max_message_bytes,
                statistics_interval_ms: kafka.statistics_interval_ms,
                fetch_wait_max_ms: kafka.fetch_wait_max_ms,
                max_poll_interval_ms: kafka.max_poll_interval_ms,
                session_timeout_ms: kafka.session_timeout_ms,
                group_instance_id: kafka.group_instance_id.clone(),
                max_batch_messages: kafka.max_batch_messages,
                librdkafka_debug: kafka.librdkafka_debug.clone(),
                policies: Policies {
                    trigger: settings.policy.trigger.clone(),
                    eligibility: settings.policy.eligibility.clone(),
                    fhir: settings.fhir.clone(),
                    urgency: settings.policy.urgency.clone(),
                },
            },
            commands.clone(),
        )?;
        let intake_shutdown = shutdown.child_token();
        tasks.spawn(async move {
            if let Err(error) = intake.run(intake_shutdown).await {
                tracing::error!(%error, "intake stopped with an error");
            }
        });

        // Each topic's settings, read back from the broker: a warning names each that differs
        // from what the service would create (an older topic keeps whatever it was given). In
        // the background, so that a broker that is away does not hold the start up; not one of
        // the service's tasks, which run for as long as the service does (this one ends).
        let connection = kafka.connection();
        let check_shutdown = shutdown.child_token();
        tokio::spawn(async move {
            tokio::select! {
                _ = check_topics(&connection, &topics) => {}
                _ = check_shutdown.cancelled() => {}
            }
        });

        let broker = BrokerHealth::default();
        tasks.spawn(watch_broker(
            BrokerProbe::new(&kafka.connection())?,
            broker.clone(),
            shutdown.child_token(),
        ));

        let listener = tokio::net::TcpListener::bind(settings.http.listen)
            .await
            .with_context(|| format!("binding {}", settings.http.listen))?;
        let addr = listener.local_addr()?;
        let metrics = MetricsExposition::new(telemetry::prometheus_text);
        let state = ApiState {
            pool: pool.clone(),
            broker,
            metrics,
            commands,
            auth,
            rate_limits: RateLimits::new(settings.http.rate_limits),
            safety_office: settings.statistics.safety_office(),
            default_language: settings.language.default,
        };
        let app = match dashboard {
            Some(dashboard) => outreach_api::router_with_dashboard(state, dashboard),
            None => outreach_api::router(state),
        };
        let api_shutdown = shutdown.child_token();
        tasks.spawn(async move {
            // With each client's address: the dashboard caps sign-ins under way per address.
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { api_shutdown.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "HTTP server stopped with an error");
            }
        });
        tracing::info!(%addr, "peer-outreach is serving");
        Ok(Service {
            addr,
            pool,
            shutdown,
            tasks,
        })
    }

    /// Stops taking messages, finishes the one in hand, commits offsets and stops.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Stops everything at once, wherever it is, as a crash would.
    pub async fn kill(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Resolves when the service stops by itself or `signal` resolves, then stops it.
    pub async fn run_until(mut self, signal: impl std::future::Future<Output = ()>) {
        tokio::select! {
            _ = signal => tracing::info!("shutting down"),
            _ = self.tasks.join_next() => tracing::error!("a service task ended unexpectedly; shutting down"),
        }
        self.stop().await;
    }
}

pub fn runner_settings(settings: &Settings) -> RunnerSettings {
    RunnerSettings {
        batch_size: settings.projections.batch_size,
        rebuild_batch_size: settings.projections.rebuild_batch_size,
        poll_interval: settings.projections.poll_interval(),
        gather: settings.projections.gather(),
    }
}

/// How often the service walks the access audit's whole hash chain (and once at start).
const ACCESS_AUDIT_WALK_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// Walks the access audit's hash chain at start and every `interval`; a break is logged as an
/// error (and shown with the audit, `GET /v1/access-audit`) until a walk finds the chain whole.
async fn walk_access_audit(pool: PgPool, interval: Duration, shutdown: CancellationToken) {
    use outreach_api::audit_chain::{verify_whole_chain, WholeChain};
    while !shutdown.is_cancelled() {
        match verify_whole_chain(&pool).await {
            Ok(WholeChain::Intact { entries, head }) => tracing::info!(
                entries,
                newest = head.as_ref().map(|(entry_id, _)| *entry_id),
                hash = head.as_ref().map(|(_, hash)| hash.as_str()),
                "the access audit's hash chain holds"
            ),
            Ok(WholeChain::Broken(broken)) => tracing::error!(
                entry_id = broken.entry_id,
                reason = %broken.reason,
                "the access audit's hash chain is broken: an entry was altered, removed or put \
                 in out of place by someone with more rights than the service's"
            ),
            Err(error) => tracing::warn!(%error, "could not walk the access audit's hash chain"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

async fn observe_gauges(pool: PgPool, interval: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        if let Err(error) = outreach_projections::gauges::observe(&pool).await {
            tracing::warn!(%error, "could not measure projection lag and open cases");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

async fn watch_broker(probe: BrokerProbe, health: BrokerHealth, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        health.set_reachable(probe.reachable().await);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}
