//! The local admin web page (DESIGN "Interfaces"): server-rendered HTML from askama templates
//! checked at compile time, a little htmx for live parts, every asset embedded in the binary.
//!
//! One typed template struct per page, one handler module per page under `handlers/`. Every
//! handler takes a `session::Session` (GET) or a `session::Post` (POST: origin and CSRF
//! token checked before the handler runs) and checks the user's role itself; every change is
//! written to the audit log. Text comes from the zh/en catalogue in `i18n`.

mod assets;
mod chart;
mod handlers;
pub(crate) mod i18n;
pub mod password;
pub(crate) mod session;
pub mod settings;
mod view;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use store::{Role, StoreError};

pub use session::Https;

use crate::AppState;
use i18n::Lang;
use session::{LoginLimiter, Session};

/// State the pages keep besides the engine.
#[derive(Default)]
pub struct PagesState {
    /// Login throttling.
    pub(crate) limiter: LoginLimiter,
}

/// Why a page could not be shown. Internal errors are logged here; the browser gets a short
/// page without internal text (like the API's `ApiError`).
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not logged in: to the login page, then back to `next`.
    Login { next: String, htmx: bool },
    /// No user exists yet: to first-start setup.
    Setup,
    /// The user's role does not allow this.
    Forbidden,
    /// A form without the session's CSRF token, or from another origin.
    Csrf,
    /// No such thing.
    NotFound,
    /// A malformed request (the page's own forms never send one).
    BadRequest(String),
    /// The store failed.
    Unavailable(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        PageError::Unavailable(e.to_string())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> PageError {
        PageError::Unavailable(format!("template: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    en: &'static str,
    zh: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, en, zh) = match self {
            PageError::Login { next, htmx } => {
                let to = format!("/login?next={}", view::urlencode(&next));
                if htmx {
                    // htmx swaps fragments; tell it to load the whole login page instead.
                    let mut r = StatusCode::NO_CONTENT.into_response();
                    if let Ok(v) = HeaderValue::from_str(&to) {
                        r.headers_mut().insert("hx-redirect", v);
                    }
                    return r;
                }
                return Redirect::to(&to).into_response();
            }
            PageError::Setup => return Redirect::to("/setup").into_response(),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Your role does not allow this.",
                "您的角色无权执行此操作。",
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "The form expired or did not come from this page. Reload the page and try again.",
                "表单已过期或并非来自本页面。请刷新页面后重试。",
            ),
            PageError::NotFound => (StatusCode::NOT_FOUND, "Not found.", "未找到。"),
            PageError::BadRequest(why) => {
                tracing::debug!(%why, "bad page request");
                (
                    StatusCode::BAD_REQUEST,
                    "The request was not understood.",
                    "无法理解该请求。",
                )
            }
            PageError::Unavailable(why) => {
                tracing::error!(error = %why, "page failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service cannot answer right now. Try again shortly.",
                    "服务暂时无法响应，请稍后重试。",
                )
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            en,
            zh,
        };
        let body = page.render().unwrap_or_else(|_| en.to_owned());
        (status, Html(body)).into_response()
    }
}

/// What every page shows around its content: language, user, CSRF token for forms, the active
/// navigation entry and an optional notice.
pub(crate) struct Chrome {
    pub(crate) lang: Lang,
    pub(crate) user: String,
    pub(crate) role: Role,
    pub(crate) csrf: String,
    pub(crate) active: &'static str,
    pub(crate) path: String,
    pub(crate) notice: Option<&'static str>,
    pub(crate) offset: time::UtcOffset,
}

impl Chrome {
    pub(crate) fn new(
        s: &Session,
        active: &'static str,
        path: &str,
        offset: time::UtcOffset,
    ) -> Chrome {
        Chrome {
            lang: s.lang,
            user: s.user.name.clone(),
            role: s.user.role,
            csrf: s.csrf.clone(),
            active,
            path: path.to_owned(),
            notice: None,
            offset,
        }
    }

    /// With a notice chosen by a `?done=<key>` query parameter (only catalogue keys under
    /// `done.` are shown, so a link cannot inject text).
    pub(crate) fn with_notice(mut self, done: Option<&str>) -> Chrome {
        self.notice = done
            .map(|d| format!("done.{d}"))
            .and_then(|k| i18n::known(&k));
        self
    }

    /// Text in the page's language.
    pub(crate) fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The page's language code (`zh`, `en`) for `<html lang>`.
    pub(crate) fn code(&self) -> &'static str {
        self.lang.code()
    }

    /// May the user send (operator or admin)?
    pub(crate) fn can_send(&self) -> bool {
        self.role >= Role::Operator
    }

    /// Is the user an admin?
    pub(crate) fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }

    /// A time in the appliance's display zone, `2026-11-22 13:05:09`.
    pub(crate) fn time(&self, t: impl view::Millis) -> String {
        view::local_time(t.millis(), self.offset)
    }

    /// An optional time, or a dash.
    pub(crate) fn time_opt(&self, t: impl view::OptMillis) -> String {
        t.opt_millis()
            .map_or_else(|| "—".to_owned(), |t| self.time(t))
    }

    /// This page's path, URL-encoded, for the language switch to come back to.
    pub(crate) fn back(&self) -> String {
        view::urlencode(&self.path)
    }

    /// Catalogue key of the user's role.
    pub(crate) fn role_key(&self) -> &'static str {
        role_key(self.role.as_str())
    }

    /// The navigation entry's CSS class.
    pub(crate) fn nav(&self, name: &str) -> &'static str {
        if self.active == name { "active" } else { "" }
    }
}

