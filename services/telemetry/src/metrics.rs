//! The service's metric instruments, created once from the global meter provider.
//!
//! The binary installs the meter provider (Prometheus, and OTLP when configured) before anything
//! records; instruments created earlier would be no-ops for good.

use std::sync::OnceLock;

use opentelemetry::metrics::{Counter, Gauge, Histogram};
use opentelemetry::{global, KeyValue};

pub struct Metrics {
    /// Inbound messages by outcome (`applied`, `dead_lettered`) and reason code.
    pub messages: Counter<u64>,
    /// Messages behind the high watermark, per topic and partition, as librdkafka reports it.
    pub consumer_lag: Gauge<i64>,
    /// Time to run one command on one aggregate, retries included, by aggregate and outcome.
    pub command_duration: Histogram<f64>,
    /// Write conflicts that were retried, by aggregate.
    pub command_conflicts: Counter<u64>,
    /// Events applied by each projection.
    pub projection_events: Counter<u64>,
    /// Events stored but not yet applied, per projection.
    pub projection_lag_events: Gauge<i64>,
    /// Age of the oldest event not yet applied, per projection (0 when caught up).
    pub projection_lag_seconds: Gauge<f64>,
    /// Outreach cases open now.
    pub cases_open: Gauge<i64>,
    /// Open cases whose first contact is past due and not yet attempted.
    pub cases_overdue: Gauge<i64>,
    /// First-contact deadlines the deadline watch noticed had passed (one per case at most).
    pub deadlines_passed: Counter<u64>,
    /// Outbox messages recorded but not yet published (acknowledged by the broker).
    pub outbox_backlog: Gauge<i64>,
}

pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = global::meter("peer-outreach");
        Metrics {
            messages: meter
                .u64_counter("peer_outreach.intake.messages")
                .with_description("Inbound messages handled, by outcome and reason")
                .build(),
            consumer_lag: meter
                .i64_gauge("peer_outreach.intake.consumer_lag")
                .with_description("Messages behind the partition's high watermark")
                .build(),
            command_duration: meter
                .f64_histogram("peer_outreach.command.duration")
                .with_unit("s")
                .with_description("Time to run a command on an aggregate, retries included")
                .with_boundaries(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .build(),
            command_conflicts: meter
                .u64_counter("peer_outreach.command.conflicts")
                .with_description("Concurrent writes to one aggregate that were retried")
                .build(),
            projection_events: meter
                .u64_counter("peer_outreach.projection.events")
                .with_description("Events applied to a read model")
                .build(),
            projection_lag_events: meter
                .i64_gauge("peer_outreach.projection.lag_events")
                .with_description("Stored events a projection has not applied yet")
                .build(),
            projection_lag_seconds: meter
                .f64_gauge("peer_outreach.projection.lag")
                .with_unit("s")
                .with_description("Age of the oldest event a projection has not applied yet")
                .build(),
            cases_open: meter
                .i64_gauge("peer_outreach.cases.open")
                .with_description("Outreach cases open now")
                .build(),
            cases_overdue: meter
                .i64_gauge("peer_outreach.cases.overdue")
                .with_description(
                    "Open cases whose first contact is past due and not yet attempted",
                )
                .build(),
            deadlines_passed: meter
                .u64_counter("peer_outreach.deadlines.passed")
                .with_description(
                    "First-contact deadlines noticed as passed without a contact attempt",
                )
                .build(),
            outbox_backlog: meter
                .i64_gauge("peer_outreach.outbox.backlog")
                .with_description("Outbox messages recorded but not yet published")
                .build(),
        }
    })
}

pub fn attribute(key: &'static str, value: impl Into<opentelemetry::Value>) -> KeyValue {
    KeyValue::new(key, value)
}
