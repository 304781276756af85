//! The PostgreSQL layout, in numbered steps of its own (a database has its version in
//! `schema_version`). Step 1 is the whole layout SQLite reached in its eleven steps: there are no
//! PostgreSQL databases from before it. Later changes add a step here and one to the SQLite list
//! (step 2, the attempts counted across relays, is PostgreSQL's alone: one relay on SQLite
//! counts them in memory).
//!
//! Text columns use the "C" collation, so that `ORDER BY` sorts as SQLite does (by bytes),
//! whatever the database's default. Integers are `bigint` (SQLite's integers are 64-bit).
//! The quarterly figures are kept by triggers, as on SQLite (see `super::schema`).

use super::newer;
use crate::sql::Connection;
use anyhow::Context;

struct Step {
    name: &'static str,
    sql: &'static str,
    /// What the step does beyond its SQL, after it.
    then: Option<fn(&Connection) -> anyhow::Result<()>>,
}

const STEPS: &[Step] = &[
    Step { name: "the layout of database version 11", sql: LAYOUT, then: None },
    Step {
        name: "guessing attempts counted across relays",
        sql: "CREATE TABLE attempts (
                  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                  kind TEXT NOT NULL, key TEXT NOT NULL, at BIGINT NOT NULL
              );
              CREATE INDEX attempts_by_key ON attempts(kind, key, at);
              CREATE INDEX attempts_by_time ON attempts(kind, at);",
        then: None,
    },
    Step { name: "days set aside", sql: super::SET_ASIDE, then: None },
    Step { name: "facts with values out of bounds projected again", sql: "", then: Some(super::out_of_bounds_facts) },
];

/// The version a database has when every step has run.
pub fn latest() -> i64 {
    STEPS.len() as i64
}

/// Brings the database up to date: each step and its version in one transaction, under the
/// write lock, so relays started together run each step once.
pub fn run(conn: &Connection) -> anyhow::Result<()> {
    let tx = conn.immediate_transaction()?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let version = version(&tx)?;
    newer(version, latest())?;
    for (i, step) in STEPS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(&step.sql.replace("TEXT", "TEXT COLLATE \"C\""))
            .with_context(|| format!("cannot update the database ({}: {})", i + 1, step.name))?;
        if let Some(then) = step.then {
            then(&tx).with_context(|| format!("cannot update the database ({}: {})", i + 1, step.name))?;
        }
        tx.execute("DELETE FROM schema_version", ())?;
        tx.execute("INSERT INTO schema_version(version) VALUES (?1)", [i as i64 + 1])?;
    }
    tx.commit()?;
    Ok(())
}

pub fn version(conn: &Connection) -> anyhow::Result<i64> {
    let exists: bool = conn.query_row("SELECT to_regclass('schema_version') IS NOT NULL", (), |r| r.get(0))?;
    if !exists {
        return Ok(0);
    }
    Ok(conn.query_row("SELECT coalesce(max(version), 0) FROM schema_version", (), |r| r.get(0))?)
}

const LAYOUT: &str = r#"
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE schemes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL,
    region TEXT, scheme_type TEXT,
    retention_months BIGINT NOT NULL DEFAULT 36, tablet_days BIGINT NOT NULL DEFAULT 7
);
CREATE TABLE sites (
    id TEXT PRIMARY KEY, scheme_id TEXT NOT NULL REFERENCES schemes(id), name TEXT NOT NULL,
    created_at BIGINT NOT NULL, closed_at BIGINT
);
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('device', 'admin')),
    subject TEXT NOT NULL, scheme_id TEXT, site_id TEXT,
    created_at BIGINT NOT NULL, revoked_at BIGINT, label TEXT, expires_at BIGINT
);
CREATE TABLE documents (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, scheme_id TEXT NOT NULL, site_id TEXT, day TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX documents_by_site ON documents(scheme_id, site_id, day);
CREATE TABLE doc_chunks (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, doc_id TEXT NOT NULL, bytes BYTEA NOT NULL
);
CREATE INDEX doc_chunks_by_doc ON doc_chunks(doc_id, seq);
CREATE TABLE referral_facts (
    doc_id TEXT NOT NULL, id TEXT NOT NULL, scheme_id TEXT NOT NULL, site_id TEXT NOT NULL,
    day TEXT NOT NULL, recorded_at BIGINT NOT NULL, volunteer TEXT, helped TEXT NOT NULL,
    age_band TEXT, agency_kind TEXT NOT NULL, agency TEXT NOT NULL, help TEXT NOT NULL,
    follow_up BIGINT NOT NULL, voided BIGINT NOT NULL,
    follow_up_outcome TEXT, follow_up_closed_at BIGINT,
    PRIMARY KEY (doc_id, id)
);
CREATE INDEX referral_facts_by_scheme_day ON referral_facts(scheme_id, day, doc_id, id);
CREATE INDEX referral_facts_open_follow_ups ON referral_facts(site_id, day)
    WHERE follow_up = 1 AND follow_up_outcome IS NULL AND voided = 0;
CREATE TABLE referral_categories (
    doc_id TEXT NOT NULL, id TEXT NOT NULL, category TEXT NOT NULL, pathway TEXT NOT NULL,
    PRIMARY KEY (doc_id, id, category)
);
CREATE TABLE shift_facts (
    doc_id TEXT NOT NULL, id TEXT NOT NULL, scheme_id TEXT NOT NULL, site_id TEXT NOT NULL,
    day TEXT NOT NULL, volunteer TEXT NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT,
    minutes BIGINT NOT NULL,
    PRIMARY KEY (doc_id, id)
);
CREATE INDEX shift_facts_by_day ON shift_facts(scheme_id, day);
CREATE TABLE roster_facts (
    scheme_id TEXT NOT NULL, volunteer_id TEXT NOT NULL, active BIGINT NOT NULL,
    PRIMARY KEY (scheme_id, volunteer_id)
);
CREATE TABLE device_activity (
    device TEXT PRIMARY KEY, last_synced_at BIGINT, refused_at BIGINT, refusal TEXT
);
CREATE TABLE invalid_entries (
    doc_id TEXT NOT NULL, key TEXT NOT NULL, scheme_id TEXT NOT NULL, site_id TEXT NOT NULL,
    reason TEXT NOT NULL, PRIMARY KEY (doc_id, key)
);
CREATE TABLE device_usage (
    device TEXT NOT NULL, day TEXT NOT NULL, bytes BIGINT NOT NULL, documents BIGINT NOT NULL,
    PRIMARY KEY (device, day)
);
CREATE TABLE retired_documents (
    id TEXT PRIMARY KEY, scheme_id TEXT NOT NULL, site_id TEXT, day TEXT,
    reason TEXT NOT NULL CHECK (reason IN ('purged', 'replaced')),
    replaced_by TEXT, retired_at BIGINT NOT NULL
);
CREATE INDEX retired_documents_by_time ON retired_documents(retired_at);
CREATE TABLE published_quarters (
    quarter TEXT PRIMARY KEY, published_at BIGINT NOT NULL, figures TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('coordinator', 'national', 'admin')),
    scheme_id TEXT REFERENCES schemes(id), password_hash TEXT,
    created_at BIGINT NOT NULL, deactivated_at BIGINT,
    CHECK ((role = 'coordinator') = (scheme_id IS NOT NULL))
);
CREATE TABLE password_codes (
    hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT
);
CREATE TABLE sessions (
    hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL
);
CREATE TABLE enrol_codes (
    hash TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites(id), created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT, device TEXT
);
CREATE TABLE audit_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, scheme_id TEXT, detail TEXT NOT NULL
);
CREATE TABLE equality_answers (
    scheme_id TEXT NOT NULL, volunteer_id TEXT NOT NULL, answers TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    PRIMARY KEY (scheme_id, volunteer_id)
);
CREATE FUNCTION signpost_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $f$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION signpost_audit_append_only();

