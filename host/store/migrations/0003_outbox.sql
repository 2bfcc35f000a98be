-- Outpost schema, version 3: notifications to clients (a durable outbox) and long messages that
-- clients submit part by part (SMPP UDH/SAR parts, sendsms `udh`). Times are Unix milliseconds.

-- Notifications owed to clients: delivery reports for `dlr-url` (Kannel-style GET) and
-- `callback_url` (JSON POST), receipts and MO for SMPP applications. A row is written once per
-- (kind, ref_id, channel, event, target) and kept after delivery (`done_at`) so that replaying
-- events after a restart does not notify twice; `Store::outbox_prune` removes old rows.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL,             -- dlr | mo
    ref_id     INTEGER NOT NULL,             -- messages.id (dlr) or inbound.id (mo)
    channel    TEXT    NOT NULL,             -- kannel | webhook | smpp
    event      TEXT    NOT NULL,             -- delivered | failed | buffered | submitted | rejected | mo
    target     TEXT    NOT NULL,             -- the URL to call, or the API key id for smpp
    payload    TEXT    NOT NULL,             -- what to say (JSON for webhook and smpp, empty for kannel)
    created_at INTEGER NOT NULL,
    next_at    INTEGER NOT NULL,             -- earliest next try
    attempts   INTEGER NOT NULL DEFAULT 0,   -- tries that reached the client and failed
    last_error TEXT,
    done_at    INTEGER,                      -- NULL while owed
    outcome    TEXT                          -- sent | gave_up | expired
);
CREATE UNIQUE INDEX outbox_once ON outbox(kind, ref_id, channel, event, target);
CREATE INDEX outbox_due ON outbox(next_at) WHERE done_at IS NULL;
CREATE INDEX outbox_created ON outbox(created_at);

-- Finding messages whose final notification may have been lost in a crash (between the report's
-- commit and the outbox row's) without scanning every message.
CREATE INDEX messages_notify ON messages(final_at) WHERE dlr_url IS NOT NULL OR report = 1;

-- Parts of a long message a client submits one by one, until the last one arrives; then the whole
-- text is accepted as one message and the parts move to `client_parts`. AUTOINCREMENT: the row id
-- is the part's id given to the client, so it must never be reused.
CREATE TABLE submit_fragments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key_id  INTEGER NOT NULL,
    source      TEXT    NOT NULL,            -- smpp | sendsms
    group_key   TEXT    NOT NULL,            -- account, sender, recipient, reference, total
    total       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    encoding    TEXT    NOT NULL,            -- gsm7 (unpacked septets) | latin1 | ucs2 | utf8
    data        BLOB    NOT NULL,            -- this part's user data without its header
    to_number   TEXT    NOT NULL,            -- as the client wrote it
    sender      TEXT,
    priority    INTEGER,
    send_at     INTEGER,
    validity_ms INTEGER,
    report      INTEGER NOT NULL,
    dlr_mask    INTEGER,
    dlr_url     TEXT,
    received_at INTEGER NOT NULL,
    UNIQUE (group_key, seq)
);
CREATE INDEX submit_fragments_received ON submit_fragments(received_at);

-- The ids given to the parts of a message submitted in parts, so receipts and query_sm can use
-- them.
CREATE TABLE client_parts (
    part_id    INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX client_parts_message ON client_parts(message_id);
