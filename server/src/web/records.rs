//! How long a scheme keeps its records, set on the scheme's page: the retention period (days
//! before it are purged) and how many days its tablets keep. Stored in the scheme's row (for the
//! purge and the relay) and its directory document (for its tablets), both in one transaction.

use super::error::{WebError, WebResult};
use super::layout::see_other;
use super::session::{managed, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, State};
use maud::{html, Markup};
use serde::Deserialize;
use signpost_domain::retention::{self, Policy};
use signpost_shared::relay::Edit;
use signpost_shared::schema;

/// The scheme page's section on keeping records.
pub(super) fn section(scheme: &str, p: Policy, csrf: &str) -> Markup {
    html! {
        h2 class="govuk-heading-m" id="keeping-records" { "Keeping records" }
        p class="govuk-body" {
            "Referrals and shifts older than the retention period are deleted from the server for good every night. Figures already published stay."
        }
        form method="post" action=(format!("/manage/schemes/{scheme}/retention")) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            div class="govuk-form-group" {
                label class="govuk-label" for="retention-months" { "Keep records for (months)" }
                div class="govuk-hint" id="retention-months-hint" {
                    (retention::MONTHS.start()) " to " (retention::MONTHS.end()) " months. 3 years is 36."
                }
                input class="govuk-input govuk-input--width-3" id="retention-months" name="months" type="text"
                    inputmode="numeric" spellcheck="false" value=(p.months) aria-describedby="retention-months-hint";
            }
            div class="govuk-form-group" {
                label class="govuk-label" for="tablet-days" { "Days a tablet keeps" }
                div class="govuk-hint" id="tablet-days-hint" {
                    "Tablets keep today, anything not yet synced and this many days before. Older days are removed from them once synced. "
                    (retention::TABLET_DAYS.start()) " to " (retention::TABLET_DAYS.end()) " days."
                }
                input class="govuk-input govuk-input--width-2" id="tablet-days" name="tablet_days" type="text"
                    inputmode="numeric" spellcheck="false" value=(p.tablet_days) aria-describedby="tablet-days-hint";
            }
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
    let number = |v: &str| v.trim().parse::<u32>().ok();
    let (Some(months), Some(tablet_days)) = (number(&f.months), number(&f.tablet_days)) else {
        return Err(WebError::BadRequest("Enter the months and the days as whole numbers, like 36 and 7".into()));
    };
    let policy = Policy::checked(months, tablet_days).map_err(WebError::BadRequest)?;
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
    Ok(see_other(&format!("/manage/schemes/{scheme}#keeping-records")))
}
