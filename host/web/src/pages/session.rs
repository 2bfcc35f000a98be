//! Who is asking: login sessions, roles, CSRF and origin checks, and login rate limiting.
//!
//! A session is a random 256-bit secret in an `HttpOnly; SameSite=Strict` cookie (`Secure` when
//! served over TLS); the store keeps only its SHA-256, with the user, a per-session CSRF token and
//! an expiry that moves with activity (idle timeout) but never past an absolute lifetime. Every
//! state-changing request goes through [`Post`], which refuses it unless the form echoes the
//! session's CSRF token and the `Origin`/`Referer` (when the browser sends one) is this host.
//! Roles are checked on the server in every handler ([`Session::require`]); the UI only hides
//! what a role cannot use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use domain::UnixMillis;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use store::{NewAudit, Role, User};

use super::PageError;
use super::i18n::Lang;
use crate::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "outpost_session";
/// The pre-login CSRF cookie (login and first-start forms have no session yet).
pub(crate) const PRE_COOKIE: &str = "outpost_pre";
/// The language cookie (`zh` or `en`).
pub(crate) const LANG_COOKIE: &str = "outpost_lang";
/// The form field every POST must carry.
pub(crate) const CSRF_FIELD: &str = "_csrf";

/// A session ends after this long without a request.
pub(crate) const IDLE_MS: i64 = 60 * 60 * 1000;
/// And after this long in any case.
pub(crate) const ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// Activity moves the expiry at most this often (each move is a database write).
const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// Marks a request that arrived over TLS (inserted by [`crate::tls::serve_tls`]), so cookies get
/// the `Secure` attribute.
#[derive(Clone, Copy, Debug)]
pub struct Https;

/// 32 random bytes as hex.
pub(crate) fn random_token() -> Result<String, PageError> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| PageError::Unavailable(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// What the store keeps of a session secret.
pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two tokens without an early exit, so timing says nothing about the prefix.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if the request has it.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: always `HttpOnly; SameSite=Strict; Path=/`, `Secure` over TLS.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Option<i64>, https: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if https {
        c.push_str("; Secure");
    }
    c
}

/// The client's address, when the server was started with connect info.
pub(crate) fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// Refuses a cross-site request: `Sec-Fetch-Site: cross-site`, or an `Origin` (else `Referer`)
/// whose host is not the `Host` this request was sent to. Requests without these headers (old
/// clients, scripts) still need the CSRF token.
pub(crate) fn check_origin(headers: &HeaderMap) -> Result<(), PageError> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site") == Some("cross-site") {
        return Err(PageError::Csrf);
    }
    let Some(host) = get("host") else {
        return Ok(());
    };
    let source = get("origin").or_else(|| get("referer"));
    match source {
        None => Ok(()),
        Some(url) => {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .ok_or(PageError::Csrf)?;
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if authority.eq_ignore_ascii_case(host) {
                Ok(())
            } else {
                Err(PageError::Csrf)
            }
        }
    }
}

/// A logged-in user's request.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) user: User,
    pub(crate) csrf: String,
    pub(crate) id_hash: String,
    pub(crate) lang: Lang,
    pub(crate) ip: Option<String>,
    pub(crate) https: bool,
}

