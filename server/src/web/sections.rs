//! Sections of the scheme's page whose forms are handled elsewhere: the roster
//! ([`super::roster`]) and keeping records ([`super::records`]).

use super::form::{self, Problem, Text};
use super::layout::when;
use maud::{html, Markup};
use signpost_domain::retention::{self, Policy};
use signpost_shared::schema::Volunteer;
use std::collections::HashMap;

/// The scheme page's section on keeping records.
pub(super) fn records(scheme: &str, policy: Policy, csrf: &str, p: Option<&Problem>) -> Markup {
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

/// The scheme page's roster section: the PIN setting, each volunteer, and a new one's name.
pub(super) fn roster(
    scheme: &str,
    volunteers: &[Volunteer],
    equality: &HashMap<String, i64>,
    pin_required: bool,
    csrf: &str,
    p: Option<&Problem>,
) -> Markup {
    let pin_error = p.and_then(|p| p.on("pin-required"));
    let pin_on = p.and_then(|p| p.kept("pin-required")).map_or(pin_required, |v| v == "yes");
    html! {
        h2 class="govuk-heading-m" id="roster-heading" { "Volunteer roster" }
        p class="govuk-body" { "Volunteers pick their name on the desk's tablet to start a shift. Changes reach the tablets when they next sync." }
        form method="post" action=(format!("/manage/schemes/{scheme}/pin-setting")) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            div class=(if pin_error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" }) {
                fieldset class="govuk-fieldset" aria-describedby=(if pin_error.is_some() { "pin-hint pin-required-error" } else { "pin-hint" }) {
                    legend class="govuk-fieldset__legend govuk-fieldset__legend--s" { "Do volunteers enter a PIN to start a shift?" }
                    div class="govuk-hint" id="pin-hint" { "On a shared tablet, a 4-digit PIN stops one volunteer starting a shift as another. Set each volunteer's PIN below and tell them it first." }
                    @if let Some(m) = pin_error { (form::inline("pin-required-error", m)) }
                    div class="govuk-radios govuk-radios--inline" {
                        div class="govuk-radios__item" {
                            input class="govuk-radios__input" id="pin-required" name="required" type="radio" value="yes" checked[pin_on];
                            label class="govuk-label govuk-radios__label" for="pin-required" { "Yes" }
                        }
                        div class="govuk-radios__item" {
                            input class="govuk-radios__input" id="pin-not-required" name="required" type="radio" value="no" checked[!pin_on];
                            label class="govuk-label govuk-radios__label" for="pin-not-required" { "No" }
                        }
                    }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Save PIN setting" }
        }
        div class="signpost-scroll" {
        table class="govuk-table" id="roster" {
            caption class="govuk-table__caption govuk-visually-hidden" { "Volunteers" }
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "Name" }
                th scope="col" class="govuk-table__header" { "Status" }
                th scope="col" class="govuk-table__header" { "PIN" }
                th scope="col" class="govuk-table__header" { "Equality monitoring" }
            } }
            tbody class="govuk-table__body" {
                @if volunteers.is_empty() {
                    tr class="govuk-table__row" { td class="govuk-table__cell" colspan="4" { "Nobody is on the roster yet. Add the scheme's volunteers below." } }
                }
                @for v in volunteers {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { (v.name) }
                        td class="govuk-table__cell" {
                            @if v.active {
                                strong class="govuk-tag govuk-tag--green" { "On the roster" } " "
                                a class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" role="button" draggable="false"
                                    href=(format!("/manage/schemes/{scheme}/volunteers/{}/active", v.id)) {
                                    "Take off the roster" span class="govuk-visually-hidden" { " " (v.name) }
                                }
                            } @else {
                                form method="post" action=(format!("/manage/schemes/{scheme}/volunteers/{}/active", v.id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="active" value="true";
                                    strong class="govuk-tag govuk-tag--grey" { "Left" } " "
                                    button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" {
                                        "Put back on the roster" span class="govuk-visually-hidden" { " " (v.name) }
                                    }
                                }
                            }
                        }
                        td class="govuk-table__cell" {
                            @let field = format!("pin-{}", v.id);
                            @let error = p.and_then(|p| p.on(&field));
                            form method="post" action=(format!("/manage/schemes/{scheme}/volunteers/{}/pin", v.id)) novalidate {
                                input type="hidden" name="csrf" value=(csrf);
                                div class=(if error.is_some() { "govuk-form-group govuk-form-group--error govuk-!-margin-bottom-0" } else { "govuk-form-group govuk-!-margin-bottom-0" }) {
                                    label class="govuk-label" for=(field) {
                                        @if v.pin.is_some() { "New PIN" } @else { "PIN (not set)" }
                                        span class="govuk-visually-hidden" { " for " (v.name) }
                                    }
                                    @if let Some(m) = error { (form::inline(&format!("{field}-error"), m)) }
                                    input class=(if error.is_some() { "govuk-input govuk-input--width-4 govuk-input--error" } else { "govuk-input govuk-input--width-4" })
                                        id=(field) name="pin" type="text" inputmode="numeric" autocomplete="off" maxlength="4"
                                        value=[p.and_then(|p| p.kept(&field))]
                                        aria-describedby=[error.map(|_| format!("{field}-error"))];
                                    " "
                                    button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" {
                                        "Set PIN" span class="govuk-visually-hidden" { " for " (v.name) }
                                    }
                                }
                            }
                        }
                        td class="govuk-table__cell" {
                            @if let Some(at) = equality.get(&v.id) {
                                "Given " (when(*at)) " "
                                a class="govuk-button govuk-button--warning govuk-!-margin-bottom-0" role="button" draggable="false"
                                    href=(format!("/manage/schemes/{scheme}/volunteers/{}/equality/withdraw", v.id)) {
                                    "Withdraw" span class="govuk-visually-hidden" { " " (v.name) "'s answers" }
                                }
                            } @else { "Not given" }
                        }
                    }
                }
            }
        }
        }
        form method="post" action=(format!("/manage/schemes/{scheme}/volunteers")) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (Text { hint: Some("A first name and initial is enough, for example Ann E."), width: "govuk-!-width-one-half", ..Text::new("volunteer-name", "name", "Volunteer's name") }.render(p))
            button type="submit" class="govuk-button govuk-button--secondary" { "Add volunteer" }
        }
    }
}
