//! Screens, following the GOV.UK Design System patterns.

use crate::credential::{self, Setup};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Debug, PartialEq)]
enum CheckError {
    Refused,
    Unreachable,
}

impl CheckError {
    fn message(&self) -> &'static str {
        match self {
            CheckError::Refused => "This credential is not recognised. Check it with your coordinator",
            CheckError::Unreachable => "Signpost could not be reached. Check the tablet is online and try again",
        }
    }
}

/// Asks the relay who this credential belongs to (`GET /api/v1/device`).
async fn check_with_relay(token: &str) -> Result<Setup, CheckError> {
    let window = web_sys::window().ok_or(CheckError::Unreachable)?;
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().map_err(|_| CheckError::Unreachable)?;
    headers.set("Authorization", &format!("Bearer {token}")).map_err(|_| CheckError::Refused)?;
    init.set_headers(&headers);
    let req = web_sys::Request::new_with_str_and_init("/api/v1/device", &init).map_err(|_| CheckError::Unreachable)?;
    let resp = JsFuture::from(window.fetch_with_request(&req)).await.map_err(|_| CheckError::Unreachable)?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| CheckError::Unreachable)?;
    match resp.status() {
        200 => {}
        401 | 403 => return Err(CheckError::Refused),
        _ => return Err(CheckError::Unreachable),
    }
    let json =
        JsFuture::from(resp.json().map_err(|_| CheckError::Unreachable)?).await.map_err(|_| CheckError::Unreachable)?;
    let field = |k: &str| js_sys::Reflect::get(&json, &k.into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    Ok(Setup {
        token: token.to_owned(),
        scheme: field("scheme"),
        site: field("site"),
        site_name: field("site_name"),
        scheme_name: field("scheme_name"),
    })
}

#[function_component(App)]
pub fn app() -> Html {
    let setup = use_state(credential::load);
    let on_set = {
        let setup = setup.clone();
        Callback::from(move |s: Setup| setup.set(Some(s)))
    };
    let on_forget = {
        let setup = setup.clone();
        Callback::from(move |_| {
            credential::forget();
            setup.set(None);
            // Background sync must stop using the credential too.
            wasm_bindgen_futures::spawn_local(async {
                if let Ok(store) = crate::storage::LocalStore::open().await {
                    let _ = store.set_meta(crate::replica::META_SETUP, None).await;
                }
            });
        })
    };
    html! {
        <>
            <header class="govuk-header" data-module="govuk-header">
                <div class="govuk-header__container govuk-width-container">
                    <div class="govuk-header__logo">
                        <span class="govuk-header__link govuk-header__link--homepage">
                            <span class="govuk-header__logotype-text">{ "Signpost" }</span>
                        </span>
                    </div>
                </div>
            </header>
            <div class="govuk-width-container">
                <main class="govuk-main-wrapper" id="main-content" role="main">
                    { match (*setup).clone() {
                        None => html! { <SetUp on_set={on_set} /> },
                        Some(s) => html! { <crate::desk::Desk setup={s} on_forget={on_forget} /> },
                    } }
                </main>
            </div>
            <footer class="govuk-footer">
                <div class="govuk-width-container">
                    <div class="govuk-footer__meta">
                        <div class="govuk-footer__meta-item govuk-footer__meta-item--grow">
                            <p class="govuk-body-s">{ "Signpost records referrals without names. Do not type personal details in notes." }</p>
                        </div>
                    </div>
                </div>
            </footer>
        </>
    }
}

pub fn random_suffix() -> String {
    // The browser's crypto source (through getrandom), in pages and service workers alike.
    automerge::ActorId::random().to_hex_string()[..16].to_owned()
}

#[derive(Properties, PartialEq)]
struct SetUpProps {
    on_set: Callback<Setup>,
}

#[function_component(SetUp)]
fn set_up(props: &SetUpProps) -> Html {
    let input = use_node_ref();
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    let onsubmit = {
        let (input, error, busy, on_set) = (input.clone(), error.clone(), busy.clone(), props.on_set.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            let value = input.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default();
            let token = match credential::check(&value) {
                Ok(t) => t,
                Err(msg) => {
                    error.set(Some(msg.to_owned()));
                    focus_error_summary();
                    return;
                }
            };
            busy.set(true);
            let (error, busy, on_set) = (error.clone(), busy.clone(), on_set.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let result = match check_with_relay(&token).await {
                    Ok(setup) => credential::save(&setup).map(|_| setup),
                    Err(e) => Err(e.message().to_owned()),
                };
                busy.set(false);
                match result {
                    Ok(setup) => on_set.emit(setup),
                    Err(msg) => {
                        error.set(Some(msg));
                        focus_error_summary();
                    }
                }
            });
        })
    };
    let group_class = classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"));
    let input_class = classes!("govuk-input", error.is_some().then_some("govuk-input--error"));
    html! {
        <div class="govuk-grid-row">
            <div class="govuk-grid-column-two-thirds">
                if let Some(msg) = (*error).clone() {
                    <div class="govuk-error-summary" data-module="govuk-error-summary" id="error-summary" tabindex="-1">
                        <div role="alert">
                            <h2 class="govuk-error-summary__title">{ "There is a problem" }</h2>
                            <div class="govuk-error-summary__body">
                                <ul class="govuk-list govuk-error-summary__list">
                                    <li><a href="#credential">{ msg }</a></li>
                                </ul>
                            </div>
                        </div>
                    </div>
                }
                <h1 class="govuk-heading-l">{ "Set up this tablet" }</h1>
                <p class="govuk-body">{ "Enter the tablet credential your coordinator gave you. You only need to do this once on each tablet." }</p>
                <form onsubmit={onsubmit} novalidate=true>
                    <div class={group_class}>
                        <label class="govuk-label govuk-label--m" for="credential">{ "Tablet credential" }</label>
                        <div id="credential-hint" class="govuk-hint">{ "It starts with spd_" }</div>
                        if let Some(msg) = (*error).clone() {
                            <p id="credential-error" class="govuk-error-message">
                                <span class="govuk-visually-hidden">{ "Error: " }</span>{ msg }
                            </p>
                        }
                        <input ref={input} class={input_class} id="credential" name="credential" type="text"
                            autocomplete="off" spellcheck="false" autocapitalize="none"
                            aria-describedby={ if error.is_some() { "credential-hint credential-error" } else { "credential-hint" } } />
                    </div>
                    <button type="submit" class="govuk-button" data-module="govuk-button" disabled={*busy}>
                        { if *busy { "Checking…" } else { "Continue" } }
                    </button>
                </form>
            </div>
        </div>
    }
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
