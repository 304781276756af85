//! How long a scheme keeps its records, set on the scheme's page: the retention period (days
//! before it are purged) and how many days its tablets keep. Stored in the scheme's row (for the
//! purge and the relay) and its directory document (for its tablets), both in one transaction.

use super::error::{WebError, WebResult};
use super::form::Problem;
use super::lang::l;
use super::lang::tf;
use super::scheme_page::{again, done};
use super::session::{managed, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, State};
use serde::Deserialize;
use signpost_domain::retention::{self, Policy};
use signpost_shared::relay::Edit;
use signpost_shared::schema;

#[derive(Deserialize)]
pub(super) struct RetentionForm {
    #[serde(default)]
    months: String,
    #[serde(default)]
    tablet_days: String,
}

pub(super) async fn set_retention(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<RetentionForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let keep = |p: Problem| p.keep("retention-months", &f.months).keep("tablet-days", &f.tablet_days);
    let number = |field: &str, v: &str, range: &std::ops::RangeInclusive<u32>, what: &str, like: u32| match v
        .trim()
        .parse::<u32>()
    {
        Ok(n) if range.contains(&n) => Ok(n),
        Ok(_) => Err(Problem::new(
            field,
            tf!("Enter {what} from {} to {}", "Rhowch {what} o {} i {}", range.start(), range.end()),
        )),
        Err(_) if v.trim().is_empty() => Err(Problem::new(field, tf!("Enter {what}", "Rhowch {what}"))),
        Err(_) => Err(Problem::new(
            field,
            tf!("Enter {what} as a whole number, like {like}", "Rhowch {what} fel rhif cyfan, fel {like}"),
        )),
    };
    let checked = number(
        "retention-months",
        &f.months,
        &retention::MONTHS,
        l("how many months records are kept", "am sawl mis y cedwir cofnodion"),
        36,
    )
    .and_then(|m| {
        number(
            "tablet-days",
            &f.tablet_days,
            &retention::TABLET_DAYS,
            l("how many days a tablet keeps", "sawl diwrnod y mae tabled yn eu cadw"),
            7,
        )
        .map(|d| (m, d))
    })
    .and_then(|(m, d)| Policy::checked(m, d).map_err(|e| Problem::new("retention-months", e)));
    let policy = match checked {
        Ok(p) => p,
        Err(p) => return again(&st, &s, &scheme, keep(p)).await,
    };
    let sc = scheme.clone();
    if !super::session::db(&st.store, move |c| signpost_domain::schemes::scheme_exists(c, &sc)).await? {
        return Err(WebError::NotFound(l("There is no such scheme.", "Nid oes cynllun o'r fath.").into()));
    }
    let write: Edit =
        Box::new(move |tx| schema::write_retention(tx, policy.months, policy.tablet_days).map_err(|e| e.to_string()));
    let (sc, actor) = (scheme.clone(), s.user.actor());
    let record: crate::relay::Record = Box::new(move |c| retention::set_policy(c, &sc, policy, &actor));
    st.hub
        .edit_recorded(schema::directory_id(&scheme), write, Some(record))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!(e)))?;
    Ok(done(&scheme, "retention", ""))
}
