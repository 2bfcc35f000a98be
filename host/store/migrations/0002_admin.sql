-- Outpost schema, version 2: what the local admin web page needs. Times are Unix milliseconds.

-- People who log in to the admin page. Passwords are argon2id PHC strings, never clear text.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT    NOT NULL,          -- admin | operator | viewer
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
);

-- Login sessions. The cookie carries a random secret; only its SHA-256 is stored, so a copy of
-- the database does not let anyone in.
CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    csrf         TEXT    NOT NULL,           -- the per-session token every form must echo
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip           TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Every change made from the admin page (or the CLI): who, when, what.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    user_name TEXT    NOT NULL,
    action    TEXT    NOT NULL,              -- stable name: user.create, settings.update, ...
    target    TEXT,
    detail    TEXT,
    ip        TEXT
);

-- Runtime settings changed from the page (signature, default country, quiet hours, limits).
CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Recipient groups for the send form.
CREATE TABLE contact_groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES contact_groups(id) ON DELETE CASCADE,
    number   TEXT    NOT NULL,
    PRIMARY KEY (group_id, number)
) WITHOUT ROWID;

-- Dashboard queries: attempts per carrier in the last 24 h, parts submitted and reported per
-- time bucket. Each is a range scan on one of these.
CREATE INDEX attempts_started ON attempts(started_at);
CREATE INDEX parts_submitted ON parts(submitted_at) WHERE submitted_at IS NOT NULL;
CREATE INDEX parts_dlr ON parts(dlr_at) WHERE dlr_at IS NOT NULL;
