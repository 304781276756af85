//! The people's surface: server-rendered HTML pages in the GOV.UK Design System patterns (the
//! tablet's stylesheet), working without JavaScript, for coordinators, national reviewers and
//! administrators. One module per family of pages; [`session`] decides who is asking and guards
//! every form; every failure is an [`error::WebError`] page.

mod admin;
mod charts;
mod correct;
mod csv;
mod dashboard;
mod equality;
pub mod error;
mod layout;
mod national;
mod records;
mod roster;
mod schemes;
pub mod session;
mod sign_in;

use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in::sign_in_page).post(sign_in::sign_in))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/set-password", get(sign_in::set_password_page).post(sign_in::set_password))
        .route("/manage", get(admin::home))
        .route("/equality", get(equality::equality_page))
        .route("/manage/audit", get(admin::audit_page))
        .route("/manage/national", get(national::page))
        .route("/manage/national.csv", get(national::csv))
        .route("/manage/schemes", post(admin::create_scheme))
        .route("/manage/users", post(admin::invite_user))
        .route("/manage/users/{user}/reset-password", post(admin::reset_password))
        .route("/manage/schemes/{scheme}", get(schemes::scheme_page))
        .route("/manage/schemes/{scheme}/dashboard", get(dashboard::page))
        .route("/manage/schemes/{scheme}/dashboard.csv", get(dashboard::csv))
        .route("/manage/schemes/{scheme}/referrals.csv", get(dashboard::referrals_csv))
        .route("/manage/schemes/{scheme}/sites", post(schemes::create_site))
        .route("/manage/schemes/{scheme}/sites/{site}/enrolment-code", post(schemes::enrolment_code))
        .route("/manage/schemes/{scheme}/tablets/{device}/revoke", post(schemes::revoke_tablet))
        .route("/manage/schemes/{scheme}/volunteers", post(roster::add_volunteer))
        .route("/manage/schemes/{scheme}/volunteers/{volunteer}/active", post(roster::set_volunteer_active))
        .route("/manage/schemes/{scheme}/volunteers/{volunteer}/pin", post(roster::set_volunteer_pin))
        .route("/manage/schemes/{scheme}/volunteers/{volunteer}/equality/withdraw", post(roster::withdraw_equality))
        .route("/manage/schemes/{scheme}/pin-setting", post(roster::set_pin_required))
        .route("/manage/schemes/{scheme}/coordinators", post(schemes::invite_coordinator))
        .route("/manage/schemes/{scheme}/retention", post(records::set_retention))
        .route("/manage/schemes/{scheme}/referrals", get(correct::find_page))
        .route("/manage/schemes/{scheme}/referrals/{entry}", get(correct::referral_page))
        .route("/manage/schemes/{scheme}/referrals/{entry}/{action}", get(correct::confirm_page).post(correct::act))
}
