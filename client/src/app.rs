//! The app's frame (GOV.UK header and footer) around its two screens: setting up the tablet,
//! and the desk.

use crate::credential::{self, Setup};
use crate::lang::{cy, l};
use crate::setup::SetUp;
use yew::prelude::*;

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
                if let Ok(store) = crate::sync::storage::LocalStore::open().await {
                    let _ = store.set_meta(crate::sync::replica::META_SETUP, None).await;
                }
            });
        })
    };
    html! {
        <>
            <header class="govuk-header" data-module="govuk-header">
                <div class="govuk-header__container govuk-width-container">
                    <div class="govuk-header__logo">
                        <span class="govuk-header__homepage-link">
                            <span class="govuk-header__product-name">{ "Signpost" }</span>
                        </span>
                    </div>
                </div>
            </header>
            <div class="govuk-width-container">
                // The GOV.UK language switch: the other language is a link (the page reloads in it).
                <nav class="govuk-language-navigation signpost-language" aria-label={l("Language", "Iaith")}>
                    <ul class="govuk-language-navigation__list">
                        <li class="govuk-language-navigation__list-item">
                            if cy() {
                                <a class="govuk-language-navigation__link" href="?lang=en" lang="en" hreflang="en" rel="alternate">{ "English" }</a>
                            } else {
                                <span class="govuk-language-navigation__text" lang="en" aria-current="true">{ "English" }</span>
                            }
                        </li>
                        <li class="govuk-language-navigation__list-item">
                            if cy() {
                                <span class="govuk-language-navigation__text" lang="cy" aria-current="true">{ "Cymraeg" }</span>
                            } else {
                                <a class="govuk-language-navigation__link" href="?lang=cy" lang="cy" hreflang="cy" rel="alternate">{ "Cymraeg" }</a>
                            }
                        </li>
                    </ul>
                </nav>
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
                            <h2 class="govuk-visually-hidden">{ l("Support links", "Dolenni cymorth") }</h2>
                            <ul class="govuk-footer__inline-list">
                                <li class="govuk-footer__inline-list-item"><a class="govuk-footer__link" href="/accessibility">{ l("Accessibility statement", "Datganiad hygyrchedd") }</a></li>
                                <li class="govuk-footer__inline-list-item"><a class="govuk-footer__link" href="/privacy">{ l("Privacy notice", "Hysbysiad preifatrwydd") }</a></li>
                            </ul>
                            <p class="govuk-body-s">{ l("Signpost records referrals without names. Do not type personal details in notes.", "Mae Signpost yn cofnodi atgyfeiriadau heb enwau. Peidiwch â theipio manylion personol mewn nodiadau.") }</p>
                        </div>
                    </div>
                </div>
            </footer>
        </>
    }
}
