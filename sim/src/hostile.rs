//! What a hostile or faulty device sends: random protocol-valid messages from a tablet with a
//! valid credential of another site or another scheme — empty and non-empty `sync` and
//! `request` for other sites' well-known days and the scheme's directory, drafts squatting on
//! other sites' ids, its own header at their ids, another site's header, changes whose
//! dependencies never come, its own days far outside the relay's window, extreme values,
//! ephemeral messages (some posing as the relay's notices), garbage in a valid envelope and
//! garbage. Shared by the in-process schedules (`tests/whole_path`) and the soak against the
//! real relay, so both meet the same attacks.

use crate::random;
use automerge::sync::{self, SyncDoc};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use automerge::transaction::Transactable;
use automerge::{Automerge, Change};
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signpost_shared::ids::{DocumentId, PeerId};
use signpost_shared::relay::Principal;
use signpost_shared::schema::{self, Header, Shift};
use signpost_shared::wire::Message;

/// What the hostile device does next.
pub enum Act {
    /// Sends this frame.
    Frame(Vec<u8>),
    /// Its coordinator closes its site (a closed desk's tablet that goes on).
    CloseSite,
    /// It leaves (closes its socket).
    Leave,
}

/// Where a hostile device aims: the ids it picks from.
pub struct Targets {
    /// Honest sites' well-known days and the scheme's directory: not its to read or write
    /// (the directory its to read only if it is of the scheme).
    pub others: Vec<DocumentId>,
    /// The relay's date, around which it dates its own days.
    pub date: NaiveDate,
    /// An honest site, whose header it forges.
    pub victim_site: String,
}

/// A sync message as an empty peer's first, edited.
pub fn sync_data(edit: impl FnOnce(&mut sync::Message)) -> Vec<u8> {
    let mut msg =
        sync::Message::decode(&Automerge::new().generate_sync_message(&mut sync::State::new()).expect("first").encode())
            .expect("decodes");
    edit(&mut msg);
    msg.encode()
}

fn all_changes(doc: &Automerge) -> Vec<Vec<u8>> {
    doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect()
}

/// Three header-less changes in a chain, of random sizes.
pub fn chain(rng: &mut impl Rng) -> (Change, Change, Change) {
    let mut doc = Automerge::new();
    for k in ["a", "b", "c"] {
        let mut tx = doc.transaction();
        let n = rng.random_range(1..4096);
        tx.put(automerge::ROOT, k, "x".repeat(n)).expect("put");
        tx.commit();
    }
    let c = doc.get_changes(&[]);
    (c[0].clone(), c[1].clone(), c[2].clone())
}

/// A day of `p`'s site dated `date`, with a referral and a shift whose values are extreme as
/// often as not (times at the ends of the range, volunteers on no roster).
pub fn day_of(rng: &mut impl Rng, p: &Principal, date: NaiveDate, id: &str) -> Automerge {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    schema::write_header(&mut tx, &Header::desk_day(&p.scheme, &p.site, date)).expect("header");
    tx.commit();
    let mut r = random::referral(rng, format!("hr-{id}"), &["vol-0".into()], date);
    let wild = rng.random_bool(0.5);
    if wild {
        r.recorded_at_ms = [i64::MIN, i64::MAX, -6_000_000_000_000_000_000, 0][rng.random_range(0..4)];
        r.volunteer = Some(format!("nobody-{}", rng.random_range(0..1000)));
    }
    let midnight = random::midnight_ms(date);
    let s = Shift {
        id: format!("hs-{id}"),
        volunteer: if wild { format!("ghost-{}", rng.random_range(0..50)) } else { "vol-0".into() },
        start_ms: if wild { -6_000_000_000_000_000_000 } else { midnight + 3_600_000 },
        end_ms: Some(if wild { 6_000_000_000_000_000_000 } else { midnight + 7_200_000 }),
    };
    let mut tx = d.transaction();
    schema::write_referral(&mut tx, &r).expect("referral");
    schema::write_shift(&mut tx, &s).expect("shift");
    tx.commit();
    d
}