CREATE TABLE quarter_figures (
    scheme_id TEXT NOT NULL, quarter TEXT NOT NULL,
    referrals BIGINT NOT NULL, minutes BIGINT NOT NULL,
    PRIMARY KEY (scheme_id, quarter)
);
CREATE TABLE quarter_volunteers (
    scheme_id TEXT NOT NULL, quarter TEXT NOT NULL, volunteer TEXT NOT NULL,
    entries BIGINT NOT NULL,
    PRIMARY KEY (scheme_id, quarter, volunteer)
);
-- Adds (sign 1) or takes away (sign -1) one fact's contribution to its quarter.
CREATE FUNCTION signpost_quarter_add(p_scheme text, p_day text, p_volunteer text, p_referrals bigint,
                                     p_minutes bigint, p_sign bigint) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
    q text := substr(p_day, 1, 4) || '-Q' || ((CAST(substr(p_day, 6, 2) AS integer) + 2) / 3);
BEGIN
    INSERT INTO quarter_figures(scheme_id, quarter, referrals, minutes)
        VALUES (p_scheme, q, p_sign * p_referrals, p_sign * p_minutes)
        ON CONFLICT (scheme_id, quarter) DO UPDATE
        SET referrals = quarter_figures.referrals + excluded.referrals,
            minutes = quarter_figures.minutes + excluded.minutes;
    IF p_volunteer IS NOT NULL THEN
        INSERT INTO quarter_volunteers(scheme_id, quarter, volunteer, entries)
            VALUES (p_scheme, q, p_volunteer, p_sign)
            ON CONFLICT (scheme_id, quarter, volunteer) DO UPDATE
            SET entries = quarter_volunteers.entries + excluded.entries;
        IF p_sign < 0 THEN
            DELETE FROM quarter_volunteers v
                WHERE v.scheme_id = p_scheme AND v.quarter = q AND v.volunteer = p_volunteer AND v.entries <= 0;
        END IF;
    END IF;
END $f$;
CREATE FUNCTION signpost_referral_counted() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.voided = 0 THEN
        PERFORM signpost_quarter_add(OLD.scheme_id, OLD.day, OLD.volunteer, 1, 0, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.voided = 0 THEN
        PERFORM signpost_quarter_add(NEW.scheme_id, NEW.day, NEW.volunteer, 1, 0, 1);
    END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER referral_facts_counted AFTER INSERT OR UPDATE OR DELETE ON referral_facts
    FOR EACH ROW EXECUTE FUNCTION signpost_referral_counted();
CREATE FUNCTION signpost_shift_counted() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM signpost_quarter_add(OLD.scheme_id, OLD.day, OLD.volunteer, 0, OLD.minutes, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM signpost_quarter_add(NEW.scheme_id, NEW.day, NEW.volunteer, 0, NEW.minutes, 1);
    END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER shift_facts_counted AFTER INSERT OR UPDATE OR DELETE ON shift_facts
    FOR EACH ROW EXECUTE FUNCTION signpost_shift_counted();
"#;
