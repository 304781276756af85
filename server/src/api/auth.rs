//! The API's extractors of who is asking: a handler that takes [`Tablet`] or [`AdminToken`]
//! cannot run for anyone else. The credential is the `Authorization: Bearer` header (only
//! `/sync` also reads `?token=`, see [`authenticate`]).

use super::error::ApiError;
use crate::auth;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use signpost_domain::db::Store;
use signpost_domain::tablets::Credential;
use signpost_shared::relay::Principal;

/// The credential `token` stands for, or why there is none.
pub async fn authenticate(store: &Store, token: Option<String>) -> Result<Credential, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::Unauthorized(
            "a credential is required: send `Authorization: Bearer <token>` or `?token=<token>`".into(),
        ));
    };
    auth::credential(store, token)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the credential is not valid (unknown or revoked)".into()))
}

async fn from_header(parts: &Parts, st: &AppState) -> Result<Credential, ApiError> {
    authenticate(&st.store, auth::presented_token(&parts.headers, None)).await
}

/// A tablet's credential: which device, scheme and site is asking.
pub struct Tablet(pub Principal);

impl FromRequestParts<AppState> for Tablet {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Tablet, ApiError> {
        match from_header(parts, st).await? {
            Credential::Device(p) => Ok(Tablet(p)),
            Credential::Admin => Err(ApiError::Forbidden("this is for tablets: it takes device credentials".into())),
        }
    }
}

/// An administrator credential (the relay's operators and scripts).
pub struct AdminToken;

impl FromRequestParts<AppState> for AdminToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<AdminToken, ApiError> {
        match from_header(parts, st).await? {
            Credential::Admin => Ok(AdminToken),
            Credential::Device(_) => Err(ApiError::Forbidden("this needs an administrator credential".into())),
        }
    }
}
