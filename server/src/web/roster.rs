//! A scheme's roster on its page: volunteers added, taken off (after a confirmation step) and
//! put back, PINs, the PIN setting, and equality answers withdrawn (after a confirmation step).
//! Each is an edit of the scheme's directory document through the relay, with its audit row in
//! the same transaction. The checks that depend on the roster (no two volunteers of one name,
//! no PINs required while someone on the roster has none) run inside that edit, on the roster
//! as the relay holds it, so two coordinators at once cannot get round them.

use super::error::{WebError, WebResult};
use super::form::ActiveForm;
use super::form::{self, Confirm, Problem};
use super::lang::l;
use super::lang::tf;
use super::layout::{manage, page};
use super::scheme_page::{again, done};
use super::session::{db, managed, NameForm, Nothing, Session, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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
    let name = match form::checked_name("volunteer-name", &f.name, l("the volunteer's name", "enw'r gwirfoddolwr"), 80)
    {
        Ok(n) => n,
        Err(p) => return again(&st, &s, &scheme, p).await,
    };
    let v = Volunteer { id: random_id("vol"), name, active: true, pin: None };
    let id = v.id.clone();
    let write: Edit = Box::new(move |tx| {
        let same = |x: &Volunteer| x.name.to_lowercase() == v.name.to_lowercase();
        if let Some(other) = schema::read_volunteers(&*tx).into_iter().find(same) {
            return Err(format!("{DUPLICATE}{}", other.name));
        }
        schema::write_volunteer(tx, &v).map_err(|e| e.to_string())
    });
    match edit_roster(&st, &s, &scheme, "volunteer added", id.clone(), write).await {
        Ok(()) => Ok(done(&scheme, "volunteer-added", &id)),
        Err(Refused::Because(why)) => {
            let message = match why.strip_prefix(DUPLICATE) {
                Some(other) => tf!(
                    "{other} is already on the roster. Add an initial or a number so that volunteers can tell you apart on the tablet, for example {other} 2", "Mae {other} ar y rhestr eisoes. Ychwanegwch lythyren gyntaf neu rif fel bod gwirfoddolwyr yn gallu eich gwahaniaethu ar y dabled, er enghraifft {other} 2"
                ),
                None => why,
            };
            again(&st, &s, &scheme, Problem::new("volunteer-name", message).keep("volunteer-name", &f.name)).await
        }
        Err(Refused::Web(e)) => Err(e),
    }
}

/// What a roster edit answers when the volunteer is not on the roster it finds.
const NO_SUCH_VOLUNTEER: &str = "no such volunteer";
/// What a roster edit answers, before the other volunteer's name, for a name already on it.
const DUPLICATE: &str = "duplicate:";
/// What a roster edit answers, before their names, when PINs would lock volunteers out.
const NO_PIN: &str = "no pin:";

/// Why a roster edit was not made: a check on the roster failed (its message), or the edit
/// could not be made at all.
enum Refused {
    Because(String),
    Web(WebError),
}

impl From<Refused> for WebError {
    fn from(r: Refused) -> WebError {
        match r {
            Refused::Because(why) => WebError::BadRequest(why),
            Refused::Web(e) => e,
        }
    }
}

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
) -> Result<(), Refused> {
    let sc = scheme.to_owned();
    if !db(&st.store, move |c| schemes::scheme_exists(c, &sc)).await.map_err(Refused::Web)? {
        return Err(Refused::Web(WebError::NotFound(
            l("There is no such scheme.", "Nid oes cynllun o'r fath.").into(),
        )));
    }
    let (sc, actor, action) = (scheme.to_owned(), s.user.actor(), action.to_owned());
    let record: crate::relay::Record = Box::new(move |c| audit::audit(c, &actor, &action, Some(&sc), &detail));
    st.hub.edit_recorded(schema::directory_id(scheme), write, Some(record)).await.map_err(|e| {
        if e == NO_SUCH_VOLUNTEER {
            Refused::Web(WebError::NotFound(
                l("This scheme has no such volunteer.", "Nid oes gan y cynllun hwn wirfoddolwr o'r fath.").into(),
            ))
        } else if e.starts_with(DUPLICATE) || e.starts_with(NO_PIN) {
            Refused::Because(e)
        } else {
            Refused::Web(WebError::Internal(anyhow::anyhow!(e)))
        }
    })
}

