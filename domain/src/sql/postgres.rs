//! The PostgreSQL side of the boundary: a blocking client (the `postgres` crate, which runs
//! tokio-postgres on a runtime of its own), statements prepared once per connection, and the
//! conversions between its typed parameters and columns and [`Value`].

use super::translate::numbered_to_dollars;
use super::{Result, ValueRef};
use bytes::BytesMut;
use postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use std::cell::RefCell;
use std::collections::HashMap;

pub type Prepared = postgres::Statement;

pub struct Client {
    /// Always there until dropped (taken out to be closed off the async runtime).
    client: RefCell<Option<postgres::Client>>,
    prepared: RefCell<HashMap<String, Prepared>>,
}

/// Statements kept prepared on one connection; past this the cache starts again (a relay
/// prepares a few dozen texts, so this bounds only SQL built on the fly).
const MAX_PREPARED: usize = 512;

/// Runs `f`, which blocks on the `postgres` crate's own runtime, where that is allowed: as it
/// is on a plain thread (the relay thread, tokio's blocking pool); on a worker of the server's
/// runtime (start-up code) after telling it that this thread blocks; inside a single-threaded
/// runtime (a test's) on a thread of its own.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| s.spawn(f).join().expect("database work panicked")),
        Err(_) => f(),
    }
}

impl Client {
    pub fn connect(url: &str) -> Result<Client> {
        let client = off_runtime(|| postgres::Client::connect(url, postgres::NoTls))?;
        Ok(Client { client: RefCell::new(Some(client)), prepared: Default::default() })
    }

    /// Runs `f` on the client, off the async runtime (see [`off_runtime`]).
    fn with<T: Send>(&self, f: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
        let mut client = self.client.borrow_mut();
        let client: &mut postgres::Client = client.as_mut().expect("open until dropped");
        off_runtime(|| f(client))
    }

    pub fn batch_execute(&self, sql: &str) -> Result<()> {
        Ok(self.with(|c| c.batch_execute(sql))?)
    }

    pub fn prepare(&self, sql: &str) -> Result<Prepared> {
        if let Some(p) = self.prepared.borrow().get(sql) {
            return Ok(p.clone());
        }
        let p = self.with(|c| c.prepare(&numbered_to_dollars(sql)))?;
        let mut cache = self.prepared.borrow_mut();
        if cache.len() >= MAX_PREPARED {
            cache.clear();
        }
        cache.insert(sql.to_owned(), p.clone());
        Ok(p)
    }

    pub fn execute(&self, p: &Prepared, values: &[ValueRef<'_>]) -> Result<usize> {
        let params = Param::all(values);
        Ok(self.with(|c| c.execute(p, &Param::refs(&params)))? as usize)
    }

    pub fn query(&self, p: &Prepared, values: &[ValueRef<'_>]) -> Result<Vec<postgres::Row>> {
        let params = Param::all(values);
        Ok(self.with(|c| c.query(p, &Param::refs(&params)))?)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Closing the connection blocks on the crate's runtime too.
        if let Some(client) = self.client.get_mut().take() {
            off_runtime(|| drop(client));
        }
    }
}

/// What a PostgreSQL error says, with the server's message and detail when it sent them.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => e.to_string(),
    }
}

/// A parameter bound as whatever type PostgreSQL inferred for its place: an integer may be a
/// `bigint`, an `integer`, a `boolean` or text; text may be text of any kind.
#[derive(Debug)]
struct Param<'a>(ValueRef<'a>);

