//! Sections of the scheme's page whose forms are handled elsewhere: the roster
//! ([`super::roster`]) and keeping records ([`super::records`]).

use super::form::{self, Problem, Text};
use super::lang::l;
use super::lang::tf;
use super::layout::{manage, table_head, when};
use maud::{html, Markup};
use signpost_domain::retention::{self, Policy};
use signpost_shared::schema::Volunteer;
use std::collections::HashMap;

/// The scheme page's section on keeping records.
pub(super) fn records(scheme: &str, policy: Policy, csrf: &str, p: Option<&Problem>) -> Markup {
    let months_hint = tf!(
        "{} to {} months. 3 years is 36.",
        "{} i {} mis. Mae 3 blynedd yn 36.",
        retention::MONTHS.start(),
        retention::MONTHS.end()
    );
    let days_hint = tf!(
        "Tablets keep today, anything not yet synced and this many days before. Older days are removed from them once synced. {} to {} days.", "Mae tabledi'n cadw heddiw, unrhyw beth sydd heb ei gysoni eto a'r nifer hwn o ddyddiau cyn hynny. Mae dyddiau hŷn yn cael eu tynnu oddi arnynt unwaith y byddant wedi'u cysoni. {} i {} diwrnod.",
        retention::TABLET_DAYS.start(),
        retention::TABLET_DAYS.end()
    );
    let (months, days) = (policy.months.to_string(), policy.tablet_days.to_string());
    html! {
        h2 class="govuk-heading-m" id="keeping-records" { (l("Keeping records", "Cadw cofnodion")) }
        p class="govuk-body" {
            (l("Referrals and shifts older than the retention period are deleted from the server for good every night. Figures already published stay.", "Mae atgyfeiriadau a shifftiau sy'n hŷn na'r cyfnod cadw yn cael eu dileu o'r gweinydd am byth bob nos. Mae ffigurau sydd wedi'u cyhoeddi eisoes yn aros."))
        }
        form method="post" action=(manage(&["schemes", scheme, "retention"])) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (Text { hint: Some(&months_hint), width: "govuk-input--width-3", value: Some(&months), numeric: true, ..Text::new("retention-months", "months", l("Keep records for (months)", "Cadw cofnodion am (misoedd)")) }.render(p))
            (Text { hint: Some(&days_hint), width: "govuk-input--width-2", value: Some(&days), numeric: true, ..Text::new("tablet-days", "tablet_days", l("Days a tablet keeps", "Dyddiau y mae tabled yn eu cadw")) }.render(p))
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Save how long records are kept", "Cadw'r cyfnod cadw cofnodion")) }
        }
        h3 class="govuk-heading-s" { (l("Correcting the record", "Cywiro'r cofnod")) }
        p class="govuk-body" {
            (l("A referral logged by mistake, or with personal details in its notes, can be erased, or only its notes removed, from the server and every tablet. ", "Gellir dileu atgyfeiriad a gofnodwyd trwy gamgymeriad, neu un â manylion personol yn ei nodiadau, neu dynnu ei nodiadau yn unig, o'r gweinydd a phob tabled. "))
            a class="govuk-link" href=(manage(&["schemes", scheme, "referrals"])) { (l("Find a referral to erase or correct", "Dod o hyd i atgyfeiriad i'w ddileu neu ei gywiro")) }
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
        h2 class="govuk-heading-m" id="roster-heading" { (l("Volunteer roster", "Rhestr wirfoddolwyr")) }
        p class="govuk-body" { (l("Volunteers pick their name on the desk's tablet to start a shift. Changes reach the tablets when they next sync.", "Mae gwirfoddolwyr yn dewis eu henw ar dabled y ddesg i ddechrau shifft. Mae newidiadau'n cyrraedd y tabledi y tro nesaf y byddant yn cysoni.")) }
        form method="post" action=(manage(&["schemes", scheme, "pin-setting"])) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            div class=(if pin_error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" }) {
                fieldset class="govuk-fieldset" aria-describedby=(if pin_error.is_some() { "pin-hint pin-required-error" } else { "pin-hint" }) {
                    legend class="govuk-fieldset__legend govuk-fieldset__legend--s" { (l("Do volunteers enter a PIN to start a shift?", "A yw gwirfoddolwyr yn rhoi PIN i ddechrau shifft?")) }
                    div class="govuk-hint" id="pin-hint" { (l("On a shared tablet, a 4-digit PIN stops one volunteer starting a shift as another. Set each volunteer's PIN below and tell them it first.", "Ar dabled a rennir, mae PIN 4 digid yn atal un gwirfoddolwr rhag dechrau shifft fel un arall. Gosodwch PIN pob gwirfoddolwr isod a'i ddweud wrthynt yn gyntaf.")) }
                    @if let Some(m) = pin_error { (form::inline("pin-required-error", m)) }
                    div class="govuk-radios govuk-radios--inline" {
                        div class="govuk-radios__item" {
                            input class="govuk-radios__input" id="pin-required" name="required" type="radio" value="yes" checked[pin_on];
                            label class="govuk-label govuk-radios__label" for="pin-required" { (l("Yes", "Ydyn")) }
                        }
                        div class="govuk-radios__item" {
                            input class="govuk-radios__input" id="pin-not-required" name="required" type="radio" value="no" checked[!pin_on];
                            label class="govuk-label govuk-radios__label" for="pin-not-required" { (l("No", "Nac ydyn")) }
                        }
                    }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Save PIN setting", "Cadw'r gosodiad PIN")) }
        }
        div class="signpost-scroll" {
        table class="govuk-table" id="roster" {
            caption class="govuk-table__caption govuk-visually-hidden" { (l("Volunteers", "Gwirfoddolwyr")) }
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { (l("Name", "Enw")) }
                th scope="col" class="govuk-table__header" { (l("Status", "Statws")) }
                th scope="col" class="govuk-table__header" { "PIN" }
                th scope="col" class="govuk-table__header" { (l("Equality monitoring", "Monitro cydraddoldeb")) }
            } }
            tbody class="govuk-table__body" {
                @if volunteers.is_empty() {
                    tr class="govuk-table__row" { td class="govuk-table__cell" colspan="4" { (l("Nobody is on the roster yet. Add the scheme's volunteers below.", "Nid oes neb ar y rhestr eto. Ychwanegwch wirfoddolwyr y cynllun isod.")) } }
                }
                @for v in volunteers {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { (v.name) }
                        td class="govuk-table__cell" {
                            @if v.active {
                                strong class="govuk-tag govuk-tag--green" { (l("On the roster", "Ar y rhestr")) } " "
                                a class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" role="button" draggable="false"
                                    href=(manage(&["schemes", scheme, "volunteers", &v.id, "active"])) {
                                    (l("Take off the roster", "Tynnu oddi ar y rhestr")) span class="govuk-visually-hidden" { " " (v.name) }
                                }
                            } @else {
                                form method="post" action=(manage(&["schemes", scheme, "volunteers", &v.id, "active"])) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="active" value="true";
                                    strong class="govuk-tag govuk-tag--grey" { (l("Left", "Wedi gadael")) } " "
                                    button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" {
                                        (l("Put back on the roster", "Rhoi'n ôl ar y rhestr")) span class="govuk-visually-hidden" { " " (v.name) }
                                    }
                                }
                            }
                        }
                        td class="govuk-table__cell" {
                            @let field = format!("pin-{}", v.id);
                            @let error = p.and_then(|p| p.on(&field));
                            form method="post" action=(manage(&["schemes", scheme, "volunteers", &v.id, "pin"])) novalidate {
                                input type="hidden" name="csrf" value=(csrf);
                                div class=(if error.is_some() { "govuk-form-group govuk-form-group--error govuk-!-margin-bottom-0" } else { "govuk-form-group govuk-!-margin-bottom-0" }) {
                                    label class="govuk-label" for=(field) {
                                        @if v.pin.is_some() { (l("New PIN", "PIN newydd")) } @else { (l("PIN (not set)", "PIN (heb ei osod)")) }
                                        span class="govuk-visually-hidden" { (l(" for ", " ar gyfer ")) (v.name) }
                                    }
                                    @if let Some(m) = error { (form::inline(&format!("{field}-error"), m)) }
                                    input class=(if error.is_some() { "govuk-input govuk-input--width-4 govuk-input--error" } else { "govuk-input govuk-input--width-4" })
                                        id=(field) name="pin" type="text" inputmode="numeric" autocomplete="off" maxlength="4"
                                        value=[p.and_then(|p| p.kept(&field))]
                                        aria-describedby=[error.map(|_| format!("{field}-error"))];
                                    " "
                                    button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" {
                                        (l("Set PIN", "Gosod PIN")) span class="govuk-visually-hidden" { (l(" for ", " ar gyfer ")) (v.name) }
                                    }
                                }
                            }
                        }
                        td class="govuk-table__cell" {
                            @if let Some(at) = equality.get(&v.id) {
                                (l("Given ", "Wedi'u rhoi ")) (when(*at)) " "
                                a class="govuk-button govuk-button--warning govuk-!-margin-bottom-0" role="button" draggable="false"
                                    href=(manage(&["schemes", scheme, "volunteers", &v.id, "equality", "withdraw"])) {
                                    (l("Withdraw", "Tynnu'n ôl")) span class="govuk-visually-hidden" { " " (v.name) (l("'s answers", " – atebion")) }
                                }
                            } @else { (l("Not given", "Heb ei roi")) }
                        }
                    }
                }
            }
        }
        }
        form method="post" action=(manage(&["schemes", scheme, "volunteers"])) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (Text { hint: Some(l("A first name and initial is enough, for example Ann E.", "Mae enw cyntaf a llythyren gyntaf yn ddigon, er enghraifft Ann E.")), width: "govuk-!-width-one-half", ..Text::new("volunteer-name", "name", l("Volunteer's name", "Enw'r gwirfoddolwr")) }.render(p))
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Add volunteer", "Ychwanegu gwirfoddolwr")) }
        }
    }
}

