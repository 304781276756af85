//! The pages everyone may read, signed in or not, linked from every page's footer: the
//! accessibility statement and the privacy notice. They say what Signpost itself does; the
//! organisation that runs it for a scheme is named by the scheme's coordinator.

use super::error::WebResult;
use super::lang::l;
use super::layout::page;
use super::session::current;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum_extra::extract::cookie::CookieJar;
use maud::html;

pub(super) async fn accessibility(State(st): State<AppState>, jar: CookieJar) -> WebResult {
    let who = current(&st, &jar).await?;
    let body = html! {
        h1 class="govuk-heading-l" { (l("Accessibility statement for Signpost", "Datganiad hygyrchedd ar gyfer Signpost")) }
        p class="govuk-body" {
            (l("This statement covers Signpost: the help-desk app on the tablets and the pages for coordinators, national reviewers and administrators.", "Mae'r datganiad hwn yn ymdrin â Signpost: yr ap desg gymorth ar y tabledi a'r tudalennau ar gyfer cydlynwyr, adolygwyr cenedlaethol a gweinyddwyr."))
        }
        p class="govuk-body" { (l("We want as many people as possible to be able to use Signpost. You should be able to:", "Rydym am i gynifer o bobl â phosibl allu defnyddio Signpost. Dylech allu:")) }
        ul class="govuk-list govuk-list--bullet" {
            li { (l("zoom in up to 400% without the text spilling off the screen", "chwyddo hyd at 400% heb i'r testun fynd oddi ar y sgrin")) }
            li { (l("use every screen with a keyboard alone", "defnyddio pob sgrin gyda bysellfwrdd yn unig")) }
            li { (l("use every screen with a screen reader (NVDA, JAWS and VoiceOver)", "defnyddio pob sgrin gyda darllenydd sgrin (NVDA, JAWS a VoiceOver)")) }
            li { (l("use it on a tablet 768 pixels wide, with tap targets of at least 44 by 44 pixels", "ei ddefnyddio ar dabled 768 picsel o led, gyda thargedau tapio o 44 wrth 44 picsel o leiaf")) }
            li { (l("use it in English or Welsh", "ei ddefnyddio yn Gymraeg neu yn Saesneg")) }
        }
        h2 class="govuk-heading-m" { (l("How accessible Signpost is", "Pa mor hygyrch yw Signpost")) }
        p class="govuk-body" {
            (l("Signpost follows the GOV.UK Design System. Every screen is checked against the Web Content Accessibility Guidelines (WCAG) 2.2 level AA with an automated checker on each change, and by hand at tablet width.", "Mae Signpost yn dilyn System Ddylunio GOV.UK. Mae pob sgrin yn cael ei gwirio yn erbyn Canllawiau Hygyrchedd Cynnwys y We (WCAG) 2.2 lefel AA gydag offeryn gwirio awtomataidd ar bob newid, a chyda llaw ar led tabled."))
        }
        p class="govuk-body" { (l("We know some parts are not fully accessible:", "Rydym yn gwybod nad yw rhai rhannau'n gwbl hygyrch:")) }
        ul class="govuk-list govuk-list--bullet" {
            li { (l("the dashboard's charts are pictures of the figures; every chart has a table with the same figures beneath it", "mae siartiau'r dangosfwrdd yn ddarluniau o'r ffigurau; mae gan bob siart dabl gyda'r un ffigurau oddi tano")) }
            li { (l("these pages cannot be reached while the tablet is offline; the help-desk app itself works offline", "ni ellir cyrraedd y tudalennau hyn tra bo'r dabled all-lein; mae'r ap desg gymorth ei hun yn gweithio all-lein")) }
        }
        h2 class="govuk-heading-m" { (l("Feedback and contact information", "Adborth a gwybodaeth gyswllt")) }
        p class="govuk-body" {
            (l("If you need anything in Signpost in a different format, or find a problem not listed here, tell your help desk's coordinator. They will pass it to the organisation that runs Signpost for your scheme, which will reply within 10 working days.", "Os oes arnoch angen unrhyw beth yn Signpost mewn fformat gwahanol, neu os dewch o hyd i broblem nad yw wedi'i rhestru yma, rhowch wybod i gydlynydd eich desg gymorth. Byddant yn ei drosglwyddo i'r sefydliad sy'n rhedeg Signpost ar gyfer eich cynllun, a fydd yn ateb o fewn 10 diwrnod gwaith."))
        }
        h2 class="govuk-heading-m" { (l("Enforcement procedure", "Gweithdrefn orfodi")) }
        p class="govuk-body" {
            (l("The Equality and Human Rights Commission (EHRC) is responsible for enforcing the Public Sector Bodies (Websites and Mobile Applications) (No. 2) Accessibility Regulations 2018. If you are not happy with how we respond to your complaint, contact the Equality Advisory and Support Service (EASS).", "Y Comisiwn Cydraddoldeb a Hawliau Dynol (EHRC) sy'n gyfrifol am orfodi Rheoliadau Hygyrchedd Cyrff y Sector Cyhoeddus (Gwefannau a Rhaglenni Symudol) (Rhif 2) 2018. Os nad ydych yn fodlon â sut rydym yn ymateb i'ch cwyn, cysylltwch â'r Gwasanaeth Cynghori a Chymorth Cydraddoldeb (EASS)."))
        }
        h2 class="govuk-heading-m" { (l("Compliance status", "Statws cydymffurfio")) }
        p class="govuk-body" {
            (l("Signpost is partially compliant with WCAG 2.2 level AA, because of the charts listed above.", "Mae Signpost yn cydymffurfio'n rhannol â WCAG 2.2 lefel AA, oherwydd y siartiau a restrir uchod."))
        }
        p class="govuk-body" { (l("This statement was prepared on 2 December 2026.", "Paratowyd y datganiad hwn ar 2 Rhagfyr 2026.")) }
    };
    Ok(page(StatusCode::OK, l("Accessibility statement", "Datganiad hygyrchedd"), who.as_ref(), body))
}

