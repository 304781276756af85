//! The sync status line: online or not, what waits, when it last synced. It never says
//! "synced" unless the relay has acknowledged everything.

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
    let waiting = match p.waiting {
        0 => "Everything is saved on this tablet and synced.".to_owned(),
        1 => "Saved on this tablet. 1 entry waiting to sync.".to_owned(),
        n => format!("Saved on this tablet. {n} entries waiting to sync."),
    };
    let (class, tag, line) = match &p.status {
        Status::Online => {
            ("govuk-tag govuk-tag--green", "Online", p.last_synced.map(|t| format!("Last synced at {}.", clock(t))))
        }
        Status::Connecting => ("govuk-tag govuk-tag--blue", "Connecting", None),
        Status::Offline { retry_in_s } => (
            "govuk-tag govuk-tag--grey",
            "Offline",
            Some(format!("You can keep working. Trying to connect again in {}.", seconds(*retry_in_s))),
        ),
        Status::Refused { retry_in_s } => {
            ("govuk-tag govuk-tag--red", "Not syncing", Some(format!("Trying again in {}.", seconds(*retry_in_s))))
        }
        Status::Revoked => ("govuk-tag govuk-tag--red", "Access removed", Some("Not syncing.".to_owned())),
    };
    let waiting = if p.waiting == 0 && !matches!(p.status, Status::Online) {
        "Everything is saved on this tablet.".to_owned()
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
