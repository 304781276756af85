//! The automerge-repo network messages, CBOR-encoded as automerge-repo 2.x sends them.
//!
//! Every message is a CBOR map with a `type` field. Decoding is strict about the fields a message
//! type needs and lenient about extra fields, `undefined` values and integer-valued floats, which
//! JavaScript encoders produce. Decoding never panics, whatever the bytes.

use crate::ids::{DocumentId, PeerId};
use minicbor::data::Type;
use minicbor::Decoder;

/// The only protocol version automerge-repo speaks today.
pub const PROTOCOL_VERSION: &str = "1";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerMetadata {
    pub storage_id: Option<String>,
    pub is_ephemeral: bool,
}

/// A relay's refusal of one document, carried on `doc-unavailable`: a stable code the tablet
/// words for its volunteers (in their language) and the relay's own English message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

/// The session id of the ephemeral messages the relay itself sends about a document (a notice:
/// the day was set aside). Other automerge-repo peers see them as ephemeral messages from the
/// relay and may ignore them.
pub const NOTICE_SESSION: &str = "signpost-relay";

/// What the relay says about a document it keeps syncing: a notice in an ephemeral message's
/// data (CBOR: `{"notice": code, "message": text}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub code: String,
    pub message: String,
}

impl Notice {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = minicbor::Encoder::new(Vec::new());
        let written: Result<(), minicbor::encode::Error<std::convert::Infallible>> = (|| {
            e.map(2)?.str("notice")?.str(&self.code)?.str("message")?.str(&self.message)?;
            Ok(())
        })();
        written.expect("encoding into a Vec is infallible");
        e.into_writer()
    }

    /// `None` unless `data` is a notice.
    pub fn decode(data: &[u8]) -> Option<Notice> {
        let mut d = Decoder::new(data);
        let n = d.map().ok()??;
        let (mut code, mut message) = (None, None);
        for _ in 0..n {
            match d.str().ok()? {
                "notice" => code = text(&mut d, "notice").ok()?,
                "message" => message = text(&mut d, "message").ok()?,
                _ => skip(&mut d, 1).ok()?,
            }
        }
        (d.position() == data.len()).then_some(())?;
        Some(Notice { code: code?, message: message.unwrap_or_default() })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Join {
        sender_id: PeerId,
        supported_protocol_versions: Vec<String>,
        metadata: Option<PeerMetadata>,
    },
    Peer {
        sender_id: PeerId,
        selected_protocol_version: String,
        target_id: PeerId,
        metadata: Option<PeerMetadata>,
    },
    Leave {
        sender_id: PeerId,
    },
    Request {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    Sync {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    DocUnavailable {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        /// Why the relay will not take this document from the device: a Signpost extension
        /// (fields `refusal` and `message`, which other automerge-repo peers ignore). `None`: the
        /// relay has no such document, or it was removed for good.
        refusal: Option<Refusal>,
    },
    Ephemeral {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        count: u64,
        session_id: String,
        data: Vec<u8>,
    },
    Error {
        message: String,
    },
    /// `remote-subscription-change` and `remote-heads-changed`: gossip about third peers'
    /// storage heads. A relay may ignore them; they are decoded only so they are not errors.
    RemoteHeadsGossip {
        sender_id: PeerId,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("message is not valid CBOR: {0}")]
    Cbor(String),
    #[error("message is not a CBOR map")]
    NotAMap,
    #[error("message has no `type`")]
    MissingType,
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("message of type `{0}` lacks field `{1}`")]
    MissingField(&'static str, &'static str),
    #[error("field `{0}` has the wrong type")]
    WrongType(&'static str),
    #[error("invalid document id")]
    BadDocumentId,
    #[error("trailing bytes after the message")]
    Trailing,
}

impl From<minicbor::decode::Error> for DecodeError {
    fn from(e: minicbor::decode::Error) -> Self {
        // The relay says exactly what was wrong. The tablet app only needs to know that a frame
        // did not decode: formatting the decoder's error would add 3 KB to its download.
        #[cfg(not(target_arch = "wasm32"))]
        return DecodeError::Cbor(e.to_string());
        #[cfg(target_arch = "wasm32")]
        {
            let _ = e;
            DecodeError::Cbor(String::new())
        }
    }
}

#[derive(Default)]
struct Fields {
    ty: Option<String>,
    sender_id: Option<String>,
    target_id: Option<String>,
    document_id: Option<DocumentId>,
    data: Option<Vec<u8>>,
    versions: Option<Vec<String>>,
    selected: Option<String>,
    metadata: Option<PeerMetadata>,
    count: Option<u64>,
    session_id: Option<String>,
    message: Option<String>,
    refusal: Option<String>,
}

/// Nesting allowed in fields we skip; deeper input is refused instead of recursed into.
const MAX_SKIP_DEPTH: usize = 16;

fn is_absent(d: &Decoder<'_>) -> Result<bool, DecodeError> {
    Ok(matches!(d.datatype()?, Type::Undefined | Type::Null))
}

fn text(d: &mut Decoder<'_>, field: &'static str) -> Result<Option<String>, DecodeError> {
    if is_absent(d)? {
        d.skip()?;
        return Ok(None);
    }
    match d.datatype()? {
        Type::String => Ok(Some(d.str()?.to_owned())),
        Type::StringIndef => {
            let mut s = String::new();
            for part in d.str_iter()? {
                s.push_str(part?);
            }
            Ok(Some(s))
        }
        _ => Err(DecodeError::WrongType(field)),
    }
}

fn bytes(d: &mut Decoder<'_>, field: &'static str) -> Result<Vec<u8>, DecodeError> {
    match d.datatype()? {
        Type::Bytes => Ok(d.bytes()?.to_vec()),
        Type::BytesIndef => {
            let mut v = Vec::new();
            for part in d.bytes_iter()? {
                v.extend_from_slice(part?);
            }
            Ok(v)
        }
        // cbor-x may tag typed arrays (tag 64 = uint8 array); accept the tagged form.
        Type::Tag => {
            d.tag()?;
            bytes(d, field)
        }
        _ => Err(DecodeError::WrongType(field)),
    }
}

fn uint(d: &mut Decoder<'_>, field: &'static str) -> Result<u64, DecodeError> {
    match d.datatype()? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Ok(d.u64()?),
        Type::F16 | Type::F32 | Type::F64 => {
            let f = d.f64()?;
            if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 {
                Ok(f as u64)
            } else {
                Err(DecodeError::WrongType(field))
            }
        }
        _ => Err(DecodeError::WrongType(field)),
    }
}

fn skip(d: &mut Decoder<'_>, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_SKIP_DEPTH {
        return Err(DecodeError::Cbor("nesting too deep".into()));
    }
    match d.datatype()? {
        Type::Array => {
            let n = d.array()?.ok_or(DecodeError::WrongType("array"))?;
            for _ in 0..n {
                skip(d, depth + 1)?;
            }
        }
        Type::Map => {
            let n = d.map()?.ok_or(DecodeError::WrongType("map"))?;
            for _ in 0..n {
                skip(d, depth + 1)?;
                skip(d, depth + 1)?;
            }
        }
        Type::Tag => {
            d.tag()?;
            skip(d, depth + 1)?;
        }
        Type::ArrayIndef | Type::MapIndef => return Err(DecodeError::WrongType("indefinite container")),
        _ => d.skip()?,
    }
    Ok(())
}

