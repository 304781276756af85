//! The equality-monitoring form a volunteer fills in on the desk's tablet, in English at
//! `/equality` and in Welsh at `/cy/equality` (two addresses, so that the tablet's service worker
//! keeps both for offline use).

use super::lang::{rendered_in, Lang};
use super::layout::page_with;
use axum::http::{header, StatusCode};
use axum::response::Response;
use maud::html;

pub(super) async fn english() -> Response {
    rendered_in(Lang::En, || equality_page(false))
}

pub(super) async fn welsh() -> Response {
    rendered_in(Lang::Cy, || equality_page(true))
}

/// The equality-monitoring form a volunteer fills in on the desk's tablet, under their own roster
/// entry (the volunteer arrives in the query). The same page for everyone, so the tablet caches it
/// for offline use; `equality.js` keeps the answers in the tablet's outbox and sends them.
fn equality_page(welsh: bool) -> Response {
    use signpost_shared::equality::{cymraeg, QUESTIONS};
    let l = |en: &'static str, cy: &'static str| if welsh { cy } else { en };
    let body = html! {
        div class="govuk-grid-row" { div class="govuk-grid-column-two-thirds" {
            div class="govuk-error-summary" id="error-summary" tabindex="-1" hidden {
                div role="alert" {
                    h2 class="govuk-error-summary__title" { (l("There is a problem", "Mae problem wedi codi")) }
                    div class="govuk-error-summary__body" { ul class="govuk-list govuk-error-summary__list" {
                        li { a href="#consent" { (l("Tick the box to agree, or go back to the desk", "Ticiwch y blwch i gytuno, neu ewch yn ôl i'r ddesg")) } }
                    } }
                }
            }
            div class="govuk-panel govuk-panel--confirmation" id="sent" data-state tabindex="-1" hidden {
                h1 class="govuk-panel__title" { (l("Thank you", "Diolch")) }
                div class="govuk-panel__body" { (l("Your answers are sent and no longer on this tablet.", "Mae eich atebion wedi'u hanfon ac nid ydynt ar y dabled hon mwyach.")) }
            }
            div class="govuk-notification-banner" id="kept" data-state role="region" aria-labelledby="kept-title" tabindex="-1" hidden {
                div class="govuk-notification-banner__header" { h2 class="govuk-notification-banner__title" id="kept-title" { (l("Saved on this tablet", "Wedi'u cadw ar y dabled hon")) } }
                div class="govuk-notification-banner__content" {
                    p class="govuk-notification-banner__heading" { (l("Thank you. Your answers will be sent when the tablet is online, then removed from it.", "Diolch. Bydd eich atebion yn cael eu hanfon pan fydd y dabled ar-lein, ac yna'n cael eu tynnu oddi arni.")) }
                }
            }
            div class="govuk-error-summary" id="not-kept" data-state tabindex="-1" hidden {
                div role="alert" {
                    h2 class="govuk-error-summary__title" { (l("Your answers could not be kept", "Nid oedd modd cadw eich atebion")) }
                    div class="govuk-error-summary__body" { p class="govuk-body" { (l("This tablet refused to store them. Try again, or ask your coordinator.", "Gwrthododd y dabled hon eu cadw. Rhowch gynnig arall arni, neu gofynnwch i'ch cydlynydd.")) } }
                }
            }
            // Until equality.js has taken over the form, nothing can be sent (and answers never
            // travel in a URL).
            form id="equality-form" data-state method="post" action=(l("/equality", "/cy/equality")) novalidate {
                span class="govuk-caption-l" id="volunteer-name" {}
                h1 class="govuk-heading-l" { (l("Equality monitoring", "Monitro cydraddoldeb")) }
                p class="govuk-body" { (l("This form is voluntary. Your answers show whether volunteering is open to everyone. They go to Signpost's server only, are never shown to anyone on their own, and are published only as totals too large to identify anyone. Your coordinator can delete them whenever you ask.", "Mae'r ffurflen hon yn wirfoddol. Mae eich atebion yn dangos a yw gwirfoddoli yn agored i bawb. Maen nhw'n mynd i weinydd Signpost yn unig, nid ydynt byth yn cael eu dangos i neb ar eu pen eu hunain, ac maen nhw'n cael eu cyhoeddi fel cyfansymiau sy'n rhy fawr i adnabod neb yn unig. Gall eich cydlynydd eu dileu pryd bynnag y gofynnwch.")) }
                p class="govuk-body" { (l("Every question has \"Prefer not to say\", and you can leave any question out.", "Mae gan bob cwestiwn \"Mae'n well gennyf beidio â dweud\", a gallwch adael unrhyw gwestiwn allan.")) }
                @for q in QUESTIONS {
                    div class="govuk-form-group" {
                        fieldset class="govuk-fieldset" aria-describedby=[(!q.hint.is_empty()).then(|| format!("{}-hint", q.key))] {
                            legend class="govuk-fieldset__legend govuk-fieldset__legend--s" {
                                (if welsh { cymraeg::text(q.key) } else { q.text }) @if q.optional { (l(" (optional)", " (dewisol)")) }
                            }
                            @if !q.hint.is_empty() { div class="govuk-hint" id=(format!("{}-hint", q.key)) { (if welsh { cymraeg::hint(q.key) } else { q.hint }) } }
                            div class="govuk-radios" data-module="govuk-radios" {
                                @for (i, (code, label, _)) in q.answers.iter().enumerate() {
                                    @let id = if i == 0 { q.key.to_owned() } else { format!("{}-{code}", q.key) };
                                    div class="govuk-radios__item" {
                                        input class="govuk-radios__input" id=(id) name=(q.key) type="radio" value=(code);
                                        label class="govuk-label govuk-radios__label" for=(id) { (if welsh { cymraeg::answer(q.key, code) } else { label }) }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="govuk-form-group" {
                    p class="govuk-error-message" id="consent-error" hidden { span class="govuk-visually-hidden" { (l("Error: ", "Gwall: ")) } (l("Tick the box to agree", "Ticiwch y blwch i gytuno")) }
                    div class="govuk-checkboxes" data-module="govuk-checkboxes" {
                        div class="govuk-checkboxes__item" {
                            input class="govuk-checkboxes__input" id="consent" name="consent" type="checkbox" value="yes";
                            label class="govuk-label govuk-checkboxes__label" for="consent" { (l("I agree to my answers being used in this way", "Rwy'n cytuno i'm hatebion gael eu defnyddio fel hyn")) }
                        }
                    }
                }
                button type="submit" class="govuk-button" disabled { (l("Send my answers", "Anfon fy atebion")) }
            }
            p class="govuk-body" { a class="govuk-link" href="/" { (l("Back to the desk", "Yn ôl i'r ddesg")) } }
        } }
    };
    let title = l("Equality monitoring", "Monitro cydraddoldeb");
    let mut res = page_with(StatusCode::OK, title, None, body, Some("/equality.js"));
    // Cached by the tablet's service worker for offline use; never by a shared cache.
    res.headers_mut().insert(header::CACHE_CONTROL, "private, no-cache".parse().expect("header"));
    res
}
