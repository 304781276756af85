//! The Welsh of the names Signpost's figures carry in English: vocabulary labels (issue
//! categories, pathways, who was helped, kinds of help, outcomes, age bands, regions, kinds of
//! scheme), equality questions and their published groups, and the national measures.
//!
//! Figures arrive from the domain with English labels (the JSON API and the CSV files speak
//! English); a page in Welsh says each through [`say`], which leaves anything it does not know
//! (a site's or an agency's name) as it is.

use super::lang::cy;
use signpost_shared::equality::{self, QUESTIONS};
use signpost_shared::vocab::{
    cymraeg, AgeBand, Category, FollowUpOutcome, HelpKind, Helped, Pathway, Region, SchemeType,
};
use std::collections::HashMap;
use std::sync::LazyLock;

static WELSH: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    m.extend(Category::ALL.iter().map(|c| (c.label(), cymraeg::category(*c))));
    m.extend(Pathway::ALL.iter().map(|p| (p.label(), cymraeg::pathway(*p))));
    m.extend(Helped::ALL.iter().map(|h| (h.label(), cymraeg::helped(*h))));
    m.extend(HelpKind::ALL.iter().map(|h| (h.label(), cymraeg::help_kind(*h))));
    m.extend(FollowUpOutcome::ALL.iter().map(|o| (o.label(), cymraeg::outcome(*o))));
    m.extend(AgeBand::ALL.iter().map(|a| (a.label(), cymraeg::age_band(*a))));
    m.extend(Region::ALL.iter().map(|r| (r.label(), cymraeg::region(*r))));
    m.extend(SchemeType::ALL.iter().map(|t| (t.label(), cymraeg::scheme_type(*t))));
    for q in QUESTIONS {
        m.insert(q.text, equality::cymraeg::text(q.key));
        for g in equality::groups(q.key) {
            m.insert(g, equality::cymraeg::group(g));
        }
    }
    m.extend([
        ("Active volunteers", "Gwirfoddolwyr gweithredol"),
        ("Volunteer hours", "Oriau gwirfoddoli"),
        ("Referrals", "Atgyfeiriadau"),
        ("Region not recorded", "Rhanbarth heb ei gofnodi"),
        ("Kind not recorded", "Math heb ei gofnodi"),
        ("Not recorded", "Heb ei gofnodi"),
        ("Other (not in the directory)", "Arall (nid yn y cyfeiriadur)"),
    ]);
    m.extend(ACTIONS.iter().copied());
    m.retain(|_, cy| !cy.is_empty());
    m
});

/// The audit log's actions (recorded in English, as they happened), in Welsh.
const ACTIONS: &[(&str, &str)] = &[
    ("account created", "cyfrif wedi'i greu"),
    ("account deactivated", "cyfrif wedi'i ddadactifadu"),
    ("account reactivated", "cyfrif wedi'i ail-actifadu"),
    ("administrator token issued", "tocyn gweinyddwr wedi'i roi"),
    ("administrator token revoked", "tocyn gweinyddwr wedi'i ddirymu"),
    ("agency added", "asiantaeth wedi'i hychwanegu"),
    ("agency changed", "asiantaeth wedi'i newid"),
    ("agency offered again", "asiantaeth yn cael ei chynnig eto"),
    ("agency retired", "asiantaeth wedi'i thynnu'n ôl"),
    ("device connected", "dyfais wedi cysylltu"),
    ("enrolment code created", "cod cofrestru wedi'i greu"),
    ("equality answers withdrawn", "atebion cydraddoldeb wedi'u tynnu'n ôl"),
    ("exported individual referrals (CSV)", "wedi allforio atgyfeiriadau unigol (CSV)"),
    ("notes redacted", "nodiadau wedi'u golygu"),
    ("opened a referral to correct the record", "wedi agor atgyfeiriad i gywiro'r cofnod"),
    ("password reset", "cyfrinair wedi'i ailosod"),
    ("password set", "cyfrinair wedi'i osod"),
    ("purged records past the retention period", "wedi dileu cofnodion y tu hwnt i'r cyfnod cadw"),
    ("referral erased", "atgyfeiriad wedi'i ddileu"),
    ("referral export stopped", "allforio atgyfeiriadau wedi'i atal"),
    ("referral notes redacted", "nodiadau atgyfeiriad wedi'u golygu"),
    ("retention period set", "cyfnod cadw wedi'i osod"),
    ("set-aside day discarded", "diwrnod a roddwyd o'r neilltu wedi'i waredu"),
    ("set-aside day filed", "diwrnod a roddwyd o'r neilltu wedi'i ffeilio"),
    ("roster setting changed", "gosodiad y rhestr wedi'i newid"),
    ("scheme created", "cynllun wedi'i greu"),
    ("scheme details changed", "manylion y cynllun wedi'u newid"),
    ("searched referrals to correct the record", "wedi chwilio atgyfeiriadau i gywiro'r cofnod"),
    ("signed in", "wedi mewngofnodi"),
    ("signed out", "wedi allgofnodi"),
    ("site closed", "safle wedi'i gau"),
    ("site created", "safle wedi'i greu"),
    ("site opened again", "safle wedi'i agor eto"),
    ("site renamed", "safle wedi'i ailenwi"),
    ("tablet enrolled", "tabled wedi'i chofrestru"),
    ("tablet revoked", "tabled wedi'i dirymu"),
    ("viewed the volunteer roster and tablets", "wedi gweld y rhestr wirfoddolwyr a'r tabledi"),
    ("volunteer PIN set", "PIN gwirfoddolwr wedi'i osod"),
    ("volunteer added", "gwirfoddolwr wedi'i ychwanegu"),
    ("volunteer put back on the roster", "gwirfoddolwr wedi'i roi'n ôl ar y rhestr"),
    ("volunteer taken off the roster", "gwirfoddolwr wedi'i dynnu oddi ar y rhestr"),
];

/// `english` in the page's language: its Welsh when the page is in Welsh and the name is one of
/// Signpost's own, else as it is.
pub fn say(english: &str) -> &str {
    if cy() {
        WELSH.get(english).copied().unwrap_or(english)
    } else {
        english
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vocabulary_label_and_published_group_has_welsh() {
        let english: Vec<&str> = Category::ALL
            .iter()
            .map(|c| c.label())
            .chain(Pathway::ALL.iter().map(|p| p.label()))
            .chain(Region::ALL.iter().map(|r| r.label()))
            .chain(SchemeType::ALL.iter().map(|t| t.label()))
            .chain(QUESTIONS.iter().flat_map(|q| equality::groups(q.key)))
            .collect();
        for e in english {
            let w = WELSH.get(e).copied().unwrap_or_default();
            assert!(!w.is_empty(), "{e:?} has no Welsh");
            assert!(w != e || e == "Sikh", "{e:?} is the same in Welsh");
        }
    }
}
