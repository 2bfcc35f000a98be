-- Outpost schema, version 1. Times are Unix milliseconds (UTC). Text columns holding enum values
-- use the names from host/domain (MessageState::as_str etc.).

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,           -- department or application
    prefix       TEXT    NOT NULL UNIQUE,    -- the key's public first characters, shown in the UI
    hash         TEXT    NOT NULL,           -- SHA-256 of the whole secret, hex
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    api_key_id      INTEGER REFERENCES api_keys(id),
    source          TEXT    NOT NULL,        -- http | sendsms | smpp | web | test
    client_ref      TEXT,                    -- the client's own id, echoed back
    to_number       TEXT    NOT NULL,        -- E.164, '+86138...'
    sender          TEXT,
    body            TEXT    NOT NULL,        -- the text as sent, signature included
    encoding        TEXT    NOT NULL,        -- gsm7 | ucs2
    parts           INTEGER NOT NULL,
    priority        INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    not_before      INTEGER,
    expires_at      INTEGER,
    next_attempt_at INTEGER NOT NULL,
    round           INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    carrier_id      TEXT,                    -- carrier of the latest attempt
    resends         INTEGER NOT NULL DEFAULT 0, -- re-sends after negative or missing receipts
    avoid           TEXT,                    -- operator channels a re-send avoids, comma-separated
    report          INTEGER NOT NULL,        -- 1 when a delivery report is wanted
    dlr_url         TEXT,
    dlr_mask        INTEGER,
    error           TEXT,                    -- why it failed, for final failures
    final_at        INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX messages_live ON messages(next_attempt_at) WHERE final_at IS NULL;
CREATE INDEX messages_to ON messages(to_number, created_at);
CREATE INDEX messages_created ON messages(created_at);

CREATE TABLE idempotency (
    api_key_id INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    message_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (api_key_id, key)
) WITHOUT ROWID;

CREATE TABLE parts (
    message_id   INTEGER NOT NULL REFERENCES messages(id),
    seq          INTEGER NOT NULL,           -- 1-based part number
    state        TEXT    NOT NULL,           -- pending | submitted | delivered | failed
    carrier_id   TEXT,
    carrier_ref  TEXT,                       -- SMSC message id or slot TP-MR, normalised
    submitted_at INTEGER,
    dlr_status   TEXT,
    dlr_error    TEXT,
    dlr_at       INTEGER,
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;
CREATE INDEX parts_ref ON parts(carrier_id, carrier_ref);

-- The per-message trace: one row per attempt on a carrier.
CREATE TABLE attempts (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    no         INTEGER NOT NULL,             -- 1-based attempt number
    carrier_id TEXT    NOT NULL,
    round      INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    outcome    TEXT,                         -- NULL while in flight; accepted | retry | reject | lost | resend
    detail     TEXT,
    maybe_sent INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, no)
) WITHOUT ROWID;

-- Every delivery report received; message_id is NULL while unmatched.
CREATE TABLE delivery_reports (
    id          INTEGER PRIMARY KEY,
    carrier_id  TEXT    NOT NULL,
    carrier_ref TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    error       TEXT,
    received_at INTEGER NOT NULL,
    message_id  INTEGER,
    seq         INTEGER,
    raw         TEXT
);
CREATE INDEX dlr_unmatched ON delivery_reports(carrier_id, carrier_ref) WHERE message_id IS NULL;
CREATE INDEX dlr_message ON delivery_reports(message_id);

-- Complete inbound messages (reassembled, or released incomplete after a timeout).
CREATE TABLE inbound (
    id           INTEGER PRIMARY KEY,
    carrier_id   TEXT    NOT NULL,
    from_number  TEXT    NOT NULL,
    to_number    TEXT,
    body         TEXT    NOT NULL,
    sc_timestamp TEXT,
    received_at  INTEGER NOT NULL,
    parts        INTEGER NOT NULL,
    complete     INTEGER NOT NULL
);
CREATE INDEX inbound_received ON inbound(received_at);
CREATE INDEX inbound_from ON inbound(from_number, received_at);

-- Parts of concatenated inbound messages waiting for their siblings.
CREATE TABLE inbound_fragments (
    carrier_id   TEXT    NOT NULL,
    from_number  TEXT    NOT NULL,
    ref          INTEGER NOT NULL,
    total        INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    to_number    TEXT,
    body         TEXT    NOT NULL,
    sc_timestamp TEXT,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (carrier_id, from_number, ref, total, seq)
) WITHOUT ROWID;

-- Fingerprints of inbound PDUs already stored, so a part re-sent by the bank (its ack was lost in
-- a reboot) is acknowledged again but not stored twice. Pruned after a retention period.
CREATE TABLE inbound_seen (
    key     TEXT    PRIMARY KEY,
    seen_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Admin overrides of carriers configured in the config file (enable/disable from the web page).
CREATE TABLE carrier_overrides (
    carrier_id TEXT PRIMARY KEY,
    enabled    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- What customers are billed for: delivered parts per month, API key and carrier.
CREATE TABLE billing (
    month              TEXT    NOT NULL,     -- 'YYYY-MM' (UTC)
    api_key_id         INTEGER NOT NULL,     -- 0 for messages without a key (web page, tests)
    carrier_id         TEXT    NOT NULL,
    delivered_messages INTEGER NOT NULL,
    delivered_parts    INTEGER NOT NULL,
    PRIMARY KEY (month, api_key_id, carrier_id)
) WITHOUT ROWID;
