//! One module per page; each handler checks the role it needs and audits what it changes.

pub(crate) mod audit;
pub(crate) mod carriers;
pub(crate) mod dashboard;
pub(crate) mod inbox;
pub(crate) mod keys;
pub(crate) mod login;
pub(crate) mod messages;
pub(crate) mod reports;
pub(crate) mod send;
pub(crate) mod settings;
pub(crate) mod users;

use axum::http::Uri;

use super::session::Session;
use super::settings::RuntimeSettings;
use super::{Chrome, PageError};
use crate::AppState;

/// The chrome of a page for `s`, with the display zone from the runtime settings.
pub(crate) async fn chrome(
    state: &AppState,
    s: &Session,
    active: &'static str,
    uri: &Uri,
) -> Result<(Chrome, RuntimeSettings), PageError> {
    let settings = RuntimeSettings::load(state.engine.store()).await?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Ok((Chrome::new(s, active, path, settings.offset()), settings))
}

/// A redirect after a successful POST, with a notice key (`done.<key>`).
pub(crate) fn done(to: &str, key: &str) -> axum::response::Redirect {
    let sep = if to.contains('?') { '&' } else { '?' };
    axum::response::Redirect::to(&format!("{to}{sep}done={key}"))
}