#[derive(Deserialize)]
pub(super) struct SchemeVolunteer {
    scheme: String,
    volunteer: String,
}

pub(super) async fn set_volunteer_active(
    State(st): State<AppState>,
    Path(p): Path<SchemeVolunteer>,
    SignedForm(s, f): SignedForm<ActiveForm>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let active = f.active == "true";
    let action = if active { "volunteer put back on the roster" } else { "volunteer taken off the roster" };
    update_volunteer(&st, &s, &p, action, move |v| v.active = active).await?;
    Ok(done(&p.scheme, if active { "volunteer-back" } else { "volunteer-off" }, &p.volunteer))
}

/// A volunteer of the scheme's roster as stored, or 404.
async fn volunteer(st: &AppState, p: &SchemeVolunteer) -> Result<Volunteer, WebError> {
    let (sc, id) = (p.scheme.clone(), p.volunteer.clone());
    db(&st.store, move |c| Ok(schemes::roster(c, &sc)?.into_iter().find(|v| v.id == id))).await?.ok_or_else(|| {
        WebError::NotFound(
            l("This scheme has no such volunteer.", "Nid oes gan y cynllun hwn wirfoddolwr o'r fath.").into(),
        )
    })
}

/// The step before a volunteer is taken off the roster.
pub(super) async fn take_off_page(State(st): State<AppState>, s: Session, Path(p): Path<SchemeVolunteer>) -> WebResult {
    managed(&s, &p.scheme)?;
    let v = volunteer(&st, &p).await?;
    let body = Confirm {
        back: &format!("{}#roster", manage(&["schemes", &p.scheme])),
        caption: None,
        heading: &tf!("Take {} off the roster?", "Tynnu {} oddi ar y rhestr?", v.name),
        what: l("They will no longer be listed on the desk's tablets once the tablets sync, so they cannot start a shift. Their past shifts and referrals stay, and you can put them back on the roster at any time.", "Ni fyddant wedi'u rhestru ar dabledi'r ddesg mwyach unwaith y bydd y tabledi'n cysoni, felly ni allant ddechrau shifft. Mae eu shifftiau a'u hatgyfeiriadau blaenorol yn aros, a gallwch eu rhoi'n ôl ar y rhestr unrhyw bryd."),
        warning: None,
        action: &manage(&["schemes", &p.scheme, "volunteers", &p.volunteer, "active"]),
        button: &tf!("Take {} off the roster", "Tynnu {} oddi ar y rhestr", v.name),
        field: Some(("active", "false")),
    }
    .render(&s.csrf);
    Ok(page(StatusCode::OK, &tf!("Take {} off the roster?", "Tynnu {} oddi ar y rhestr?", v.name), Some(&s), body))
}

/// The step before a volunteer's equality answers are deleted.
pub(super) async fn withdraw_page(State(st): State<AppState>, s: Session, Path(p): Path<SchemeVolunteer>) -> WebResult {
    managed(&s, &p.scheme)?;
    let v = volunteer(&st, &p).await?;
    let body = Confirm {
        back: &format!("{}#roster", manage(&["schemes", &p.scheme])),
        caption: None,
        heading: &tf!("Delete {}'s equality-monitoring answers?", "Dileu atebion monitro cydraddoldeb {}?", v.name),
        what: l("Do this when the volunteer asks to withdraw their answers. They are deleted for good and drop out of every figure from now on. Figures already published stay.", "Gwnewch hyn pan fydd y gwirfoddolwr yn gofyn am dynnu ei atebion yn ôl. Maen nhw'n cael eu dileu am byth ac yn diflannu o bob ffigur o hyn ymlaen. Mae ffigurau sydd wedi'u cyhoeddi eisoes yn aros."),
        warning: None,
        action: &manage(&["schemes", &p.scheme, "volunteers", &p.volunteer, "equality", "withdraw"]),
        button: l("Delete their answers", "Dileu eu hatebion"),
        field: None,
    }
    .render(&s.csrf);
    Ok(page(
        StatusCode::OK,
        &tf!("Delete {}'s equality-monitoring answers?", "Dileu atebion monitro cydraddoldeb {}?", v.name),
        Some(&s),
        body,
    ))
}

