//! The controlled vocabularies from the product specification.
//!
//! Each term has a stable code (what documents and the API carry) and an English label (what
//! people read). Codes never change once released: statistics group by them. Schemes may extend
//! the agency directory, never these lists.

use serde::Serialize;

macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $code:literal, $label:literal $(=> $pathway:ident)?;)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

vocabulary! {
    /// The seven NOMS reducing-reoffending pathways used for national reporting.
    Pathway {
        Accommodation = "accommodation", "Accommodation";
        EducationTrainingEmployment = "education-training-employment", "Education, training and employment";
        Health = "health", "Health";
        DrugsAlcohol = "drugs-alcohol", "Drugs and alcohol";
        FinanceBenefitDebt = "finance-benefit-debt", "Finance, benefit and debt";
        ChildrenFamilies = "children-families", "Children and families";
        AttitudesThinkingBehaviour = "attitudes-thinking-behaviour", "Attitudes, thinking and behaviour";
    }
}

vocabulary! {
    /// What the person needed help with. Each category reports under exactly one pathway.
    Category {
        Housing = "housing", "Housing or accommodation";
        DebtBenefitsFinance = "debt-benefits-finance", "Debt, benefits and finance";
        EmploymentTrainingEducation = "employment-training-education", "Employment, training and education";
        MentalHealth = "mental-health", "Mental health";
        PhysicalHealth = "physical-health", "Physical health";
        DrugsAlcohol = "drugs-alcohol", "Drugs and alcohol";
        ChildrenFamilies = "children-families", "Children and families";
        DomesticAbuse = "domestic-abuse", "Domestic abuse";
        VictimWitnessSupport = "victim-witness-support", "Victim and witness support";
        LegalAdvice = "legal-advice", "Legal advice and representation";
        CourtProcess = "court-process", "Court process and orders";
        FinesPayments = "fines-payments", "Fines and payments";
        Immigration = "immigration", "Immigration";
        AttitudesThinkingBehaviour = "attitudes-thinking-behaviour", "Attitudes, thinking and behaviour";
        Other = "other", "Other";
    }
}

impl Category {
    /// The reporting convention: the one pathway each category is counted under.
    pub fn pathway(self) -> Pathway {
        use Category::*;
        match self {
            Housing => Pathway::Accommodation,
            DebtBenefitsFinance | FinesPayments => Pathway::FinanceBenefitDebt,
            EmploymentTrainingEducation => Pathway::EducationTrainingEmployment,
            MentalHealth | PhysicalHealth => Pathway::Health,
            DrugsAlcohol => Pathway::DrugsAlcohol,
            ChildrenFamilies | DomesticAbuse | VictimWitnessSupport => Pathway::ChildrenFamilies,
            Immigration => Pathway::Accommodation,
            LegalAdvice | CourtProcess | AttitudesThinkingBehaviour | Other => Pathway::AttitudesThinkingBehaviour,
        }
    }
}

vocabulary! {
    /// Who was helped.
    Helped {
        Defendant = "defendant", "Defendant";
        DefendantFamily = "defendant-family-friend", "Family member or friend of a defendant";
        Victim = "victim", "Victim";
        Witness = "witness", "Witness";
        Prisoner = "prisoner", "Prisoner";
        PrisonerFamily = "prisoner-family", "Prisoner's family";
        OtherCourtUser = "other-court-user", "Other court user";
    }
}

vocabulary! {
    /// The kind of help given.
    HelpKind {
        Information = "information", "Information given";
        Signposted = "signposted", "Signposted (contact details given)";
        Referred = "referred", "Referred (warm hand-over, with consent)";
        Accompanied = "accompanied", "Accompanied";
    }
}

vocabulary! {
    /// How a follow-up was closed.
    FollowUpOutcome {
        Contacted = "contacted", "Contacted";
        CouldNotReach = "could-not-reach", "Could not reach";
        Resolved = "resolved", "Resolved";
        NoLongerNeeded = "no-longer-needed", "No longer needed";
    }
}

vocabulary! {
    /// Optional age band of the person helped.
    AgeBand {
        Under18 = "under-18", "Under 18";
        From18To24 = "18-24", "18 to 24";
        From25To34 = "25-34", "25 to 34";
        From35To44 = "35-44", "35 to 44";
        From45To54 = "45-54", "45 to 54";
        From55To64 = "55-64", "55 to 64";
        From65 = "65-plus", "65 and over";
        PreferNotToSay = "prefer-not-to-say", "Prefer not to say";
    }
}

vocabulary! {
    /// Where a scheme works, for national figures: the English regions and Wales.
    Region {
        NorthEast = "north-east", "North East";
        NorthWest = "north-west", "North West";
        YorkshireHumber = "yorkshire-humber", "Yorkshire and the Humber";
        EastMidlands = "east-midlands", "East Midlands";
        WestMidlands = "west-midlands", "West Midlands";
        EastOfEngland = "east-of-england", "East of England";
        London = "london", "London";
        SouthEast = "south-east", "South East";
        SouthWest = "south-west", "South West";
        Wales = "wales", "Wales";
    }
}

vocabulary! {
    /// What kind of volunteering a scheme organises.
    SchemeType {
        CourtHelpDesk = "court-help-desk", "Court help desk";
        CommunityAdviceDesk = "community-advice-desk", "Community advice desk at a magistrates' court";
        PrisonChaplaincy = "prison-chaplaincy", "Prison chaplaincy";
        CommunityChaplaincy = "community-chaplaincy", "Community chaplaincy";
        Other = "other", "Other volunteer scheme";
    }
}

/// Welsh labels of the vocabularies a desk's tablet shows (codes never change; only what people
/// read does). Translations are Signpost's own; a Welsh Language Unit should review them.
pub mod cymraeg {
    use super::*;

