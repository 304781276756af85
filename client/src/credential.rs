//! This tablet's set-up: its device credential and the site and scheme it belongs to, kept in
//! the browser's local storage so that the app starts with no network.

use crate::lang::l;

const KEY: &str = "signpost.setup";

#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    pub token: String,
    pub scheme: String,
    pub site: String,
    pub site_name: String,
    pub scheme_name: String,
}

impl Setup {
    pub fn encode(&self) -> String {
        [&self.token, &self.scheme, &self.site, &self.site_name, &self.scheme_name]
            .map(|s| s.replace('\n', " "))
            .join("\n")
    }

    pub fn decode(s: &str) -> Option<Setup> {
        let mut it = s.split('\n').map(str::to_owned);
        Some(Setup {
            token: it.next()?,
            scheme: it.next()?,
            site: it.next()?,
            site_name: it.next()?,
            scheme_name: it.next()?,
        })
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

pub fn load() -> Option<Setup> {
    Setup::decode(&storage()?.get_item(KEY).ok().flatten()?)
}

pub fn save(setup: &Setup) -> Result<(), String> {
    let s = storage().ok_or(l(
        "This browser does not allow the app to store data. Turn off private browsing and try again.",
        "Nid yw'r porwr hwn yn gadael i'r ap gadw data. Diffoddwch bori preifat a rhowch gynnig arall arni.",
    ))?;
    s.set_item(KEY, &setup.encode()).map_err(|_| {
        l(
            "The set-up could not be saved on this tablet. Free some storage space and try again.",
            "Nid oedd modd cadw'r gosodiad ar y dabled hon. Rhyddhewch le storio a rhowch gynnig arall arni.",
        )
        .to_owned()
    })
}

pub fn forget() {
    if let Some(s) = storage() {
        let _ = s.remove_item(KEY);
    }
}

/// What the set-up screen was given: an enrolment code (the usual way) or a device credential
/// an administrator issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entered {
    /// Normalised: eight characters, upper case, no dashes.
    Code(String),
    Credential(String),
}

/// Letters and digits of enrolment codes (no 0/O, 1/I/L).
const CODE_ALPHABET: &str = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Checks the shape of what was typed before trying it: what a person may have mistyped.
pub fn check(input: &str) -> Result<Entered, &'static str> {
    let t = input.trim();
    if t.is_empty() {
        return Err(l("Enter the enrolment code", "Rhowch y cod cofrestru"));
    }
    if let Some(rest) = t.strip_prefix("spd_") {
        if t.len() < 20 || t.len() > 200 || !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(l(
                "The tablet credential must be copied exactly as it was given to you",
                "Rhaid copïo manylion adnabod y dabled yn union fel y'u rhoddwyd i chi",
            ));
        }
        return Ok(Entered::Credential(t.to_owned()));
    }
    let code: String = t.chars().filter(|c| !matches!(c, ' ' | '-')).collect::<String>().to_ascii_uppercase();
    if code.chars().count() != 8 {
        return Err(l(
            "The enrolment code must be 8 characters, like ABCD-EFGH",
            "Rhaid i'r cod cofrestru fod yn 8 nod, fel ABCD-EFGH",
        ));
    }
    if !code.chars().all(|c| CODE_ALPHABET.contains(c)) {
        return Err(l(
            "The enrolment code must only include letters and the digits 2 to 9, like ABCD-EFGH",
            "Rhaid i'r cod cofrestru gynnwys llythrennau a'r digidau 2 i 9 yn unig, fel ABCD-EFGH",
        ));
    }
    Ok(Entered::Code(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_credential_shapes() {
        assert_eq!(check(""), Err("Enter the enrolment code"));
        assert_eq!(check(" abcd-efgh "), Ok(Entered::Code("ABCDEFGH".into())));
        assert_eq!(check("abcd efgh"), Ok(Entered::Code("ABCDEFGH".into())));
        assert!(check("ABCD-EFG").is_err(), "too short");
        assert!(check("ABCD-EFG0").is_err(), "0 is not in codes");
        assert!(check("spd_short").is_err());
        assert!(check("spd_has spaces inside the token!!").is_err());
        let good = "spd_q909OjQKuWbe6JQ8TjV17a0FomJQGKyfF8UDCUKrZtc";
        assert_eq!(check(&format!("  {good} ")), Ok(Entered::Credential(good.to_owned())));
    }

    #[test]
    fn setup_round_trips() {
        let s = Setup {
            token: "spd_x".into(),
            scheme: "sch-1".into(),
            site: "site-1".into(),
            site_name: "Court A".into(),
            scheme_name: "S".into(),
        };
        assert_eq!(Setup::decode(&s.encode()), Some(s));
        assert_eq!(Setup::decode("only\ntwo"), None);
    }
}
