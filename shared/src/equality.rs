//! Equality monitoring of volunteers: the questions and their answer codes (UK conventions: the
//! ONS 2021 Census groups for England and Wales), and the checks an answer set must pass.
//!
//! Answers are special-category personal data. They never enter a document (no tablet but the one
//! sending them ever holds them), are stored on the server only, and leave it only as aggregates.

use serde::{Deserialize, Serialize};

/// The code every question accepts.
pub const PREFER_NOT_TO_SAY: &str = "prefer-not-to-say";

/// One question: its key, its text, and its answers as (code, label, high-level group label).
pub struct Question {
    pub key: &'static str,
    pub text: &'static str,
    pub hint: &'static str,
    pub answers: &'static [(&'static str, &'static str, &'static str)],
    /// Whether the form offers it only as an option (sexual orientation).
    pub optional: bool,
}

const ETHNIC: &[(&str, &str, &str)] = &[
    ("asian-bangladeshi", "Bangladeshi", "Asian, Asian British or Asian Welsh"),
    ("asian-chinese", "Chinese", "Asian, Asian British or Asian Welsh"),
    ("asian-indian", "Indian", "Asian, Asian British or Asian Welsh"),
    ("asian-pakistani", "Pakistani", "Asian, Asian British or Asian Welsh"),
    ("asian-other", "Any other Asian background", "Asian, Asian British or Asian Welsh"),
    ("black-african", "African", "Black, Black British, Black Welsh, Caribbean or African"),
    ("black-caribbean", "Caribbean", "Black, Black British, Black Welsh, Caribbean or African"),
    (
        "black-other",
        "Any other Black, Black British or Caribbean background",
        "Black, Black British, Black Welsh, Caribbean or African",
    ),
    ("mixed-white-asian", "White and Asian", "Mixed or Multiple ethnic groups"),
    ("mixed-white-black-african", "White and Black African", "Mixed or Multiple ethnic groups"),
    ("mixed-white-black-caribbean", "White and Black Caribbean", "Mixed or Multiple ethnic groups"),
    ("mixed-other", "Any other Mixed or Multiple ethnic background", "Mixed or Multiple ethnic groups"),
    ("white-british", "English, Welsh, Scottish, Northern Irish or British", "White"),
    ("white-irish", "Irish", "White"),
    ("white-gypsy-traveller", "Gypsy or Irish Traveller", "White"),
    ("white-roma", "Roma", "White"),
    ("white-other", "Any other White background", "White"),
    ("other-arab", "Arab", "Other ethnic group"),
    ("other-any", "Any other ethnic group", "Other ethnic group"),
    (PREFER_NOT_TO_SAY, "Prefer not to say", ""),
];

const SEX: &[(&str, &str, &str)] =
    &[("female", "Female", "Female"), ("male", "Male", "Male"), (PREFER_NOT_TO_SAY, "Prefer not to say", "")];

const RELIGION: &[(&str, &str, &str)] = &[
    ("none", "No religion", "No religion"),
    ("christian", "Christian", "Christian"),
    ("buddhist", "Buddhist", "Buddhist"),
    ("hindu", "Hindu", "Hindu"),
    ("jewish", "Jewish", "Jewish"),
    ("muslim", "Muslim", "Muslim"),
    ("sikh", "Sikh", "Sikh"),
    ("other", "Any other religion", "Any other religion"),
    (PREFER_NOT_TO_SAY, "Prefer not to say", ""),
];

const DISABILITY: &[(&str, &str, &str)] =
    &[("yes", "Yes", "Disabled"), ("no", "No", "Not disabled"), (PREFER_NOT_TO_SAY, "Prefer not to say", "")];

const ORIENTATION: &[(&str, &str, &str)] = &[
    ("straight", "Straight or heterosexual", "Straight or heterosexual"),
    ("gay-lesbian", "Gay or lesbian", "Gay or lesbian"),
    ("bisexual", "Bisexual", "Bisexual"),
    ("other", "Other sexual orientation", "Other sexual orientation"),
    (PREFER_NOT_TO_SAY, "Prefer not to say", ""),
];

const AGE: &[(&str, &str, &str)] = &[
    ("under-18", "Under 18", "Under 25"),
    ("18-24", "18 to 24", "Under 25"),
    ("25-34", "25 to 34", "25 to 44"),
    ("35-44", "35 to 44", "25 to 44"),
    ("45-54", "45 to 54", "45 to 64"),
    ("55-64", "55 to 64", "45 to 64"),
    ("65-plus", "65 and over", "65 and over"),
    (PREFER_NOT_TO_SAY, "Prefer not to say", ""),
];

