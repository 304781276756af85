//! The operator's surface: `GET /healthcheck` (liveness: the process answers HTTP) and
//! `GET /readiness` (the relay can serve: its database answers a read, the relay thread
//! answers, and its writes go through — each within a bound). A load balancer sends tablets
//! only to a ready relay; a supervisor restarts one that is not live. And `GET /metrics`
//! ([`crate::metrics`]).
//!
//! Readiness takes no lock and writes nothing: anyone may ask for it, as often as they like, and
//! a check that took the write lock made the relay's batches wait behind it. Whether writes go
//! through is what the relay thread recorded of its own ([`crate::commits`]): a holder of the
//! write lock stalls its batches (a tick makes one every second), which readiness then sees.

use crate::commits::{Seen, COMMITS};
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
    let (read, relay) = tokio::join!(read(&st), relay(&st));
    // Looked at once the relay thread answered or not: if it did not, this says whether it was
    // because its batch waits for the write lock.
    let database = read.and(writes(COMMITS.now(), relay.is_ok())).err().unwrap_or_else(|| "ok".into());
    let relay = relay.err().unwrap_or_else(|| "ok".into());
    let ok = database == "ok" && relay == "ok";
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Ready { status: if ok { "ok" } else { "unavailable" }, database, relay }))
}

/// The database answers a plain read (no write, no lock).
async fn read(st: &AppState) -> Result<(), String> {
    let read = signpost_domain::db::blocking(&st.store, |c| {
        let _: Option<String> = signpost_domain::sql::OptionalExtension::optional(c.query_row(
            "SELECT value FROM settings WHERE key = 'storage_id'",
            (),
            |r| r.get(0),
        ))?;
        anyhow::Ok(())
    });
    match tokio::time::timeout(CHECK_WITHIN, read).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the database did not answer a read: {e}")),
        Err(_) => Err(format!("the database did not answer a read within {} s", CHECK_WITHIN.as_secs())),
    }
}

/// The relay thread's writes go through: its last commit worked, and it is not waiting for the
/// write lock — for longer than the bound, or at all when it did not answer meanwhile.
fn writes(seen: Seen, relay_answered: bool) -> Result<(), String> {
    let bound = CHECK_WITHIN.as_millis() as i64;
    if let Some(ms) = seen.waiting_ms.filter(|ms| *ms >= bound || !relay_answered) {
        return Err(format!(
            "the database did not take the relay's writes: they have waited {:.1} s for its write lock",
            ms as f64 / 1000.0
        ));
    }
    match seen.last {
        Some((ago, false)) => Err(format!(
            "the relay's last commit, {:.1} s ago, failed; it is tried again every second",
            ago as f64 / 1000.0
        )),
        _ => Ok(()),
    }
}

/// The relay thread answers (it is not stuck in a commit or a loop). One whose batch has waited
/// for the write lock longer than the bound cannot, and is not asked.
async fn relay(st: &AppState) -> Result<(), String> {
    if COMMITS.now().waiting_ms.is_some_and(|ms| ms >= CHECK_WITHIN.as_millis() as i64) {
        return Err("the relay thread is waiting for the database's write lock".into());
    }
    match tokio::time::timeout(CHECK_WITHIN, st.hub.stats()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the relay thread has stopped".into()),
        Err(_) => Err(format!("the relay thread did not answer within {} s", CHECK_WITHIN.as_secs())),
    }
}

/// `GET /metrics`: the gauges read now, then everything in the Prometheus text format. No gauge
/// counts stored rows (a scrape costs the same however much is stored): the referrals are the
/// sum of the quarter figures that triggers keep as facts are written.
async fn metrics(State(st): State<AppState>) -> Response {
    let m = &*crate::metrics::METRICS;
    if let Some(s) = st.hub.stats().await {
        m.connections.set(s.connections as i64);
        m.live_documents.set(s.live_documents as i64);
    }
    let store = st.store.clone();
    let store_path = st.store.path().to_path_buf();
    let counted = signpost_domain::db::blocking(&store, |c| signpost_domain::figures::referrals_counted(c)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_fail_while_the_relay_waits_for_the_lock_or_its_last_commit_failed() {
        let seen = |waiting_ms, last| Seen { waiting_ms, last };
        assert!(writes(seen(None, None), true).is_ok(), "nothing committed yet");
        assert!(writes(seen(None, Some((300, true))), true).is_ok());
        assert!(writes(seen(Some(5), Some((300, true))), true).is_ok(), "a moment's wait is a commit's turn");
        let e = writes(seen(Some(2500), Some((3000, true))), true).unwrap_err();
        assert!(e.contains("did not take") && e.contains("2.5 s") && e.contains("write lock"), "{e}");
        assert!(writes(seen(Some(1200), Some((2000, true))), false).is_err(), "the reason the relay did not answer");
        let e = writes(seen(None, Some((400, false))), true).unwrap_err();
        assert!(e.contains("last commit") && e.contains("failed"), "{e}");
    }
}