/// One random thing a hostile device `own` (peer `me`, talking to relay `relay`) does. `n`
/// numbers what it writes.
pub fn act(rng: &mut impl Rng, own: &Principal, me: &PeerId, relay: &PeerId, t: &Targets, n: u64) -> Act {
    let offset = rng.random_range(-1..=2);
    let date = t.date + chrono::Duration::days(offset);
    let target = match rng.random_range(0..10) {
        0..=5 if !t.others.is_empty() => t.others[rng.random_range(0..t.others.len())],
        6 => schema::directory_id("another-scheme"),
        7 | 8 => schema::desk_day_id(&own.site, date),
        _ => DocumentId::random(rng.random()),
    };
    let envelope = |doc: DocumentId, request: bool, data: Vec<u8>| {
        if request {
            Message::Request { sender_id: me.clone(), target_id: relay.clone(), document_id: doc, data }
        } else {
            Message::Sync { sender_id: me.clone(), target_id: relay.clone(), document_id: doc, data }
        }
        .encode()
    };
    let whole = |d: &Automerge| {
        let changes = all_changes(d);
        let heads = d.get_heads();
        sync_data(|m| {
            m.heads = heads;
            m.changes = changes.into();
        })
    };
    Act::Frame(match rng.random_range(0..14) {
        // Ask for it: an empty request, an empty sync, a sync claiming heads it lacks.
        0 => envelope(target, true, sync_data(|_| {})),
        1 => envelope(target, false, sync_data(|_| {})),
        2 => {
            let fake = chain(rng).0.hash();
            envelope(target, false, sync_data(|m| m.heads = vec![fake]))
        }
        // A header-less draft squatting on the id.
        3 => {
            let mut d = Automerge::new();
            let mut tx = d.transaction();
            tx.put(automerge::ROOT, "squat", "here").expect("put");
            tx.commit();
            envelope(target, false, whole(&d))
        }
        // Its own site's header at the id (a squatter where the id is another site's).
        4 | 5 => envelope(target, false, whole(&day_of(rng, own, date, &n.to_string()))),
        // Another site's header (forged): refused.
        6 => {
            let victim = Principal { site: t.victim_site.clone(), ..own.clone() };
            envelope(target, false, whole(&day_of(rng, &victim, t.date, &n.to_string())))
        }
        // Changes whose dependencies never come (the first with the third, or the third alone).
        7 | 8 => {
            let (a, _, c) = chain(rng);
            let with_first = rng.random_bool(0.5);
            envelope(
                target,
                false,
                sync_data(|m| {
                    m.heads = vec![c.hash()];
                    m.changes = if with_first {
                        vec![a.raw_bytes().to_vec(), c.raw_bytes().to_vec()]
                    } else {
                        vec![c.raw_bytes().to_vec()]
                    }
                    .into();
                }),
            )
        }
        // Its own day far outside the window (a wrong clock), or a day or two ahead (after its
        // site closed, maybe).
        9 => {
            let date = match rng.random_range(0..3) {
                0 => NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date"),
                1 => t.date + chrono::Duration::days(5),
                _ => t.date + chrono::Duration::days(2),
            };
            let id = schema::desk_day_id(&own.site, date);
            envelope(id, false, whole(&day_of(rng, own, date, &n.to_string())))
        }
        // An ephemeral message about the target, sometimes posing as the relay's notice.
        10 => Message::Ephemeral {
            sender_id: me.clone(),
            target_id: relay.clone(),
            document_id: target,
            count: 1,
            session_id: if rng.random_bool(0.5) { "x".into() } else { "signpost-relay".into() },
            data: vec![7; rng.random_range(0..128)],
        }
        .encode(),
        11 => return Act::CloseSite,
        // Garbage inside a valid envelope, or no envelope at all.
        12 => envelope(target, false, vec![0x42, 1, 2, 3]),
        _ if rng.random_bool(0.8) => {
            let len = rng.random_range(0..64);
            (0..len).map(|_| rng.random()).collect()
        }
        _ => return Act::Leave,
    })
}

// ---------------------------------------------------------------------------------------------
// A hostile device against a real relay (the soak, the two-relay schedules): it connects, joins
// and acts, and every frame it receives is read for a leak — a sync message carrying a change it
// did not write, or heads it does not hold, of an honest desk's day or another scheme's
// directory.


/// What one hostile device saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct HostileReport {
    pub device: String,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub connections: u64,
    /// Frames that carried what it may not read: must stay empty.
    pub leaks: Vec<String>,
}

pub struct HostilePlan {
    /// The relays it may connect to (one at random each time).
    pub urls: Vec<String>,
    pub token: String,
    pub principal: Principal,
    /// Honest desks' sites and the other scheme, whose documents it may never be sent.
    pub honest_sites: Vec<String>,
    pub forbidden_extra: Vec<DocumentId>,
    /// The relay's date as the honest tablets see it (the soak's days run fast).
    pub date: Arc<dyn Fn() -> chrono::NaiveDate + Send + Sync>,
    pub seed: u64,
    pub stop: Arc<AtomicBool>,
}

