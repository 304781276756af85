//! Values across the boundary: SQLite's five kinds, and the conversions from and to Rust types
//! the domain uses (as strict as rusqlite's: text is not read as a number, nor a number as text).

/// An owned value read from the database.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

/// A borrowed value: a parameter, or a column of a SQLite row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<rusqlite::types::ValueRef<'a>> for ValueRef<'a> {
    fn from(v: rusqlite::types::ValueRef<'a>) -> Self {
        use rusqlite::types::ValueRef as V;
        match v {
            V::Null => ValueRef::Null,
            V::Integer(i) => ValueRef::Integer(i),
            V::Real(f) => ValueRef::Real(f),
            // SQLite's text is UTF-8 as the domain writes it; bytes that are not stay readable
            // as bytes and fail as text.
            V::Text(t) => std::str::from_utf8(t).map(ValueRef::Text).unwrap_or(ValueRef::Blob(t)),
            V::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef as V;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match *self {
            ValueRef::Null => V::Null,
            ValueRef::Integer(i) => V::Integer(i),
            ValueRef::Real(f) => V::Real(f),
            ValueRef::Text(s) => V::Text(s.as_bytes()),
            ValueRef::Blob(b) => V::Blob(b),
        }))
    }
}

impl<'a> ValueRef<'a> {
    /// The text, `None` for NULL, or why it is neither.
    pub fn as_str_or_null(&self) -> Result<Option<&'a str>, super::Error> {
        match self {
            ValueRef::Null => Ok(None),
            v => v.as_str().map(Some),
        }
    }

    /// The text, or why it is not text.
    pub fn as_str(&self) -> Result<&'a str, super::Error> {
        match self {
            ValueRef::Text(s) => Ok(s),
            v => Err(super::Error::Conversion { column: usize::MAX, reason: wrong(*v, "text") }),
        }
    }
}

/// A Rust value bound as a parameter.
pub trait ToSql {
    fn to_sql(&self) -> ValueRef<'_>;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> ValueRef<'_> {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> ValueRef<'_> {
        self.as_ref().map_or(ValueRef::Null, ToSql::to_sql)
    }
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self) -> ValueRef<'_> {
        (**self).to_sql()
    }
}

macro_rules! integer_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> ValueRef<'_> {
                ValueRef::Integer(*self as i64)
            }
        }
    )*};
}
integer_to_sql!(i64, i32, i16, i8, u32, u16, u8, usize, u64);

impl ToSql for bool {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Integer(*self as i64)
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl ToSql for str {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for String {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

impl ToSql for ValueRef<'_> {
    fn to_sql(&self) -> ValueRef<'_> {
        *self
    }
}

/// A Rust value read from a column; the error says why it could not be.
pub trait FromSql: Sized {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String>;
}

fn wrong(v: ValueRef<'_>, want: &str) -> String {
    let got = match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "bytes",
    };
    format!("{got} where {want} was expected")
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

macro_rules! integer_from_sql {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
                match v {
                    ValueRef::Integer(i) => <$t>::try_from(i).map_err(|_| format!("{i} is out of range")),
                    v => Err(wrong(v, "an integer")),
                }
            }
        }
    )*};
}
integer_from_sql!(i64, i32, i16, u32, u16, u8, usize, u64);

impl FromSql for bool {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            v => Err(wrong(v, "a boolean")),
        }
    }
}

impl FromSql for f64 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i as f64),
            ValueRef::Real(f) => Ok(f),
            v => Err(wrong(v, "a number")),
        }
    }
}

impl FromSql for String {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            v => Err(wrong(v, "text")),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            v => Err(wrong(v, "bytes")),
        }
    }
}

impl FromSql for Value {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}