fn metadata(d: &mut Decoder<'_>) -> Result<Option<PeerMetadata>, DecodeError> {
    if is_absent(d)? {
        d.skip()?;
        return Ok(None);
    }
    let n = d.map()?.ok_or(DecodeError::WrongType("peerMetadata"))?;
    let mut md = PeerMetadata::default();
    for _ in 0..n {
        match d.str()? {
            "storageId" => md.storage_id = text(d, "storageId")?,
            "isEphemeral" => {
                md.is_ephemeral = match d.datatype()? {
                    Type::Bool => d.bool()?,
                    _ => {
                        skip(d, 1)?;
                        false
                    }
                }
            }
            _ => skip(d, 1)?,
        }
    }
    Ok(Some(md))
}

impl Message {
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(buf);
        if d.datatype()? != Type::Map {
            return Err(DecodeError::NotAMap);
        }
        let n = d.map()?.ok_or(DecodeError::NotAMap)?;
        let mut f = Fields::default();
        for _ in 0..n {
            if d.datatype()? != Type::String {
                skip(&mut d, 1)?;
                skip(&mut d, 1)?;
                continue;
            }
            let key = d.str()?;
            match key {
                "type" => f.ty = text(&mut d, "type")?,
                "senderId" => f.sender_id = text(&mut d, "senderId")?,
                "targetId" => f.target_id = text(&mut d, "targetId")?,
                "documentId" => {
                    f.document_id = match text(&mut d, "documentId")? {
                        Some(s) => Some(s.parse().map_err(|_| DecodeError::BadDocumentId)?),
                        None => None,
                    }
                }
                "data" => f.data = Some(bytes(&mut d, "data")?),
                "supportedProtocolVersions" => {
                    let len = d.array()?.ok_or(DecodeError::WrongType("supportedProtocolVersions"))?;
                    let mut v = Vec::new();
                    for _ in 0..len.min(64) {
                        v.push(text(&mut d, "supportedProtocolVersions")?.unwrap_or_default());
                    }
                    for _ in 64..len {
                        skip(&mut d, 1)?;
                    }
                    f.versions = Some(v);
                }
                "selectedProtocolVersion" => f.selected = text(&mut d, "selectedProtocolVersion")?,
                "peerMetadata" | "metadata" => f.metadata = metadata(&mut d)?,
                "count" => f.count = Some(uint(&mut d, "count")?),
                "sessionId" => f.session_id = text(&mut d, "sessionId")?,
                "message" => f.message = text(&mut d, "message")?,
                "refusal" => f.refusal = text(&mut d, "refusal")?,
                _ => skip(&mut d, 1)?,
            }
        }
        if d.position() != buf.len() {
            return Err(DecodeError::Trailing);
        }
        let ty = f.ty.take().ok_or(DecodeError::MissingType)?;
        macro_rules! need {
            ($t:literal, $field:ident, $name:literal) => {
                f.$field.take().ok_or(DecodeError::MissingField($t, $name))?
            };
        }
        Ok(match ty.as_str() {
            "join" => Message::Join {
                sender_id: PeerId(need!("join", sender_id, "senderId")),
                supported_protocol_versions: need!("join", versions, "supportedProtocolVersions"),
                metadata: f.metadata,
            },
            "peer" => Message::Peer {
                sender_id: PeerId(need!("peer", sender_id, "senderId")),
                target_id: PeerId(need!("peer", target_id, "targetId")),
                selected_protocol_version: need!("peer", selected, "selectedProtocolVersion"),
                metadata: f.metadata,
            },
            "leave" => Message::Leave { sender_id: PeerId(need!("leave", sender_id, "senderId")) },
            "request" => Message::Request {
                sender_id: PeerId(need!("request", sender_id, "senderId")),
                target_id: PeerId(need!("request", target_id, "targetId")),
                document_id: need!("request", document_id, "documentId"),
                data: need!("request", data, "data"),
            },
            "sync" => Message::Sync {
                sender_id: PeerId(need!("sync", sender_id, "senderId")),
                target_id: PeerId(need!("sync", target_id, "targetId")),
                document_id: need!("sync", document_id, "documentId"),
                data: need!("sync", data, "data"),
            },
            "doc-unavailable" => Message::DocUnavailable {
                sender_id: PeerId(need!("doc-unavailable", sender_id, "senderId")),
                target_id: PeerId(need!("doc-unavailable", target_id, "targetId")),
                document_id: need!("doc-unavailable", document_id, "documentId"),
                refusal: f.refusal.take().map(|code| Refusal { code, message: f.message.take().unwrap_or_default() }),
            },
            "ephemeral" => Message::Ephemeral {
                sender_id: PeerId(need!("ephemeral", sender_id, "senderId")),
                target_id: PeerId(need!("ephemeral", target_id, "targetId")),
                document_id: need!("ephemeral", document_id, "documentId"),
                count: need!("ephemeral", count, "count"),
                session_id: need!("ephemeral", session_id, "sessionId"),
                data: need!("ephemeral", data, "data"),
            },
            "error" => Message::Error { message: f.message.unwrap_or_default() },
            "remote-subscription-change" | "remote-heads-changed" => {
                Message::RemoteHeadsGossip { sender_id: PeerId(need!("remote-heads", sender_id, "senderId")) }
            }
            other => return Err(DecodeError::UnknownType(other.chars().take(64).collect())),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = minicbor::Encoder::new(Vec::with_capacity(64));
        // Writing into a Vec cannot fail.
        self.encode_into(&mut e).expect("encoding into a Vec is infallible");
        e.into_writer()
    }

    fn encode_into(
        &self,
        e: &mut minicbor::Encoder<Vec<u8>>,
    ) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
        fn md(
            e: &mut minicbor::Encoder<Vec<u8>>,
            m: &PeerMetadata,
        ) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
            e.str("peerMetadata")?;
            e.map(if m.storage_id.is_some() { 2 } else { 1 })?;
            if let Some(s) = &m.storage_id {
                e.str("storageId")?.str(s)?;
            }
            e.str("isEphemeral")?.bool(m.is_ephemeral)?;
            Ok(())
        }
        match self {
            Message::Join { sender_id, supported_protocol_versions, metadata } => {
                e.map(3 + metadata.is_some() as u64)?;
                e.str("type")?.str("join")?;
                e.str("senderId")?.str(sender_id.as_str())?;
                e.str("supportedProtocolVersions")?.array(supported_protocol_versions.len() as u64)?;
                for v in supported_protocol_versions {
                    e.str(v)?;
                }
                if let Some(m) = metadata {
                    md(e, m)?;
                }
            }
            Message::Peer { sender_id, selected_protocol_version, target_id, metadata } => {
                e.map(4 + metadata.is_some() as u64)?;
                e.str("type")?.str("peer")?;
                e.str("senderId")?.str(sender_id.as_str())?;
                e.str("selectedProtocolVersion")?.str(selected_protocol_version)?;
                e.str("targetId")?.str(target_id.as_str())?;
                if let Some(m) = metadata {
                    md(e, m)?;
                }
            }
            Message::Leave { sender_id } => {
                e.map(2)?.str("type")?.str("leave")?.str("senderId")?.str(sender_id.as_str())?;
            }
            Message::Request { sender_id, target_id, document_id, data }
            | Message::Sync { sender_id, target_id, document_id, data } => {
                let ty = if matches!(self, Message::Request { .. }) { "request" } else { "sync" };
                e.map(5)?;
                e.str("type")?.str(ty)?;
                e.str("senderId")?.str(sender_id.as_str())?;
                e.str("targetId")?.str(target_id.as_str())?;
                e.str("documentId")?.str(&document_id.to_string())?;
                e.str("data")?.bytes(data)?;
            }
            Message::DocUnavailable { sender_id, target_id, document_id, refusal } => {
                e.map(if refusal.is_some() { 6 } else { 4 })?;
                e.str("type")?.str("doc-unavailable")?;
                e.str("senderId")?.str(sender_id.as_str())?;
                e.str("targetId")?.str(target_id.as_str())?;
                e.str("documentId")?.str(&document_id.to_string())?;
                if let Some(r) = refusal {
                    e.str("refusal")?.str(&r.code)?;
                    e.str("message")?.str(&r.message)?;
                }
            }
            Message::Ephemeral { sender_id, target_id, document_id, count, session_id, data } => {
                e.map(7)?;
                e.str("type")?.str("ephemeral")?;
                e.str("senderId")?.str(sender_id.as_str())?;
                e.str("targetId")?.str(target_id.as_str())?;
                e.str("count")?.u64(*count)?;
                e.str("sessionId")?.str(session_id)?;
                e.str("documentId")?.str(&document_id.to_string())?;
                e.str("data")?.bytes(data)?;
            }
            Message::Error { message } => {
                e.map(2)?.str("type")?.str("error")?.str("message")?.str(message)?;
            }
            Message::RemoteHeadsGossip { sender_id } => {
                // Never sent by Signpost; encoded as the subscription message with no change.
                e.map(4)?;
                e.str("type")?.str("remote-subscription-change")?;
                e.str("senderId")?.str(sender_id.as_str())?;
                e.str("targetId")?.str(sender_id.as_str())?;
                e.str("remove")?.array(0)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> DocumentId {
        DocumentId::from_bytes([3; 16])
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = vec![
            Message::Join {
                sender_id: "a".into(),
                supported_protocol_versions: vec!["1".into()],
                metadata: Some(PeerMetadata { storage_id: Some("s".into()), is_ephemeral: false }),
            },
            Message::Peer {
                sender_id: "b".into(),
                selected_protocol_version: "1".into(),
                target_id: "a".into(),
                metadata: Some(PeerMetadata { storage_id: None, is_ephemeral: true }),
            },
            Message::Leave { sender_id: "a".into() },
            Message::Request { sender_id: "a".into(), target_id: "b".into(), document_id: doc(), data: vec![1, 2] },
            Message::Sync { sender_id: "a".into(), target_id: "b".into(), document_id: doc(), data: vec![] },
            Message::DocUnavailable { sender_id: "a".into(), target_id: "b".into(), document_id: doc(), refusal: None },
            Message::DocUnavailable {
                sender_id: "a".into(),
                target_id: "b".into(),
                document_id: doc(),
                refusal: Some(Refusal { code: "desk-closed".into(), message: "this desk is closed".into() }),
            },
            Message::Ephemeral {
                sender_id: "a".into(),
                target_id: "b".into(),
                document_id: doc(),
                count: 9,
                session_id: "x".into(),
                data: vec![0],
            },
            Message::Error { message: "bad".into() },
        ];
        for m in msgs {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn notices_round_trip_and_other_data_is_no_notice() {
        let n = Notice { code: "set-aside".into(), message: "dated 2000-01-01".into() };
        assert_eq!(Notice::decode(&n.encode()), Some(n));
        assert_eq!(Notice::decode(&[1, 2, 3]), None);
        assert_eq!(Notice::decode(&[]), None);
    }

    #[test]
    fn javascript_quirks_are_accepted() {
        // A join as cbor-x writes it when storageId is undefined and count is a float.
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(4).unwrap();
        e.str("type").unwrap().str("join").unwrap();
        e.str("senderId").unwrap().str("js").unwrap();
        e.str("supportedProtocolVersions").unwrap().array(1).unwrap().str("1").unwrap();
        e.str("peerMetadata").unwrap().map(2).unwrap();
        e.str("storageId").unwrap().undefined().unwrap();
        e.str("isEphemeral").unwrap().bool(true).unwrap();
        let m = Message::decode(&e.into_writer()).unwrap();
        assert!(matches!(
            m,
            Message::Join { metadata: Some(PeerMetadata { storage_id: None, is_ephemeral: true }), .. }
        ));
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff],
            vec![0xa1, 0x64],
            b"hello".to_vec(),
            Message::Error { message: "x".into() }.encode()[..3].to_vec(),
            {
                let mut v = Message::Leave { sender_id: "a".into() }.encode();
                v.push(0);
                v
            },
            // A map 200 levels deep under an unknown key.
            {
                let mut v = vec![0xa1, 0x61, b'z'];
                v.extend(std::iter::repeat_n(0x81, 200));
                v.push(0);
                v
            },
        ];
        for c in cases {
            assert!(Message::decode(&c).is_err(), "{c:?}");
        }
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(1).unwrap().str("type").unwrap().str("teleport").unwrap();
        assert_eq!(Message::decode(&e.into_writer()), Err(DecodeError::UnknownType("teleport".into())));
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let valid =
            Message::Sync { sender_id: "a".into(), target_id: "b".into(), document_id: doc(), data: vec![5; 20] }
                .encode();
        for _ in 0..20_000 {
            let mut v = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..v.len());
                v[i] = rng.random();
            }
            let _ = Message::decode(&v);
            let len = rng.random_range(0..64);
            let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let _ = Message::decode(&junk);
        }
    }
}
