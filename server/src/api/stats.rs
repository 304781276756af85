//! A scheme's statistics over a period, for scripts with an administrator credential.

use super::auth::AdminToken;
use super::error::{ApiError, ErrorBody};
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use signpost_domain::db::{self, Store};
use signpost_domain::schemes;
use signpost_domain::stats::{self, Summary};

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SummaryQuery {
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
pub async fn stats_summary(
    State(store): State<Store>,
    _: AdminToken,
    query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Summary>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::BadRequest(format!("{}; expected scheme, from and to", e.body_text())))?;
    let (from, to) = stats::parse_period(&q.from, &q.to)?;
    let summary = db::blocking(&store, move |conn| -> Result<Summary, ApiError> {
        if !schemes::scheme_exists(conn, &q.scheme)? {
            return Err(ApiError::NotFound(format!("no scheme with id {:?}", q.scheme)));
        }
        Ok(stats::summary(conn, &q.scheme, from, to)?)
    })
    .await?;
    Ok(Json(summary))
}