/// The honest desks' days around `date`: what a hostile device aims at and may never be sent.
fn honest_days(sites: &[String], date: chrono::NaiveDate) -> Vec<DocumentId> {
    sites
        .iter()
        .flat_map(|s| (-1..=2).map(move |k| signpost_shared::schema::desk_day_id(s, date + chrono::Duration::days(k))))
        .collect()
}

/// Runs a hostile device until `stop`: connects (again and again), joins, and does what [`act`]
/// makes it do, reading every frame it is sent for a leak.
pub async fn run(plan: HostilePlan) -> HostileReport {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut report = HostileReport { device: plan.principal.device.clone(), ..Default::default() };
    let me = PeerId::from(format!("{}-peer", plan.principal.device).as_str());
    // Changes it wrote itself: sent back to it (a squatter's own draft) they are no leak.
    let mut mine: HashSet<automerge::ChangeHash> = HashSet::new();
    let mut n = 0u64;
    while !plan.stop.load(Ordering::Relaxed) {
        let base = &plan.urls[rng.random_range(0..plan.urls.len())];
        let url = crate::sync_url(base, Some(&plan.token));
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        report.connections += 1;
        let join = Message::Join { sender_id: me.clone(), supported_protocol_versions: vec!["1".into()], metadata: None };
        if ws.send(WsMessage::Binary(join.encode().into())).await.is_err() {
            continue;
        }
        let relay = loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(WsMessage::Binary(b)))) => {
                    if let Ok(Message::Peer { sender_id, .. }) = Message::decode(&b) {
                        break Some(sender_id);
                    }
                }
                _ => break None,
            }
        };
        let Some(relay) = relay else { continue };
        loop {
            if plan.stop.load(Ordering::Relaxed) {
                return report;
            }
            let date = (plan.date)();
            let mut forbidden: HashSet<DocumentId> = honest_days(&plan.honest_sites, date).into_iter().collect();
            forbidden.extend(plan.forbidden_extra.iter().copied());
            let mut others: Vec<DocumentId> = forbidden.iter().copied().collect();
            others.sort();
            let victim_site = plan.honest_sites[rng.random_range(0..plan.honest_sites.len())].clone();
            let targets = Targets { others, date, victim_site };
            n += 1;
            let frame = match act(&mut rng, &plan.principal, &me, &relay, &targets, n) {
                Act::Frame(f) => f,
                // Closing its own site is the web page's business; it carries on.
                Act::CloseSite => continue,
                Act::Leave => break,
            };
            remember_own(&frame, &mut mine);
            if ws.send(WsMessage::Binary(frame.into())).await.is_err() {
                break;
            }
            report.frames_sent += 1;
            // Read what comes back for a moment, each frame checked for a leak.
            let until = tokio::time::Instant::now() + Duration::from_millis(rng.random_range(20..200));
            let mut closed = false;
            while let Ok(next) = tokio::time::timeout_at(until, ws.next()).await {
                match next {
                    Some(Ok(WsMessage::Binary(b))) => {
                        report.frames_received += 1;
                        if let Some(leak) = leak(&b, &forbidden, &mine) {
                            report.leaks.push(leak);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                break;
            }
        }
    }
    report
}

/// Notes the hashes of the changes a frame it sends carries.
fn remember_own(frame: &[u8], mine: &mut HashSet<automerge::ChangeHash>) {
    if let Ok(Message::Sync { data, .. } | Message::Request { data, .. }) = Message::decode(frame) {
        if let Ok(m) = automerge::sync::Message::decode(&data) {
            for raw in m.changes.iter() {
                mine.extend(signpost_shared::chunks::carried_changes(raw).unwrap_or_default());
            }
        }
    }
}

/// Whether a frame from the relay carries what this device may not read: a change it did not
/// write, or heads it does not hold, of a forbidden document.
fn leak(frame: &[u8], forbidden: &HashSet<DocumentId>, mine: &HashSet<automerge::ChangeHash>) -> Option<String> {
    let Ok(Message::Sync { document_id, data, .. } | Message::Request { document_id, data, .. }) = Message::decode(frame)
    else {
        return None;
    };
    if !forbidden.contains(&document_id) {
        return None;
    }
    let m = automerge::sync::Message::decode(&data).ok()?;
    // Every change a chunk carries (a whole document counts as all of its changes).
    let foreign_change = m.changes.iter().any(|raw| match signpost_shared::chunks::carried_changes(raw) {
        Ok(hashes) => hashes.iter().any(|h| !mine.contains(h)),
        Err(_) => true,
    });
    let foreign_heads = m.heads.iter().any(|h| !mine.contains(h));
    (foreign_change || foreign_heads)
        .then(|| format!("{document_id}: {} changes, heads {:?}", m.changes.len(), m.heads))
}
