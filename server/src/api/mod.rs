//! The machine surface: `/sync` (WebSocket, automerge-repo protocol) and `/api/v1/…` (JSON,
//! described at `/api/v1/openapi.json`). One module per family of endpoints; who may call each is
//! the extractor it takes ([`auth`]); every failure is an [`error::ApiError`].

mod agencies;
pub mod auth;
mod erasure;
pub mod error;
mod national;
mod roster;
mod stats;
mod sync;
mod tablets;

use crate::relay::HubStats;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use error::{ApiError, ErrorBody};
use signpost_domain::stats::{Count, Summary};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Signpost API", description = "Statistics and administration for Signpost. Sync is over WebSocket at `/sync` (automerge-repo protocol)."),
    paths(health, tablets::device, tablets::document_fate, tablets::follow_up_days, tablets::enrol, tablets::equality, stats::stats_summary, roster::add_volunteer, agencies::add_agency, national::national, erasure::erase, erasure::redact_notes),
    components(schemas(Summary, Count, signpost_domain::stats::FollowUps, ErrorBody, Health, HubStats, tablets::DeviceInfo, tablets::DocumentFate, tablets::FollowUpDays, tablets::Enrolment, tablets::Enrolled, tablets::EqualityForm, roster::NewVolunteer, roster::VolunteerOut, agencies::NewAgency, agencies::AgencyOut, erasure::Erased, erasure::Replacement)),
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

/// `/sync` and `/api/v1/…`.
pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/health", get(health))
        .route("/device", get(tablets::device))
        .route("/device/documents/{doc}", get(tablets::document_fate))
        .route("/device/follow-ups", get(tablets::follow_up_days))
        .route("/enrol", post(tablets::enrol))
        .route("/national", get(national::national))
        .route("/equality", post(tablets::equality))
        .route("/stats/summary", get(stats::stats_summary))
        .route("/schemes/{scheme}/volunteers", post(roster::add_volunteer))
        .route("/schemes/{scheme}/agencies", post(agencies::add_agency))
        .route("/referrals/{entry}/erase", post(erasure::erase))
        .route("/referrals/{entry}/redact-notes", post(erasure::redact_notes))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::NotFound("no such API endpoint; see /api/v1/openapi.json".into()) });
    Router::new().route("/sync", get(sync::sync)).nest("/api/v1", api)
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
