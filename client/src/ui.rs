//! Small pieces the screens share: GOV.UK patterns (warning text, radios, error summary focus),
//! times as the desk shows them, and timing marks.

use crate::lang::l;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Timing marks (`performance.measure`) that benchmarks and the browser's tools can read.
pub fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

pub fn measure(name: &str, since: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.measure_with_start_mark(name, since);
    }
}

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

pub fn clock(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

pub fn focus_error_summary() {
    // After the summary renders: move focus to it, as the GOV.UK pattern asks.
    gloo_timers::callback::Timeout::new(0, || {
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("error-summary"))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    })
    .forget();
}

pub fn seconds(n: u32) -> String {
    if crate::lang::cy() {
        return format!("{n} eiliad");
    }
    format!("{n} second{}", if n == 1 { "" } else { "s" })
}

/// The GOV.UK warning text pattern.
pub fn warning(id: &'static str, text: &'static str) -> Html {
    html! {
        <div class="govuk-warning-text" id={id}>
            <span class="govuk-warning-text__icon" aria-hidden="true">{ "!" }</span>
            <strong class="govuk-warning-text__text">
                <span class="govuk-visually-hidden">{ l("Warning", "Rhybudd") }</span>
                { text }
            </strong>
        </div>
    }
}

pub fn scroll_to(id: &str) {
    if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(id)) {
        el.scroll_into_view();
    }
}

pub fn radios(
    name: &'static str,
    legend: &'static str,
    items: Vec<(&'static str, &'static str)>,
    error: Option<&str>,
) -> Html {
    html! {
        <div class={classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"))} id={format!("{name}-group")}>
            <fieldset class="govuk-fieldset">
                <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">{ legend }</legend>
                if let Some(e) = error {
                    <p class="govuk-error-message"><span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ e.to_owned() }</p>
                }
                <div class="govuk-radios" data-module="govuk-radios">
                    { for items.into_iter().enumerate().map(|(i, (code, label))| {
                        let id = if i == 0 { name.to_owned() } else { format!("{name}-{code}") };
                        html! {
                            <div class="govuk-radios__item">
                                <input class="govuk-radios__input" id={id.clone()} name={name} type="radio" value={code} />
                                <label class="govuk-label govuk-radios__label" for={id}>{ label }</label>
                            </div>
                        }
                    }) }
                </div>
            </fieldset>
        </div>
    }
}
