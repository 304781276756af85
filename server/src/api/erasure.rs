//! Erasure and redaction through the API: an administrator credential erases one referral, or
//! only its notes, from every stored byte ([`signpost_domain::erasure`]). The answer comes once
//! the rewritten days are committed and the journal truncated; the relay drops the old days'
//! live copies within a tick, as it does for an erasure from the command line.
//!
//! Entry ids are chosen by whoever wrote the referral, so one id may be held by several schemes,
//! each a different referral: then the request must name the scheme (`?scheme=`), and is refused
//! with 409 and the schemes' ids until it does. An erasure only ever touches one scheme.

use super::auth::AdminToken;
use super::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use signpost_domain::db;
use signpost_domain::erasure::{self, Erasure, Target};
use signpost_shared::ids::DocumentId;

/// The longest entry id taken: ids are short (`referral:` then a few dozen characters).
const MAX_ENTRY: usize = 128;

/// Which scheme's referral: needed when more than one scheme holds a referral with the id.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Which {
    /// The scheme whose referral it is. Required when several schemes hold a referral with this
    /// id (409 until given); when given, only that scheme's referral is touched.
    scheme: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Erased {
    /// The entry, as given.
    entry: String,
    /// The scheme whose referral it was.
    scheme: String,
    /// `erased` or `notes redacted`.
    done: &'static str,
    /// Each day that held the entry and the document that now replaces it.
    days: Vec<Replacement>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Replacement {
    /// The day's old document id: refused from now on.
    old: String,
    /// Its replacement, holding the day as it is now without the erased content.
    new: String,
}

/// Erases a referral: its day's document is replaced by one whose history holds nothing of it,
/// and it is no longer counted.
#[utoipa::path(
    post,
    path = "/api/v1/referrals/{entry}/erase",
    params(("entry" = String, Path, description = "The referral's id: the key after `referral:` in its day's document"), Which),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Erased, description = "Erased from every stored byte; durable"),
        (status = 400, body = ErrorBody, description = "Not an entry id"),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not an administrator credential"),
        (status = 404, body = ErrorBody, description = "No stored day holds that referral (of the scheme named)"),
        (status = 409, body = ErrorBody, description = "Several schemes hold a referral with this id; the message names them: ask again with `?scheme=`"),
    )
)]
pub async fn erase(
    State(st): State<AppState>,
    _: AdminToken,
    Path(entry): Path<String>,
    which: Result<Query<Which>, QueryRejection>,
) -> Result<Json<Erased>, ApiError> {
    run(st, entry, which, Erasure::Erase).await
}

/// Redacts a referral's notes: its day's document is replaced by one whose history holds
/// nothing of them; the referral stays counted.
#[utoipa::path(
    post,
    path = "/api/v1/referrals/{entry}/redact-notes",
    params(("entry" = String, Path, description = "The referral's id: the key after `referral:` in its day's document"), Which),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Erased, description = "The notes removed from every stored byte; durable"),
        (status = 400, body = ErrorBody, description = "Not an entry id"),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not an administrator credential"),
        (status = 404, body = ErrorBody, description = "No stored day holds that referral (of the scheme named)"),
        (status = 409, body = ErrorBody, description = "Several schemes hold a referral with this id; the message names them: ask again with `?scheme=`"),
    )
)]
pub async fn redact_notes(
    State(st): State<AppState>,
    _: AdminToken,
    Path(entry): Path<String>,
    which: Result<Query<Which>, QueryRejection>,
) -> Result<Json<Erased>, ApiError> {
    run(st, entry, which, Erasure::RedactNotes).await
}

async fn run(
    st: AppState,
    entry: String,
    which: Result<Query<Which>, QueryRejection>,
    how: Erasure,
) -> Result<Json<Erased>, ApiError> {
    let Query(which) =
        which.map_err(|e| ApiError::BadRequest(format!("{}; expected at most scheme", e.body_text())))?;
    if entry.is_empty() || entry.len() > MAX_ENTRY || entry.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::BadRequest(format!(
            "an entry is the referral's id (the key after \"referral:\" in its day's document), 1 to {MAX_ENTRY} characters without spaces"
        )));
    }
    let e = entry.clone();
    let asked = which.scheme.filter(|s| !s.is_empty());
    let (done, scheme) = db::blocking(&st.store, move |c| -> Result<_, ApiError> {
        let scheme = match erasure::target(c, &e, asked.as_deref())? {
            Target::Scheme(s) => s,
            Target::Nowhere => return Err(not_found(&e, asked.as_deref())),
            Target::Several(schemes) => {
                return Err(ApiError::Conflict(format!(
                    "schemes {} each hold a referral with id {e}; name the one to change with ?scheme=",
                    schemes.join(", ")
                )))
            }
        };
        let new_id = || DocumentId::random(rand::random());
        let done = erasure::erase(c, &scheme, &e, how, "administrator credential", new_id)?;
        if done.is_empty() {
            return Err(not_found(&e, Some(&scheme)));
        }
        Ok((done, scheme))
    })
    .await?;
    let days = done.iter().map(|r| Replacement { old: r.old.to_string(), new: r.new.to_string() }).collect();
    let done = match how {
        Erasure::Erase => "erased",
        Erasure::RedactNotes => "notes redacted",
    };
    Ok(Json(Erased { entry, scheme, done, days }))
}

fn not_found(entry: &str, scheme: Option<&str>) -> ApiError {
    ApiError::NotFound(match scheme {
        Some(s) => format!("no stored day of scheme {s} holds a referral with id {entry}"),
        None => format!("no stored day holds a referral with id {entry}"),
    })
}
