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
        </div>
    }
}
