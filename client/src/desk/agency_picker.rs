//! Choosing the agency a person was signposted to: the directory's agencies offered at this
//! site, narrowed to those that help with the issues ticked, the desk's most used first, and a
//! search across all of them; "another agency" reveals a field for its name (the GOV.UK
//! conditional reveal).

use crate::lang::l;
use signpost_shared::schema::{Agency, AgencyRef};
use signpost_shared::vocab::Category;
use std::collections::{BTreeSet, HashMap};
use yew::prelude::*;

/// The value of the radio for an agency not in the directory.
pub(super) const OTHER: &str = "other";

/// How often each directory agency was chosen in the referrals this tablet holds (its desk's
/// last days): the most used come first.
pub(super) fn use_counts(peer: &signpost_shared::peer::Peer) -> HashMap<String, usize> {
    use signpost_shared::schema::{entry_keys, read_referral, EntryKey};
    let mut counts = HashMap::new();
    for id in peer.doc_ids() {
        let Some(doc) = peer.doc(&id) else { continue };
        for key in entry_keys(doc) {
            let EntryKey::Referral(r) = key else { continue };
            if let Ok(Some(r)) = read_referral(doc, &r) {
                if let AgencyRef::Directory(a) = r.agency {
                    *counts.entry(a).or_insert(0) += 1;
                }
            }
        }
    }
    counts
}

/// The agencies to list, in order: offered at the site (or the one already chosen), matching
/// the search if there is one, else helping with a ticked issue if any is ticked; most used
/// first, then by name.
pub(super) fn shown<'a>(
    all: &'a [Agency],
    site: &str,
    ticked: &BTreeSet<Category>,
    search: &str,
    counts: &HashMap<String, usize>,
    selected: Option<&str>,
) -> Vec<&'a Agency> {
    let search = search.trim().to_lowercase();
    let mut out: Vec<&Agency> = all
        .iter()
        .filter(|a| {
            let wanted = if !search.is_empty() {
                a.name.to_lowercase().contains(&search)
            } else {
                ticked.is_empty() || a.categories.iter().any(|c| ticked.contains(c))
            };
            (a.offered_at(site) && wanted) || Some(a.id.as_str()) == selected
        })
        .collect();
    let used = |a: &Agency| counts.get(&a.id).copied().unwrap_or(0);
    out.sort_by(|a, b| used(b).cmp(&used(a)).then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase())));
    out
}

#[derive(Properties, PartialEq)]
pub(super) struct PickerProps {
    pub(super) agencies: Vec<Agency>,
    pub(super) selected: Option<String>,
    pub(super) error: Option<String>,
    pub(super) other_error: Option<String>,
    /// How many agencies match but are not listed because of the ticked issues.
    pub(super) narrowed: bool,
    pub(super) search: String,
    pub(super) on_search: Callback<String>,
}

