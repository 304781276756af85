//! The set-up screen: a tablet is enrolled with a one-time code from its coordinator (or a
//! credential), checked with the relay.

use crate::credential::{self, Setup};
use crate::lang::l;
use crate::ui::focus_error_summary;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Debug, PartialEq)]
enum CheckError {
    Refused,
    CodeRefused,
    TooManyCodes,
    Unreachable,
}

impl CheckError {
    fn message(&self) -> &'static str {
        match self {
            CheckError::Refused => l("This credential is not recognised. Check it with your coordinator", "Nid yw'r manylion adnabod hyn yn cael eu hadnabod. Gwiriwch nhw gyda'ch cydlynydd"),
            CheckError::CodeRefused => {
                l("This enrolment code is not valid. A code works once, within 15 minutes: ask your coordinator for a new one", "Nid yw'r cod cofrestru hwn yn ddilys. Mae cod yn gweithio unwaith, o fewn 15 munud: gofynnwch i'ch cydlynydd am un newydd")
            }
            CheckError::TooManyCodes => {
                l("Too many wrong codes were entered. Wait 15 minutes, then ask your coordinator for a new code", "Rhoddwyd gormod o godau anghywir. Arhoswch 15 munud, yna gofynnwch i'ch cydlynydd am god newydd")
            }
            CheckError::Unreachable => l("Signpost could not be reached. Check the tablet is online and try again", "Nid oedd modd cyrraedd Signpost. Gwiriwch fod y dabled ar-lein a rhowch gynnig arall arni"),
        }
    }
}

async fn fetch_json(req: web_sys::Request) -> Result<(u16, JsValue), CheckError> {
    let window = web_sys::window().ok_or(CheckError::Unreachable)?;
    let resp = JsFuture::from(window.fetch_with_request(&req)).await.map_err(|_| CheckError::Unreachable)?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| CheckError::Unreachable)?;
    let json = match resp.json() {
        Ok(p) => JsFuture::from(p).await.unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    };
    Ok((resp.status(), json))
}

fn setup_from(token: String, json: &JsValue) -> Setup {
    let field = |k: &str| js_sys::Reflect::get(json, &k.into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    Setup {
        token,
        scheme: field("scheme"),
        site: field("site"),
        site_name: field("site_name"),
        scheme_name: field("scheme_name"),
    }
}

/// Asks the relay who a credential belongs to (`GET /api/v1/device`).
async fn check_with_relay(token: &str) -> Result<Setup, CheckError> {
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().map_err(|_| CheckError::Unreachable)?;
    headers.set("Authorization", &format!("Bearer {token}")).map_err(|_| CheckError::Refused)?;
    init.set_headers(&headers);
    let req = web_sys::Request::new_with_str_and_init("/api/v1/device", &init).map_err(|_| CheckError::Unreachable)?;
    match fetch_json(req).await? {
        (200, json) => Ok(setup_from(token.to_owned(), &json)),
        (401 | 403, _) => Err(CheckError::Refused),
        _ => Err(CheckError::Unreachable),
    }
}

/// Exchanges an enrolment code for this tablet's credential (`POST /api/v1/enrol`).
async fn enrol(code: &str, name: &str) -> Result<Setup, CheckError> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new().map_err(|_| CheckError::Unreachable)?;
    headers.set("Content-Type", "application/json").map_err(|_| CheckError::Unreachable)?;
    init.set_headers(&headers);
    let body = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&body, &"code".into(), &code.into());
    let _ = js_sys::Reflect::set(&body, &"name".into(), &name.into());
    let body = js_sys::JSON::stringify(&body).map_err(|_| CheckError::Unreachable)?;
    init.set_body(&body);
    let req = web_sys::Request::new_with_str_and_init("/api/v1/enrol", &init).map_err(|_| CheckError::Unreachable)?;
    match fetch_json(req).await? {
        (201, json) => {
            let token = js_sys::Reflect::get(&json, &"token".into()).ok().and_then(|v| v.as_string());
            Ok(setup_from(token.ok_or(CheckError::Unreachable)?, &json))
        }
        (400 | 403, _) => Err(CheckError::CodeRefused),
        (429, _) => Err(CheckError::TooManyCodes),
        _ => Err(CheckError::Unreachable),
    }
}

