//! The agency directory through the API: scripts with an administrator credential add an agency
//! to a scheme's directory. Like the coordinator's pages, the change is a server-side edit of the
//! scheme's directory document (every tablet of the scheme receives it), audited in the same
//! transaction.

use super::auth::AdminToken;
use super::error::{ApiError, ErrorBody};
use crate::relay::Record;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use signpost_domain::agencies::{self, AgencyInput};
use signpost_domain::audit::audit;
use signpost_domain::util::random_id;
use signpost_domain::{db, schemes};
use signpost_shared::schema;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewAgency {
    /// The agency's name as volunteers will see it.
    name: String,
    phone: Option<String>,
    /// Its full address, starting https://.
    website: Option<String>,
    /// Issue category codes it helps with (at least one), for example `housing`.
    categories: Vec<String>,
    /// The ids of the scheme's sites whose tablets offer it; left out: every site.
    #[serde(default)]
    sites: Vec<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AgencyOut {
    id: String,
    name: String,
    phone: Option<String>,
    website: Option<String>,
    categories: Vec<String>,
    sites: Vec<String>,
}

/// Adds an agency to a scheme's directory; every tablet of the scheme receives it.
#[utoipa::path(
    post,
    path = "/api/v1/schemes/{scheme}/agencies",
    params(("scheme" = String, Path, description = "Scheme id")),
    request_body = NewAgency,
    security(("bearer" = [])),
    responses(
        (status = 201, body = AgencyOut),
        (status = 400, body = ErrorBody, description = "Malformed body, or a field that is not right (the message names it)"),
        (status = 401, body = ErrorBody, description = "No valid credential"),
        (status = 403, body = ErrorBody, description = "Not an administrator credential"),
        (status = 404, body = ErrorBody, description = "No such scheme"),
    )
)]
pub async fn add_agency(
    State(st): State<AppState>,
    _: AdminToken,
    axum::extract::Path(scheme): axum::extract::Path<String>,
    body: Result<Json<NewAgency>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<AgencyOut>), ApiError> {
    let example = r#"{"name": "…", "phone": "…", "website": "https://…", "categories": ["housing"]}"#;
    let Json(body) = body.map_err(|e| super::error::json_rejected(e, example))?;
    let sc = scheme.clone();
    let found = db::blocking(&st.store, move |c| -> anyhow::Result<_> {
        if !schemes::scheme_exists(c, &sc)? {
            return Ok(None);
        }
        let sites: Vec<String> = schemes::sites(c, &sc)?.into_iter().map(|s| s.id).collect();
        Ok(Some((sites, schema::read_agencies(&schemes::directory(c, &sc)?))))
    })
    .await?;
    let Some((sites, others)) = found else { return Err(ApiError::NotFound(format!("no scheme with id {scheme:?}"))) };
    let input = AgencyInput {
        name: body.name,
        phone: body.phone.unwrap_or_default(),
        website: body.website.unwrap_or_default(),
        categories: body.categories,
        sites: body.sites,
    };
    let agency = agencies::checked(&random_id("agency"), &input, &sites, &others, false)
        .map_err(|e| ApiError::BadRequest(format!("{}: {}", e.field, e.reason.en)))?;
    let out = AgencyOut {
        id: agency.id.clone(),
        name: agency.name.clone(),
        phone: agency.phone.clone(),
        website: agency.website.clone(),
        categories: agency.categories.iter().map(|c| c.code().to_owned()).collect(),
        sites: agency.sites.iter().cloned().collect(),
    };
    let (sc, detail) = (scheme.clone(), format!("{} {}", agency.id, agency.name));
    let record: Record = Box::new(move |c| audit(c, "administrator credential", "agency added", Some(&sc), &detail));
    let write: signpost_shared::relay::Edit = Box::new(move |tx| {
        // Checked again on the directory as the relay holds it: two at once cannot both take a name.
        let taken = schema::read_agencies(&*tx).iter().any(|a| a.name.to_lowercase() == agency.name.to_lowercase());
        if taken {
            return Err(format!("{DUPLICATE}{}", agency.name));
        }
        schema::write_agency(tx, &agency).map_err(|e| e.to_string())
    });
    st.hub.edit_recorded(schema::directory_id(&scheme), write, Some(record)).await.map_err(|e| {
        match e.strip_prefix(DUPLICATE) {
            Some(name) => ApiError::BadRequest(format!("name: The directory already has an agency called {name}")),
            None => ApiError::Internal(anyhow::anyhow!(e)),
        }
    })?;
    Ok((axum::http::StatusCode::CREATED, Json(out)))
}

/// What the directory edit answers, before the name, for a name already taken.
pub const DUPLICATE: &str = "duplicate agency:";
