//! This tablet's set-up: its device credential and the site and scheme it belongs to, kept in
//! the browser's local storage so that the app starts with no network.

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
    let s = storage()
        .ok_or("This browser does not allow the app to store data. Turn off private browsing and try again.")?;
    s.set_item(KEY, &setup.encode())
        .map_err(|_| "The set-up could not be saved on this tablet. Free some storage space and try again.".to_owned())
}

pub fn forget() {
    if let Some(s) = storage() {
        let _ = s.remove_item(KEY);
    }
}

/// Checks the shape of a device credential before trying it: what a person may have mistyped.
pub fn check(input: &str) -> Result<String, &'static str> {
    let t = input.trim();
    if t.is_empty() {
        return Err("Enter the tablet credential");
    }
    if !t.starts_with("spd_") {
        return Err("The tablet credential starts with spd_");
    }
    if t.len() < 20 || t.len() > 200 || !t[4..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err("The tablet credential must be copied exactly as it was given to you");
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_shapes() {
        assert_eq!(check(""), Err("Enter the tablet credential"));
        assert_eq!(check("abc"), Err("The tablet credential starts with spd_"));
        assert!(check("spd_short").is_err());
        assert!(check("spd_has spaces inside the token!!").is_err());
        let good = "spd_q909OjQKuWbe6JQ8TjV17a0FomJQGKyfF8UDCUKrZtc";
        assert_eq!(check(&format!("  {good} ")), Ok(good.to_owned()));
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
