//! Small helpers every layer uses: the clock, random ids and secrets, token hashes.

use sha2::{Digest, Sha256};

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn hash_token(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random identifier or secret: `prefix` then `bytes` random bytes in URL-safe base64.
pub fn random_token(prefix: &str, bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// A short random id such as `sch-4fj29dk1`: lowercase letters and digits, no look-alikes.
pub fn random_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut buf = [0u8; 10];
    rand::fill(&mut buf[..]);
    let s: String = buf.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    format!("{prefix}-{s}")
}