impl<'a> Param<'a> {
    fn all(values: &[ValueRef<'a>]) -> Vec<Param<'a>> {
        values.iter().map(|v| Param(*v)).collect()
    }

    fn refs<'p>(params: &'p [Param<'a>]) -> Vec<&'p (dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
}

fn is_text(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN)
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self.0, ty) {
            (ValueRef::Null, _) => Ok(IsNull::Yes),
            (ValueRef::Integer(i), &Type::INT8) => i.to_sql(ty, out),
            (ValueRef::Integer(i), &Type::INT4) => i32::try_from(i)?.to_sql(ty, out),
            (ValueRef::Integer(i), &Type::INT2) => i16::try_from(i)?.to_sql(ty, out),
            (ValueRef::Integer(i), &Type::BOOL) => (i != 0).to_sql(ty, out),
            (ValueRef::Integer(i), &Type::FLOAT8) => (i as f64).to_sql(ty, out),
            (ValueRef::Integer(i), &Type::NUMERIC) => {
                out.extend_from_slice(&numeric_of(i));
                Ok(IsNull::No)
            }
            (ValueRef::Integer(i), t) if is_text(t) => i.to_string().to_sql(&Type::TEXT, out),
            (ValueRef::Real(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (ValueRef::Real(f), &Type::FLOAT4) => (f as f32).to_sql(ty, out),
            (ValueRef::Real(f), t) if is_text(t) => f.to_string().to_sql(&Type::TEXT, out),
            (ValueRef::Text(s), t) if is_text(t) => s.to_sql(&Type::TEXT, out),
            (ValueRef::Text(s), &Type::INT8) => s.parse::<i64>()?.to_sql(ty, out),
            (ValueRef::Blob(b), &Type::BYTEA) => b.to_sql(ty, out),
            (v, t) => Err(format!("cannot bind {v:?} as {t}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column read as a [`ValueRef`], whatever its PostgreSQL type (of those the schema uses);
/// text and bytes are borrowed from the row.
pub struct ColumnRef<'a>(pub ValueRef<'a>);

impl<'a> FromSql<'a> for ColumnRef<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(ColumnRef(match *ty {
            Type::INT8 => ValueRef::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => ValueRef::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => ValueRef::Integer(i16::from_sql(ty, raw)?.into()),
            Type::OID => ValueRef::Integer(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => ValueRef::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => ValueRef::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => ValueRef::Real(f32::from_sql(ty, raw)?.into()),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => ValueRef::Blob(raw),
            ref t if is_text(t) || matches!(t.kind(), Kind::Enum(_)) => ValueRef::Text(std::str::from_utf8(raw)?),
            ref t => return Err(format!("cannot read a column of type {t}").into()),
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(ColumnRef(ValueRef::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// An integer in `numeric`'s binary form (a parameter PostgreSQL compares with a `SUM`).
fn numeric_of(i: i64) -> Vec<u8> {
    let mut digits = Vec::new();
    let mut n = i.unsigned_abs();
    while n > 0 {
        digits.push((n % 10_000) as i16);
        n /= 10_000;
    }
    digits.reverse();
    let weight = digits.len() as i16 - 1;
    let sign: u16 = if i < 0 { 0x4000 } else { 0 };
    let mut out = Vec::with_capacity(8 + 2 * digits.len());
    for word in [digits.len() as i16, weight.max(0), sign as i16, 0] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

/// A `numeric` in PostgreSQL's binary form (what `SUM` of integers and `AVG` return): an integer
/// when it has no fraction and fits, a real number otherwise.
fn numeric(raw: &[u8]) -> Result<ValueRef<'static>, Box<dyn std::error::Error + Sync + Send>> {
    let word = |i: usize| -> Result<i16, String> {
        raw.get(i * 2..i * 2 + 2).map(|b| i16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "short numeric".to_owned())
    };
    let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if sign == 0xC000 {
        return Ok(ValueRef::Real(f64::NAN));
    }
    let negative = sign == 0x4000;
    let digits: Vec<i64> = (0..ndigits as usize).map(|i| word(4 + i).map(i64::from)).collect::<Result<_, _>>()?;
    // Base-10000 digits; digit k is worth 10000^(weight - k).
    let whole = digits.iter().enumerate().all(|(k, d)| *d == 0 || (weight as i64 - k as i64) >= 0);
    if dscale == 0 && whole && weight < 5 {
        let mut n: i64 = 0;
        for k in 0..=weight.max(-1) as i64 {
            n = n * 10_000 + digits.get(k as usize).copied().unwrap_or(0);
        }
        return Ok(ValueRef::Integer(if negative { -n } else { n }));
    }
    let mut f = 0f64;
    for (k, d) in digits.iter().enumerate() {
        f += *d as f64 * 10_000f64.powi(weight as i32 - k as i32);
    }
    Ok(ValueRef::Real(if negative { -f } else { f }))
}