#[function_component(AgencyPicker)]
pub(super) fn agency_picker(p: &PickerProps) -> Html {
    let other = p.selected.as_deref() == Some(OTHER);
    let radio = |i: usize, value: String, label: Html, hint: Option<String>| {
        // ("agency-choice-…": "agency-other" is the other agency's name field.)
        let id = if i == 0 { "agency".to_owned() } else { format!("agency-choice-{value}") };
        let checked = p.selected.as_deref() == Some(value.as_str());
        let hint_id = format!("{id}-item-hint");
        html! {
            <div class="govuk-radios__item">
                <input class="govuk-radios__input" id={id.clone()} name="agency" type="radio" value={value} checked={checked}
                    aria-describedby={hint.as_ref().map(|_| hint_id.clone())} />
                <label class="govuk-label govuk-radios__label" for={id}>{ label }</label>
                if let Some(h) = hint { <div id={hint_id} class="govuk-hint govuk-radios__hint">{ h }</div> }
            </div>
        }
    };
    let oninput = p.on_search.reform(|e: InputEvent| {
        e.target_dyn_into::<web_sys::HtmlInputElement>().map(|i| i.value()).unwrap_or_default()
    });
    // Enter in the search box searches; it does not save the referral.
    let onkeydown = Callback::from(|e: KeyboardEvent| {
        if e.key() == "Enter" {
            e.prevent_default();
        }
    });
    html! {
        <div class={classes!("govuk-form-group", p.error.is_some().then_some("govuk-form-group--error"))} id="agency-group">
            <fieldset class="govuk-fieldset" aria-describedby="agency-hint">
                <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">{ l("Agency signposted to", "Asiantaeth y cyfeiriwyd nhw ati") }</legend>
                <div id="agency-hint" class="govuk-hint">
                    { if p.narrowed { l("Agencies that help with the issues ticked, this desk's most used first.", "Asiantaethau sy'n helpu gyda'r materion a diciwyd, y rhai a ddefnyddir fwyaf gan y ddesg hon yn gyntaf.") } else { l("This desk's most used first.", "Y rhai a ddefnyddir fwyaf gan y ddesg hon yn gyntaf.") } }
                </div>
                if let Some(e) = p.error.clone() {
                    <p class="govuk-error-message"><span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ e }</p>
                }
                <div class="govuk-form-group">
                    <label class="govuk-label" for="agency-search">{ l("Search the directory", "Chwilio'r cyfeiriadur") }</label>
                    <input class="govuk-input govuk-!-width-two-thirds" id="agency-search" type="search" autocomplete="off"
                        spellcheck="false" value={p.search.clone()} oninput={oninput} onkeydown={onkeydown} />
                </div>
                <div class="govuk-radios" data-module="govuk-radios">
                    if p.agencies.is_empty() {
                        <p class="govuk-body" id="no-agency-found">{ l("No agency in the directory matches. Search again, or choose another agency below.", "Nid oes asiantaeth yn y cyfeiriadur yn cyfateb. Chwiliwch eto, neu dewiswch asiantaeth arall isod.") }</p>
                    }
                    { for p.agencies.iter().enumerate().map(|(i, a)| radio(i, a.id.clone(), html! { { a.name.clone() } }, a.phone.clone())) }
                    <div class="govuk-radios__divider">{ l("or", "neu") }</div>
                    { radio(p.agencies.len(), OTHER.to_owned(), html! { { l("Another agency (not in the directory)", "Asiantaeth arall (nad yw yn y cyfeiriadur)") } }, None) }
                    <div class={classes!("govuk-radios__conditional", (!other).then_some("govuk-radios__conditional--hidden"))} id="agency-other-reveal">
                        <div class={classes!("govuk-form-group", p.other_error.is_some().then_some("govuk-form-group--error"))}>
                            <label class="govuk-label" for="agency-other">{ l("Other agency's name", "Enw'r asiantaeth arall") }</label>
                            if let Some(e) = p.other_error.clone() {
                                <p class="govuk-error-message"><span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ e }</p>
                            }
                            <input class="govuk-input" id="agency-other" name="agency-other" type="text" maxlength="200" autocomplete="off" />
                        </div>
                    </div>
                </div>
            </fieldset>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency(id: &str, name: &str, cats: &[Category]) -> Agency {
        Agency {
            id: id.into(),
            name: name.into(),
            phone: None,
            website: None,
            categories: cats.iter().copied().collect(),
            sites: BTreeSet::new(),
            retired: false,
        }
    }

    #[test]
    fn the_list_narrows_to_the_issues_ticked_puts_the_most_used_first_and_searches_everything() {
        use Category::*;
        let all = vec![
            agency("shelter", "Shelter", &[Housing]),
            agency("cab", "Citizens Advice", &[Housing, DebtBenefitsFinance]),
            agency("mind", "Mind", &[MentalHealth]),
            Agency { retired: true, ..agency("old", "Old Housing Trust", &[Housing]) },
            Agency { sites: ["site-b".into()].into(), ..agency("local", "Local Housing Help", &[Housing]) },
        ];
        let counts: HashMap<String, usize> = [("shelter".to_owned(), 3), ("cab".to_owned(), 1)].into();
        let ids = |v: Vec<&Agency>| v.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        let housing: BTreeSet<Category> = [Housing].into();
        assert_eq!(ids(shown(&all, "site-a", &housing, "", &counts, None)), ["shelter", "cab"]);
        assert_eq!(ids(shown(&all, "site-b", &housing, "", &counts, None)), ["shelter", "cab", "local"]);
        assert_eq!(ids(shown(&all, "site-a", &BTreeSet::new(), "", &counts, None)), ["shelter", "cab", "mind"]);
        assert_eq!(
            ids(shown(&all, "site-a", &housing, "MIN", &counts, None)),
            ["mind"],
            "search looks past the ticked issues"
        );
        assert_eq!(
            ids(shown(&all, "site-a", &housing, "", &counts, Some("old"))),
            ["shelter", "cab", "old"],
            "a correction keeps its retired agency"
        );
    }
}
