//! Passwords: argon2id hashing and verification (DESIGN invariant "secrets are never stored in
//! clear"), the password rule, and [`add_user`] for `outpost user add`.
//!
//! Hashing costs tens of milliseconds of CPU by design, so it runs on a blocking thread, never
//! on an async worker.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use domain::UnixMillis;
use store::{Role, Store, StoreError, User};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a user could not be added.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is empty, too long or has characters other than letters, digits, `.`, `-`, `_`.
    #[error("a user name is 1–64 letters, digits, '.', '-' or '_'")]
    BadName,
    /// The password is too short.
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    /// The name is taken.
    #[error("a user with this name exists")]
    Exists,
    /// Hashing failed (no randomness for the salt).
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The argon2id PHC string of `password` with a fresh random salt (argon2 crate defaults:
/// argon2id v19, m=19 MiB, t=2, p=1, as OWASP recommends).
pub fn hash_password(password: &str) -> Result<String, UserError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// [`hash_password`] on a blocking thread.
pub(crate) async fn hash_blocking(password: String) -> Result<String, UserError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| UserError::Hash(e.to_string()))?
}

/// [`verify_password`] on a blocking thread.
pub(crate) async fn verify_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Checks a new user's name and password.
pub fn check_new_user(name: &str, password: &str) -> Result<(), UserError> {
    let ok_name = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !ok_name {
        return Err(UserError::BadName);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::WeakPassword);
    }
    Ok(())
}

/// Adds a user (what `outpost user add NAME --role ROLE` calls): checks the name and password,
/// hashes the password with argon2id and stores the user.
pub async fn add_user(
    store: &Store,
    name: &str,
    role: Role,
    password: &str,
) -> Result<User, UserError> {
    check_new_user(name, password)?;
    let hash = hash_blocking(password.to_owned()).await?;
    store
        .create_user(name.to_owned(), role, hash, UnixMillis::now())
        .await?
        .ok_or(UserError::Exists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("correct horsE", &a));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn new_user_rules() {
        assert!(check_new_user("alice", "12345678").is_ok());
        assert!(check_new_user("张三", "12345678").is_ok());
        assert!(matches!(
            check_new_user("a b", "12345678"),
            Err(UserError::BadName)
        ));
        assert!(matches!(
            check_new_user("", "12345678"),
            Err(UserError::BadName)
        ));
        assert!(matches!(
            check_new_user("alice", "1234567"),
            Err(UserError::WeakPassword)
        ));
    }
}
