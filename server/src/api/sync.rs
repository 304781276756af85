//! The sync endpoint: a tablet's WebSocket, authenticated once when it opens, whose frames go to
//! the relay ([`crate::relay::Hub`]) and whose replies come back through a bounded queue.

use super::auth::authenticate;
use super::error::ApiError;
use crate::auth;
use crate::relay::{Cmd, Hub, Outbound, Outlet, OUTBOUND_QUEUE};
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use signpost_domain::tablets::Credential;
use signpost_shared::relay::Principal;
use std::time::{Duration, Instant};

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `/sync`: a tablet's WebSocket, which carries automerge-repo messages to and from the relay.
pub async fn sync(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let principal = match authenticate(&st.store, auth::presented_token(&headers, q.token.as_deref())).await? {
        Credential::Device(p) => p,
        Credential::Admin => return Err(ApiError::Forbidden("sync is for device credentials".into())),
    };
    let Ok(ws) = ws else {
        return Err(ApiError::BadRequest(
            "`/sync` is a WebSocket endpoint; connect with an automerge-repo client".into(),
        ));
    };
    let Some(place) = st.sockets.take(&principal.device) else {
        return Err(ApiError::TooManyRequests(format!(
            "this tablet already has {} connections open; close the others (or wait for them to time out)",
            st.sockets.per_device
        )));
    };
    let limit = st.max_message_bytes;
    let (join_within, keepalive) = (st.sockets.join_within, st.sockets.keepalive);
    // Small socket buffers: a thousand idle tablets should not cost a thousand large buffers.
    Ok(ws
        .protocols([auth::SYNC_PROTOCOL])
        .read_buffer_size(16 << 10)
        .write_buffer_size(16 << 10)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            let stopping = st.sockets.stopping();
            serve_socket(st.hub, socket, principal, join_within, keepalive, stopping).await;
            drop(place);
        })
        .into_response())
}

/// What a tablet is told when the relay stops (a restart or an upgrade).
pub const RESTARTING: &str = "the relay is restarting; reconnect in a moment";

async fn serve_socket(
    hub: Hub,
    socket: WebSocket,
    principal: Principal,
    join_within: Duration,
    keepalive: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let conn = hub.next_conn_id();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(OUTBOUND_QUEUE);
    let outlet = Outlet::new(out_tx.clone());
    let pinger = out_tx;
    tracing::debug!(conn, device = %principal.device, "device connected");
    let queued = outlet.queued();
    hub.send(Cmd::Connect { conn, principal, tx: outlet }).await;
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            match out {
                Outbound::Frame(bytes) => {
                    let len = bytes.len();
                    let sent = sink.send(WsMessage::Binary(bytes.into())).await;
                    queued.fetch_sub(len, std::sync::atomic::Ordering::Relaxed);
                    if sent.is_err() {
                        break;
                    }
                }
                Outbound::Ping => {
                    if sink.send(WsMessage::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                }
                Outbound::Close(reason) => {
                    let reason: String = reason.chars().take(120).collect();
                    let frame = CloseFrame { code: 1008, reason: reason.into() };
                    let _ = sink.send(WsMessage::Close(Some(frame))).await;
                    break;
                }
                Outbound::Restarting => {
                    let frame = CloseFrame { code: 1012, reason: RESTARTING.into() };
                    let _ = sink.send(WsMessage::Close(Some(frame))).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });
    // A socket must say something (its `join`) soon after it opens, and a quiet one is pinged:
    // one that neither speaks nor answers for three pings is a dead peer and is let go.
    let join_deadline = tokio::time::sleep(join_within);
    tokio::pin!(join_deadline);
    let mut joined = false;
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
    loop {
        tokio::select! {
            msg = stream.next() => {
                heard = Instant::now();
                match msg {
                    Some(Ok(WsMessage::Binary(b))) => {
                        joined = true;
                        hub.send(Cmd::Frame { conn, bytes: b.to_vec() }).await
                    }
                    Some(Ok(WsMessage::Text(t))) => {
                        joined = true;
                        hub.send(Cmd::Frame { conn, bytes: t.as_bytes().to_vec() }).await
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    None | Some(Ok(WsMessage::Close(_))) => break,
                    Some(Err(e)) => {
                        hub.send(Cmd::Refuse { conn, reason: format!("transport error: {e}") }).await;
                        break;
                    }
                }
            }
            _ = &mut join_deadline, if !joined => {
                let reason = format!("no join message within {} s of connecting", join_within.as_secs_f32());
                hub.send(Cmd::Refuse { conn, reason }).await;
                // The relay sends its reason and closes; the socket is held until the peer has
                // read that (it closes too), a few seconds at most.
                let _ = tokio::time::timeout(Duration::from_secs(5), async { while let Some(Ok(_)) = stream.next().await {} }).await;
                break;
            }
            _ = async { stopping.wait_for(|s| *s).await.map(|_| ()) } => {
                // The relay is stopping: what this socket sent is with the relay thread already
                // (it is drained and committed before the process ends). Say so, and wait a
                // moment for the tablet's own close.
                let _ = pinger.send(Outbound::Restarting).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = stream.next().await {} }).await;
                break;
            }
            _ = ping.tick() => {
                if heard.elapsed() > keepalive * 3 {
                    tracing::debug!(conn, "a silent socket let go");
                    break;
                }
                let _ = pinger.try_send(Outbound::Ping);
            }
        }
    }
    hub.send(Cmd::Disconnect { conn }).await;
    drop(pinger); // the writer ends once no one can queue for it
                  // Let the writer flush an error message and the close frame, but not hang on a dead peer.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}
