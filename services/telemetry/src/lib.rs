//! What every stage of peer-outreach shares for observability: W3C trace-context propagation
//! across Kafka headers, event metadata and HTTP headers, and the metric instruments.
//!
//! Nothing here may carry personal or clinical data: span fields and metric attributes are ids,
//! positions, types, outcomes and reason codes only.

pub mod metrics;

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C trace-context fields (`traceparent`, `tracestate`) of `span`, to carry onwards.
pub fn trace_context_of(span: &tracing::Span) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut fields);
    fields
}

/// Makes `span` a child of the trace context found in `carrier`, if there is a valid one.
pub fn continue_trace<'a>(
    span: &tracing::Span,
    carrier: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let pairs = Pairs(carrier.into_iter().collect());
    let context = TraceContextPropagator::new().extract(&pairs);
    if context.span().span_context().is_valid() {
        // Fails only if the span is already closed or has no OpenTelemetry layer: nothing to do.
        let _ = span.set_parent(context);
    }
}

/// The trace id of the current span, when it has one (for logs).
pub fn current_trace_ids() -> Option<(String, String)> {
    let context: Context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

/// The propagation fields, and whether a header name is one of them.
pub fn is_trace_field(name: &str) -> bool {
    name.eq_ignore_ascii_case("traceparent") || name.eq_ignore_ascii_case("tracestate")
}

struct Pairs<'a>(Vec<(&'a str, &'a str)>);

impl Extractor for Pairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| *k).collect()
    }
}
