//! A scheme's agency directory as its coordinators edit it: what an agency may be (checked in
//! one place for the pages and the API) and which agencies a scheme has. The agencies live in the
//! scheme's directory document, which the relay edits and every tablet of the scheme syncs.

use crate::error::Refusal;
use signpost_shared::schema::Agency;
use signpost_shared::vocab::Category;
use std::collections::BTreeSet;

/// An agency as typed on a page or sent to the API, before it is checked.
#[derive(Clone, Debug, Default)]
pub struct AgencyInput {
    pub name: String,
    pub phone: String,
    pub website: String,
    /// Category codes.
    pub categories: Vec<String>,
    /// Site ids; none: every site of the scheme.
    pub sites: Vec<String>,
}

/// Why an agency could not be taken: the field to fix (`name`, `phone`, `website`,
/// `categories` or `sites`) and what to do, in plain words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: Refusal,
}

fn invalid<T>(field: &'static str, en: impl Into<String>, cy: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid { field, reason: Refusal::new(en, cy) })
}

/// Checks an agency for the scheme whose sites are `scheme_sites`: the agency `id` keeps
/// `retired` as it is.
pub fn checked(
    id: &str,
    input: &AgencyInput,
    scheme_sites: &[String],
    others: &[Agency],
    retired: bool,
) -> Result<Agency, Invalid> {
    let name = input.name.trim();
    if name.is_empty() {
        return invalid("name", "Enter the agency's name", "Rhowch enw'r asiantaeth");
    }
    if name.chars().count() > 120 {
        return invalid(
            "name",
            "The agency's name must be 120 characters or fewer",
            "Rhaid i enw'r asiantaeth fod yn 120 nod neu lai",
        );
    }
    if name.chars().any(char::is_control) {
        return invalid("name", "The agency's name must be on one line", "Rhaid i enw'r asiantaeth fod ar un llinell");
    }
    if others.iter().any(|a| a.id != id && a.name.to_lowercase() == name.to_lowercase()) {
        return invalid(
            "name",
            format!("The directory already has an agency called {name}"),
            format!("Mae gan y cyfeiriadur asiantaeth o'r enw {name} eisoes"),
        );
    }
    let phone = input.phone.trim();
    let phone_ok = |p: &str| {
        p.chars().count() <= 30
            && p.chars().all(|c| c.is_ascii_digit() || " +()-".contains(c))
            && p.chars().filter(char::is_ascii_digit).count() >= 3
    };
    if !phone.is_empty() && !phone_ok(phone) {
        return invalid(
            "phone",
            "Enter a phone number, like 0800 144 8848 or +44 808 800 5000",
            "Rhowch rif ffôn, fel 0800 144 8848 neu +44 808 800 5000",
        );
    }
    let website = input.website.trim();
    let website_ok = |w: &str| {
        w.chars().count() <= 200
            && !w.chars().any(|c| c.is_whitespace() || c.is_control())
            && (w.strip_prefix("https://").or_else(|| w.strip_prefix("http://"))).is_some_and(|rest| rest.contains('.'))
    };
    if !website.is_empty() && !website_ok(website) {
        return invalid(
            "website",
            "Enter the website's full address, like https://www.citizensadvice.org.uk",
            "Rhowch gyfeiriad llawn y wefan, fel https://www.citizensadvice.org.uk",
        );
    }
    let mut categories = BTreeSet::new();
    for code in &input.categories {
        match Category::from_code(code) {
            Some(c) => {
                categories.insert(c);
            }
            None => {
                return invalid(
                    "categories",
                    format!("{code:?} is not an issue category"),
                    format!("Nid yw {code:?} yn gategori o fater"),
                )
            }
        }
    }
    if categories.is_empty() {
        return invalid(
            "categories",
            "Select at least one issue the agency helps with",
            "Dewiswch o leiaf un mater y mae'r asiantaeth yn helpu ag ef",
        );
    }
    let mut sites = BTreeSet::new();
    for site in &input.sites {
        if !scheme_sites.contains(site) {
            return invalid(
                "sites",
                format!("{site:?} is not a site of this scheme"),
                format!("Nid yw {site:?} yn un o safleoedd y cynllun hwn"),
            );
        }
        sites.insert(site.clone());
    }
    Ok(Agency {
        id: id.to_owned(),
        name: name.to_owned(),
        phone: (!phone.is_empty()).then(|| phone.to_owned()),
        website: (!website.is_empty()).then(|| website.to_owned()),
        categories,
        sites,
        retired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> AgencyInput {
        AgencyInput { name: name.into(), categories: vec!["housing".into()], ..Default::default() }
    }

    #[test]
    fn an_agency_is_checked_field_by_field_in_plain_words() {
        let sites = vec!["site-a".to_owned()];
        let ok = checked(
            "a1",
            &AgencyInput { phone: " 0800 144 8848 ".into(), ..input(" Shelter Cymru ") },
            &sites,
            &[],
            false,
        )
        .unwrap();
        assert_eq!((ok.name.as_str(), ok.phone.as_deref()), ("Shelter Cymru", Some("0800 144 8848")));
        let field = |i: AgencyInput| checked("a2", &i, &sites, std::slice::from_ref(&ok), false).unwrap_err().field;
        assert_eq!(field(input("  ")), "name");
        assert_eq!(field(input("shelter cymru")), "name");
        assert_eq!(field(AgencyInput { phone: "call us".into(), ..input("X") }), "phone");
        assert_eq!(field(AgencyInput { website: "www.example.org".into(), ..input("X") }), "website");
        assert_eq!(field(AgencyInput { website: "javascript:alert(1)".into(), ..input("X") }), "website");
        assert_eq!(field(AgencyInput { categories: vec![], ..input("X") }), "categories");
        assert_eq!(field(AgencyInput { categories: vec!["nope".into()], ..input("X") }), "categories");
        assert_eq!(field(AgencyInput { sites: vec!["site-z".into()], ..input("X") }), "sites");
        let renamed = checked("a1", &input("Shelter Cymru"), &sites, std::slice::from_ref(&ok), true).unwrap();
        assert!(renamed.retired, "its own name is not taken, and retired stays as it was");
    }
}