    pub fn category(c: Category) -> &'static str {
        use Category::*;
        match c {
            Housing => "Tai neu lety",
            DebtBenefitsFinance => "Dyledion, budd-daliadau a chyllid",
            EmploymentTrainingEducation => "Cyflogaeth, hyfforddiant ac addysg",
            MentalHealth => "Iechyd meddwl",
            PhysicalHealth => "Iechyd corfforol",
            DrugsAlcohol => "Cyffuriau ac alcohol",
            ChildrenFamilies => "Plant a theuluoedd",
            DomesticAbuse => "Cam-drin domestig",
            VictimWitnessSupport => "Cymorth i ddioddefwyr a thystion",
            LegalAdvice => "Cyngor a chynrychiolaeth gyfreithiol",
            CourtProcess => "Prosesau a gorchmynion llys",
            FinesPayments => "Dirwyon a thaliadau",
            Immigration => "Mewnfudo",
            AttitudesThinkingBehaviour => "Agweddau, meddwl ac ymddygiad",
            Other => "Arall",
        }
    }

    pub fn helped(h: Helped) -> &'static str {
        use Helped::*;
        match h {
            Defendant => "Diffynnydd",
            DefendantFamily => "Aelod o deulu neu ffrind i ddiffynnydd",
            Victim => "Dioddefwr",
            Witness => "Tyst",
            Prisoner => "Carcharor",
            PrisonerFamily => "Teulu carcharor",
            OtherCourtUser => "Defnyddiwr llys arall",
        }
    }

    pub fn help_kind(h: HelpKind) -> &'static str {
        use HelpKind::*;
        match h {
            Information => "Rhoddwyd gwybodaeth",
            Signposted => "Cyfeiriwyd (rhoddwyd manylion cyswllt)",
            Referred => "Atgyfeiriwyd (trosglwyddo wyneb yn wyneb, gyda chaniatâd)",
            Accompanied => "Aethpwyd gyda nhw",
        }
    }

    pub fn outcome(o: FollowUpOutcome) -> &'static str {
        use FollowUpOutcome::*;
        match o {
            Contacted => "Cysylltwyd â nhw",
            CouldNotReach => "Methu cysylltu â nhw",
            Resolved => "Wedi'i ddatrys",
            NoLongerNeeded => "Dim angen mwyach",
        }
    }

    pub fn age_band(a: AgeBand) -> &'static str {
        use AgeBand::*;
        match a {
            Under18 => "Dan 18",
            From18To24 => "18 i 24",
            From25To34 => "25 i 34",
            From35To44 => "35 i 44",
            From45To54 => "45 i 54",
            From55To64 => "55 i 64",
            From65 => "65 a throsodd",
            PreferNotToSay => "Mae'n well gennyf beidio â dweud",
        }
    }
    pub fn pathway(p: Pathway) -> &'static str {
        use Pathway::*;
        match p {
            Accommodation => "Llety",
            EducationTrainingEmployment => "Addysg, hyfforddiant a chyflogaeth",
            Health => "Iechyd",
            DrugsAlcohol => "Cyffuriau ac alcohol",
            FinanceBenefitDebt => "Cyllid, budd-daliadau a dyledion",
            ChildrenFamilies => "Plant a theuluoedd",
            AttitudesThinkingBehaviour => "Agweddau, meddwl ac ymddygiad",
        }
    }

    pub fn region(r: Region) -> &'static str {
        use Region::*;
        match r {
            NorthEast => "Gogledd-ddwyrain Lloegr",
            NorthWest => "Gogledd-orllewin Lloegr",
            YorkshireHumber => "Swydd Efrog a Humber",
            EastMidlands => "Dwyrain Canolbarth Lloegr",
            WestMidlands => "Gorllewin Canolbarth Lloegr",
            EastOfEngland => "Dwyrain Lloegr",
            London => "Llundain",
            SouthEast => "De-ddwyrain Lloegr",
            SouthWest => "De-orllewin Lloegr",
            Wales => "Cymru",
        }
    }

    pub fn scheme_type(t: SchemeType) -> &'static str {
        use SchemeType::*;
        match t {
            CourtHelpDesk => "Desg gymorth llys",
            CommunityAdviceDesk => "Desg gyngor gymunedol mewn llys ynadon",
            PrisonChaplaincy => "Caplaniaeth carchar",
            CommunityChaplaincy => "Caplaniaeth gymunedol",
            Other => "Cynllun gwirfoddoli arall",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        fn check<T: Copy + Eq + std::fmt::Debug>(all: &[T], code: fn(T) -> &'static str, parse: fn(&str) -> Option<T>) {
            let mut seen = std::collections::HashSet::new();
            for &t in all {
                assert!(seen.insert(code(t)), "duplicate code {}", code(t));
                assert_eq!(parse(code(t)), Some(t));
            }
            assert_eq!(parse("nonsense"), None);
        }
        check(Category::ALL, Category::code, Category::from_code);
        check(Pathway::ALL, Pathway::code, Pathway::from_code);
        check(Helped::ALL, Helped::code, Helped::from_code);
        check(HelpKind::ALL, HelpKind::code, HelpKind::from_code);
        check(AgeBand::ALL, AgeBand::code, AgeBand::from_code);
    }

    #[test]
    fn spec_lists_are_complete() {
        assert_eq!(Category::ALL.len(), 15);
        assert_eq!(Pathway::ALL.len(), 7);
        assert_eq!(Helped::ALL.len(), 7);
        assert_eq!(HelpKind::ALL.len(), 4);
        // Every pathway is reachable from some category.
        for p in Pathway::ALL {
            assert!(Category::ALL.iter().any(|c| c.pathway() == *p), "{p:?} unreachable");
        }
    }
}
