//! CSV downloads: one line at a time (the referral export streams), and the response that makes
//! a browser save the file. Lines are written by the `csv` crate with every field quoted, so a
//! spreadsheet set to another separator (`;` in much of Europe) still reads each field whole;
//! the rule that is ours is that no field is ever read as a formula.

use super::error::WebError;
use super::lang::l;
use crate::state::{AppState, Crowded, ExportPlace};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A place for one more download of `user`'s ([`crate::state::Exports`]), held while it is
/// prepared and sent; refused at once, with what to do, past the limits.
pub fn export_place(st: &AppState, user: &signpost_domain::accounts::User) -> Result<ExportPlace, WebError> {
    st.exports.take(&user.id).map_err(|crowded| {
        crate::metrics::METRICS.throttled.with_label_values(&["export"]).inc();
        WebError::TooManyDownloads(
            match crowded {
                Crowded::Yours => l(
                    "You are already downloading 2 files. Wait for them to finish, then try again.",
                    "Rydych chi eisoes yn lawrlwytho 2 ffeil. Arhoswch iddyn nhw orffen, yna rhowch gynnig arall arni.",
                ),
                Crowded::Everyone => l(
                    "Signpost is preparing too many downloads just now. Wait a minute, then try again.",
                    "Mae Signpost yn paratoi gormod o lawrlwythiadau ar hyn o bryd. Arhoswch funud, yna rhowch gynnig arall arni.",
                ),
            }
            .into(),
        )
    })
}

/// A field as written: one a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, a tab or
/// a carriage return first) gets a leading apostrophe, which shows it as text.
fn defused(v: &str) -> std::borrow::Cow<'_, str> {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}").into()
    } else {
        v.into()
    }
}
/// A CSV file to download; `length` when known up front (the browser then shows progress).
pub fn csv_download(name: &str, body: axum::body::Body, length: Option<u64>) -> Response {
    let mut res = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response();
    if let Some(n) = length {
        res.headers_mut().insert(header::CONTENT_LENGTH, n.into());
    }
    res
}

/// One CSV record, every field quoted, ended by CRLF.
pub fn csv_line(fields: &[&str]) -> String {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .buffer_capacity(512)
        .from_writer(Vec::with_capacity(128));
    w.write_record(fields.iter().map(|f| defused(f).into_owned())).expect("writing to memory cannot fail");
    let bytes = w.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("UTF-8 fields make a UTF-8 line")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_quoted_and_none_is_a_formula() {
        assert_eq!(csv_line(&["plain", "a, b", "say \"hi\""]), "\"plain\",\"a, b\",\"say \"\"hi\"\"\"\r\n");
        // A spreadsheet splitting on `;` still sees one field.
        assert_eq!(csv_line(&["Citizens Advice; Shelter"]), "\"Citizens Advice; Shelter\"\r\n");
        assert_eq!(
            csv_line(&["=HYPERLINK(\"x\")", "-5", "+1", "@SUM(A1)"]),
            "\"'=HYPERLINK(\"\"x\"\")\",\"'-5\",\"'+1\",\"'@SUM(A1)\"\r\n"
        );
        assert_eq!(csv_line(&["two\nlines", ""]), "\"two\nlines\",\"\"\r\n");
    }
}
