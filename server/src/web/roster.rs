//! Changes to a scheme's roster from its page: volunteers added, taken off and put back, PINs,
//! the PIN setting, and equality answers withdrawn. Each is an edit of the scheme's directory
//! document through the relay, with its audit row in the same transaction.

use super::error::{WebError, WebResult};
use super::layout::see_other;
use super::session::{db, managed, NameForm, Nothing, Session, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, State};
use serde::Deserialize;
use signpost_domain::util::random_id;
use signpost_domain::{audit, equality, schemes};
use signpost_shared::relay::Edit;
use signpost_shared::schema::{self, Volunteer};

pub(super) async fn add_volunteer(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<NameForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let v = Volunteer { id: random_id("vol"), name: checked_volunteer_name(&f.name)?, active: true, pin: None };
    write_volunteer(&st, &s, &scheme, v, "volunteer added").await?;
    Ok(see_other(&format!("/manage/schemes/{scheme}")))
}

fn checked_volunteer_name(name: &str) -> Result<String, WebError> {
    schema::volunteer_name(name)
        .ok_or_else(|| WebError::BadRequest("Enter the volunteer's name: 1 to 80 characters".into()))
}

async fn write_volunteer(st: &AppState, s: &Session, scheme: &str, v: Volunteer, action: &str) -> Result<(), WebError> {
    let detail = v.id.clone();
    let write: Edit = Box::new(move |tx| schema::write_volunteer(tx, &v).map_err(|e| e.to_string()));
    edit_roster(st, s, scheme, action, detail, write).await
}

/// What a roster edit answers when the volunteer is not on the roster it finds.
const NO_SUCH_VOLUNTEER: &str = "no such volunteer";

/// Changes a scheme's roster through the relay, with its audit row in the same transaction:
/// the row is written only if the edit is stored, and the edit reads the roster it changes
/// inside the relay, so two coordinators editing at once do not undo each other.
async fn edit_roster(
    st: &AppState,
    s: &Session,
    scheme: &str,
    action: &str,
    detail: String,
    write: Edit,
) -> Result<(), WebError> {
    let sc = scheme.to_owned();
    if !db(&st.store, move |c| schemes::scheme_exists(c, &sc)).await? {
        return Err(WebError::NotFound("There is no such scheme.".into()));
    }
    let (sc, actor, action) = (scheme.to_owned(), s.user.actor(), action.to_owned());
    let record: crate::relay::Record = Box::new(move |c| audit::audit(c, &actor, &action, Some(&sc), &detail));
    st.hub.edit_recorded(schema::directory_id(scheme), write, Some(record)).await.map_err(|e| {
        if e == NO_SUCH_VOLUNTEER {
            WebError::NotFound("This scheme has no such volunteer.".into())
        } else {
            WebError::Internal(anyhow::anyhow!(e))
        }
    })
}

#[derive(Deserialize)]
pub(super) struct SchemeVolunteer {
    scheme: String,
    volunteer: String,
}

#[derive(Deserialize)]
pub(super) struct ActiveForm {
    #[serde(default)]
    active: String,
}

pub(super) async fn set_volunteer_active(
    State(st): State<AppState>,
    Path(p): Path<SchemeVolunteer>,
    SignedForm(s, f): SignedForm<ActiveForm>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let active = f.active == "true";
    let action = if active { "volunteer put back on the roster" } else { "volunteer taken off the roster" };
    update_volunteer(&st, &s, &p, action, move |v| v.active = active).await
}

/// Changes one volunteer of a scheme's roster as the relay holds it, then back to the
/// scheme's page.
async fn update_volunteer(
    st: &AppState,
    s: &Session,
    p: &SchemeVolunteer,
    action: &str,
    change: impl FnOnce(&mut Volunteer) + Send + 'static,
) -> WebResult {
    let id = p.volunteer.clone();
    let write: Edit = Box::new(move |tx| {
        let found = schema::read_volunteers(&*tx).into_iter().find(|v| v.id == id);
        let mut v = found.ok_or_else(|| NO_SUCH_VOLUNTEER.to_owned())?;
        change(&mut v);
        schema::write_volunteer(tx, &v).map_err(|e| e.to_string())
    });
    edit_roster(st, s, &p.scheme, action, p.volunteer.clone(), write).await?;
    Ok(see_other(&format!("/manage/schemes/{}", p.scheme)))
}

#[derive(Deserialize)]
pub(super) struct PinForm {
    #[serde(default)]
    pin: String,
}

pub(super) async fn set_volunteer_pin(
    State(st): State<AppState>,
    Path(p): Path<SchemeVolunteer>,
    SignedForm(s, f): SignedForm<PinForm>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let pin = f.pin.trim().to_owned();
    if !schema::valid_pin(&pin) {
        return Err(WebError::BadRequest("Enter a PIN of 4 digits, like 0472".into()));
    }
    update_volunteer(&st, &s, &p, "volunteer PIN set", move |v| {
        v.pin = Some(schema::pin_check(&v.id, &pin, &random_id("salt")))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct RequiredForm {
    #[serde(default)]
    required: String,
}

pub(super) async fn set_pin_required(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<RequiredForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let required = match f.required.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(WebError::BadRequest("Select whether volunteers enter a PIN".into())),
    };
    let detail = if required { "PIN required to start a shift" } else { "no PIN to start a shift" };
    let write: Edit = Box::new(move |tx| schema::write_pin_required(tx, required).map_err(|e| e.to_string()));
    edit_roster(&st, &s, &scheme, "roster setting changed", detail.into(), write).await?;
    Ok(see_other(&format!("/manage/schemes/{scheme}")))
}

/// Deletes a volunteer's equality-monitoring answers at their request: gone from the store and
/// from every figure from then on.
pub(super) async fn withdraw_equality(
    State(st): State<AppState>,
    Path(p): Path<SchemeVolunteer>,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let (sc, vol, actor) = (p.scheme.clone(), p.volunteer.clone(), s.user.actor());
    if !db(&st.store, move |c| equality::withdraw_equality(c, &sc, &vol, &actor)).await? {
        return Err(WebError::NotFound("This volunteer has no equality-monitoring answers to withdraw.".into()));
    }
    Ok(see_other(&format!("/manage/schemes/{}", p.scheme)))
}
