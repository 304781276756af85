//! The sync endpoint: a tablet's WebSocket, authenticated once when it opens, whose frames go to
//! the relay ([`crate::relay::Hub`]) and whose replies come back through a bounded queue.

use super::auth::authenticate;
use super::error::ApiError;
use crate::auth;
use crate::relay::{Cmd, Hub, Outbound, OUTBOUND_QUEUE};
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use signpost_domain::tablets::Credential;
use signpost_shared::relay::Principal;

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
    let limit = st.max_message_bytes;
    // Small socket buffers: a thousand idle tablets should not cost a thousand large buffers.
    Ok(ws
        .read_buffer_size(16 << 10)
        .write_buffer_size(16 << 10)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve_socket(st.hub, socket, principal))
        .into_response())
}

async fn serve_socket(hub: Hub, socket: WebSocket, principal: Principal) {
    let conn = hub.next_conn_id();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(OUTBOUND_QUEUE);
    tracing::debug!(conn, device = %principal.device, "device connected");
    hub.send(Cmd::Connect { conn, principal, tx: out_tx }).await;
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            match out {
                Outbound::Frame(bytes) => {
                    if sink.send(WsMessage::Binary(bytes.into())).await.is_err() {
                        break;
                    }
                }
                Outbound::Close(reason) => {
                    let reason: String = reason.chars().take(120).collect();
                    let frame = CloseFrame { code: 1008, reason: reason.into() };
                    let _ = sink.send(WsMessage::Close(Some(frame))).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(WsMessage::Binary(b)) => hub.send(Cmd::Frame { conn, bytes: b.to_vec() }).await,
            Ok(WsMessage::Text(t)) => hub.send(Cmd::Frame { conn, bytes: t.as_bytes().to_vec() }).await,
            Ok(WsMessage::Close(_)) => break,
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => {}
            Err(e) => {
                hub.send(Cmd::Refuse { conn, reason: format!("transport error: {e}") }).await;
                break;
            }
        }
    }
    hub.send(Cmd::Disconnect { conn }).await;
    // Let the writer flush an error message and the close frame, but not hang on a dead peer.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}
