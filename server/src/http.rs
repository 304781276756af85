//! The HTTP surface: `/sync` (WebSocket, automerge-repo protocol), `/api/v1/...` (JSON), and
//! the tablet app's static files.

use crate::error::{ApiError, ErrorBody};
use crate::hub::{Cmd, Hub, HubStats, Outbound, OUTBOUND_QUEUE};
use crate::stats::{self, Summary};
use crate::store::{self, Credential, Store};
use crate::throttle::Throttle;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use signpost_shared::relay::Principal;
use std::path::PathBuf;
use utoipa::OpenApi;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub max_message_bytes: usize,
    /// Cookies are marked `Secure` (the relay is reached through a TLS proxy).
    pub behind_tls: bool,
    pub guards: std::sync::Arc<Guards>,
    /// Disclosure control of national figures.
    pub disclosure: signpost_shared::disclosure::Policy,
}

/// Failure counters against guessing passwords and enrolment codes.
pub struct Guards {
    /// Wrong passwords per email address.
    pub sign_in_email: Throttle,
    /// Wrong passwords per network address.
    pub sign_in_ip: Throttle,
    /// Wrong enrolment codes per network address.
    pub enrol_ip: Throttle,
    /// Wrong enrolment codes from everywhere: with 31⁸ possible codes, 300 guesses per quarter
    /// hour give a guesser about one chance in 10⁹ per live code.
    pub enrol_all: Throttle,
}

impl Default for Guards {
    fn default() -> Guards {
        let quarter = std::time::Duration::from_secs(15 * 60);
        Guards {
            sign_in_email: Throttle::new(5, quarter),
            sign_in_ip: Throttle::new(50, quarter),
            enrol_ip: Throttle::new(10, quarter),
            enrol_all: Throttle::new(300, quarter),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Signpost API", description = "Statistics and administration for Signpost. Sync is over WebSocket at `/sync` (automerge-repo protocol)."),
    paths(health, device, enrol, equality, stats_summary, add_volunteer, crate::national::api),
    components(schemas(Summary, stats::Count, ErrorBody, Health, HubStats, DeviceInfo, Enrolment, Enrolled, EqualityForm, NewVolunteer, VolunteerOut)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router(state: AppState, static_dir: Option<PathBuf>) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/device", get(device))
        .route("/enrol", axum::routing::post(enrol))
        .route("/national", get(crate::national::api))
        .route("/equality", axum::routing::post(equality))
        .route("/stats/summary", get(stats_summary))
        .route("/schemes/{scheme}/volunteers", axum::routing::post(add_volunteer))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::NotFound("no such API endpoint; see /api/v1/openapi.json".into()) });
    let mut app = Router::new().route("/sync", get(sync)).nest("/api/v1", api).merge(crate::web::router());
    if let Some(dir) = static_dir {
        // The app shell is fetched once per release (the service worker keeps it). The build
        // writes brotli and (zopfli) gzip copies of the large files, served as they are; anything
        // without one is compressed on the fly. Either way ~1.5 MB becomes ~0.55 MB.
        let files = tower::ServiceBuilder::new()
            .layer(tower_http::compression::CompressionLayer::new())
            .service(tower_http::services::ServeDir::new(dir).precompressed_br().precompressed_gzip());
        app = app.fallback_service(files);
    }
    app.with_state(state)
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    relay: Option<HubStats>,
}

/// Liveness, and how many connections and documents the relay holds.
#[utoipa::path(get, path = "/api/v1/health", responses((status = 200, body = Health)))]
async fn health(State(st): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", relay: st.hub.stats().await })
}

/// The credential presented: `Authorization: Bearer …`, or a `token` query parameter (browsers
/// and automerge-repo's WebSocket adapter cannot set headers on a WebSocket).
pub(crate) fn presented_token(headers: &HeaderMap, query: &TokenQuery) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_owned());
        }
    }
    query.token.clone()
}

pub(crate) async fn authenticate(st: &AppState, token: Option<String>) -> Result<Credential, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::Unauthorized(
            "a credential is required: send `Authorization: Bearer <token>` or `?token=<token>`".into(),
        ));
    };
    let cred = store::blocking(&st.store, move |c| store::check_token(c, &token)).await?;
    cred.ok_or_else(|| ApiError::Unauthorized("the credential is not valid (unknown or revoked)".into()))
}

#[derive(Deserialize, Default)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

