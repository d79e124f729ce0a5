//! Traces, metrics and logs.
//!
//! - Traces: tracing spans become OpenTelemetry spans (tracing-opentelemetry), exported over
//!   OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (or `telemetry.otlp = true`).
//! - Metrics: OpenTelemetry instruments, served in the Prometheus text format at `/metrics`
//!   and exported over OTLP alongside the traces.
//! - Logs: text or JSON lines, each with the trace and span id of the span it was written in.
//!
//! Span fields, metric labels and log lines carry ids, positions, types and reason codes only:
//! never personal or clinical data.

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, Settings};

const SERVICE_NAME: &str = "peer-outreach";

/// Flushes and stops the exporters when dropped (at the end of `main`).
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.tracer_provider.shutdown();
        if let Some(metrics) = METRICS.get() {
            let _ = metrics.provider.shutdown();
        }
    }
}

fn otlp_enabled(settings: &Settings) -> bool {
    settings.telemetry.otlp || std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
}

fn resource() -> Resource {
    Resource::builder().with_service_name(SERVICE_NAME).build()
}

/// Installs logging, tracing and metrics for the process. Call once, first thing in `main`.
pub fn init(settings: &Settings) -> anyhow::Result<TelemetryGuard> {
    let otlp = otlp_enabled(settings);
    install_metrics(otlp)?;
    let mut tracer_provider = SdkTracerProvider::builder().with_resource(resource());
    if otlp {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()?;
        tracer_provider = tracer_provider.with_batch_exporter(exporter);
    }
    // Without an exporter spans are still created: their ids tie log lines together.
    let tracer_provider = tracer_provider.build();
    let tracer = tracer_provider.tracer(SERVICE_NAME);
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());

    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.filter));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .event_format(LogLine {
            format: settings.log.format,
        });
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()?;
    Ok(TelemetryGuard { tracer_provider })
}

struct Metrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Installs the global meter provider (Prometheus, plus OTLP if `otlp`), once per process.
/// Must run before anything records a metric.
pub fn install_metrics(otlp: bool) -> anyhow::Result<()> {
    if METRICS.get().is_some() {
        return Ok(());
    }
    let registry = prometheus::Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()?;
    let mut provider = SdkMeterProvider::builder()
        .with_resource(resource())
        .with_reader(exporter);
    if otlp {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .build()?;
        provider = provider.with_periodic_exporter(exporter);
    }
    let provider = provider.build();
    if METRICS
        .set(Metrics {
            provider: provider.clone(),
            registry,
        })
        .is_ok()
    {
        opentelemetry::global::set_meter_provider(provider);
    }
    Ok(())
}

/// Every metric, in the Prometheus text format.
pub fn prometheus_text() -> String {
    use prometheus::Encoder;
    let Some(metrics) = METRICS.get() else {
        return String::new();
    };
    let mut text = Vec::new();
    if let Err(error) = prometheus::TextEncoder::new().encode(&metrics.registry.gather(), &mut text)
    {
        tracing::error!(%error, "could not encode the metrics");
    }
    String::from_utf8(text).unwrap_or_default()
}

/// A log line with the trace and span ids of the span it was written in.
struct LogLine {
    format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for LogLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let ids = outreach_telemetry::current_trace_ids();
        match self.format {
            LogFormat::Json => {
                let mut line = Map::new();
                line.insert("timestamp".into(), timestamp.into());
                line.insert("level".into(), metadata.level().as_str().into());
                line.insert("target".into(), metadata.target().into());
                if let Some((trace_id, span_id)) = ids {
                    line.insert("trace_id".into(), trace_id.into());
                    line.insert("span_id".into(), span_id.into());
                }
                if let Some(span) = ctx.lookup_current() {
                    line.insert("span".into(), span.name().into());
                }
                event.record(&mut JsonFields(&mut line));
                writeln!(writer, "{}", Value::Object(line))
            }
            LogFormat::Text => {
                write!(
                    writer,
                    "{timestamp} {:>5} {}",
                    metadata.level(),
                    metadata.target()
                )?;
                if let Some((trace_id, _)) = ids {
                    write!(writer, " trace_id={trace_id}")?;
                }
                write!(writer, ": ")?;
                ctx.field_format().format_fields(writer.by_ref(), event)?;
                writeln!(writer)
            }
        }
    }
}

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}