impl Session {
    /// Refuses the request (403) unless the user's role is at least `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), PageError> {
        if self.user.role >= role {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    /// Writes an audit-log entry for a change this user made, and waits until it is durable.
    pub(crate) async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: Option<String>,
        detail: Option<String>,
    ) -> Result<(), PageError> {
        state
            .engine
            .store()
            .audit(NewAudit {
                at: UnixMillis::now(),
                user: self.user.name.clone(),
                action: action.to_owned(),
                target,
                detail,
                ip: self.ip.clone(),
            })
            .await?;
        Ok(())
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let lang = Lang::of(&parts.headers);
        let htmx = parts.headers.contains_key("hx-request");
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let login = || PageError::Login {
            next: next.clone(),
            htmx,
        };
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(if state.engine.store().count_users().await? == 0 {
                PageError::Setup
            } else {
                login()
            });
        };
        let id_hash = hash_secret(secret);
        let now = UnixMillis::now();
        let Some(rec) = state.engine.store().session(id_hash.clone(), now).await? else {
            return Err(login());
        };
        if now.0 - rec.last_seen_at.0 >= TOUCH_EVERY_MS {
            let expires = (now.0 + IDLE_MS).min(rec.created_at.0 + ABSOLUTE_MS);
            state
                .engine
                .store()
                .touch_session(id_hash.clone(), now, UnixMillis(expires));
        }
        Ok(Session {
            user: rec.user,
            csrf: rec.csrf,
            id_hash,
            lang,
            ip: client_ip(parts),
            https: parts.extensions.get::<Https>().is_some(),
        })
    }
}

/// A state-changing form post by a logged-in user: the origin is checked and the form's
/// `_csrf` field must equal the session's token before the handler sees anything.
pub(crate) struct Post<T> {
    pub(crate) session: Session,
    pub(crate) form: T,
}

/// Reads the form body; its size is bounded by the app's `DefaultBodyLimit`.
async fn form_bytes(req: Request, state: &AppState) -> Result<bytes::Bytes, PageError> {
    bytes::Bytes::from_request(req, state)
        .await
        .map_err(|_| PageError::BadRequest("form too large or unreadable".into()))
}

/// The `_csrf` field of an urlencoded form.
pub(crate) fn csrf_field(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned())
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Post<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        check_origin(&parts.headers)?;
        let session = Session::from_request_parts(&mut parts, state).await?;
        let body = form_bytes(Request::from_parts(parts, body), state).await?;
        match csrf_field(&body) {
            Some(token) if same_token(&token, &session.csrf) => {}
            _ => {
                tracing::warn!(user = %session.user.name, "form refused: missing or wrong CSRF token");
                return Err(PageError::Csrf);
            }
        }
        let form = serde_urlencoded::from_bytes(&body)
            .map_err(|e| PageError::BadRequest(format!("bad form: {e}")))?;
        Ok(Post { session, form })
    }
}

/// A form post from someone not logged in (login, first-start setup): origin checked, and the
/// `_csrf` field must equal the pre-login cookie (double submit; the cookie is `SameSite=Strict`
/// so another site cannot send it).
pub(crate) struct AnonPost<T> {
    pub(crate) form: T,
    pub(crate) ip: Option<String>,
    pub(crate) https: bool,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AnonPost<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (parts, body) = req.into_parts();
        check_origin(&parts.headers)?;
        let ip = client_ip(&parts);
        let https = parts.extensions.get::<Https>().is_some();
        let pre = cookie(&parts.headers, PRE_COOKIE).map(str::to_owned);
        let body = form_bytes(Request::from_parts(parts, body), state).await?;
        match (pre, csrf_field(&body)) {
            (Some(c), Some(f)) if same_token(&c, &f) => {}
            _ => return Err(PageError::Csrf),
        }
        let form = serde_urlencoded::from_bytes(&body)
            .map_err(|e| PageError::BadRequest(format!("bad form: {e}")))?;
        Ok(AnonPost { form, ip, https })
    }
}

/// Login throttling: failures are counted per user name and per client address in a sliding
/// window; past the limit the key is locked out for a while, and a locked key is refused
/// without checking the password (so a locked account is not a password oracle).
pub(crate) struct LoginLimiter {
    entries: Mutex<HashMap<String, Failures>>,
    /// Failures per user name before a lockout.
    pub(crate) per_user: u32,
    /// Failures per address before a lockout.
    pub(crate) per_ip: u32,
    /// The window failures are counted in, and the lockout's length.
    pub(crate) window_ms: i64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: u32,
    first_at: i64,
    locked_until: i64,
}

