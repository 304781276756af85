//! English or Welsh. `?lang=cy` (or `?lang=en`) in the address chooses, and the tablet remembers
//! the choice; the page's `<html lang>` says which. Every string a screen shows goes through
//! [`l`] (or, with values in it, a `cy()` branch), English and Welsh side by side at the place
//! it is used: no catalogue to fall out of step, and the browser test that reads every screen in
//! both languages fails on a string that is the same in both.
//!
//! The Welsh is Signpost's own; a Welsh Language Unit should review it.

use std::cell::Cell;

thread_local! {
    static WELSH: Cell<bool> = const { Cell::new(false) };
}

const KEY: &str = "signpost.lang";

/// Reads the language from the address (and remembers it) or from what the tablet remembered,
/// and marks the page with it. Called once, before the app renders.
pub fn init() {
    let Some(window) = web_sys::window() else { return };
    let store = window.local_storage().ok().flatten();
    let search = window.location().search().unwrap_or_default();
    let asked = search.trim_start_matches('?').split('&').find_map(|kv| kv.strip_prefix("lang=")).map(str::to_owned);
    let welsh = match asked.as_deref() {
        Some(v @ ("cy" | "en")) => {
            if let Some(s) = &store {
                let _ = s.set_item(KEY, v);
            }
            v == "cy"
        }
        _ => store.and_then(|s| s.get_item(KEY).ok().flatten()).as_deref() == Some("cy"),
    };
    WELSH.with(|w| w.set(welsh));
    if let Some(doc) = window.document() {
        if let Some(html) = doc.document_element() {
            let _ = html.set_attribute("lang", if welsh { "cy" } else { "en-GB" });
        }
        if welsh {
            if let Ok(Some(skip)) = doc.query_selector(".govuk-skip-link") {
                skip.set_text_content(Some("Neidio i'r prif gynnwys"));
            }
        }
    }
}

/// Whether the app is in Welsh.
pub fn cy() -> bool {
    WELSH.with(Cell::get)
}

/// The English or the Welsh, whichever the app is in.
pub fn l(en: &'static str, cy: &'static str) -> &'static str {
    if self::cy() {
        cy
    } else {
        en
    }
}

/// A vocabulary's label in the app's language.
pub fn category(c: signpost_shared::vocab::Category) -> &'static str {
    if cy() {
        signpost_shared::vocab::cymraeg::category(c)
    } else {
        c.label()
    }
}

pub fn helped(h: signpost_shared::vocab::Helped) -> &'static str {
    if cy() {
        signpost_shared::vocab::cymraeg::helped(h)
    } else {
        h.label()
    }
}

pub fn help_kind(h: signpost_shared::vocab::HelpKind) -> &'static str {
    if cy() {
        signpost_shared::vocab::cymraeg::help_kind(h)
    } else {
        h.label()
    }
}

pub fn outcome(o: signpost_shared::vocab::FollowUpOutcome) -> &'static str {
    if cy() {
        signpost_shared::vocab::cymraeg::outcome(o)
    } else {
        o.label()
    }
}

pub fn age_band(a: signpost_shared::vocab::AgeBand) -> &'static str {
    if cy() {
        signpost_shared::vocab::cymraeg::age_band(a)
    } else {
        a.label()
    }
}
