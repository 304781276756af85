//! The people's surface: server-rendered HTML pages in the GOV.UK Design System patterns (the
//! tablet's stylesheet), working without JavaScript, for coordinators, national reviewers and
//! administrators. One module per family of pages; [`session`] decides who is asking and guards
//! every form; every failure is an [`error::WebError`] page; [`lang`] puts every page in English
//! or Welsh.

mod admin;
mod agencies;
mod charts;
mod correct;
mod csv;
mod dashboard;
mod equality;
pub mod error;
mod form;
mod info;
pub mod lang;
mod layout;
mod national;
mod records;
mod roster;
mod scheme_page;
mod schemes;
mod sections;
pub mod session;
mod set_aside;
mod sign_in;
mod sites;
mod words;

use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in::sign_in_page).post(sign_in::sign_in))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/set-password", get(sign_in::set_password_page).post(sign_in::set_password))
        .route("/accessibility", get(info::accessibility))
        .route("/privacy", get(info::privacy))
        .route("/manage", get(admin::home))
        .route("/equality", get(equality::english))
        .route("/cy/equality", get(equality::welsh))
        .route("/manage/audit", get(admin::audit_page))
        .route("/manage/national", get(national::page))
        .route("/manage/national.csv", get(national::csv))
        .route("/manage/schemes", post(admin::create_scheme))
        .route("/manage/users", post(admin::invite_user))
        .route("/manage/users/{user}/reset-password", get(admin::reset_password_page).post(admin::reset_password))
        .route("/manage/users/{user}/active", get(admin::deactivate_page).post(admin::set_active))
        .route("/manage/schemes/{scheme}", get(schemes::scheme_page))
        .route("/manage/schemes/{scheme}/dashboard", get(dashboard::page))
        .route("/manage/schemes/{scheme}/dashboard.csv", get(dashboard::csv))
        .route("/manage/schemes/{scheme}/referrals.csv", get(dashboard::referrals_csv))
        .route("/manage/schemes/{scheme}/details", get(schemes::details_page).post(schemes::save_details))
        .route("/manage/schemes/{scheme}/agencies", get(agencies::list))
        .route("/manage/schemes/{scheme}/agencies/new", get(agencies::new_page).post(agencies::add))
        .route("/manage/schemes/{scheme}/agencies/{agency}", get(agencies::edit_page).post(agencies::save))
        .route("/manage/schemes/{scheme}/agencies/{agency}/retire", get(agencies::retire_page).post(agencies::retire))
        .route("/manage/schemes/{scheme}/sites", post(sites::create_site))
        .route("/manage/schemes/{scheme}/sites/{site}", get(sites::site_page).post(sites::save_site))
        .route("/manage/schemes/{scheme}/sites/{site}/enrolment-code", post(sites::enrolment_code))
        .route("/manage/schemes/{scheme}/tablets/{device}/revoke", get(sites::revoke_page).post(sites::revoke_tablet))
        .route("/manage/schemes/{scheme}/volunteers", post(roster::add_volunteer))
        .route(
            "/manage/schemes/{scheme}/volunteers/{volunteer}/active",
            get(roster::take_off_page).post(roster::set_volunteer_active),
        )
        .route("/manage/schemes/{scheme}/volunteers/{volunteer}/pin", post(roster::set_volunteer_pin))
        .route(
            "/manage/schemes/{scheme}/volunteers/{volunteer}/equality/withdraw",
            get(roster::withdraw_page).post(roster::withdraw_equality),
        )
        .route("/manage/schemes/{scheme}/pin-setting", post(roster::set_pin_required))
        .route("/manage/schemes/{scheme}/coordinators", post(schemes::invite_coordinator))
        .route("/manage/schemes/{scheme}/retention", post(records::set_retention))
        .route("/manage/schemes/{scheme}/referrals", get(correct::find_page))
        .route("/manage/schemes/{scheme}/referrals/{entry}", get(correct::referral_page))
        .route("/manage/schemes/{scheme}/referrals/{entry}/{action}", get(correct::confirm_page).post(correct::act))
        .route("/manage/schemes/{scheme}/set-aside/{doc}/{action}", get(set_aside::confirm_page).post(set_aside::act))
        .layer(axum::middleware::from_fn(lang::choose))
}
