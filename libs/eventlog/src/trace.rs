//! W3C trace context (`traceparent`, `tracestate`) carried in NATS headers,
//! so one trace runs from a gRPC call through the event to every projection.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Writes `span`'s context into `headers`.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// Makes `span` a child of the context carried in `headers`, if any.
pub fn set_parent_from(span: &tracing::Span, headers: &HeaderMap) {
    let parent =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    // A span without an OpenTelemetry layer ignores this; that is fine.
    let _ = span.set_parent(parent);
}

/// Links `span` to the context carried in `headers`, if any, without making
/// it a child: for work that runs long after its cause (a scheduled
/// rotation), which starts a trace of its own.
pub fn link_from(span: &tracing::Span, headers: &HeaderMap) {
    let cause =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    let context = cause.span().span_context().clone();
    if context.is_valid() {
        span.add_link(context);
    }
}
