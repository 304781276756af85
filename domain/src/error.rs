//! The one domain error a person can act on: a refusal of what was asked, with the reason in
//! words for them, in English and in Welsh (the web pages speak both; the JSON API English).
//! Everything else is an internal failure (`anyhow::Error`). Each surface (JSON API, web pages)
//! has one error type that turns a [`Refusal`] into its "bad request" and anything else into its
//! "try again later".

/// A problem with what was asked, to be shown to the person who asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{en}")]
pub struct Refusal {
    pub en: String,
    pub cy: String,
}

impl Refusal {
    pub fn new(en: impl Into<String>, cy: impl Into<String>) -> Refusal {
        Refusal { en: en.into(), cy: cy.into() }
    }
}

/// A refusal as an `anyhow` error, for the functions that return `anyhow::Result`.
pub fn refuse<T>(en: impl Into<String>, cy: impl Into<String>) -> anyhow::Result<T> {
    Err(Refusal::new(en, cy).into())
}