/// The form, in order. National tables group answers by their third field (the high-level group).
pub const QUESTIONS: &[Question] = &[
    Question { key: "age", text: "What is your age?", hint: "", answers: AGE, optional: false },
    Question { key: "sex", text: "What is your sex?", hint: "", answers: SEX, optional: false },
    Question {
        key: "ethnic_group",
        text: "What is your ethnic group?",
        hint: "Choose the option that best describes your ethnic group or background.",
        answers: ETHNIC,
        optional: false,
    },
    Question { key: "religion", text: "What is your religion?", hint: "", answers: RELIGION, optional: false },
    Question {
        key: "disability",
        text: "Do you consider yourself to be disabled?",
        hint: "Under the Equality Act 2010 you are disabled if you have a physical or mental impairment that has a substantial and long-term negative effect on your ability to do normal daily activities.",
        answers: DISABILITY,
        optional: false,
    },
    Question {
        key: "sexual_orientation",
        text: "Which of the following best describes your sexual orientation?",
        hint: "",
        answers: ORIENTATION,
        optional: true,
    },
];

/// One volunteer's answers: question key → answer code. A question left out was not answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Answers(pub std::collections::BTreeMap<String, String>);

impl Answers {
    /// Every key a question and every value one of its answers.
    pub fn check(&self) -> Result<(), String> {
        for (k, v) in &self.0 {
            let q = QUESTIONS.iter().find(|q| q.key == k).ok_or_else(|| format!("there is no question \"{k}\""))?;
            if !q.answers.iter().any(|(code, _, _)| code == v) {
                return Err(format!("\"{v}\" is not an answer to \"{k}\""));
            }
        }
        Ok(())
    }

    /// Whether the question was answered with something other than "prefer not to say".
    pub fn declared(&self, question: &str) -> Option<&str> {
        self.0.get(question).map(String::as_str).filter(|v| *v != PREFER_NOT_TO_SAY)
    }
}

/// The high-level group an answer is published under.
pub fn group_of(question: &str, answer: &str) -> Option<&'static str> {
    let q = QUESTIONS.iter().find(|q| q.key == question)?;
    q.answers.iter().find(|(c, _, _)| *c == answer).map(|(_, _, g)| *g).filter(|g| !g.is_empty())
}

/// The published groups of a question, in the form's order, without repeats.
pub fn groups(question: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    if let Some(q) = QUESTIONS.iter().find(|q| q.key == question) {
        for (_, _, g) in q.answers {
            if !g.is_empty() && !out.contains(g) {
                out.push(g);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::AgeBand;

    #[test]
    fn the_ons_2021_ethnic_groups_are_complete() {
        let categories = ETHNIC.iter().filter(|(c, _, _)| *c != PREFER_NOT_TO_SAY).count();
        assert_eq!(categories, 19);
        assert_eq!(groups("ethnic_group").len(), 5);
        for q in QUESTIONS {
            assert!(q.answers.iter().any(|(c, _, _)| *c == PREFER_NOT_TO_SAY), "{} offers prefer not to say", q.key);
        }
        // The age question uses the referral form's age bands.
        assert!(AgeBand::ALL.iter().all(|b| AGE.iter().any(|(c, _, _)| *c == b.code())));
    }

    #[test]
    fn answers_are_checked_and_prefer_not_to_say_is_not_a_declaration() {
        let mut a = Answers::default();
        a.0.insert("sex".into(), "female".into());
        a.0.insert("religion".into(), PREFER_NOT_TO_SAY.into());
        assert!(a.check().is_ok());
        assert_eq!(a.declared("sex"), Some("female"));
        assert_eq!(a.declared("religion"), None);
        assert_eq!(a.declared("age"), None, "not answered");
        a.0.insert("sex".into(), "other".into());
        assert!(a.check().is_err());
        let mut b = Answers::default();
        b.0.insert("shoe_size".into(), "9".into());
        assert!(b.check().is_err());
        assert_eq!(group_of("ethnic_group", "white-roma"), Some("White"));
        assert_eq!(group_of("ethnic_group", PREFER_NOT_TO_SAY), None);
    }
}
