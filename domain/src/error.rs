//! The one domain error a person can act on: a refusal of what was asked, with the reason in
//! words for them. Everything else is an internal failure (`anyhow::Error`). Each surface (JSON
//! API, web pages) has one error type that turns a [`Refusal`] into its "bad request" and
//! anything else into its "try again later".

/// A problem with what was asked, to be shown to the person who asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// A refusal as an `anyhow` error, for the functions that return `anyhow::Result`.
pub fn refuse<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(Refusal(msg.into()).into())
}
