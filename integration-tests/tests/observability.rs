//! Operators see where a report is and how far behind each stage runs, without ever seeing
//! personal or clinical data.

use integration_tests::reports::{incident, incident_with_clinical_detail, staff};
use integration_tests::{eventually, metric_value, TestBed};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use outreach_intake::sample::{encode, Encoded, Mode};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PRODUCER_SPAN_ID: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn one_trace_follows_a_report_from_the_message_through_its_commands_to_the_read_model() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .init();

    let bed = TestBed::new().await;
    let canary = format!("CANARY{}", bed.id.to_uppercase());
    let service = bed.start().await;
    let event = incident_with_clinical_detail(
        "INC-TRACE",
        vec![staff("T1", "nurse"), staff("T2", "physician")],
        &canary,
    );
    let mut record = encode(&event, Mode::Binary).unwrap();
    // The safety-reporting system's own span, as it would send it.
    record.headers.push((
        "traceparent".into(),
        format!("00-{TRACE_ID}-{PRODUCER_SPAN_ID}-01"),
    ));
    bed.publish_raw(Some("INC-TRACE"), &record).await;
    bed.wait_for_cases(&service, "two cases", |cases| cases.len() == 2)
        .await;
    service.stop().await;
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let intake = named("intake.message");
    assert_eq!(intake.len(), 1, "one span for the one message");
    let intake = intake[0];
    assert_eq!(
        intake.span_context.trace_id().to_string(),
        TRACE_ID,
        "the producer's trace continues"
    );
    assert_eq!(intake.parent_span_id.to_string(), PRODUCER_SPAN_ID);

    let commands = named("command.execute");
    // The report, each member's record (one open case per member), and the two cases.
    assert_eq!(
        commands.len(),
        5,
        "the report, two members and their two cases"
    );
    for command in &commands {
        assert_eq!(
            command.span_context.trace_id(),
            intake.span_context.trace_id()
        );
        assert_eq!(command.parent_span_id, intake.span_context.span_id());
    }

    // Each projection applies the events it reads, each in a span of its own; follow the
    // outreach read model's updates: of the five events stored, it reads the two openings.
    let applied: Vec<_> = named("projection.apply")
        .into_iter()
        .filter(|s| {
            s.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "projection" && kv.value.as_str() == "outreach")
        })
        .collect();
    assert_eq!(
        applied.len(),
        2,
        "every event of those commands that the read model reads was projected"
    );
    assert!(applied.iter().all(|s| s
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "event_type" && kv.value.as_str() == "CaseOpened")));
    for projection in &applied {
        assert_eq!(
            projection.span_context.trace_id(),
            intake.span_context.trace_id()
        );
        assert!(
            commands
                .iter()
                .any(|c| c.span_context.span_id() == projection.parent_span_id),
            "each projection update is a child of the command that stored its event"
        );
    }

    let exported = format!("{spans:?}");
    assert!(
        !exported.contains(&canary),
        "an exported span holds clinical detail"
    );
    assert!(
        !exported.contains("GivenT1") && !exported.contains("t1@example.org"),
        "an exported span holds personal data"
    );
}

#[tokio::test]
async fn metrics_count_messages_and_dead_letters_and_show_projection_lag_rise_and_fall() {
    let bed = TestBed::with(|s| {
        s.kafka.partitions = 1;
        s.projections.enabled = false; // this instance only takes messages in
        s.telemetry.gauge_interval_ms = 100;
    })
    .await;
    let intake_only = bed.start().await;
    for n in 0..3 {
        bed.publish(
            &incident(&format!("INC-M{n}"), vec![staff(&format!("M{n}"), "nurse")]),
            Mode::Structured,
        )
        .await;
    }
    bed.publish_raw(
        Some("bad"),
        &Encoded {
            headers: vec![],
            payload: b"not json".to_vec(),
        },
    )
    .await;

    // Each report stores three events (the report's, the member's record, the case's): nine,
    // none projected.
    let text = wait_for_metrics(
        &bed,
        &intake_only,
        "messages counted and lag measured",
        |text| {
            metric_value(
                text,
                "peer_outreach_intake_messages_total",
                &[r#"outcome="applied""#],
            ) == Some(3.0)
                && metric_value(
                    text,
                    "peer_outreach_intake_messages_total",
                    &[r#"outcome="dead_lettered""#, r#"reason="not-json""#],
                ) == Some(1.0)
                && metric_value(
                    text,
                    "peer_outreach_projection_lag_events",
                    &[r#"projection="outreach""#],
                ) == Some(9.0)
        },
    )
    .await;
    assert!(metric_value(
        &text,
        "peer_outreach_command_duration_seconds_count",
        &[r#"aggregate="OutreachCase""#]
    )
    .is_some());

    // Another instance keeps the read models: the lag falls to zero and the cases are counted.
    // (Its bed takes the first bed's settings wholesale; only the first bed's database is dropped.)
    let projector = TestBed::with(|s| {
        s.clone_from(&bed.settings);
        s.http.listen = "127.0.0.1:0".parse().unwrap();
        s.projections.enabled = true;
    })
    .await;
    let keeper = projector.start().await;
    wait_for_metrics(&bed, &intake_only, "the lag to fall", |text| {
        metric_value(
            text,
            "peer_outreach_projection_lag_events",
            &[r#"projection="outreach""#],
        ) == Some(0.0)
            && metric_value(text, "peer_outreach_cases_open", &[]) == Some(3.0)
    })
    .await;
    keeper.stop().await;
    intake_only.stop().await;
}

async fn wait_for_metrics(
    bed: &TestBed,
    service: &peer_outreach::Service,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    eventually(what, || bed.metrics(service), |text| done(text)).await
}