/// Catalogue key of a role name.
pub(crate) fn role_key(role: &str) -> &'static str {
    match role {
        "admin" => "role.admin",
        "operator" => "role.operator",
        _ => "role.viewer",
    }
}

/// Renders a page template as an HTML response.
pub(crate) fn render(t: &impl Template) -> Result<Response, PageError> {
    let body = t.render()?;
    let mut r = Html(body).into_response();
    // Pages are per-user and change constantly: never cache them.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// Adds the security headers every page response carries.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    // Scripts and styles only from this origin (htmx and app.js are files, no inline code);
    // no framing (clickjacking), no sniffing, no referrer to other sites.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// Every page route.
pub(crate) fn routes() -> Router<AppState> {
    use handlers::*;
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/assets/{name}", get(assets::serve))
        .route("/lang/{code}", get(login::switch_language))
        .route("/setup", get(login::setup_form).post(login::setup))
        .route("/login", get(login::login_form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/live", get(dashboard::live_part))
        .route("/send", get(send::page).post(send::submit))
        .route("/send/count", get(send::count))
        .route("/groups", post(send::create_group))
        .route("/groups/{id}/delete", post(send::delete_group))
        .route("/messages", get(messages::search))
        .route("/messages/{id}", get(messages::trace_page))
        .route("/messages/{id}/live", get(messages::trace_live))
        .route("/messages/{id}/resend", post(messages::resend))
        .route("/inbox", get(inbox::page))
        .route("/inbox/{id}/reply", post(inbox::reply))
        .route("/carriers", get(carriers::page))
        .route("/carriers/{id}/action", post(carriers::action))
        .route("/carriers/{id}/test", post(carriers::test))
        .route("/reports", get(reports::page))
        .route("/reports.csv", get(reports::csv))
        .route("/users", get(users::page).post(users::create))
        .route("/users/{id}", post(users::update))
        .route("/account/password", post(users::change_own_password))
        .route("/keys", get(keys::page).post(keys::create))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/settings", get(settings::page).post(settings::save))
        .route("/audit", get(audit::page))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::Extension(std::sync::Arc::new(PagesState::default())))
}

/// Every POST route of the pages, with a path that exists, for tests that must cover all of
/// them (CSRF, roles).
pub const POST_ROUTES: &[&str] = &[
    "/logout",
    "/send",
    "/groups",
    "/groups/1/delete",
    "/messages/1/resend",
    "/inbox/1/reply",
    "/carriers/x/action",
    "/carriers/x/test",
    "/users",
    "/users/1",
    "/account/password",
    "/keys",
    "/keys/1/revoke",
    "/settings",
];
