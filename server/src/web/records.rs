//! How long a scheme keeps its records, set on the scheme's page: the retention period (days
//! before it are purged) and how many days its tablets keep. Stored in the scheme's row (for the
//! purge and the relay) and its directory document (for its tablets), both in one transaction.

use super::error::{WebError, WebResult};
use super::form::{Problem, Text};
use super::schemes::{again, done};
use super::session::{managed, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, State};
use maud::{html, Markup};
use serde::Deserialize;
use signpost_domain::retention::{self, Policy};
use signpost_shared::relay::Edit;
use signpost_shared::schema;

/// The scheme page's section on keeping records.
pub(super) fn section(scheme: &str, policy: Policy, csrf: &str, p: Option<&Problem>) -> Markup {
    let months_hint = format!("{} to {} months. 3 years is 36.", retention::MONTHS.start(), retention::MONTHS.end());
    let days_hint = format!(
        "Tablets keep today, anything not yet synced and this many days before. Older days are removed from them once synced. {} to {} days.",
        retention::TABLET_DAYS.start(),
        retention::TABLET_DAYS.end()
    );
    let (months, days) = (policy.months.to_string(), policy.tablet_days.to_string());
    html! {
        h2 class="govuk-heading-m" id="keeping-records" { "Keeping records" }
        p class="govuk-body" {
            "Referrals and shifts older than the retention period are deleted from the server for good every night. Figures already published stay."
        }
        form method="post" action=(format!("/manage/schemes/{scheme}/retention")) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (Text { hint: Some(&months_hint), width: "govuk-input--width-3", value: Some(&months), numeric: true, ..Text::new("retention-months", "months", "Keep records for (months)") }.render(p))
            (Text { hint: Some(&days_hint), width: "govuk-input--width-2", value: Some(&days), numeric: true, ..Text::new("tablet-days", "tablet_days", "Days a tablet keeps") }.render(p))
            button type="submit" class="govuk-button govuk-button--secondary" { "Save how long records are kept" }
        }
        h3 class="govuk-heading-s" { "Correcting the record" }
        p class="govuk-body" {
            "A referral logged by mistake, or with personal details in its notes, can be erased, or only its notes removed, from the server and every tablet. "
            a class="govuk-link" href=(format!("/manage/schemes/{scheme}/referrals")) { "Find a referral to erase or correct" }
        }
    }
}

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
        Ok(_) => Err(Problem::new(field, format!("Enter {what} from {} to {}", range.start(), range.end()))),
        Err(_) if v.trim().is_empty() => Err(Problem::new(field, format!("Enter {what}"))),
        Err(_) => Err(Problem::new(field, format!("Enter {what} as a whole number, like {like}"))),
    };
    let checked = number("retention-months", &f.months, &retention::MONTHS, "how many months records are kept", 36)
        .and_then(|m| {
            number("tablet-days", &f.tablet_days, &retention::TABLET_DAYS, "how many days a tablet keeps", 7)
                .map(|d| (m, d))
        })
        .and_then(|(m, d)| Policy::checked(m, d).map_err(|e| Problem::new("retention-months", e)));
    let policy = match checked {
        Ok(p) => p,
        Err(p) => return again(&st, &s, &scheme, keep(p)).await,
    };
    let sc = scheme.clone();
    if !super::session::db(&st.store, move |c| signpost_domain::schemes::scheme_exists(c, &sc)).await? {
        return Err(WebError::NotFound("There is no such scheme.".into()));
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
