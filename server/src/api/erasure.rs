//! Erasure and redaction through the API: an administrator credential erases one referral, or
//! only its notes, from every stored byte ([`signpost_domain::erasure`]). The answer comes once
//! the rewritten days are committed and the journal truncated; the relay drops the old days'
//! live copies within a tick, as it does for an erasure from the command line.

use super::auth::AdminToken;
use super::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use signpost_domain::db;
use signpost_domain::erasure::{self, Erasure};
use signpost_shared::ids::DocumentId;

/// The longest entry id taken: ids are short (`referral:` then a few dozen characters).
const MAX_ENTRY: usize = 128;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Erased {
    /// The entry, as given.
    entry: String,
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
    params(("entry" = String, Path, description = "The referral's id: the key after `referral:` in its day's document")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Erased, description = "Erased from every stored byte; durable"),
        (status = 400, body = ErrorBody, description = "Not an entry id"),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not an administrator credential"),
        (status = 404, body = ErrorBody, description = "No stored day holds that referral"),
    )
)]
pub async fn erase(
    State(st): State<AppState>,
    _: AdminToken,
    Path(entry): Path<String>,
) -> Result<Json<Erased>, ApiError> {
    run(st, entry, Erasure::Erase).await
}

/// Redacts a referral's notes: its day's document is replaced by one whose history holds
/// nothing of them; the referral stays counted.
#[utoipa::path(
    post,
    path = "/api/v1/referrals/{entry}/redact-notes",
    params(("entry" = String, Path, description = "The referral's id: the key after `referral:` in its day's document")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Erased, description = "The notes removed from every stored byte; durable"),
        (status = 400, body = ErrorBody, description = "Not an entry id"),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not an administrator credential"),
        (status = 404, body = ErrorBody, description = "No stored day holds that referral"),
    )
)]
pub async fn redact_notes(
    State(st): State<AppState>,
    _: AdminToken,
    Path(entry): Path<String>,
) -> Result<Json<Erased>, ApiError> {
    run(st, entry, Erasure::RedactNotes).await
}

async fn run(st: AppState, entry: String, how: Erasure) -> Result<Json<Erased>, ApiError> {
    if entry.is_empty() || entry.len() > MAX_ENTRY || entry.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::BadRequest(format!(
            "an entry is the referral's id (the key after \"referral:\" in its day's document), 1 to {MAX_ENTRY} characters without spaces"
        )));
    }
    let e = entry.clone();
    let done = db::blocking(&st.store, move |c| {
        erasure::erase(c, &e, how, "administrator credential", || DocumentId::random(rand::random()))
    })
    .await?;
    if done.is_empty() {
        return Err(ApiError::NotFound(format!("no stored day holds a referral with id {entry}")));
    }
    let days = done.iter().map(|r| Replacement { old: r.old.to_string(), new: r.new.to_string() }).collect();
    let done = match how {
        Erasure::Erase => "erased",
        Erasure::RedactNotes => "notes redacted",
    };
    Ok(Json(Erased { entry, done, days }))
}
