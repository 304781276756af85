//! The relay's log: readable text on a terminal, or one JSON object a line (`--log-format json`)
//! for a log pipeline, in the GDS way: `@timestamp` (ISO 8601, UTC), `level`, `message`,
//! `target`, and the event's own fields in snake_case beside them.
//!
//! Nothing secret is written: requests are logged by route and path without their query (where
//! `token=` and set-password `code=` travel), and no header (`Authorization`, `Cookie`) or body
//! is ever a field.
//!
//! The JSON form is written here rather than with tracing-subscriber's own JSON formatter,
//! which nests the fields and names the time `timestamp`.

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Starts the log on standard error: `filter` (`signpost=debug`, say) if given, else `RUST_LOG`,
/// else `signpost=info`.
pub fn init(format: Format, filter: Option<&str>) {
    let filter = match filter {
        Some(f) => tracing_subscriber::EnvFilter::new(f),
        None => tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "signpost=info".into()),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        Format::Text => builder.init(),
        Format::Json => builder.event_format(Gds).init(),
    }
}

/// One JSON object a line, GDS field names.
struct Gds;

#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

impl<S, N> FormatEvent<S, N> for Gds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "@timestamp".into(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into(),
        );
        line.insert("level".into(), event.metadata().level().as_str().to_ascii_lowercase().into());
        line.insert("message".into(), fields.0.remove("message").unwrap_or(Value::String(String::new())));
        line.insert("target".into(), event.metadata().target().into());
        for (k, v) in fields.0 {
            line.insert(k, v);
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// The request log: one line a request, when it is answered, at `info`: method, path (never the
/// query), status and time taken.
pub async fn requests(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    tracing::info!(
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    res
}