async fn sync(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let principal = match authenticate(&st, presented_token(&headers, &q)).await? {
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

#[derive(serde::Serialize, utoipa::ToSchema)]
struct DeviceInfo {
    device: String,
    scheme: String,
    scheme_name: String,
    site: String,
    site_name: String,
}

/// Which site and scheme a device credential belongs to (the tablet's set-up screen shows it).
#[utoipa::path(
    get,
    path = "/api/v1/device",
    security(("bearer" = [])),
    responses(
        (status = 200, body = DeviceInfo),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not a device credential"),
    )
)]
async fn device(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<DeviceInfo>, ApiError> {
    let Credential::Device(p) = authenticate(&st, presented_token(&headers, &TokenQuery::default())).await? else {
        return Err(ApiError::Forbidden("this endpoint is for device credentials".into()));
    };
    let site = p.site.clone();
    let names = store::blocking(&st.store, move |c| store::site_and_scheme_names(c, &site)).await?;
    let (site_name, scheme_name) =
        names.ok_or_else(|| ApiError::NotFound("the site of this credential no longer exists".into()))?;
    Ok(Json(DeviceInfo { device: p.device, scheme: p.scheme, scheme_name, site: p.site, site_name }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct Enrolment {
    /// The one-time code a coordinator created for the site, such as `ABCD-EFGH` (case, spaces
    /// and dashes do not matter).
    code: String,
    /// A name for this tablet that the coordinator will recognise in the list of tablets.
    #[serde(default)]
    name: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Enrolled {
    /// The tablet's credential for `/sync` and `/api/v1/device`. Shown once; only its hash is
    /// stored.
    token: String,
    #[serde(flatten)]
    #[schema(inline)]
    device: DeviceInfo,
}

/// Exchanges a one-time enrolment code for a tablet credential.
#[utoipa::path(
    post,
    path = "/api/v1/enrol",
    request_body = Enrolment,
    responses(
        (status = 201, body = Enrolled),
        (status = 400, body = ErrorBody, description = "Malformed body"),
        (status = 403, body = ErrorBody, description = "Unknown, expired or used code"),
        (status = 429, body = ErrorBody, description = "Too many wrong codes; wait"),
    )
)]
async fn enrol(
    State(st): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Result<Json<Enrolment>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<Enrolled>), ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::BadRequest(format!("{}; expected {{\"code\": \"ABCD-EFGH\", \"name\": \"…\"}}", e.body_text()))
    })?;
    let ip = format!("ip:{}", peer.ip());
    // Throttled before the code is even looked at: a blocked guesser learns nothing.
    if st.guards.enrol_ip.blocked(&ip) || st.guards.enrol_all.blocked("all") {
        return Err(ApiError::TooManyRequests(
            "too many wrong enrolment codes; wait 15 minutes, then ask your coordinator for a new code".into(),
        ));
    }
    let (code, name) = (body.code, body.name);
    let result = store::blocking(&st.store, move |conn| -> anyhow::Result<_> {
        let Some((token, p)) = crate::accounts::redeem_enrol_code(conn, &code, &name)? else { return Ok(None) };
        let names = store::site_and_scheme_names(conn, &p.site)?.unwrap_or_default();
        Ok(Some((token, p, names)))
    })
    .await
    .map_err(|e| match e.downcast::<crate::accounts::Refusal>() {
        Ok(r) => ApiError::BadRequest(r.0),
        Err(e) => ApiError::Internal(e),
    })?;
    let Some((token, p, (site_name, scheme_name))) = result else {
        st.guards.enrol_ip.fail(&ip);
        st.guards.enrol_all.fail("all");
        return Err(ApiError::Forbidden(
            "this enrolment code is not valid: codes work once, within 15 minutes; ask your coordinator for a new one"
                .into(),
        ));
    };
    let device = DeviceInfo { device: p.device, scheme: p.scheme, scheme_name, site: p.site, site_name };
    Ok((axum::http::StatusCode::CREATED, Json(Enrolled { token, device })))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct EqualityForm {
    /// The volunteer's roster id (they fill the form in under their own roster entry).
    volunteer: String,
    /// Question → answer code, for the questions answered; every question accepts
    /// `prefer-not-to-say`. Questions: age, sex, ethnic_group, religion, disability,
    /// sexual_orientation.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    answers: signpost_shared::equality::Answers,
}

/// A volunteer's equality-monitoring answers, sent by their desk's tablet. Stored on the server
/// only; replaces earlier answers; never shown singly.
#[utoipa::path(
    post,
    path = "/api/v1/equality",
    request_body = EqualityForm,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored"),
        (status = 400, body = ErrorBody, description = "Malformed body or an unknown question or answer"),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not a tablet credential"),
        (status = 404, body = ErrorBody, description = "The volunteer is not on the tablet's scheme's roster"),
    )
)]
async fn equality(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<EqualityForm>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::http::StatusCode, ApiError> {
    let Credential::Device(p) = authenticate(&st, presented_token(&headers, &TokenQuery::default())).await? else {
        return Err(ApiError::Forbidden("equality answers come from a desk's tablet".into()));
    };
    let Json(form) = body.map_err(|e| {
        ApiError::BadRequest(format!(
            "{}; expected {{\"volunteer\": \"vol-…\", \"answers\": {{\"sex\": \"female\", …}}}}",
            e.body_text()
        ))
    })?;
    form.answers.check().map_err(ApiError::BadRequest)?;
    store::blocking(&st.store, move |conn| -> Result<(), ApiError> {
        if !crate::store::on_roster(conn, &p.scheme, &form.volunteer)? {
            return Err(ApiError::NotFound("that volunteer is not on this scheme's roster".into()));
        }
        crate::accounts::store_equality(conn, &p.scheme, &form.volunteer, &form.answers)?;
        Ok(())
    })
    .await?;
    Ok(axum::http::StatusCode::CREATED)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewVolunteer {
    /// The name the volunteer picks at the desk (a first name and initial is enough).
    name: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct VolunteerOut {
    id: String,
    name: String,
    active: bool,
}

/// Adds a volunteer to a scheme's roster; every tablet of the scheme receives it.
#[utoipa::path(
    post,
    path = "/api/v1/schemes/{scheme}/volunteers",
    params(("scheme" = String, Path, description = "Scheme id")),
    request_body = NewVolunteer,
    security(("bearer" = [])),
    responses(
        (status = 201, body = VolunteerOut),
        (status = 400, body = ErrorBody, description = "Malformed body or name"),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not an administrator credential"),
        (status = 404, body = ErrorBody, description = "No such scheme"),
    )
)]
async fn add_volunteer(
    State(st): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(scheme): axum::extract::Path<String>,
    body: Result<Json<NewVolunteer>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<VolunteerOut>), ApiError> {
    if authenticate(&st, presented_token(&headers, &TokenQuery::default())).await? != Credential::Admin {
        return Err(ApiError::Forbidden("managing the roster needs an administrator credential".into()));
    }
    let Json(body) =
        body.map_err(|e| ApiError::BadRequest(format!("{}; expected {{\"name\": \"…\"}}", e.body_text())))?;
    let Some(name) = signpost_shared::schema::volunteer_name(&body.name) else {
        return Err(ApiError::BadRequest("a name must be 1 to 80 printable characters".into()));
    };
    let s2 = scheme.clone();
    let exists = store::blocking(&st.store, move |c| store::scheme_exists(c, &s2)).await?;
    if !exists {
        return Err(ApiError::NotFound(format!("no scheme with id {scheme:?}")));
    }
    let v = signpost_shared::schema::Volunteer { id: store::random_id("vol"), name, active: true, pin: None };
    let out = VolunteerOut { id: v.id.clone(), name: v.name.clone(), active: v.active };
    let write: signpost_shared::relay::Edit =
        Box::new(move |tx| signpost_shared::schema::write_volunteer(tx, &v).map_err(|e| e.to_string()));
    st.hub
        .edit(signpost_shared::schema::directory_id(&scheme), write)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok((axum::http::StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct SummaryQuery {
    /// Scheme id.
    scheme: String,
    /// First day, YYYY-MM-DD (inclusive).
    from: String,
    /// Last day, YYYY-MM-DD (inclusive).
    to: String,
}

/// Counts for one scheme over a period: by day, site, issue category, NOMS pathway, agency,
/// kind of help and who was helped, with volunteer hours from shifts.
#[utoipa::path(
    get,
    path = "/api/v1/stats/summary",
    params(SummaryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Summary),
        (status = 400, body = ErrorBody, description = "Malformed parameters"),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "The credential may not read statistics"),
        (status = 404, body = ErrorBody, description = "No such scheme"),
    )
)]
async fn stats_summary(
    State(st): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Summary>, ApiError> {
    let cred = authenticate(&st, presented_token(&headers, &TokenQuery::default())).await?;
    if cred != Credential::Admin {
        return Err(ApiError::Forbidden("statistics need an administrator credential".into()));
    }
    let Query(q) =
        query.map_err(|e| ApiError::BadRequest(format!("{}; expected scheme, from and to", e.body_text())))?;
    let (from, to) = stats::parse_period(&q.from, &q.to)?;
    let summary = store::blocking(&st.store, move |conn| -> Result<Summary, ApiError> {
        if !store::scheme_exists(conn, &q.scheme)? {
            return Err(ApiError::NotFound(format!("no scheme with id {:?}", q.scheme)));
        }
        Ok(stats::summary(conn, &q.scheme, from, to)?)
    })
    .await?;
    Ok(Json(summary))
}