/// The section of the scheme's page (nothing when no day is set aside).
pub(super) fn set_aside(scheme: &str, days: &[signpost_domain::set_aside::SetAsideDay]) -> Markup {
    if days.is_empty() {
        return html! {};
    }
    let ymd = |d: chrono::NaiveDate| d.format("%d/%m/%Y").to_string();
    html! {
        h2 class="govuk-heading-m" id="set-aside-heading" { (l("Days set aside", "Diwrnodau wedi'u rhoi o'r neilltu")) }
        p class="govuk-body" {
            (l("A tablet sent these days dated far from the day they arrived, most likely because its clock was wrong (a flat battery can reset it to 1 January 2000). They are kept but not counted. File each under the date it arrived, or discard it if it holds nothing real.",
               "Anfonodd tabled y diwrnodau hyn gyda dyddiad ymhell o'r diwrnod y cyrhaeddon nhw, yn fwyaf tebygol am fod ei chloc yn anghywir (gall batri fflat ei ailosod i 1 Ionawr 2000). Maen nhw'n cael eu cadw ond nid ydynt yn cael eu cyfrif. Ffeiliwch bob un o dan y dyddiad y cyrhaeddodd, neu gwaredwch ef os nad yw'n dal dim byd go iawn."))
        }
        div class="signpost-scroll" {
            table class="govuk-table" id="set-aside" {
                caption class="govuk-table__caption govuk-visually-hidden" { (l("Days set aside", "Diwrnodau wedi'u rhoi o'r neilltu")) }
                (table_head(&[l("Dated", "Dyddiad"), l("Arrived", "Cyrhaeddodd"), l("Site and tablet", "Safle a thabled"), l("Entries", "Cofnodion"), l("Action", "Cam")]))
                tbody class="govuk-table__body" {
                    @for d in days {
                        tr class="govuk-table__row" {
                            td class="govuk-table__cell" { (ymd(d.day)) }
                            td class="govuk-table__cell" { (ymd(d.synced_on)) }
                            td class="govuk-table__cell" { (d.site_name) br; span class="govuk-body-s" { (d.tablet) } }
                            td class="govuk-table__cell" {
                                (tf!("{} referrals, {} shifts", "{} atgyfeiriad, {} sifft", d.referrals, d.shifts))
                            }
                            td class="govuk-table__cell" {
                                a class="govuk-link" href=(set_aside_link(scheme, &d.doc, "file")) {
                                    (tf!("File under {}", "Ffeilio o dan {}", ymd(d.synced_on)))
                                    span class="govuk-visually-hidden" { (tf!(" the day dated {}", " y diwrnod dyddiedig {}", ymd(d.day))) }
                                }
                                br;
                                a class="govuk-link" href=(set_aside_link(scheme, &d.doc, "discard")) {
                                    (l("Discard", "Gwaredu"))
                                    span class="govuk-visually-hidden" { (tf!(" the day dated {}", " y diwrnod dyddiedig {}", ymd(d.day))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The address of a day set aside's action (`file` or `discard`).
pub(super) fn set_aside_link(scheme: &str, doc: &signpost_shared::ids::DocumentId, action: &str) -> String {
    format!("/manage/schemes/{}/set-aside/{doc}/{action}", super::layout::segment(scheme))
}
