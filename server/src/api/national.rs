//! National figures as JSON: the same disclosure-controlled tables as the national page and its
//! CSV ([`signpost_domain::national`] computes them once for all three).

use super::auth::authenticate;
use super::error::{ApiError, ErrorBody};
use crate::auth;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use signpost_domain::accounts::Role;
use signpost_domain::db;
use signpost_domain::national::{self, National};
use signpost_domain::tablets::Credential;

#[derive(Deserialize, Default)]
pub struct QuarterQuery {
    quarter: Option<String>,
}

/// National figures for a calendar quarter (default: the last complete one), disclosure control
/// applied: the same tables as the national page and its CSV. For a national reviewer's or
/// administrator's session, or an administrator credential.
#[utoipa::path(
    get,
    path = "/api/v1/national",
    params(("quarter" = Option<String>, Query, description = "A quarter like 2026-Q3, one of the last eight complete ones")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Measures by region and kind of scheme for the quarter and the one before, and diversity tables; suppressed counts read \"suppressed\""),
        (status = 400, body = ErrorBody, description = "A quarter not on offer"),
        (status = 401, body = ErrorBody, description = "Not signed in and no valid credential"),
        (status = 403, body = ErrorBody, description = "Not a national reviewer or administrator"),
    )
)]
pub async fn national(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<QuarterQuery>,
) -> Result<Json<National>, ApiError> {
    match auth::presented_token(&headers, None) {
        Some(token) => match authenticate(&st.store, Some(token)).await? {
            Credential::Admin => {}
            _ => return Err(ApiError::Forbidden("national figures need a national reviewer".into())),
        },
        None => {
            let user = auth::session(&st.store, &jar)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("sign in as a national reviewer".into()))?
                .user;
            if !matches!(user.role, Role::National | Role::Admin) {
                return Err(ApiError::Forbidden("national figures are for national reviewers".into()));
            }
        }
    }
    let today = chrono::Utc::now().date_naive();
    let quarter = national::chosen(q.quarter.as_deref(), today)?;
    let policy = st.disclosure;
    Ok(Json(db::blocking(&st.store, move |c| national::published(c, quarter, &policy, today)).await?))
}
