//! The equality-monitoring form a volunteer fills in on the desk's tablet.

use super::layout::page_with;
use axum::http::{header, StatusCode};
use axum::response::Response;
use maud::html;

/// The equality-monitoring form a volunteer fills in on the desk's tablet, under their own roster
/// entry (the volunteer arrives in the query). The same page for everyone, so the tablet caches it
/// for offline use; `equality.js` keeps the answers in the tablet's outbox and sends them.
pub(super) async fn equality_page() -> Response {
    use signpost_shared::equality::QUESTIONS;
    let body = html! {
        div class="govuk-grid-row" { div class="govuk-grid-column-two-thirds" {
            div class="govuk-error-summary" id="error-summary" tabindex="-1" hidden {
                div role="alert" {
                    h2 class="govuk-error-summary__title" { "There is a problem" }
                    div class="govuk-error-summary__body" { ul class="govuk-list govuk-error-summary__list" {
                        li { a href="#consent" { "Tick the box to agree, or go back to the desk" } }
                    } }
                }
            }
            div class="govuk-panel govuk-panel--confirmation" id="sent" data-state tabindex="-1" hidden {
                h1 class="govuk-panel__title" { "Thank you" }
                div class="govuk-panel__body" { "Your answers are sent and no longer on this tablet." }
            }
            div class="govuk-notification-banner" id="kept" data-state role="region" aria-labelledby="kept-title" tabindex="-1" hidden {
                div class="govuk-notification-banner__header" { h2 class="govuk-notification-banner__title" id="kept-title" { "Saved on this tablet" } }
                div class="govuk-notification-banner__content" {
                    p class="govuk-notification-banner__heading" { "Thank you. Your answers will be sent when the tablet is online, then removed from it." }
                }
            }
            div class="govuk-error-summary" id="not-kept" data-state tabindex="-1" hidden {
                div role="alert" {
                    h2 class="govuk-error-summary__title" { "Your answers could not be kept" }
                    div class="govuk-error-summary__body" { p class="govuk-body" { "This tablet refused to store them. Try again, or ask your coordinator." } }
                }
            }
            // Until equality.js has taken over the form, nothing can be sent (and answers never
            // travel in a URL).
            form id="equality-form" data-state method="post" action="/equality" novalidate {
                span class="govuk-caption-l" id="volunteer-name" {}
                h1 class="govuk-heading-l" { "Equality monitoring" }
                p class="govuk-body" { "This form is voluntary. Your answers show whether volunteering is open to everyone. They go to Signpost's server only, are never shown to anyone on their own, and are published only as totals too large to identify anyone. Your coordinator can delete them whenever you ask." }
                p class="govuk-body" { "Every question has \"Prefer not to say\", and you can leave any question out." }
                @for q in QUESTIONS {
                    div class="govuk-form-group" {
                        fieldset class="govuk-fieldset" aria-describedby=[(!q.hint.is_empty()).then(|| format!("{}-hint", q.key))] {
                            legend class="govuk-fieldset__legend govuk-fieldset__legend--s" {
                                (q.text) @if q.optional { " (optional)" }
                            }
                            @if !q.hint.is_empty() { div class="govuk-hint" id=(format!("{}-hint", q.key)) { (q.hint) } }
                            div class="govuk-radios" data-module="govuk-radios" {
                                @for (i, (code, label, _)) in q.answers.iter().enumerate() {
                                    @let id = if i == 0 { q.key.to_owned() } else { format!("{}-{code}", q.key) };
                                    div class="govuk-radios__item" {
                                        input class="govuk-radios__input" id=(id) name=(q.key) type="radio" value=(code);
                                        label class="govuk-label govuk-radios__label" for=(id) { (label) }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="govuk-form-group" {
                    p class="govuk-error-message" id="consent-error" hidden { span class="govuk-visually-hidden" { "Error: " } "Tick the box to agree" }
                    div class="govuk-checkboxes" data-module="govuk-checkboxes" {
                        div class="govuk-checkboxes__item" {
                            input class="govuk-checkboxes__input" id="consent" name="consent" type="checkbox" value="yes";
                            label class="govuk-label govuk-checkboxes__label" for="consent" { "I agree to my answers being used in this way" }
                        }
                    }
                }
                button type="submit" class="govuk-button" disabled { "Send my answers" }
            }
            p class="govuk-body" { a class="govuk-link" href="/" { "Back to the desk" } }
        } }
    };
    let mut res = page_with(StatusCode::OK, "Equality monitoring", None, body, Some("/equality.js"));
    // Cached by the tablet's service worker for offline use; never by a shared cache.
    res.headers_mut().insert(header::CACHE_CONTROL, "private, no-cache".parse().expect("header"));
    res
}
