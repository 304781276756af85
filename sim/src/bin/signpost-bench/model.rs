//! `model`: the document-granularity decision, in process (no sockets).

use super::*;

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Model {
    DeskDay,
    PerReferral,
}

pub(crate) fn log_one(net: &mut Net, conn: u64, model: Model, header: &Header, r: &Referral) -> DocumentId {
    match model {
        Model::DeskDay => {
            let id = header.well_known_id();
            net.log(conn, id, r);
            id
        }
        Model::PerReferral => {
            let id = DocumentId::random(rand16());
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            schema::write_header(&mut tx, header).unwrap();
            schema::write_referral(&mut tx, r).unwrap();
            tx.commit();
            let out = net.devices.get_mut(&conn).unwrap().peer.insert(id, doc, None);
            net.send(conn, out);
            id
        }
    }
}

pub(crate) fn model_bench(tablets: usize, per: usize, offline: usize) -> serde_json::Value {
    let mut results = serde_json::Map::new();
    for model in [Model::DeskDay, Model::PerReferral] {
        // Ingest: tablets at their own sites push referrals one by one, closed loop.
        let mut net = Net::new(Config::default());
        net.check_durability = false;
        net.clock = Some(nanos);
        let headers: Vec<Header> = (0..tablets).map(|t| Header::desk_day("sc", &format!("site-{t}"), day())).collect();
        for t in 0..tablets {
            net.join(t as u64, Principal { device: format!("d{t}"), scheme: "sc".into(), site: format!("site-{t}") });
            if model == Model::DeskDay {
                net.open_day(t as u64, "sc", &format!("site-{t}"), day());
            }
        }
        let (relay0, bytes0, rounds0) = (net.relay_ns, net.store.bytes_written, net.rounds);
        let wire0: usize = net.devices.values().map(|d| d.bytes_sent + d.bytes_received).sum();
        let started = Instant::now();
        for i in 0..per {
            for (t, header) in headers.iter().enumerate() {
                log_one(&mut net, t as u64, model, header, &referral(format!("{t}-{i}")));
            }
        }
        let wall = started.elapsed();
        let n = (tablets * per) as f64;
        let relay_s = (net.relay_ns - relay0) as f64 / 1e9;
        let wire: usize = net.devices.values().map(|d| d.bytes_sent + d.bytes_received).sum::<usize>() - wire0;
        let stored = net.store.bytes_written - bytes0;
        let ingest_rounds = net.rounds - rounds0;
        assert_eq!(net.store.counted_referrals(), tablets * per, "every referral counted");
        // Loading a desk's day back (what a relay does after eviction).
        let load_started = Instant::now();
        let mut loaded = 0;
        for (_, stored) in net.store.docs.iter().take(if model == Model::DeskDay { 1 } else { per }) {
            let mut d = Automerge::new();
            for c in &stored.chunks {
                d.load_incremental(c).unwrap();
            }
            loaded += schema::entry_keys(&d).len();
        }
        let load_ms = load_started.elapsed().as_secs_f64() * 1e3;
        assert_eq!(loaded, per);

        // Catch-up: one tablet logs `offline` referrals with no network, then connects.
        let mut net = Net::new(Config::default());
        net.check_durability = false;
        let p = Principal { device: "d".into(), scheme: "sc".into(), site: "site-x".into() };
        let header = Header::desk_day("sc", "site-x", day());
        let mut peer = signpost_shared::peer::Peer::new("offline-tablet".into());
        let mut raw = 0usize;
        let mut docs = Vec::new();
        if model == Model::DeskDay {
            let doc = day_doc(&header, offline, "off-");
            raw += raw_change_bytes(&doc);
            docs.push((header.well_known_id(), doc));
        } else {
            for i in 0..offline {
                let mut doc = Automerge::new();
                let mut tx = doc.transaction();
                schema::write_header(&mut tx, &header).unwrap();
                schema::write_referral(&mut tx, &referral(format!("off-{i}"))).unwrap();
                tx.commit();
                raw += raw_change_bytes(&doc);
                docs.push((DocumentId::random(rand16()), doc));
            }
        }
        for (id, doc) in docs.iter().cloned() {
            let _ = peer.insert(id, doc, None);
        }
        net.relay.connect(1, p);
        let join = peer.on_open();
        net.devices.insert(1, signpost_shared::testkit::Device::new(peer));
        let started = Instant::now();
        net.raw(1, join);
        let catchup_ms = started.elapsed().as_secs_f64() * 1e3;
        let dev = &net.devices[&1];
        assert!(docs.iter().all(|(id, _)| dev.peer.is_synced(id)), "caught up");
        let wire_bytes = dev.bytes_sent + dev.bytes_received;
        results.insert(
            format!("{model:?}"),
            json!({
                "ingest_referrals": n,
                "ingest_wall_s": wall.as_secs_f64(),
                "ingest_relay_cpu_s": relay_s,
                "relay_referrals_per_s": n / relay_s,
                "ingest_stored_bytes_per_referral": stored as f64 / n,
                "ingest_wire_bytes_per_referral": wire as f64 / n,
                "ingest_round_trips_per_referral": ingest_rounds as f64 / n,
                "load_one_desk_day_ms": load_ms,
                "catchup_referrals": offline,
                "catchup_round_trips": net.rounds,
                "catchup_wire_bytes": wire_bytes,
                "catchup_raw_change_bytes": raw,
                "catchup_wire_over_raw": wire_bytes as f64 / raw as f64,
                "catchup_ms_in_process": catchup_ms,
            }),
        );
    }
    // The automerge version in use on our workload.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, &Header::desk_day("sc", "s", day())).unwrap();
    tx.commit();
    const TX: usize = 5_000;
    let started = Instant::now();
    for i in 0..TX {
        let mut tx = doc.transaction();
        schema::write_referral(&mut tx, &referral(format!("r{i}"))).unwrap();
        tx.commit();
    }
    let one_doc = TX as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for i in 0..TX {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        schema::write_referral(&mut tx, &referral(format!("r{i}"))).unwrap();
        tx.commit();
    }
    let fresh = TX as f64 / started.elapsed().as_secs_f64();
    results.insert(
        "automerge".into(),
        json!({"version": "0.12.0", "referral_tx_per_s_one_doc": one_doc, "referral_tx_per_s_fresh_docs": fresh}),
    );
    serde_json::Value::Object(results)
}
