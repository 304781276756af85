//! Identifiers that cross the wire: automerge-repo document ids and peer ids.
//!
//! A document id is 16 bytes, written as base58check (the form automerge-repo uses in
//! `automerge:` URLs). Signpost derives the ids of its well-known documents (a site's day log, a
//! scheme's directory) from their natural keys, so that two tablets that start the same day
//! offline open the *same* document and their entries merge instead of forking.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// An automerge-repo document id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid document id: {0}")]
pub struct BadDocumentId(pub String);

impl DocumentId {
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A fresh id from 16 caller-supplied random bytes (the core takes randomness as an argument).
    pub fn random(bytes: [u8; 16]) -> Self {
        Self(uuid_shaped(bytes))
    }

    /// The id of a well-known document, derived from a namespace and its natural key.
    pub fn derived(namespace: &str, key: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(b"signpost/");
        h.update(namespace.as_bytes());
        for part in key {
            h.update(b"/");
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(uuid_shaped(out))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The `automerge:` URL that automerge-repo clients pass to `repo.find`.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

/// Sets the version (4) and variant (RFC 4122) bits. automerge-repo peers check that a document
/// id is a valid UUID and refuse any other 16 bytes.
fn uuid_shaped(mut b: [u8; 16]) -> [u8; 16] {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = BadDocumentId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("automerge:").unwrap_or(s);
        if s.len() > 64 {
            return Err(BadDocumentId("too long".into()));
        }
        let bytes = bs58::decode(s).with_check(None).into_vec().map_err(|_| BadDocumentId("not base58check".into()))?;
        let arr: [u8; 16] = bytes.try_into().map_err(|_| BadDocumentId("not 16 bytes".into()))?;
        Ok(Self(arr))
    }
}

impl serde::Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A peer id as sent in `join`/`peer` messages: any short string chosen by the peer.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerId(pub String);

impl PeerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PeerId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_base58check() {
        let id = DocumentId::from_bytes([7; 16]);
        let s = id.to_string();
        assert_eq!(s.parse::<DocumentId>().unwrap(), id);
        assert_eq!(id.url().parse::<DocumentId>().unwrap(), id);
    }

    #[test]
    fn rejects_bad_checksum_and_length() {
        let mut s = DocumentId::from_bytes([1; 16]).to_string();
        let last = s.pop().unwrap();
        s.push(if last == '2' { '3' } else { '2' });
        assert!(s.parse::<DocumentId>().is_err());
        let short = bs58::encode([1u8; 8]).with_check().into_string();
        assert!(short.parse::<DocumentId>().is_err());
        assert!("".parse::<DocumentId>().is_err());
    }

    #[test]
    fn ids_are_valid_version_4_uuids() {
        for id in
            [DocumentId::derived("desk-day", &["a", "b"]), DocumentId::random([0xff; 16]), DocumentId::random([0; 16])]
        {
            let b = id.as_bytes();
            assert_eq!(b[6] >> 4, 4);
            assert_eq!(b[8] >> 6, 0b10);
        }
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = DocumentId::derived("desk-day", &["site-1", "2026-11-24"]);
        assert_eq!(a, DocumentId::derived("desk-day", &["site-1", "2026-11-24"]));
        assert_ne!(a, DocumentId::derived("desk-day", &["site-1", "2026-11-25"]));
        assert_ne!(a, DocumentId::derived("desk-day", &["site-12026-11-24"]));
    }
}
