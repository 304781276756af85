//! The pages everyone may read, signed in or not, linked from every page's footer: the
//! accessibility statement and the privacy notice. They say what Signpost itself does; the
//! organisation that runs it for a scheme is named by the scheme's coordinator.

use super::error::WebResult;
use super::layout::page;
use super::session::current;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum_extra::extract::cookie::CookieJar;
use maud::html;

pub(super) async fn accessibility(State(st): State<AppState>, jar: CookieJar) -> WebResult {
    let who = current(&st, &jar).await?;
    let body = html! {
        h1 class="govuk-heading-l" { "Accessibility statement for Signpost" }
        p class="govuk-body" {
            "This statement covers Signpost: the help-desk app on the tablets and the pages for coordinators, national reviewers and administrators."
        }
        p class="govuk-body" { "We want as many people as possible to be able to use Signpost. You should be able to:" }
        ul class="govuk-list govuk-list--bullet" {
            li { "zoom in up to 400% without the text spilling off the screen" }
            li { "use every screen with a keyboard alone" }
            li { "use every screen with a screen reader (NVDA, JAWS and VoiceOver)" }
            li { "use it on a tablet 768 pixels wide, with tap targets of at least 44 by 44 pixels" }
            li { "use it in English or Welsh" }
        }
        h2 class="govuk-heading-m" { "How accessible Signpost is" }
        p class="govuk-body" {
            "Signpost follows the GOV.UK Design System. Every screen is checked against the Web Content Accessibility Guidelines (WCAG) 2.2 level AA with an automated checker on each change, and by hand at tablet width."
        }
        p class="govuk-body" { "We know some parts are not fully accessible:" }
        ul class="govuk-list govuk-list--bullet" {
            li { "the dashboard's charts are pictures of the figures; every chart has a table with the same figures beneath it" }
            li { "these pages cannot be reached while the tablet is offline; the help-desk app itself works offline" }
        }
        h2 class="govuk-heading-m" { "Feedback and contact information" }
        p class="govuk-body" {
            "If you need anything in Signpost in a different format, or find a problem not listed here, tell your help desk's coordinator. They will pass it to the organisation that runs Signpost for your scheme, which will reply within 10 working days."
        }
        h2 class="govuk-heading-m" { "Enforcement procedure" }
        p class="govuk-body" {
            "The Equality and Human Rights Commission (EHRC) is responsible for enforcing the Public Sector Bodies (Websites and Mobile Applications) (No. 2) Accessibility Regulations 2018. If you are not happy with how we respond to your complaint, contact the Equality Advisory and Support Service (EASS)."
        }
        h2 class="govuk-heading-m" { "Compliance status" }
        p class="govuk-body" {
            "Signpost is partially compliant with WCAG 2.2 level AA, because of the charts listed above."
        }
        p class="govuk-body" { "This statement was prepared on 2 December 2026." }
    };
    Ok(page(StatusCode::OK, "Accessibility statement", who.as_ref(), body))
}

pub(super) async fn privacy(State(st): State<AppState>, jar: CookieJar) -> WebResult {
    let who = current(&st, &jar).await?;
    let body = html! {
        h1 class="govuk-heading-l" { "Privacy notice" }
        p class="govuk-body" {
            "Signpost records the help that volunteers at court and community help desks give, so that schemes and the National Offender Management Service (NOMS) can see the impact of volunteering. This notice says what it keeps, why, for how long, and your rights."
        }
        h2 class="govuk-heading-m" { "What Signpost collects" }
        h3 class="govuk-heading-s" { "About people helped at a desk" }
        p class="govuk-body" {
            "A referral records no name. It records who was helped (for example a defendant or a witness), optionally an age band, the issues, the agency they were pointed to, the kind of help, whether a follow-up is needed and its outcome, the time, the desk and the volunteer who logged it. Volunteers may add a short note; the form asks them not to write names or other personal details in it."
        }
        h3 class="govuk-heading-s" { "About volunteers" }
        p class="govuk-body" {
            "A first name and initial on the desk's roster, an optional PIN (stored only as a check, never as the PIN), and the times of each shift, which count volunteer hours."
        }
        p class="govuk-body" {
            "Volunteers may answer equality-monitoring questions (age, sex, ethnic group, religion or belief, disability, and optionally sexual orientation). Answering is voluntary, every question has \"Prefer not to say\", and the answers are collected only with consent. They are kept on the server only, never on a tablet, never shown one person at a time, and leave the server only as protected totals."
        }
        h3 class="govuk-heading-s" { "About coordinators, reviewers and administrators" }
        p class="govuk-body" {
            "An email address, a password (stored only as a check), when you signed in, and an audit log of what you did and which records you opened."
        }
        h2 class="govuk-heading-m" { "Why" }
        ul class="govuk-list govuk-list--bullet" {
            li { "to run the help desk: today's log, corrections and follow-ups" }
            li { "to count volunteer hours and referrals for the scheme and for national statistics" }
            li { "to see whether volunteers reflect the communities they serve (equality monitoring)" }
            li { "to keep the records safe: who opened, changed or erased what" }
        }
        p class="govuk-body" {
            "National reviewers see only totals, never a single referral, note or volunteer's answers. Small totals are hidden and the rest rounded so that no one can be picked out."
        }
        h2 class="govuk-heading-m" { "How long it is kept" }
        ul class="govuk-list govuk-list--bullet" {
            li { "Referrals and shifts: for the scheme's retention period (3 years unless the scheme sets another), then deleted from the server for good. Published totals stay." }
            li { "On a desk's tablet: today, anything not yet sent, and the last few days (7 unless the scheme sets another)." }
            li { "Equality-monitoring answers: until the volunteer withdraws them." }
            li { "Backups keep what they hold until they expire." }
        }
        h2 class="govuk-heading-m" { "Your rights" }
        p class="govuk-body" {
            "You can ask to see what is held about you, to have it corrected, or to have it erased. A coordinator can erase a referral, or remove only its notes, from the server and from every tablet. A volunteer can withdraw their equality-monitoring answers at any time; they are deleted and drop out of every figure from then on."
        }
        p class="govuk-body" {
            "If you are unhappy with how your data is handled, you can complain to the Information Commissioner's Office (ICO)."
        }
        h2 class="govuk-heading-m" { "Contact" }
        p class="govuk-body" {
            "Ask the help desk's coordinator. They will tell you which organisation runs Signpost for the scheme and is responsible for your data, and pass on your request."
        }
    };
    Ok(page(StatusCode::OK, "Privacy notice", who.as_ref(), body))
}
