//! Forms in the GOV.UK pattern: a form that cannot be taken comes back as the same page with an
//! error summary at the top, the message beside the field, what was typed still in it, and
//! "Error: " before the page's title. A [`Problem`] carries that from the handler that refused
//! the form to the page that shows it; the field helpers render a field with or without one.

use super::lang::l;
use super::lang::tf;
use maud::{html, Markup};
use serde::Deserialize;

/// What was just done, for the success banner on the page an action leads back to: `done`
/// names the action, `item` what it was done to (ids only in the address; the page finds the
/// name).
#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    pub done: String,
    #[serde(default)]
    pub item: String,
}

/// The form that turns something off or on again (an account, a volunteer): `active` is `true`
/// or `false`.
#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    pub active: String,
}

/// Why a form was not taken: the field to fix (its element id), what to do, in plain words,
/// and what was typed in the form's fields, so that nothing has to be typed again.
#[derive(Clone, Debug)]
pub struct Problem {
    pub field: String,
    pub message: String,
    kept: Vec<(String, String)>,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { field: field.into(), message: message.into(), kept: Vec::new() }
    }

    /// Keeps what was typed in the field with this id.
    pub fn keep(mut self, field: &str, value: &str) -> Problem {
        self.kept.push((field.to_owned(), value.to_owned()));
        self
    }

    /// The message for the field with this id, if it is the one to fix.
    pub fn on(&self, field: &str) -> Option<&str> {
        (self.field == field).then_some(self.message.as_str())
    }

    /// What was typed in the field with this id.
    pub fn kept(&self, field: &str) -> Option<&str> {
        self.kept.iter().find(|(f, _)| f == field).map(|(_, v)| v.as_str())
    }
}

/// The page title, with "Error: " first when a form on it was refused.
pub fn title(title: &str, problem: Option<&Problem>) -> String {
    match problem {
        Some(_) => tf!("Error: {title}", "Gwall: {title}"),
        None => title.to_owned(),
    }
}

/// The error summary that opens a page whose form was refused (nothing without a problem).
pub fn summary(problem: Option<&Problem>) -> Markup {
    let errors: Vec<(&str, String)> = problem.iter().map(|p| (p.field.as_str(), p.message.clone())).collect();
    super::layout::error_summary(&errors)
}

/// A text field in a form group: label, optional hint, the inline error when it is the field
/// to fix, and its value (what was typed, else `value`).
pub struct Text<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub label: &'a str,
    pub hint: Option<&'a str>,
    /// GOV.UK width class, for example `govuk-!-width-two-thirds` or `govuk-input--width-4`.
    pub width: &'a str,
    /// `text`, `email` or `password`.
    pub kind: &'a str,
    pub value: Option<&'a str>,
    pub numeric: bool,
}

