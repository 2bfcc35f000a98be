//! Settings (admins): signature, default country, quiet hours, the default daily limit per
//! slot, and the display time zone. The audit entry lists exactly the settings that changed.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use domain::UnixMillis;
use serde::Deserialize;
use store::Role;

use super::{chrome, done};
use crate::AppState;
use crate::pages::session::{Post, Session};
use crate::pages::settings::{RuntimeSettings, SettingError};
use crate::pages::{Chrome, PageError, render};

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    c: Chrome,
    f: SettingsForm,
    errors: Vec<SettingError>,
    configured_signature: String,
}

impl SettingsPage {
    fn error(&self, field: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| self.c.t(e.message))
    }
}

/// The settings form (all text fields; empty means "not set here").
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    signature: String,
    #[serde(default)]
    signature_position: String,
    #[serde(default)]
    default_country: String,
    #[serde(default)]
    quiet_start: String,
    #[serde(default)]
    quiet_end: String,
    #[serde(default)]
    daily_limit: String,
    #[serde(default)]
    utc_offset: String,
}

impl SettingsForm {
    fn of(s: &RuntimeSettings) -> SettingsForm {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        SettingsForm {
            signature: o(&s.signature),
            signature_position: if s.signature_suffix {
                "suffix".into()
            } else {
                "prefix".into()
            },
            default_country: o(&s.default_country),
            quiet_start: o(&s.quiet_start),
            quiet_end: o(&s.quiet_end),
            daily_limit: s.daily_limit.map(|d| d.to_string()).unwrap_or_default(),
            utc_offset: o(&s.utc_offset),
        }
    }

    fn parse(&self) -> (RuntimeSettings, Vec<SettingError>) {
        let opt = |v: &str| {
            let v = v.trim();
            (!v.is_empty()).then(|| v.to_owned())
        };
        let mut errors = Vec::new();
        let daily_limit = match self.daily_limit.trim() {
            "" => None,
            v => match v.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(SettingError {
                        field: "daily_limit",
                        message: "settings.err.limit",
                    });
                    None
                }
            },
        };
        let s = RuntimeSettings {
            signature: opt(&self.signature),
            signature_suffix: self.signature_position == "suffix",
            default_country: opt(&self.default_country).map(|c| c.to_ascii_uppercase()),
            quiet_start: opt(&self.quiet_start),
            quiet_end: opt(&self.quiet_end),
            daily_limit,
            utc_offset: opt(&self.utc_offset),
        };
        errors.extend(s.validate());
        (s, errors)
    }

    fn is(&self, field: &str, value: &str) -> bool {
        match field {
            "signature_position" => self.signature_position == value,
            _ => false,
        }
    }
}

fn configured(state: &AppState) -> String {
    state
        .engine
        .config()
        .accept
        .signature
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

/// Query with an optional notice.
#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// `GET /settings` (admins).
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    s.require(Role::Admin)?;
    let (c, settings) = chrome(&state, &s, "settings", &uri).await?;
    render(&SettingsPage {
        c: c.with_notice(q.done.as_deref()),
        f: SettingsForm::of(&settings),
        errors: Vec::new(),
        configured_signature: configured(&state),
    })
}

/// `POST /settings`.
pub(crate) async fn save(
    State(state): State<AppState>,
    uri: Uri,
    post: Post<SettingsForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Admin)?;
    let (c, before) = chrome(&state, &s, "settings", &uri).await?;
    let (new, errors) = post.form.parse();
    if !errors.is_empty() {
        let mut r = render(&SettingsPage {
            c,
            f: post.form,
            errors,
            configured_signature: configured(&state),
        })?;
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        return Ok(r);
    }
    let old = before.to_pairs();
    let changed: Vec<String> = new
        .to_pairs()
        .into_iter()
        .zip(old)
        .filter(|(n, o)| n.1 != o.1)
        .map(|(n, o)| format!("{}: {:?} → {:?}", n.0, o.1, n.1))
        .collect();
    state
        .engine
        .store()
        .put_settings(new.to_pairs(), UnixMillis::now())
        .await?;
    // The signature and default country apply at once to every front door (API, sendsms, SMPP).
    state
        .engine
        .set_accept_config(new.accept_config(&state.engine.config().accept));
    if !changed.is_empty() {
        s.audit(&state, "settings.update", None, Some(changed.join("; ")))
            .await?;
    }
    Ok(done("/settings", "saved").into_response())
}