/// Changes one volunteer of a scheme's roster as the relay holds it.
async fn update_volunteer(
    st: &AppState,
    s: &Session,
    p: &SchemeVolunteer,
    action: &str,
    change: impl FnOnce(&mut Volunteer) + Send + 'static,
) -> Result<(), WebError> {
    let id = p.volunteer.clone();
    let write: Edit = Box::new(move |tx| {
        let found = schema::read_volunteers(&*tx).into_iter().find(|v| v.id == id);
        let mut v = found.ok_or_else(|| NO_SUCH_VOLUNTEER.to_owned())?;
        change(&mut v);
        schema::write_volunteer(tx, &v).map_err(|e| e.to_string())
    });
    Ok(edit_roster(st, s, &p.scheme, action, p.volunteer.clone(), write).await?)
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
        let field = format!("pin-{}", p.volunteer);
        let problem = Problem::new(&field, l("Enter a PIN of 4 digits, like 0472", "Rhowch PIN o 4 digid, fel 0472"))
            .keep(&field, &f.pin);
        return again(&st, &s, &p.scheme, problem).await;
    }
    update_volunteer(&st, &s, &p, "volunteer PIN set", move |v| {
        v.pin = Some(schema::pin_check(&v.id, &pin, &random_id("salt")))
    })
    .await?;
    Ok(done(&p.scheme, "pin-set", &p.volunteer))
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
        _ => {
            return again(
                &st,
                &s,
                &scheme,
                Problem::new(
                    "pin-required",
                    l("Select whether volunteers enter a PIN", "Dewiswch a yw gwirfoddolwyr yn rhoi PIN"),
                ),
            )
            .await
        }
    };
    let detail = if required { "PIN required to start a shift" } else { "no PIN to start a shift" };
    let write: Edit = Box::new(move |tx| {
        if required {
            let roster = schema::read_volunteers(&*tx);
            let without: Vec<String> =
                roster.into_iter().filter(|v| v.active && v.pin.is_none()).map(|v| v.name).collect();
            if !without.is_empty() {
                return Err(format!("{NO_PIN}{}", names(&without)));
            }
        }
        schema::write_pin_required(tx, required).map_err(|e| e.to_string())
    });
    match edit_roster(&st, &s, &scheme, "roster setting changed", detail.into(), write).await {
        Ok(()) => Ok(done(&scheme, "pin-setting", "")),
        Err(Refused::Because(why)) => {
            let who = why.strip_prefix(NO_PIN).unwrap_or_default();
            let message = tf!(
                "Set a PIN for {who} before volunteers must enter one: without a PIN they could not start a shift",
                "Gosodwch PIN ar gyfer {who} cyn bod rhaid i wirfoddolwyr roi un: heb PIN ni allent ddechrau shifft"
            );
            again(&st, &s, &scheme, Problem::new("pin-required", message).keep("pin-required", "yes")).await
        }
        Err(Refused::Web(e)) => Err(e),
    }
}

/// Names in a sentence: "Ann E.", "Ann E. and Bob F.", "Ann E., Bob F. and Cy D.".
fn names(all: &[String]) -> String {
    match all {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => tf!("{} and {last}", "{} a {last}", rest.join(", ")),
    }
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
        return Err(WebError::NotFound(
            l(
                "This volunteer has no equality-monitoring answers to withdraw.",
                "Nid oes gan y gwirfoddolwr hwn atebion monitro cydraddoldeb i'w tynnu'n ôl.",
            )
            .into(),
        ));
    }
    Ok(done(&p.scheme, "equality-withdrawn", &p.volunteer))
}
