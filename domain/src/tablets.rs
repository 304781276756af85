//! Tablets: their credentials (only a token's hash is stored), one-time enrolment codes, the
//! list a coordinator sees with what the relay last saw of each, and revocation.

use crate::audit::audit;
use crate::db::immediate;
use crate::error::refuse;
use crate::sql::{params, Connection, OptionalExtension};
use crate::util::{hash_token, now_ms, random_id, random_token};
use signpost_shared::relay::Principal;

/// How long an enrolment code stays valid.
pub const ENROL_CODE_MS: i64 = 15 * 60 * 1000;

/// Who a presented token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Device(Principal),
    Admin,
}

/// Issues a device credential for a site. Only the token's hash is stored.
pub fn issue_device_token(conn: &Connection, site: &str) -> anyhow::Result<String> {
    Ok(issue_device_token_labelled(conn, site, "")?.0)
}

/// Issues a device credential for a site with a name people recognise ("Tablet by the door").
pub fn issue_device_token_labelled(conn: &Connection, site: &str, label: &str) -> anyhow::Result<(String, Principal)> {
    let scheme: Option<String> =
        conn.query_row("SELECT scheme_id FROM sites WHERE id = ?1", [site], |r| r.get(0)).optional()?;
    let Some(scheme) = scheme else { anyhow::bail!("no site with id {site:?}") };
    let token = random_token("spd_", 32);
    let device = random_id("dev");
    conn.execute(
        "INSERT INTO tokens(hash, kind, subject, scheme_id, site_id, created_at, label) VALUES (?1, 'device', ?2, ?3, ?4, ?5, ?6)",
        params![hash_token(&token), device, scheme, site, now_ms(), (!label.is_empty()).then_some(label)],
    )?;
    Ok((token, Principal { device, scheme, site: site.to_owned() }))
}

