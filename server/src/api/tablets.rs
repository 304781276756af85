//! What tablets ask of the API besides sync: who they are, enrolment with a one-time code, and
//! a volunteer's equality-monitoring answers.

use super::auth::Tablet;
use super::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use signpost_domain::db::{self, documents, Store};
use signpost_domain::{equality, schemes, tablets};

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DeviceInfo {
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
pub async fn device(State(store): State<Store>, Tablet(p): Tablet) -> Result<Json<DeviceInfo>, ApiError> {
    let site = p.site.clone();
    let names = db::blocking(&store, move |c| schemes::site_and_scheme_names(c, &site)).await?;
    let (site_name, scheme_name) =
        names.ok_or_else(|| ApiError::NotFound("the site of this credential no longer exists".into()))?;
    Ok(Json(DeviceInfo { device: p.device, scheme: p.scheme, scheme_name, site: p.site, site_name }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DocumentFate {
    /// `stored`, `removed` (past the retention period: drop it) or `replaced` (an entry of the
    /// day was erased or its notes redacted: open `replaced_by`, carry over what has not synced,
    /// and drop this one).
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced_by: Option<String>,
}

/// What became of one of the tablet's site's documents. A tablet asks when the relay says a
/// document it holds is unavailable.
#[utoipa::path(
    get,
    path = "/api/v1/device/documents/{doc}",
    params(("doc" = String, Path, description = "Document id (automerge-repo form)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DocumentFate),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not a device credential"),
        (status = 404, body = ErrorBody, description = "Not a document of the tablet's site"),
    )
)]
pub async fn document_fate(
    State(store): State<Store>,
    Tablet(p): Tablet,
    axum::extract::Path(doc): axum::extract::Path<String>,
) -> Result<Json<DocumentFate>, ApiError> {
    let unknown = || ApiError::NotFound("no such document of this tablet's site".into());
    let id: signpost_shared::ids::DocumentId = doc.parse().map_err(|_| unknown())?;
    let site = p.site.clone();
    let fate = db::blocking(&store, move |c| documents::fate(c, &id, &site)).await?.ok_or_else(unknown)?;
    Ok(Json(match fate {
        documents::Fate::Stored => DocumentFate { state: "stored", replaced_by: None },
        documents::Fate::Removed => DocumentFate { state: "removed", replaced_by: None },
        documents::Fate::Replaced(by) => DocumentFate { state: "replaced", replaced_by: Some(by.to_string()) },
    }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FollowUpDays {
    /// The site's desk-day documents that hold a referral whose follow-up is still open, oldest
    /// first: a tablet keeps these, and fetches any it lacks, whatever their age.
    documents: Vec<String>,
}

/// The days of the tablet's site with open follow-ups, so that every tablet of the desk can list
/// them (a tablet set up today holds none of the days before).
#[utoipa::path(
    get,
    path = "/api/v1/device/follow-ups",
    security(("bearer" = [])),
    responses(
        (status = 200, body = FollowUpDays),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not a device credential"),
    )
)]
pub async fn follow_up_days(State(store): State<Store>, Tablet(p): Tablet) -> Result<Json<FollowUpDays>, ApiError> {
    let site = p.site.clone();
    let documents = db::blocking(&store, move |c| signpost_domain::stats::open_follow_up_days(c, &site)).await?;
    Ok(Json(FollowUpDays { documents }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The one-time code a coordinator created for the site, such as `ABCD-EFGH` (case, spaces
    /// and dashes do not matter).
    code: String,
    /// A name for this tablet that the coordinator will recognise in the list of tablets.
    #[serde(default)]
    name: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Enrolled {
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
pub async fn enrol(
    State(st): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    body: Result<Json<Enrolment>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<Enrolled>), ApiError> {
    let Json(body) = body.map_err(|e| super::error::json_rejected(e, r#"{"code": "ABCD-EFGH", "name": "…"}"#))?;
    let ip = format!("ip:{}", crate::auth::client_key(st.trust_forwarded_for, peer, &headers));
    // Counted before the code is even looked at: a blocked guesser learns nothing, and a burst of
    // guesses at once gets no more through than one after another.
    let Some(attempt) = st.guards.enrol_ip.reserve(&ip).await else {
        crate::metrics::METRICS.throttled.with_label_values(&["enrolment"]).inc();
        return Err(ApiError::TooManyRequests(
            "too many wrong enrolment codes; wait 15 minutes, then ask your coordinator for a new code".into(),
        ));
    };
    let turn = st.guards.enrol_all.turn("all").await;
    let (code, name) = (body.code, body.name);
    let result = db::blocking(&st.store, move |conn| -> anyhow::Result<_> {
        let Some((token, p)) = tablets::redeem_enrol_code(conn, &code, &name)? else { return Ok(None) };
        let names = schemes::site_and_scheme_names(conn, &p.site)?.unwrap_or_default();
        Ok(Some((token, p, names)))
    })
    .await?;
    let Some((token, p, (site_name, scheme_name))) = result else {
        turn.failed();
        drop(attempt); // counted
        return Err(ApiError::Forbidden(
            "this enrolment code is not valid: codes work once, within 15 minutes; ask your coordinator for a new one"
                .into(),
        ));
    };
    attempt.release().await;
    drop(turn);
    let device = DeviceInfo { device: p.device, scheme: p.scheme, scheme_name, site: p.site, site_name };
    Ok((axum::http::StatusCode::CREATED, Json(Enrolled { token, device })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EqualityForm {
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
pub async fn equality(
    State(store): State<Store>,
    Tablet(p): Tablet,
    body: Result<Json<EqualityForm>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::http::StatusCode, ApiError> {
    let Json(form) =
        body.map_err(|e| super::error::json_rejected(e, r#"{"volunteer": "vol-…", "answers": {"sex": "female", …}}"#))?;
    form.answers.check().map_err(ApiError::BadRequest)?;
    db::blocking(&store, move |conn| -> Result<(), ApiError> {
        if !documents::on_roster(conn, &p.scheme, &form.volunteer)? {
            return Err(ApiError::NotFound("that volunteer is not on this scheme's roster".into()));
        }
        equality::store_equality(conn, &p.scheme, &form.volunteer, &form.answers)?;
        Ok(())
    })
    .await?;
    Ok(axum::http::StatusCode::CREATED)
}