/// Most keys remembered (oldest windows are dropped beyond it), so a flood of made-up user
/// names cannot grow memory without bound.
const MAX_KEYS: usize = 10_000;

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            entries: Mutex::new(HashMap::new()),
            per_user: 5,
            per_ip: 20,
            window_ms: 15 * 60 * 1000,
        }
    }
}

impl LoginLimiter {
    fn keys(user: &str, ip: Option<&str>) -> [String; 2] {
        [
            format!("user:{}", user.to_lowercase()),
            format!("ip:{}", ip.unwrap_or("-")),
        ]
    }

    /// Milliseconds until `user` from `ip` may try again, if either is locked out.
    pub(crate) fn locked(&self, user: &str, ip: Option<&str>, now: i64) -> Option<i64> {
        let map = self.entries.lock().ok()?;
        Self::keys(user, ip)
            .iter()
            .filter_map(|k| map.get(k))
            .map(|f| f.locked_until - now)
            .filter(|left| *left > 0)
            .max()
    }

    /// Counts a failed login; returns true if it caused a lockout.
    pub(crate) fn failed(&self, user: &str, ip: Option<&str>, now: i64) -> bool {
        let Ok(mut map) = self.entries.lock() else {
            return false;
        };
        if map.len() >= MAX_KEYS {
            let window = self.window_ms;
            map.retain(|_, f| now - f.first_at < window || f.locked_until > now);
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        let mut locked = false;
        for (key, limit) in Self::keys(user, ip)
            .into_iter()
            .zip([self.per_user, self.per_ip])
        {
            let f = map.entry(key).or_default();
            if now - f.first_at >= self.window_ms {
                *f = Failures {
                    count: 0,
                    first_at: now,
                    locked_until: f.locked_until,
                };
            }
            f.count += 1;
            if f.count >= limit && f.locked_until <= now {
                f.locked_until = now + self.window_ms;
                locked = true;
            }
        }
        locked
    }

    /// A successful login clears the user's count (not the address's: one good password
    /// does not license more guessing of other accounts).
    pub(crate) fn succeeded(&self, user: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(&format!("user:{}", user.to_lowercase()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_failures_and_expiry() {
        let l = LoginLimiter::default();
        let ip = Some("10.0.0.1");
        for i in 0..4 {
            assert!(!l.failed("Alice", ip, i), "failure {i}");
            assert_eq!(l.locked("alice", ip, i), None);
        }
        assert!(l.failed("alice", ip, 10));
        assert_eq!(l.locked("ALICE", ip, 10), Some(l.window_ms));
        // Another address is also refused for this user; another user from here is not.
        assert!(l.locked("alice", Some("10.0.0.2"), 11).is_some());
        assert_eq!(l.locked("bob", ip, 11), None);
        // The lockout ends.
        assert_eq!(l.locked("alice", ip, 10 + l.window_ms), None);
        // Per address: many user names from one address.
        for i in 0..19 {
            l.failed(&format!("u{i}"), Some("10.9.9.9"), 100);
        }
        assert_eq!(l.locked("zed", Some("10.9.9.9"), 100), None);
        l.failed("u19", Some("10.9.9.9"), 100);
        assert!(l.locked("zed", Some("10.9.9.9"), 101).is_some());
    }

    #[test]
    fn origin_checks() {
        let check = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            check_origin(&h).is_ok()
        };
        assert!(check(&[("host", "127.0.0.1:8080")]));
        assert!(check(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]));
        assert!(check(&[
            ("host", "box.local"),
            ("referer", "https://box.local/send?x=1")
        ]));
        assert!(!check(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ]));
        assert!(!check(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080.evil.example")
        ]));
        assert!(!check(&[("host", "127.0.0.1:8080"), ("origin", "null")]));
        assert!(!check(&[("sec-fetch-site", "cross-site")]));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", ""));
    }
}