#[derive(Properties, PartialEq)]
pub struct SetUpProps {
    pub on_set: Callback<Setup>,
}

#[function_component(SetUp)]
pub fn set_up(props: &SetUpProps) -> Html {
    let input = use_node_ref();
    let name = use_node_ref();
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    let onsubmit = {
        let (input, name, error, busy, on_set) =
            (input.clone(), name.clone(), error.clone(), busy.clone(), props.on_set.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            let value = input.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default();
            let label = name.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default();
            let entered = match credential::check(&value) {
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
                let asked = match entered {
                    credential::Entered::Code(code) => enrol(&code, label.trim()).await,
                    credential::Entered::Credential(token) => check_with_relay(&token).await,
                };
                let result = match asked {
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
    let input_class = classes!("govuk-input", "govuk-input--width-10", error.is_some().then_some("govuk-input--error"));
    html! {
        <div class="govuk-grid-row">
            <div class="govuk-grid-column-two-thirds">
                if let Some(msg) = (*error).clone() {
                    <div class="govuk-error-summary" data-module="govuk-error-summary" id="error-summary" tabindex="-1">
                        <div role="alert">
                            <h2 class="govuk-error-summary__title">{ l("There is a problem", "Mae problem wedi codi") }</h2>
                            <div class="govuk-error-summary__body">
                                <ul class="govuk-list govuk-error-summary__list">
                                    <li><a href="#enrolment-code">{ msg }</a></li>
                                </ul>
                            </div>
                        </div>
                    </div>
                }
                <h1 class="govuk-heading-l">{ l("Set up this tablet", "Gosod y dabled hon") }</h1>
                <p class="govuk-body">{ l("Your coordinator creates an enrolment code for this desk on Signpost's website. You only need to do this once on each tablet.", "Mae eich cydlynydd yn creu cod cofrestru ar gyfer y ddesg hon ar wefan Signpost. Dim ond unwaith ar bob tabled y mae angen gwneud hyn.") }</p>
                <form onsubmit={onsubmit} novalidate=true>
                    <div class={group_class}>
                        <label class="govuk-label govuk-label--m" for="enrolment-code">{ l("Enrolment code", "Cod cofrestru") }</label>
                        <div id="enrolment-code-hint" class="govuk-hint">
                            { l("8 characters, like ABCD-EFGH. A code works once, within 15 minutes. An administrator may give you a tablet credential starting spd_ instead: enter that here.", "8 nod, fel ABCD-EFGH. Mae cod yn gweithio unwaith, o fewn 15 munud. Efallai y bydd gweinyddwr yn rhoi manylion adnabod tabled sy'n dechrau gyda spd_ i chi yn lle hynny: rhowch hwnnw yma.") }
                        </div>
                        if let Some(msg) = (*error).clone() {
                            <p id="enrolment-code-error" class="govuk-error-message">
                                <span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ msg }
                            </p>
                        }
                        <input ref={input} class={input_class} id="enrolment-code" name="enrolment-code" type="text"
                            autocomplete="off" spellcheck="false" autocapitalize="characters"
                            aria-describedby={ if error.is_some() { "enrolment-code-hint enrolment-code-error" } else { "enrolment-code-hint" } } />
                    </div>
                    <div class="govuk-form-group">
                        <label class="govuk-label" for="tablet-name">{ l("Name for this tablet (optional)", "Enw ar gyfer y dabled hon (dewisol)") }</label>
                        <div id="tablet-name-hint" class="govuk-hint">{ l("So your coordinator can tell tablets apart, for example Front desk", "Er mwyn i'ch cydlynydd allu gwahaniaethu rhwng tabledi, er enghraifft Desg flaen") }</div>
                        <input ref={name} class="govuk-input govuk-!-width-one-half" id="tablet-name" name="tablet-name" type="text"
                            autocomplete="off" maxlength="60" aria-describedby="tablet-name-hint" />
                    </div>
                    <button type="submit" class="govuk-button" data-module="govuk-button" disabled={*busy}>
                        { if *busy { l("Checking…", "Yn gwirio…") } else { l("Continue", "Parhau") } }
                    </button>
                </form>
            </div>
        </div>
    }
}
