//! The operator's surface: `GET /healthcheck` (liveness: the process answers HTTP) and
//! `GET /readiness` (the relay can serve: its database takes a write and its relay thread
//! answers, each within a bound). A load balancer sends tablets only to a ready relay; a
//! supervisor restarts one that is not live. And `GET /metrics` ([`crate::metrics`]).

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::time::Duration;

/// How long each readiness check may take before it counts as failed.
const CHECK_WITHIN: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new().route("/healthcheck", get(live)).route("/readiness", get(ready)).route("/metrics", get(metrics))
}

#[derive(Serialize)]
struct Live {
    status: &'static str,
    version: &'static str,
}

async fn live() -> Json<Live> {
    Json(Live { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
    /// "ok", or what failed.
    database: String,
    relay: String,
}

async fn ready(State(st): State<AppState>) -> (StatusCode, Json<Ready>) {
    let (database, relay) = tokio::join!(database(&st), relay(&st));
    let ok = database == "ok" && relay == "ok";
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Ready { status: if ok { "ok" } else { "unavailable" }, database, relay }))
}

/// The database takes a write: it is reachable, and nothing holds its write lock for long (the
/// relay's commits would wait on it too).
async fn database(st: &AppState) -> String {
    let probe = signpost_domain::db::blocking(&st.store, |c| c.probe_write(CHECK_WITHIN));
    match tokio::time::timeout(CHECK_WITHIN + Duration::from_millis(500), probe).await {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => format!("the database did not take a write: {e}"),
        Err(_) => format!("the database did not answer within {} s", CHECK_WITHIN.as_secs()),
    }
}

/// The relay thread answers (it is not stuck in a commit or a loop).
async fn relay(st: &AppState) -> String {
    match tokio::time::timeout(CHECK_WITHIN, st.hub.stats()).await {
        Ok(Some(_)) => "ok".into(),
        Ok(None) => "the relay thread has stopped".into(),
        Err(_) => format!("the relay thread did not answer within {} s", CHECK_WITHIN.as_secs()),
    }
}

/// `GET /metrics`: the gauges read now, then everything in the Prometheus text format.
async fn metrics(State(st): State<AppState>) -> Response {
    let m = &*crate::metrics::METRICS;
    if let Some(s) = st.hub.stats().await {
        m.connections.set(s.connections as i64);
        m.live_documents.set(s.live_documents as i64);
    }
    let store = st.store.clone();
    let store_path = st.store.path().to_path_buf();
    let counted = signpost_domain::db::blocking(&store, |c| {
        c.query_row("SELECT count(*) FROM referral_facts", (), |r| r.get::<_, i64>(0)).map_err(anyhow::Error::from)
    })
    .await;
    if let Ok(n) = counted {
        m.referrals.set(n);
    }
    if let Ok(bytes) =
        signpost_domain::db::blocking(&store, move |c| signpost_domain::db::size_bytes(&store_path, c)).await
    {
        m.database_bytes.set(bytes as i64);
    }
    match crate::metrics::encoded() {
        Some(out) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
