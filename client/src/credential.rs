//! The tablet's device credential, kept in the browser's local storage.
//!
//! (Documents and their sync state move to IndexedDB with the offline work; the credential is a
//! single small value read once at start.)

const KEY: &str = "signpost.credential";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

pub fn load() -> Option<String> {
    storage()?.get_item(KEY).ok().flatten().filter(|t| !t.is_empty())
}

pub fn save(token: &str) -> Result<(), String> {
    let s = storage()
        .ok_or("This browser does not allow the app to store data. Turn off private browsing and try again.")?;
    s.set_item(KEY, token).map_err(|_| {
        "The credential could not be saved on this tablet. Free some storage space and try again.".to_owned()
    })
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
    use super::check;

    #[test]
    fn credential_shapes() {
        assert_eq!(check(""), Err("Enter the tablet credential"));
        assert_eq!(check("abc"), Err("The tablet credential starts with spd_"));
        assert!(check("spd_short").is_err());
        assert!(check("spd_has spaces inside the token!!").is_err());
        let good = "spd_q909OjQKuWbe6JQ8TjV17a0FomJQGKyfF8UDCUKrZtc";
        assert_eq!(check(&format!("  {good} ")), Ok(good.to_owned()));
    }
}
