//! Statements and what they return: the rows, one at a time, and each row's columns read as
//! Rust values, the same way on both databases.

use super::{postgres, Error, FromSql, Params, Result, ValueRef};

/// A prepared statement.
pub struct Statement<'c> {
    pub(super) inner: StatementInner<'c>,
}

pub(super) enum StatementInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres(&'c postgres::Client, postgres::Prepared),
}

impl Statement<'_> {
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        let values = params.values();
        match &mut self.inner {
            StatementInner::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(values.iter()))?),
            StatementInner::Postgres(c, p) => c.execute(p, &values),
        }
    }

    /// Every row, each read by `f` (collected before the first is returned).
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut out = Vec::new();
        let mut rows = self.query(params)?;
        while let Some(row) = rows.next()? {
            out.push(f(&row));
        }
        Ok(out.into_iter())
    }

    pub fn query_row<T>(&mut self, params: impl Params, f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(row) => f(&row),
            None => Err(Error::NoRows),
        }
    }

    /// Whether the query returns any row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        Ok(self.query(params)?.next()?.is_some())
    }

    /// The rows one at a time (SQLite streams them; PostgreSQL's arrive together).
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        let values = params.values();
        Ok(Rows {
            inner: match &mut self.inner {
                StatementInner::Sqlite(s) => RowsInner::Sqlite(s.query(rusqlite::params_from_iter(values.iter()))?),
                StatementInner::Postgres(c, p) => RowsInner::Postgres(c.query(p, &values)?.into_iter(), None),
            },
        })
    }
}

/// The rows of a query; `next` lends each in turn.
pub struct Rows<'s> {
    inner: RowsInner<'s>,
}

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres(std::vec::IntoIter<::postgres::Row>, Option<::postgres::Row>),
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)] // lends each row: not an `Iterator`
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.inner {
            RowsInner::Sqlite(rows) => Ok(rows.next()?.map(|r| Row { inner: RowInner::Sqlite(r) })),
            RowsInner::Postgres(rows, current) => {
                *current = rows.next();
                Ok(current.as_ref().map(|r| Row { inner: RowInner::Postgres(r) }))
            }
        }
    }
}

/// One row of a result.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r ::postgres::Row),
}

impl<'r> Row<'r> {
    /// Column `i` (from 0, or by name) as `T`.
    pub fn get<I: RowIndex, T: FromSql>(&self, i: I) -> Result<T> {
        let i = self.index(i)?;
        T::from_sql(self.get_ref(i)?).map_err(|reason| Error::Conversion { column: i, reason })
    }

    /// Column `i` as it is, borrowed from the row (no copy of text or bytes).
    pub fn get_ref(&self, i: usize) -> Result<ValueRef<'_>> {
        match &self.inner {
            RowInner::Sqlite(r) => Ok(ValueRef::from(r.get_ref(i)?)),
            RowInner::Postgres(r) => {
                if i >= r.len() {
                    return Err(Error::Conversion { column: i, reason: "there is no such column".into() });
                }
                Ok(r.try_get::<_, postgres::ColumnRef<'_>>(i)?.0)
            }
        }
    }

    fn index<I: RowIndex>(&self, i: I) -> Result<usize> {
        let names: Vec<&str> = match &self.inner {
            RowInner::Sqlite(r) => match i.position(&[]) {
                Some(i) => return Ok(i),
                None => r.as_ref().column_names().into_iter().collect(),
            },
            RowInner::Postgres(r) => match i.position(&[]) {
                Some(i) => return Ok(i),
                None => r.columns().iter().map(|c| c.name()).collect(),
            },
        };
        i.position(&names)
            .ok_or_else(|| Error::Conversion { column: usize::MAX, reason: "there is no such column".into() })
    }
}

/// A column's place in a row: its number from 0, or its name.
pub trait RowIndex {
    /// The position among `names` (numbers answer without them).
    fn position(&self, names: &[&str]) -> Option<usize>;
}

impl RowIndex for usize {
    fn position(&self, _: &[&str]) -> Option<usize> {
        Some(*self)
    }
}

impl RowIndex for &str {
    fn position(&self, names: &[&str]) -> Option<usize> {
        names.iter().position(|n| n == self)
    }
}