pub fn check_token(conn: &Connection, token: &str) -> anyhow::Result<Option<Credential>> {
    if token.len() > 200 {
        return Ok(None);
    }
    let row = conn
        .query_row(
            "SELECT kind, subject, scheme_id, site_id FROM tokens
             WHERE hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
            params![hash_token(token), now_ms()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    Ok(row.and_then(|(kind, subject, scheme, site)| match (kind.as_str(), scheme, site) {
        ("device", Some(scheme), Some(site)) => Some(Credential::Device(Principal { device: subject, scheme, site })),
        ("admin", _, _) => Some(Credential::Admin),
        _ => None,
    }))
}

/// Letters and digits a person reads off a screen without confusing them (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// What a person typed, as stored: upper case, without spaces or dashes.
pub fn normalise_enrol_code(code: &str) -> Option<String> {
    let c: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect::<String>().to_uppercase();
    (c.len() == 8 && c.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(c)
}

/// A one-time enrolment code for a site, shown as `ABCD-EFGH` (31⁸ ≈ 8.5 × 10¹¹ codes).
pub fn create_enrol_code(conn: &Connection, site: &str, actor: &str) -> anyhow::Result<String> {
    let found: Option<(String, Option<i64>)> = conn
        .query_row("SELECT scheme_id, closed_at FROM sites WHERE id = ?1", [site], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((scheme, closed)) = found else {
        return refuse(format!("There is no site with id {site:?}"), format!("Nid oes safle â'r id {site:?}"));
    };
    if closed.is_some() {
        return refuse(
            "This site is closed: open it again before you set up a tablet there",
            "Mae'r safle hwn ar gau: agorwch ef eto cyn gosod tabled yno",
        );
    }
    let mut buf = [0u8; 8];
    rand::fill(&mut buf[..]);
    // 256 is not a multiple of 31: redraw the bytes that would skew the distribution.
    for b in buf.iter_mut() {
        while *b >= 248 {
            let mut one = [0u8; 1];
            rand::fill(&mut one[..]);
            *b = one[0];
        }
    }
    let code: String = buf.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect();
    let now = now_ms();
    immediate(conn, |conn| {
        conn.execute(
            "INSERT INTO enrol_codes(hash, site_id, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash_token(&code), site, actor, now, now + ENROL_CODE_MS],
        )?;
        audit(conn, actor, "enrolment code created", Some(&scheme), &format!("site {site}"))
    })?;
    Ok(format!("{}-{}", &code[..4], &code[4..]))
}

/// Exchanges a valid enrolment code for a device credential: (token, who it is).
pub fn redeem_enrol_code(conn: &Connection, code: &str, label: &str) -> anyhow::Result<Option<(String, Principal)>> {
    let Some(code) = normalise_enrol_code(code) else { return Ok(None) };
    let label = label.trim();
    if label.chars().count() > 60 || label.chars().any(char::is_control) {
        return refuse(
            "The tablet's name must be 60 characters or fewer",
            "Rhaid i enw'r dabled fod yn 60 nod neu lai",
        );
    }
    let tx = conn.transaction_with_behavior(crate::sql::Immediate)?;
    let now = now_ms();
    let site: Option<String> = tx
        .query_row(
            // A code made before its site was closed no longer works.
            "SELECT c.site_id FROM enrol_codes c JOIN sites s ON s.id = c.site_id
             WHERE c.hash = ?1 AND c.used_at IS NULL AND c.expires_at > ?2 AND s.closed_at IS NULL",
            params![hash_token(&code), now],
            |r| r.get(0),
        )
        .optional()?;
    let Some(site) = site else { return Ok(None) };
    let (token, principal) = issue_device_token_labelled(&tx, &site, label)?;
    tx.execute(
        "UPDATE enrol_codes SET used_at = ?1, device = ?2 WHERE hash = ?3",
        params![now, principal.device, hash_token(&code)],
    )?;
    audit(
        &tx,
        &format!("tablet {}", principal.device),
        "tablet enrolled",
        Some(&principal.scheme),
        &format!("site {site}"),
    )?;
    tx.commit()?;
    Ok(Some((token, principal)))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub label: String,
    pub site: String,
    pub site_name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// When the relay last synced with it.
    pub last_synced_at: Option<i64>,
    /// The last time the relay refused something of it, and why.
    pub refused: Option<(i64, String)>,
}

impl Device {
    /// A refusal in the last week, later than the tablet's last good sync: a problem for its
    /// coordinator to act on (the tablet holds entries it cannot send).
    pub fn recent_refusal(&self, now_ms: i64) -> Option<&(i64, String)> {
        const WEEK_MS: i64 = 7 * 86_400_000;
        self.refused.as_ref().filter(|(at, _)| *at > now_ms - WEEK_MS && self.last_synced_at.is_none_or(|s| *at >= s))
    }
}

/// A scheme's tablets, newest first.
pub fn devices(conn: &Connection, scheme: &str) -> anyhow::Result<Vec<Device>> {
    let mut stmt = conn.prepare(
        "SELECT t.subject, COALESCE(t.label, ''), t.site_id, s.name, t.created_at, t.revoked_at,
                a.last_synced_at, a.refused_at, a.refusal
         FROM tokens t JOIN sites s ON s.id = t.site_id LEFT JOIN device_activity a ON a.device = t.subject
         WHERE t.kind = 'device' AND t.scheme_id = ?1 ORDER BY t.created_at DESC",
    )?;
    let rows = stmt.query_map([scheme], |r| {
        Ok(Device {
            id: r.get(0)?,
            label: r.get(1)?,
            site: r.get(2)?,
            site_name: r.get(3)?,
            created_at: r.get(4)?,
            revoked_at: r.get(5)?,
            last_synced_at: r.get(6)?,
            refused: match (r.get::<_, Option<i64>>(7)?, r.get::<_, Option<String>>(8)?) {
                (Some(at), Some(why)) => Some((at, why)),
                _ => None,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a tablet of a scheme. `false` if the scheme has no such (unrevoked) tablet.
pub fn revoke_device(conn: &Connection, scheme: &str, device: &str, actor: &str) -> anyhow::Result<bool> {
    immediate(conn, |conn| {
        let n = conn.execute(
            "UPDATE tokens SET revoked_at = ?1 WHERE kind = 'device' AND subject = ?2 AND scheme_id = ?3 AND revoked_at IS NULL",
            params![now_ms(), device, scheme],
        )?;
        if n > 0 {
            audit(conn, actor, "tablet revoked", Some(scheme), &format!("tablet {device}"))?;
        }
        Ok(n > 0)
    })
}

/// Every revoked tablet (the relay refuses their connections even mid-handshake).
pub fn revoked_devices(conn: &Connection) -> anyhow::Result<Vec<String>> {
    revoked_since(conn, i64::MIN)
}

/// Tablets revoked at or after `since_ms`.
pub fn revoked_since(conn: &Connection, since_ms: i64) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT subject FROM tokens WHERE kind = 'device' AND revoked_at IS NOT NULL AND revoked_at >= ?1",
    )?;
    let rows = stmt.query_map([since_ms], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records that the relay synced with a tablet at `at_ms`.
pub fn note_synced(conn: &Connection, device: &str, at_ms: i64) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO device_activity(device, last_synced_at) VALUES (?1, ?2)
         ON CONFLICT(device) DO UPDATE SET last_synced_at = excluded.last_synced_at",
    )?
    .execute(params![device, at_ms])?;
    Ok(())
}

/// Records that the relay refused something of a tablet at `at_ms`, and why.
pub fn note_refused(conn: &Connection, device: &str, at_ms: i64, reason: &str) -> anyhow::Result<()> {
    let reason: String = reason.chars().take(200).collect();
    conn.prepare_cached(
        "INSERT INTO device_activity(device, refused_at, refusal) VALUES (?1, ?2, ?3)
         ON CONFLICT(device) DO UPDATE SET refused_at = excluded.refused_at, refusal = excluded.refusal",
    )?
    .execute(params![device, at_ms, reason])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::schemes::test_db as db;

    #[test]
    fn an_enrolment_code_works_once_and_only_before_it_expires() {
        let (mut conn, scheme, site) = db();
        let code = create_enrol_code(&conn, &site, "c").unwrap();
        assert_eq!(code.len(), 9);
        let typed = code.to_lowercase().replace('-', " ");
        let (token, p) = redeem_enrol_code(&mut conn, &typed, "Tablet 1").unwrap().unwrap();
        assert_eq!((p.scheme.as_str(), p.site.as_str()), (scheme.as_str(), site.as_str()));
        assert!(matches!(check_token(&conn, &token).unwrap(), Some(Credential::Device(_))));
        assert!(redeem_enrol_code(&mut conn, &code, "again").unwrap().is_none(), "used");
        let late = create_enrol_code(&conn, &site, "c").unwrap();
        conn.execute("UPDATE enrol_codes SET expires_at = 0 WHERE used_at IS NULL", ()).unwrap();
        assert!(redeem_enrol_code(&mut conn, &late, "late").unwrap().is_none(), "expired");
        assert!(redeem_enrol_code(&mut conn, "not a code", "").unwrap().is_none());
        let listed = devices(&conn, &scheme).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].label, "Tablet 1");
        assert!(!revoke_device(&conn, "other-scheme", &p.device, "c").unwrap(), "scoped to the scheme");
        assert!(revoke_device(&conn, &scheme, &p.device, "c").unwrap());
        assert!(check_token(&conn, &token).unwrap().is_none());
        assert_eq!(revoked_devices(&conn).unwrap(), vec![p.device]);
    }
}
