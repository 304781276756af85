//! The sync status line: online or not, what waits, when it last synced. It never says
//! "synced" unless the relay has acknowledged everything.

use crate::lang::{cy, l};
use crate::sync::connection::Status;
use crate::ui::*;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub(super) struct SyncStateProps {
    pub(super) status: Status,
    pub(super) waiting: usize,
    pub(super) last_synced: Option<i64>,
    /// Days the relay refused or set aside.
    pub(super) problems: Vec<super::context::DayProblem>,
}

/// What the desk says of a day the relay refused or set aside, in words a volunteer can act on.
fn problem_text(p: &super::context::DayProblem) -> String {
    let date = p.date.map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_default();
    let (en, welsh) = match p.code.as_str() {
        "set-aside" => (
            format!("Entries dated {date} were set aside: this tablet's clock was probably wrong when they were saved. The relay keeps them, but they are not counted until your coordinator files them under the right date."),
            format!("Cafodd cofnodion dyddiedig {date} eu rhoi o'r neilltu: mae'n debyg bod cloc y dabled hon yn anghywir pan gawson nhw eu cadw. Mae'r gweinydd yn eu cadw, ond nid ydynt yn cael eu cyfrif nes bydd eich cydlynydd yn eu ffeilio o dan y dyddiad cywir."),
        ),
        "desk-closed" => (
            format!("Entries dated {date} were not accepted: this desk was closed before that day. They are kept on this tablet. Ask your coordinator what to do."),
            format!("Ni chafodd cofnodion dyddiedig {date} eu derbyn: cafodd y ddesg hon ei chau cyn y diwrnod hwnnw. Maen nhw'n cael eu cadw ar y dabled hon. Gofynnwch i'ch cydlynydd beth i'w wneud."),
        ),
        "past-retention" => (
            format!("Entries dated {date} were not accepted: the scheme no longer keeps records that old. Ask your coordinator what to do."),
            format!("Ni chafodd cofnodion dyddiedig {date} eu derbyn: nid yw'r cynllun yn cadw cofnodion mor hen â hynny bellach. Gofynnwch i'ch cydlynydd beth i'w wneud."),
        ),
        "allowance" => (
            "This tablet has sent as much as it may today. The rest is kept here and will be sent tomorrow.".to_owned(),
            "Mae'r dabled hon wedi anfon cymaint ag y caiff heddiw. Mae'r gweddill yn cael ei gadw yma a bydd yn cael ei anfon yfory.".to_owned(),
        ),
        "unreadable" => (
            format!("The server cannot read the day {date} right now. Entries are kept on this tablet, and it will try again."),
            format!("Ni all y gweinydd ddarllen y diwrnod {date} ar hyn o bryd. Mae cofnodion yn cael eu cadw ar y dabled hon, a bydd yn rhoi cynnig arall arni."),
        ),
        _ => (
            format!("Entries dated {date} were not accepted by the server. They are kept on this tablet: keep working, and tell your coordinator, who can see why in the list of tablets."),
            format!("Ni chafodd cofnodion dyddiedig {date} eu derbyn gan y gweinydd. Maen nhw'n cael eu cadw ar y dabled hon: daliwch ati i weithio, a dywedwch wrth eich cydlynydd, sy'n gallu gweld pam yn y rhestr o dabledi."),
        ),
    };
    if cy() {
        welsh
    } else {
        en
    }
}

#[function_component(SyncState)]
pub(super) fn sync_state(p: &SyncStateProps) -> Html {
    let waiting = match (p.waiting, cy()) {
        (0, false) => "Everything is saved on this tablet and synced.".to_owned(),
        (0, true) => "Mae popeth wedi'i gadw ar y dabled hon ac wedi'i gysoni.".to_owned(),
        (1, false) => "Saved on this tablet. 1 entry waiting to sync.".to_owned(),
        (1, true) => "Wedi'i gadw ar y dabled hon. 1 cofnod yn aros i gysoni.".to_owned(),
        (n, false) => format!("Saved on this tablet. {n} entries waiting to sync."),
        (n, true) => format!("Wedi'i gadw ar y dabled hon. {n} cofnod yn aros i gysoni."),
    };
    let (class, tag, line) = match &p.status {
        Status::Online => {
            let last = |t| {
                if cy() {
                    format!("Cysonwyd ddiwethaf am {}.", clock(t))
                } else {
                    format!("Last synced at {}.", clock(t))
                }
            };
            ("govuk-tag govuk-tag--green", l("Online", "Ar-lein"), p.last_synced.map(last))
        }
        Status::Connecting => ("govuk-tag govuk-tag--blue", l("Connecting", "Yn cysylltu"), None),
        Status::Offline { retry_in_s } => (
            "govuk-tag govuk-tag--grey",
            l("Offline", "All-lein"),
            Some(if cy() {
                format!("Gallwch barhau i weithio. Yn ceisio cysylltu eto ymhen {}.", seconds(*retry_in_s))
            } else {
                format!("You can keep working. Trying to connect again in {}.", seconds(*retry_in_s))
            }),
        ),
        Status::Refused { retry_in_s } => {
            let again = if cy() {
                format!("Yn ceisio eto ymhen {}.", seconds(*retry_in_s))
            } else {
                format!("Trying again in {}.", seconds(*retry_in_s))
            };
            ("govuk-tag govuk-tag--red", l("Not syncing", "Ddim yn cysoni"), Some(again))
        }
        Status::Revoked => (
            "govuk-tag govuk-tag--red",
            l("Access removed", "Mynediad wedi'i dynnu"),
            Some(l("Not syncing.", "Ddim yn cysoni.").to_owned()),
        ),
    };
    let waiting = if p.waiting == 0 && !matches!(p.status, Status::Online) {
        l("Everything is saved on this tablet.", "Mae popeth wedi'i gadw ar y dabled hon.").to_owned()
    } else {
        waiting
    };
    html! {
        <div class="signpost-sync" role="status" aria-live="polite">
            <strong id="sync-state" class={class}>{ tag }</strong>
            <p class="govuk-body govuk-!-margin-top-2" id="sync-detail">
                { waiting } { " " } { line.unwrap_or_default() }
            </p>
            if !p.problems.is_empty() {
                <ul class="govuk-list" id="day-problems">
                    { for p.problems.iter().map(|d| html! {
                        <li class={if d.code == "set-aside" { "signpost-day-problem signpost-day-problem--set-aside" } else { "signpost-day-problem" }}>
                            <strong class={if d.code == "set-aside" { "govuk-tag govuk-tag--yellow" } else { "govuk-tag govuk-tag--red" }}>
                                { if d.code == "set-aside" { l("Set aside", "Wedi'i roi o'r neilltu") } else { l("Not accepted", "Heb ei dderbyn") } }
                            </strong>
                            { " " }{ problem_text(d) }
                        </li>
                    }) }
                </ul>
            }
        </div>
    }
}