impl<'a> Text<'a> {
    pub fn new(id: &'a str, name: &'a str, label: &'a str) -> Text<'a> {
        Text {
            id,
            name,
            label,
            hint: None,
            width: "govuk-!-width-two-thirds",
            kind: "text",
            value: None,
            numeric: false,
        }
    }

    pub fn render(&self, problem: Option<&Problem>) -> Markup {
        let error = problem.and_then(|p| p.on(self.id));
        let value = problem.and_then(|p| p.kept(self.id)).or(self.value);
        let hint_id = format!("{}-hint", self.id);
        let error_id = format!("{}-error", self.id);
        let described: Vec<&str> =
            [self.hint.map(|_| hint_id.as_str()), error.map(|_| error_id.as_str())].into_iter().flatten().collect();
        let described = (!described.is_empty()).then(|| described.join(" "));
        let group = if error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" };
        let input = match error {
            Some(_) => format!("govuk-input govuk-input--error {}", self.width),
            None => format!("govuk-input {}", self.width),
        };
        html! {
            div class=(group) {
                label class="govuk-label" for=(self.id) { (self.label) }
                @if let Some(h) = self.hint { div class="govuk-hint" id=(hint_id) { (h) } }
                @if let Some(m) = error { (inline(&error_id, m)) }
                input class=(input) id=(self.id) name=(self.name) type=(self.kind)
                    value=[value] aria-describedby=[described]
                    inputmode=[self.numeric.then_some("numeric")]
                    spellcheck=[(self.numeric || self.kind == "email").then_some("false")]
                    autocomplete=[self.numeric.then_some("off")];
            }
        }
    }
}

/// A select in a form group whose first option is "Select…" with no value, so nothing is
/// chosen for the user: `options` are (value, label); `value` is what is chosen now.
pub fn select(
    problem: Option<&Problem>,
    id: &str,
    name: &str,
    label: &str,
    options: &[(&str, &str)],
    value: Option<&str>,
) -> Markup {
    let error = problem.and_then(|p| p.on(id));
    let chosen = problem.and_then(|p| p.kept(id)).or(value);
    let error_id = format!("{id}-error");
    html! {
        div class=(if error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" }) {
            label class="govuk-label" for=(id) { (label) }
            @if let Some(m) = error { (inline(&error_id, m)) }
            select class=(if error.is_some() { "govuk-select govuk-select--error" } else { "govuk-select" })
                id=(id) name=(name) aria-describedby=[error.map(|_| error_id.as_str())] {
                option value="" selected[chosen.is_none_or(str::is_empty)] { (l("Select…", "Dewiswch…")) }
                @for (v, l) in options { option value=(v) selected[chosen == Some(*v)] { (l) } }
            }
        }
    }
}

/// A date in the GOV.UK pattern: day, month and year fields in a fieldset, the first with the
/// field's `id` (where the error summary links). Their names are `{name}-day`, `{name}-month`
/// and `{name}-year`; each keeps what was typed.
pub fn date_input(
    p: Option<&Problem>,
    id: &str,
    name: &str,
    legend: &str,
    hint: &str,
    value: Option<chrono::NaiveDate>,
) -> Markup {
    use chrono::Datelike;
    let error = p.and_then(|p| p.on(id));
    let part = |which: &str, from: Option<String>| -> Option<String> {
        p.and_then(|p| p.kept(&format!("{id}-{which}"))).map(str::to_owned).or(from)
    };
    let parts = [
        ("day", l("Day", "Diwrnod"), "govuk-input--width-2", part("day", value.map(|d| d.day().to_string()))),
        ("month", l("Month", "Mis"), "govuk-input--width-2", part("month", value.map(|d| d.month().to_string()))),
        ("year", l("Year", "Blwyddyn"), "govuk-input--width-4", part("year", value.map(|d| d.year().to_string()))),
    ];
    let described = if error.is_some() { format!("{id}-hint {id}-error") } else { format!("{id}-hint") };
    html! {
        div class=(if error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" }) {
            fieldset class="govuk-fieldset" role="group" aria-describedby=(described) {
                legend class="govuk-fieldset__legend govuk-fieldset__legend--s" { (legend) }
                div class="govuk-hint" id=(format!("{id}-hint")) { (hint) }
                @if let Some(m) = error { (inline(&format!("{id}-error"), m)) }
                div class="govuk-date-input" id=(format!("{id}-group")) {
                    @for (i, (which, label, width, v)) in parts.iter().enumerate() {
                        @let field = if i == 0 { id.to_owned() } else { format!("{id}-{which}") };
                        div class="govuk-date-input__item" {
                            div class="govuk-form-group" {
                                label class="govuk-label govuk-date-input__label" for=(field) { (label) }
                                input class=(format!("govuk-input govuk-date-input__input {width}{}", if error.is_some() { " govuk-input--error" } else { "" }))
                                    id=(field) name=(format!("{name}-{which}")) type="text" inputmode="numeric" value=[v.as_deref()];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A date typed in the GOV.UK pattern: `None` when nothing was typed, else the date or what to
/// fix, in plain words (`what` names it: "the start date").
pub fn typed_date(day: &str, month: &str, year: &str, what: &str) -> Option<Result<chrono::NaiveDate, String>> {
    let (d, m, y) = (day.trim(), month.trim(), year.trim());
    if d.is_empty() && m.is_empty() && y.is_empty() {
        return None;
    }
    let missing: Vec<&str> = [(l("a day", "diwrnod"), d), (l("a month", "mis"), m), (l("a year", "blwyddyn"), y)]
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Some(Err(tf!(
            "{} must include {}",
            "Rhaid i {} gynnwys {}",
            capitalised(what),
            missing.join(l(" and ", " a "))
        )));
    }
    let real = match (d.parse::<u32>(), m.parse::<u32>(), y.parse::<i32>()) {
        (Ok(d), Ok(m), Ok(y)) if (1000..=9999).contains(&y) => chrono::NaiveDate::from_ymd_opt(y, m, d),
        _ => None,
    };
    Some(real.ok_or_else(|| {
        tf!(
            "{} must be a real date, like 27 3 2026",
            "Rhaid i {} fod yn ddyddiad go iawn, fel 27 3 2026",
            capitalised(what)
        )
    }))
}

/// The step before something that cannot be undone at a tap: what will happen, an optional
/// warning, and a warning button that sends the form (with `field` as a hidden value); "Back"
/// and "Cancel" return to `back`.
pub struct Confirm<'a> {
    pub back: &'a str,
    pub caption: Option<&'a str>,
    pub heading: &'a str,
    pub what: &'a str,
    pub warning: Option<&'a str>,
    pub action: &'a str,
    pub button: &'a str,
    pub field: Option<(&'a str, &'a str)>,
}

impl Confirm<'_> {
    pub fn render(&self, csrf: &str) -> Markup {
        html! {
            a class="govuk-back-link" href=(self.back) { (l("Back", "Yn ôl")) }
            @if let Some(c) = self.caption { span class="govuk-caption-l" { (c) } }
            h1 class="govuk-heading-l" { (self.heading) }
            p class="govuk-body" { (self.what) }
            @if let Some(w) = self.warning {
                div class="govuk-warning-text" {
                    span class="govuk-warning-text__icon" aria-hidden="true" { "!" }
                    strong class="govuk-warning-text__text" { span class="govuk-visually-hidden" { (l("Warning", "Rhybudd")) } (w) }
                }
            }
            form method="post" action=(self.action) {
                input type="hidden" name="csrf" value=(csrf);
                @if let Some((name, value)) = self.field { input type="hidden" name=(name) value=(value); }
                div class="govuk-button-group" {
                    button type="submit" class="govuk-button govuk-button--warning" { (self.button) }
                    a class="govuk-link" href=(self.back) { (l("Cancel", "Canslo")) }
                }
            }
        }
    }
}

/// The message beside a field that has to be fixed.
pub fn inline(id: &str, message: &str) -> Markup {
    html! { p class="govuk-error-message" id=(id) { span class="govuk-visually-hidden" { (l("Error: ", "Gwall: ")) } (message) } }
}

/// A name someone types for a site, scheme or agency, checked in plain words: `what` is how the
/// message names it ("the site's name").
pub fn checked_name(field: &str, value: &str, what: &str, max: usize) -> Result<String, Problem> {
    let name = value.trim();
    let message = if name.is_empty() {
        tf!("Enter {what}", "Rhowch {what}")
    } else if name.chars().count() > max {
        tf!("{} must be {max} characters or fewer", "Rhaid i {} fod yn {max} nod neu lai", capitalised(what))
    } else if name.chars().any(char::is_control) {
        tf!(
            "{} must be on one line, without special characters",
            "Rhaid i {} fod ar un llinell, heb nodau arbennig",
            capitalised(what)
        )
    } else {
        return Ok(name.to_owned());
    };
    Err(Problem::new(field, message).keep(field, value))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_field_keeps_what_was_typed_and_says_what_to_do_beside_it() {
        let p = checked_name("site-name", "   ", "the site's name", 120).unwrap_err();
        assert_eq!(p.message, "Enter the site's name");
        let long = "x".repeat(121);
        let p = checked_name("site-name", &long, "the site's name", 120).unwrap_err();
        assert_eq!(p.message, "The site's name must be 120 characters or fewer");
        let html = Text::new("site-name", "name", "Site's name").render(Some(&p)).into_string();
        assert!(html.contains("govuk-form-group--error"), "{html}");
        assert!(html.contains(&format!("value=\"{long}\"")), "{html}");
        assert!(html.contains("aria-describedby=\"site-name-error\""), "{html}");
        assert_eq!(checked_name("site-name", " Crown Court ", "the site's name", 120).unwrap(), "Crown Court");
        let other = Text::new("scheme-name", "name", "Name").render(Some(&p)).into_string();
        assert!(!other.contains("govuk-error-message"), "{other}");
    }

    #[test]
    fn a_date_typed_in_three_fields_is_read_or_refused_in_plain_words() {
        let d = |day: &str, month: &str, year: &str| typed_date(day, month, year, "the start date");
        assert_eq!(d("", "", ""), None);
        assert_eq!(d("1", "12", "2026"), Some(Ok(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())));
        assert_eq!(d("1", "", "2026"), Some(Err("The start date must include a month".into())));
        assert_eq!(d("", "", "2026"), Some(Err("The start date must include a day and a month".into())));
        assert_eq!(d("31", "2", "2026"), Some(Err("The start date must be a real date, like 27 3 2026".into())));
        assert_eq!(d("1", "12", "26"), Some(Err("The start date must be a real date, like 27 3 2026".into())));
    }
}
