//! The relay's metrics (served at `GET /metrics` by [`crate::ops`]). Counts and sizes only: no
//! label carries a person's data or an id (routes are their patterns, refusals a fixed set of
//! kinds).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::sync::LazyLock;

pub struct Metrics {
    registry: Registry,
    pub connections: IntGauge,
    pub live_documents: IntGauge,
    pub referrals: IntGauge,
    pub database_bytes: IntGauge,
    pub batch_commands: Histogram,
    pub commit_seconds: Histogram,
    pub refusals: IntCounterVec,
    pub http_requests: IntCounterVec,
    pub throttled: IntCounterVec,
    pub purges: IntCounterVec,
    pub shutdowns: IntCounter,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
    r.register(Box::new(m.clone())).expect("each metric registered once");
    m
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let r = Registry::new_custom(Some("signpost".into()), None).expect("a registry");
    let gauge = |name: &str, help: &str| register(&r, IntGauge::new(name, help).expect("a gauge"));
    let counter = |name: &str, help: &str, labels: &[&str]| {
        register(&r, IntCounterVec::new(Opts::new(name, help), labels).expect("a counter"))
    };
    Metrics {
        connections: gauge("connections", "Tablet sockets open"),
        live_documents: gauge("live_documents", "Documents the relay holds in memory"),
        referrals: gauge("referrals_stored", "Referrals in the statistics (not voided), from the quarter figures"),
        database_bytes: gauge("database_bytes", "Size of the database file and its write-ahead log"),
        batch_commands: register(
            &r,
            Histogram::with_opts(
                HistogramOpts::new("batch_commands", "Commands the relay thread took in one batch")
                    .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
            )
            .expect("a histogram"),
        ),
        commit_seconds: register(
            &r,
            Histogram::with_opts(
                HistogramOpts::new("commit_seconds", "Time to commit one batch")
                    .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            )
            .expect("a histogram"),
        ),
        refusals: counter("sync_refusals_total", "Sockets the relay refused, by kind of reason", &["reason"]),
        http_requests: counter(
            "http_requests_total",
            "HTTP requests by route pattern and status",
            &["route", "status"],
        ),
        throttled: counter("throttled_total", "Attempts slowed or refused by a throttle", &["what"]),
        purges: counter("purge_runs_total", "Retention purges, by outcome", &["outcome"]),
        shutdowns: register(
            &r,
            IntCounter::new("shutdowns_total", "Stops begun (SIGTERM or SIGINT)").expect("a counter"),
        ),
        registry: r,
    }
});

/// The kind of a refusal's reason, from a fixed set (the reason itself names documents).
pub fn refusal_kind(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    let kinds = [
        ("revoked", "revoked"),
        ("too large", "too_large"),
        ("allowance", "allowance"),
        ("per day", "allowance"),
        ("not stored", "storage"),
        ("busy", "storage"),
        ("may not", "forbidden"),
        ("another site", "forbidden"),
        ("not valid", "invalid"),
        ("invalid", "invalid"),
        ("could not be applied", "invalid"),
        ("join", "no_join"),
        ("transport", "transport"),
        ("refused", "refused"),
    ];
    kinds.iter().find(|(k, _)| r.contains(k)).map_or("other", |(_, kind)| kind)
}

/// The layer that counts every request by its route pattern and status.
pub async fn count_requests(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let res = next.run(req).await;
    METRICS.http_requests.with_label_values(&[route.as_str(), res.status().as_str()]).inc();
    res
}

/// The registry's metrics in the Prometheus text format.
pub fn encoded() -> Option<Vec<u8>> {
    let mut out = Vec::new();
    TextEncoder::new().encode(&METRICS.registry.gather(), &mut out).ok()?;
    Some(out)
}
