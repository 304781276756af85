//! The roster through the API: scripts with an administrator credential add volunteers to a
//! scheme; the change is a server-side edit of the scheme's directory document, so every tablet
//! of the scheme receives it, and it is audited.

use super::auth::AdminToken;
use super::error::{ApiError, ErrorBody};
use crate::relay::Record;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use signpost_domain::audit::audit;
use signpost_domain::db;
use signpost_domain::schemes;
use signpost_domain::util::random_id;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewVolunteer {
    /// The name the volunteer picks at the desk (a first name and initial is enough).
    name: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct VolunteerOut {
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
pub async fn add_volunteer(
    State(st): State<AppState>,
    _: AdminToken,
    axum::extract::Path(scheme): axum::extract::Path<String>,
    body: Result<Json<NewVolunteer>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<VolunteerOut>), ApiError> {
    let Json(body) = body.map_err(|e| super::error::json_rejected(e, r#"{"name": "…"}"#))?;
    let Some(name) = signpost_shared::schema::volunteer_name(&body.name) else {
        return Err(ApiError::BadRequest("a name must be 1 to 80 printable characters".into()));
    };
    let s2 = scheme.clone();
    let exists = db::blocking(&st.store, move |c| schemes::scheme_exists(c, &s2)).await?;
    if !exists {
        return Err(ApiError::NotFound(format!("no scheme with id {scheme:?}")));
    }
    let v = signpost_shared::schema::Volunteer { id: random_id("vol"), name, active: true, pin: None };
    let out = VolunteerOut { id: v.id.clone(), name: v.name.clone(), active: v.active };
    // Audited like a roster change from the web pages, in the same transaction as the change.
    let (sc, detail) = (scheme.clone(), format!("volunteer {} ({})", v.id, v.name));
    let record: Record = Box::new(move |c| audit(c, "administrator credential", "volunteer added", Some(&sc), &detail));
    let write: signpost_shared::relay::Edit =
        Box::new(move |tx| signpost_shared::schema::write_volunteer(tx, &v).map_err(|e| e.to_string()));
    st.hub
        .edit_recorded(signpost_shared::schema::directory_id(&scheme), write, Some(record))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok((axum::http::StatusCode::CREATED, Json(out)))
}