pub(super) async fn privacy(State(st): State<AppState>, jar: CookieJar) -> WebResult {
    let who = current(&st, &jar).await?;
    let body = html! {
        h1 class="govuk-heading-l" { (l("Privacy notice", "Hysbysiad preifatrwydd")) }
        p class="govuk-body" {
            (l("Signpost records the help that volunteers at court and community help desks give, so that schemes and the National Offender Management Service (NOMS) can see the impact of volunteering. This notice says what it keeps, why, for how long, and your rights.", "Mae Signpost yn cofnodi'r help y mae gwirfoddolwyr mewn desgiau cymorth llys a chymunedol yn ei roi, fel bod cynlluniau a'r Gwasanaeth Rheoli Troseddwyr Cenedlaethol (NOMS) yn gallu gweld effaith gwirfoddoli. Mae'r hysbysiad hwn yn dweud beth mae'n ei gadw, pam, am ba hyd, a'ch hawliau."))
        }
        h2 class="govuk-heading-m" { (l("What Signpost collects", "Beth mae Signpost yn ei gasglu")) }
        h3 class="govuk-heading-s" { (l("About people helped at a desk", "Am bobl a gafodd help wrth ddesg")) }
        p class="govuk-body" {
            (l("A referral records no name. It records who was helped (for example a defendant or a witness), optionally an age band, the issues, the agency they were pointed to, the kind of help, whether a follow-up is needed and its outcome, the time, the desk and the volunteer who logged it. Volunteers may add a short note; the form asks them not to write names or other personal details in it.", "Nid yw atgyfeiriad yn cofnodi enw. Mae'n cofnodi pwy a gafodd help (er enghraifft diffynnydd neu dyst), band oedran os dymunir, y materion, yr asiantaeth y cyfeiriwyd nhw ati, y math o help, a oes angen camau dilynol a'u canlyniad, yr amser, y ddesg a'r gwirfoddolwr a'i cofnododd. Gall gwirfoddolwyr ychwanegu nodyn byr; mae'r ffurflen yn gofyn iddynt beidio ag ysgrifennu enwau na manylion personol eraill ynddo."))
        }
        h3 class="govuk-heading-s" { (l("About volunteers", "Am wirfoddolwyr")) }
        p class="govuk-body" {
            (l("A first name and initial on the desk's roster, an optional PIN (stored only as a check, never as the PIN), and the times of each shift, which count volunteer hours.", "Enw cyntaf a llythyren gyntaf ar restr y ddesg, PIN dewisol (wedi'i storio fel gwiriad yn unig, byth fel y PIN ei hun), ac amseroedd pob shifft, sy'n cyfrif oriau gwirfoddoli."))
        }
        p class="govuk-body" {
            (l("Volunteers may answer equality-monitoring questions (age, sex, ethnic group, religion or belief, disability, and optionally sexual orientation). Answering is voluntary, every question has \"Prefer not to say\", and the answers are collected only with consent. They are kept on the server only, never on a tablet, never shown one person at a time, and leave the server only as protected totals.", "Gall gwirfoddolwyr ateb cwestiynau monitro cydraddoldeb (oedran, rhyw, grŵp ethnig, crefydd neu gred, anabledd, a chyfeiriadedd rhywiol os dymunant). Mae ateb yn wirfoddol, mae gan bob cwestiwn \"Mae'n well gennyf beidio â dweud\", a chesglir yr atebion gyda chaniatâd yn unig. Maen nhw'n cael eu cadw ar y gweinydd yn unig, byth ar dabled, byth yn cael eu dangos un person ar y tro, ac yn gadael y gweinydd fel cyfansymiau wedi'u diogelu yn unig."))
        }
        h3 class="govuk-heading-s" { (l("About coordinators, reviewers and administrators", "Am gydlynwyr, adolygwyr a gweinyddwyr")) }
        p class="govuk-body" {
            (l("An email address, a password (stored only as a check), when you signed in, and an audit log of what you did and which records you opened.", "Cyfeiriad e-bost, cyfrinair (wedi'i storio fel gwiriad yn unig), pryd y gwnaethoch fewngofnodi, a log archwilio o'r hyn a wnaethoch a pha gofnodion a agorwyd gennych."))
        }
        h2 class="govuk-heading-m" { (l("Why", "Pam")) }
        ul class="govuk-list govuk-list--bullet" {
            li { (l("to run the help desk: today's log, corrections and follow-ups", "i redeg y ddesg gymorth: log heddiw, cywiriadau a chamau dilynol")) }
            li { (l("to count volunteer hours and referrals for the scheme and for national statistics", "i gyfrif oriau gwirfoddoli ac atgyfeiriadau ar gyfer y cynllun ac ar gyfer ystadegau cenedlaethol")) }
            li { (l("to see whether volunteers reflect the communities they serve (equality monitoring)", "i weld a yw gwirfoddolwyr yn adlewyrchu'r cymunedau y maent yn eu gwasanaethu (monitro cydraddoldeb)")) }
            li { (l("to keep the records safe: who opened, changed or erased what", "i gadw'r cofnodion yn ddiogel: pwy a agorodd, a newidiodd neu a ddileodd beth")) }
        }
        p class="govuk-body" {
            (l("National reviewers see only totals, never a single referral, note or volunteer's answers. Small totals are hidden and the rest rounded so that no one can be picked out.", "Dim ond cyfansymiau y mae adolygwyr cenedlaethol yn eu gweld, byth un atgyfeiriad, nodyn nac atebion gwirfoddolwr. Mae cyfansymiau bach wedi'u cuddio a'r gweddill wedi'u talgrynnu fel na ellir adnabod neb."))
        }
        h2 class="govuk-heading-m" { (l("How long it is kept", "Am ba hyd y caiff ei gadw")) }
        ul class="govuk-list govuk-list--bullet" {
            li { (l("Referrals and shifts: for the scheme's retention period (3 years unless the scheme sets another), then deleted from the server for good. Published totals stay.", "Atgyfeiriadau a shifftiau: am gyfnod cadw'r cynllun (3 blynedd oni bai bod y cynllun yn gosod cyfnod arall), yna'n cael eu dileu o'r gweinydd am byth. Mae cyfansymiau a gyhoeddwyd yn aros.")) }
            li { (l("On a desk's tablet: today, anything not yet sent, and the last few days (7 unless the scheme sets another).", "Ar dabled desg: heddiw, unrhyw beth sydd heb ei anfon eto, a'r ychydig ddyddiau diwethaf (7 oni bai bod y cynllun yn gosod nifer arall).")) }
            li { (l("Equality-monitoring answers: until the volunteer withdraws them.", "Atebion monitro cydraddoldeb: nes i'r gwirfoddolwr eu tynnu'n ôl.")) }
            li { (l("Backups keep what they hold until they expire.", "Mae copïau wrth gefn yn cadw'r hyn sydd ynddynt nes iddynt ddod i ben.")) }
        }
        h2 class="govuk-heading-m" { (l("Your rights", "Eich hawliau")) }
        p class="govuk-body" {
            (l("You can ask to see what is held about you, to have it corrected, or to have it erased. A coordinator can erase a referral, or remove only its notes, from the server and from every tablet. A volunteer can withdraw their equality-monitoring answers at any time; they are deleted and drop out of every figure from then on.", "Gallwch ofyn am weld yr hyn a gedwir amdanoch, am ei gywiro, neu am ei ddileu. Gall cydlynydd ddileu atgyfeiriad, neu dynnu ei nodiadau yn unig, o'r gweinydd ac o bob tabled. Gall gwirfoddolwr dynnu ei atebion monitro cydraddoldeb yn ôl unrhyw bryd; maen nhw'n cael eu dileu ac yn diflannu o bob ffigur o hynny ymlaen."))
        }
        p class="govuk-body" {
            (l("If you are unhappy with how your data is handled, you can complain to the Information Commissioner's Office (ICO).", "Os ydych yn anfodlon â sut y caiff eich data ei drin, gallwch gwyno i Swyddfa'r Comisiynydd Gwybodaeth (ICO)."))
        }
        h2 class="govuk-heading-m" { (l("Contact", "Cysylltu")) }
        p class="govuk-body" {
            (l("Ask the help desk's coordinator. They will tell you which organisation runs Signpost for the scheme and is responsible for your data, and pass on your request.", "Gofynnwch i gydlynydd y ddesg gymorth. Byddant yn dweud wrthych pa sefydliad sy'n rhedeg Signpost ar gyfer y cynllun ac sy'n gyfrifol am eich data, ac yn trosglwyddo eich cais."))
        }
    };
    Ok(page(StatusCode::OK, l("Privacy notice", "Hysbysiad preifatrwydd"), who.as_ref(), body))
}
