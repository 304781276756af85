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

/// The form in Welsh: each question's text and hint, and each answer's label, by key and code
/// (the ONS 2021 Census wording where it has one). Signpost's own translation otherwise; a Welsh
/// Language Unit should review it.
pub mod cymraeg {
    pub fn text(question: &str) -> &'static str {
        match question {
            "age" => "Beth yw eich oedran?",
            "sex" => "Beth yw eich rhyw?",
            "ethnic_group" => "Beth yw eich grŵp ethnig?",
            "religion" => "Beth yw eich crefydd?",
            "disability" => "Ydych chi'n ystyried eich hun yn anabl?",
            "sexual_orientation" => "Pa un o'r canlynol sy'n disgrifio eich cyfeiriadedd rhywiol orau?",
            _ => "",
        }
    }

    pub fn hint(question: &str) -> &'static str {
        match question {
            "ethnic_group" => "Dewiswch yr opsiwn sy'n disgrifio eich grŵp neu gefndir ethnig orau.",
            "disability" => "O dan Ddeddf Cydraddoldeb 2010 rydych yn anabl os oes gennych nam corfforol neu feddyliol sy'n cael effaith negyddol sylweddol a hirdymor ar eich gallu i wneud gweithgareddau dyddiol arferol.",
            _ => "",
        }
    }

    /// The published answer groups (columns of the national diversity tables).
    pub fn group(group: &str) -> &'static str {
        match group {
            "Asian, Asian British or Asian Welsh" => "Asiaidd, Asiaidd Prydeinig neu Asiaidd Cymreig",
            "Black, Black British, Black Welsh, Caribbean or African" => {
                "Du, Du Prydeinig, Du Cymreig, Caribïaidd neu Affricanaidd"
            }
            "Mixed or Multiple ethnic groups" => "Grwpiau ethnig cymysg neu luosog",
            "White" => "Gwyn",
            "Other ethnic group" => "Grŵp ethnig arall",
            "Female" => "Benyw",
            "Male" => "Gwryw",
            "No religion" => "Dim crefydd",
            "Christian" => "Cristnogol",
            "Buddhist" => "Bwdhaidd",
            "Hindu" => "Hindŵaidd",
            "Jewish" => "Iddewig",
            "Muslim" => "Mwslimaidd",
            "Sikh" => "Sikh",
            "Any other religion" => "Unrhyw grefydd arall",
            "Disabled" => "Anabl",
            "Not disabled" => "Ddim yn anabl",
            "Straight or heterosexual" => "Syth neu heterorywiol",
            "Gay or lesbian" => "Hoyw neu lesbiaidd",
            "Bisexual" => "Deurywiol",
            "Other sexual orientation" => "Cyfeiriadedd rhywiol arall",
            "Under 25" => "Dan 25",
            "25 to 44" => "25 i 44",
            "45 to 64" => "45 i 64",
            "65 and over" => "65 a throsodd",
            _ => "",
        }
    }

    pub fn answer(question: &str, code: &str) -> &'static str {
        match (question, code) {
            (_, super::PREFER_NOT_TO_SAY) => "Mae'n well gennyf beidio â dweud",
            ("age", "under-18") => "Dan 18",
            ("age", "18-24") => "18 i 24",
            ("age", "25-34") => "25 i 34",
            ("age", "35-44") => "35 i 44",
            ("age", "45-54") => "45 i 54",
            ("age", "55-64") => "55 i 64",
            ("age", "65-plus") => "65 a throsodd",
            ("sex", "female") => "Benyw",
            ("sex", "male") => "Gwryw",
            ("ethnic_group", "asian-bangladeshi") => "Bangladeshaidd",
            ("ethnic_group", "asian-chinese") => "Tsieineaidd",
            ("ethnic_group", "asian-indian") => "Indiaidd",
            ("ethnic_group", "asian-pakistani") => "Pacistanaidd",
            ("ethnic_group", "asian-other") => "Unrhyw gefndir Asiaidd arall",
            ("ethnic_group", "black-african") => "Affricanaidd",
            ("ethnic_group", "black-caribbean") => "Caribïaidd",
            ("ethnic_group", "black-other") => "Unrhyw gefndir Du, Du Prydeinig neu Garibïaidd arall",
            ("ethnic_group", "mixed-white-asian") => "Gwyn ac Asiaidd",
            ("ethnic_group", "mixed-white-black-african") => "Gwyn a Du Affricanaidd",
            ("ethnic_group", "mixed-white-black-caribbean") => "Gwyn a Du Caribïaidd",
            ("ethnic_group", "mixed-other") => "Unrhyw gefndir Cymysg neu Aml-ethnig arall",
            ("ethnic_group", "white-british") => {
                "Cymreig, Seisnig, Albanaidd, Gwyddelig Gogledd Iwerddon neu Brydeinig"
            }
            ("ethnic_group", "white-irish") => "Gwyddelig",
            ("ethnic_group", "white-gypsy-traveller") => "Sipsi neu Deithiwr Gwyddelig",
            ("ethnic_group", "white-roma") => "Roma",
            ("ethnic_group", "white-other") => "Unrhyw gefndir Gwyn arall",
            ("ethnic_group", "other-arab") => "Arabaidd",
            ("ethnic_group", "other-any") => "Unrhyw grŵp ethnig arall",
            ("religion", "none") => "Dim crefydd",
            ("religion", "christian") => "Cristion",
            ("religion", "buddhist") => "Bwdhydd",
            ("religion", "hindu") => "Hindŵ",
            ("religion", "jewish") => "Iddew",
            ("religion", "muslim") => "Mwslim",
            ("religion", "sikh") => "Sikh",
            ("religion", "other") => "Unrhyw grefydd arall",
            ("disability", "yes") => "Ydw",
            ("disability", "no") => "Nac ydw",
            ("sexual_orientation", "straight") => "Syth neu heterorywiol",
            ("sexual_orientation", "gay-lesbian") => "Hoyw neu lesbiaidd",
            ("sexual_orientation", "bisexual") => "Deurywiol",
            ("sexual_orientation", "other") => "Cyfeiriadedd rhywiol arall",
            _ => "",
        }
    }
}

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

    #[test]
    fn every_question_and_answer_has_its_welsh() {
        for q in QUESTIONS {
            assert!(!cymraeg::text(q.key).is_empty(), "{}", q.key);
            assert_eq!(q.hint.is_empty(), cymraeg::hint(q.key).is_empty(), "{}", q.key);
            for (code, _, _) in q.answers {
                assert!(!cymraeg::answer(q.key, code).is_empty(), "{} {code}", q.key);
            }
        }
    }
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
