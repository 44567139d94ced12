#!/usr/bin/env python3
"""pg_consumer.py — pledged's job done the way a team would otherwise build it.

Consumes the pledge/comment events of docs/events.md from Kafka
(confluent-kafka), validates them, and keeps the same event log and
projections as pledged, in PostgreSQL: one transaction per batch holding
the batch's events, rejections, projection changes and the next Kafka
offset of every partition it touched. Only after that transaction commits
are the offsets committed to Kafka (asynchronously, for lag tools); on
assignment each partition starts from the offset stored in PostgreSQL, so
a restart neither loses nor repeats an event.

It is the peer of `pledged serve` in the benchmark table (see README.md
beside it), not part of pledged.

    pg_consumer.py --create-schema --dsn DSN
    pg_consumer.py --dsn DSN --brokers HOST:PORT --topic pledges --group G --expect N
    pg_consumer.py --totals --dsn DSN          # campaigns as JSON lines

The state the rules need (campaigns, pledges, supporters' net amounts,
comment ids, event ids) lives in PostgreSQL only: each batch loads the
rows its messages refer to with a handful of `= ANY(...)` queries, applies
the rules in order in memory, and writes the rows back with COPY (new rows
straight into their tables, changed ones through temporary tables and one
UPDATE or upsert each: COPY costs the server a fraction of what parsing a
multi-row INSERT of literals does). One consumer writes at a time (a campaign lives on one
partition; several consumers of one group would each need their own
database, as pledged's instances each have their own data dir).
"""

import argparse
import io
import json
import resource
import sys
import time

import msgpack
import psycopg2
import psycopg2.extras
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

# ---------------------------------------------------------------------------
# The wire contract (docs/events.md)

MAX_EVENT_BYTES = 16384
MAX_DEPTH = 32  # nesting of values, top-level values being at depth 0
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DAY_MS = 86400000

STR, INT = "str", "int"
# Every field, in the order pledged checks them: (key, kind, min, max). For
# strings min/max bound the length in bytes, for integers the value.
FIELDS = [
    ("v", INT, INT64_MIN, INT64_MAX),
    ("type", STR, 1, 64),
    ("id", STR, 1, 64),
    ("at", INT, 0, INT64_MAX),
    ("campaign", STR, 1, 64),
    ("title", STR, 0, 200),
    ("owner", STR, 0, 200),
    ("currency", STR, 3, 3),
    ("location", STR, 0, 200),
    ("target", INT, 0, INT64_MAX),
    ("closes_at", INT, 0, INT64_MAX),
    ("pledge", STR, 1, 64),
    ("supporter", STR, 1, 64),
    ("amount", INT, 1, 10**12),
    ("name", STR, 0, 100),
    ("comment", STR, 1, 64),
    ("text", STR, 1, 4000),
]
KNOWN_KEYS = {f[0] for f in FIELDS}
COMMON = {"id", "at", "campaign"}  # besides v and type
# type -> (required fields, optional fields)
TYPES = {
    "campaign.opened": ({"title", "owner", "currency"}, {"location", "target", "closes_at"}),
    "campaign.closed": (set(), set()),
    "pledge.created": ({"pledge", "supporter", "amount", "currency"}, {"name"}),
    "pledge.refunded": ({"pledge", "amount"}, set()),
    "comment.posted": ({"comment", "supporter", "text"}, {"name"}),
    "comment.removed": ({"comment"}, set()),
}
# type -> [(field def, required?)] in checking order
TYPE_FIELDS = {
    name: [(f, f[0] in COMMON or f[0] in req) for f in FIELDS
           if f[0] in COMMON or f[0] in req or f[0] in opt]
    for name, (req, opt) in TYPES.items()
}
FIELD = {f[0]: f for f in FIELDS}


class Rejected(Exception):
    def __init__(self, reason, detail):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class MapPairs(list):
    """A msgpack map as its list of (key, value) pairs, duplicates kept."""


def too_deep(value, depth):
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, MapPairs):
        return any(too_deep(k, depth + 1) or too_deep(v, depth + 1) for k, v in value)
    if isinstance(value, list):
        return any(too_deep(v, depth + 1) for v in value)
    return False


def str_bytes(s):
    """(length in bytes, valid UTF-8?) of a msgpack str decoded with
    surrogateescape: invalid bytes come back as lone surrogates."""
    if s.isascii():
        return len(s), True
    raw = s.encode("utf-8", "surrogateescape")
    try:
        s.encode("utf-8")
        return len(raw), True
    except UnicodeEncodeError:
        return len(raw), False


def read_field(spots, fdef, ev):
    key, kind, lo, hi = fdef
    value = spots[key]
    if kind == STR:
        if not isinstance(value, str):
            raise Rejected("wrong_type", f"field '{key}' must be a string")
        n, valid = str_bytes(value)
        if n < lo:
            raise Rejected("too_short", f"field '{key}' must not be empty" if lo == 1
                           else f"field '{key}' has {n} bytes, at least {lo} needed")
        if n > hi:
            raise Rejected("too_long", f"field '{key}' has {n} bytes, at most {hi} allowed")
        if not valid:
            raise Rejected("bad_utf8", f"field '{key}' is not valid UTF-8")
    else:
        if type(value) is not int:  # bool is an int in Python, not in msgpack
            raise Rejected("wrong_type", f"field '{key}' must be an integer")
        if value > INT64_MAX:
            raise Rejected("out_of_range", f"field '{key}' is above {hi}")
        if value < lo or value > hi:
            raise Rejected("out_of_range", f"field '{key}' is {value}, must be {lo}..{hi}")
    ev[key] = value


def decode(value, key):
    """A Kafka message value (and key) -> the event as a dict, or Rejected.
    Checks in pledged's order; see docs/events.md "Checked on the message alone"."""
    if value is None:
        value = b""
    if len(value) > MAX_EVENT_BYTES:
        raise Rejected("too_large", f"message has {len(value)} bytes, at most {MAX_EVENT_BYTES} allowed")
    try:
        top = msgpack.unpackb(value, raw=False, unicode_errors="surrogateescape",
                              strict_map_key=False, object_pairs_hook=MapPairs)
    except Exception as e:  # malformed, truncated, bytes after the map, 0xc1...
        raise Rejected("bad_msgpack", f"not msgpack: {type(e).__name__}")
    if not isinstance(top, MapPairs):
        raise Rejected("bad_msgpack", "message is not a msgpack map")
    spots = {}
    for i, (k, v) in enumerate(top):
        if not isinstance(k, str):
            raise Rejected("bad_msgpack", f"map key {i} is not a string")
        if k in KNOWN_KEYS:
            if k in spots:
                raise Rejected("duplicate_field", f"field '{k}' appears twice")
            spots[k] = v
        if isinstance(v, list) and too_deep(v, 0):  # MapPairs is a list too
            raise Rejected("bad_msgpack", f"value of key {i}: nested too deeply")

    ev = {}
    if "type" not in spots:
        raise Rejected("missing_field", "field 'type' is missing")
    read_field(spots, FIELD["type"], ev)
    if ev["type"] not in TYPES:
        raise Rejected("unknown_type", f"type '{ev['type']}' is not known")
    if "v" not in spots:
        raise Rejected("missing_field", "field 'v' is missing")
    read_field(spots, FIELD["v"], ev)
    if ev["v"] != 1:
        raise Rejected("unsupported_version", f"schema version {ev['v']}, only 1 is known")
    for fdef, required in TYPE_FIELDS[ev["type"]]:
        if fdef[0] not in spots:
            if required:
                raise Rejected("missing_field", f"field '{fdef[0]}' is missing for {ev['type']}")
            continue
        read_field(spots, fdef, ev)
    cur = ev.get("currency")
    if cur is not None and not all("A" <= c <= "Z" for c in cur):
        raise Rejected("bad_currency", "currency must be 3 upper-case letters (ISO 4217)")
    if key is not None and key != ev["campaign"].encode():
        raise Rejected("key_mismatch", f"message key differs from campaign '{ev['campaign']}'")
    for k, v in ev.items():  # valid, but PostgreSQL's text cannot hold it
        if isinstance(v, str) and "\x00" in v:
            ev[k] = pg_text(v)
    return ev


def pg_text(s):
    """PostgreSQL text cannot hold U+0000, which valid UTF-8 may: it becomes
    U+FFFD in text columns (the raw bytes kept in events and rejections keep
    the original). Two ids differing only there would be taken for one."""
    return s.replace("\x00", "\ufffd") if s else s


def partial_ids(value):
    """Event id and type of a rejected message, when it has them readable."""
    try:
        m = msgpack.unpackb(value, raw=False, strict_map_key=False)
        ev_id, ev_type = m.get("id"), m.get("type")
        return (ev_id if isinstance(ev_id, str) else None,
                ev_type if isinstance(ev_type, str) else None)
    except Exception:
        return None, None


# ---------------------------------------------------------------------------
# The schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq             bigserial PRIMARY KEY,
    event_id        text NOT NULL UNIQUE,
    type            text NOT NULL,
    campaign        text NOT NULL,
    at              bigint NOT NULL,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    appended_at     timestamptz NOT NULL DEFAULT now(),
    raw             bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
    id              bigserial PRIMARY KEY,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT now(),
    event_id        text,
    type            text,
    reason          text NOT NULL,
    detail          text NOT NULL,
    key             bytea,
    raw             bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS campaigns (
    id         text PRIMARY KEY,
    title      text NOT NULL,
    owner      text NOT NULL,
    location   text,
    currency   text NOT NULL,
    target     bigint,
    closes_at  bigint,
    opened_at  bigint NOT NULL,
    closed_at  bigint,
    last_at    bigint NOT NULL,
    raised     bigint NOT NULL DEFAULT 0,
    pledges    bigint NOT NULL DEFAULT 0,
    supporters bigint NOT NULL DEFAULT 0,
    comments   bigint NOT NULL DEFAULT 0,
    status     text NOT NULL DEFAULT 'open'
);
CREATE TABLE IF NOT EXISTS pledges (
    id        text PRIMARY KEY,
    campaign  text NOT NULL,
    supporter text NOT NULL,
    amount    bigint NOT NULL,
    refunded  bigint NOT NULL DEFAULT 0,
    event_id  text NOT NULL
);
CREATE TABLE IF NOT EXISTS supporters (
    campaign  text NOT NULL,
    supporter text NOT NULL,
    net       bigint NOT NULL,
    PRIMARY KEY (campaign, supporter)
);
CREATE TABLE IF NOT EXISTS comments (
    seq       bigserial NOT NULL,  -- log order among comments
    id        text PRIMARY KEY,
    campaign  text NOT NULL,
    supporter text NOT NULL,
    name      text,
    text      text NOT NULL,
    at        bigint NOT NULL,
    event_id  text NOT NULL,
    removed   boolean NOT NULL DEFAULT false
);
-- The comment feed: a campaign's visible comments, newest first.
CREATE INDEX IF NOT EXISTS comments_feed ON comments (campaign, at DESC, seq DESC)
    WHERE NOT removed;
CREATE TABLE IF NOT EXISTS offsets (
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset     bigint NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);
"""

# Per connection: the rows a batch changes go through these, emptied at commit.
TEMP_TABLES = """
CREATE TEMPORARY TABLE campaign_totals (
    id text, closed_at bigint, last_at bigint, raised bigint, pledges bigint,
    supporters bigint, comments bigint, status text
) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE pledge_refunds (id text, refunded bigint) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE supporter_nets (campaign text, supporter text, net bigint)
    ON COMMIT DELETE ROWS;
"""


# ---------------------------------------------------------------------------
# One batch: load the state it refers to, apply the rules, write it back


class Campaign:
    __slots__ = ("id", "title", "owner", "location", "currency", "target", "closes_at",
                 "opened_at", "closed_at", "last_at", "raised", "pledges", "supporters",
                 "comments", "new", "dirty")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


class Pledge:
    __slots__ = ("id", "campaign", "supporter", "amount", "refunded", "event_id", "new", "dirty")

    def __init__(self, id, campaign, supporter, amount, refunded, event_id, new=False):
        self.id, self.campaign, self.supporter = id, campaign, supporter
        self.amount, self.refunded, self.event_id = amount, refunded, event_id
        self.new, self.dirty = new, False


class Comment:
    __slots__ = ("id", "campaign", "removed", "row", "new", "dirty")

    def __init__(self, id, campaign, removed, row=None, new=False):
        self.id, self.campaign, self.removed, self.row = id, campaign, removed, row
        self.new, self.dirty = new, False


class Batch:
    def __init__(self, cur):
        self.cur = cur
        self.campaigns = {}  # id -> Campaign, or None when not in the database
        self.pledges = {}  # id -> Pledge or None
        self.supporters = {}  # (campaign, supporter) -> net
        self.supporters_dirty = set()
        self.comments = {}  # id -> Comment or None
        self.new_comments = []  # Comments posted in this batch, in log order
        self.seen_ids = set()  # event ids in the log, or applied earlier in this batch
        self.events = []  # rows for the events table
        self.rejections = []  # rows for the rejections table
        self.applied = self.rejected = self.duplicates = 0
        self.reasons = {}

    # -- loading ---------------------------------------------------------

    def load(self, decoded):
        """Loads every row the batch's events refer to, in a few queries."""
        cur = self.cur
        evs = [ev for ev in decoded if isinstance(ev, dict)]
        ids = list({ev["id"] for ev in evs})
        if ids:
            cur.execute("SELECT event_id FROM events WHERE event_id = ANY(%s)", (ids,))
            self.seen_ids.update(r[0] for r in cur)
        camp_ids = list({ev["campaign"] for ev in evs})
        for c in camp_ids:
            self.campaigns[c] = None
        if camp_ids:
            cur.execute("SELECT id, currency, opened_at, closed_at, last_at, raised, pledges,"
                        " supporters, comments FROM campaigns WHERE id = ANY(%s)", (camp_ids,))
            for r in cur:
                self.campaigns[r[0]] = Campaign(
                    id=r[0], currency=r[1], opened_at=r[2], closed_at=r[3], last_at=r[4],
                    raised=r[5], pledges=r[6], supporters=r[7], comments=r[8],
                    new=False, dirty=False)
        pledge_ids = list({ev["pledge"] for ev in evs if "pledge" in ev})
        for p in pledge_ids:
            self.pledges[p] = None
        if pledge_ids:
            cur.execute("SELECT id, campaign, supporter, amount, refunded, event_id FROM pledges"
                        " WHERE id = ANY(%s)", (pledge_ids,))
            for r in cur:
                self.pledges[r[0]] = Pledge(*r)
        pairs = {(ev["campaign"], ev["supporter"]) for ev in evs if "supporter" in ev}
        pairs.update((p.campaign, p.supporter) for p in self.pledges.values() if p)
        if pairs:
            cs, ss = zip(*pairs)
            cur.execute("SELECT s.campaign, s.supporter, s.net FROM supporters s"
                        " JOIN unnest(%s::text[], %s::text[]) AS k(campaign, supporter)"
                        " ON s.campaign = k.campaign AND s.supporter = k.supporter",
                        (list(cs), list(ss)))
            for r in cur:
                self.supporters[(r[0], r[1])] = r[2]
        comment_ids = list({ev["comment"] for ev in evs if "comment" in ev})
        for c in comment_ids:
            self.comments[c] = None
        if comment_ids:
            cur.execute("SELECT id, campaign, removed FROM comments WHERE id = ANY(%s)",
                        (comment_ids,))
            for r in cur:
                self.comments[r[0]] = Comment(*r)

    # -- the rules (docs/events.md "Checked against what came before") ----

    def campaign(self, ev):
        c = self.campaigns[ev["campaign"]]
        if c is None:
            raise Rejected("unknown_campaign", f"campaign '{ev['campaign']}' was never opened")
        return c

    @staticmethod
    def touch(c, ev):
        if ev["at"] > c.last_at:
            c.last_at = ev["at"]
        c.dirty = True

    def add_to_supporter(self, campaign, supporter, delta):
        """Changes a supporter's net amount; returns the change in the
        campaign's supporter count (-1, 0 or +1)."""
        before = self.supporters.get((campaign, supporter), 0)
        after = before + delta
        self.supporters[(campaign, supporter)] = after
        self.supporters_dirty.add((campaign, supporter))
        return (after > 0) - (before > 0)

    def apply(self, ev):
        t = ev["type"]
        if t == "campaign.opened":
            if self.campaigns[ev["campaign"]] is not None:
                raise Rejected("campaign_exists", f"campaign '{ev['campaign']}' is already open")
            self.campaigns[ev["campaign"]] = Campaign(
                id=ev["campaign"], title=ev["title"], owner=ev["owner"],
                location=ev.get("location"), currency=ev["currency"], target=ev.get("target"),
                closes_at=ev.get("closes_at"), opened_at=ev["at"], closed_at=None,
                last_at=ev["at"], raised=0, pledges=0, supporters=0, comments=0,
                new=True, dirty=True)
        elif t == "campaign.closed":
            c = self.campaign(ev)
            if c.closed_at is not None:
                raise Rejected("campaign_closed", f"campaign '{c.id}' is closed")
            c.closed_at = ev["at"]
            self.touch(c, ev)
        elif t == "pledge.created":
            c = self.campaign(ev)
            if c.closed_at is not None:
                raise Rejected("campaign_closed", f"campaign '{c.id}' is closed")
            if ev["currency"] != c.currency:
                raise Rejected("currency_mismatch", f"pledge '{ev['pledge']}' in {ev['currency']},"
                               f" campaign '{c.id}' in {c.currency}")
            if c.raised > INT64_MAX - ev["amount"]:
                raise Rejected("total_overflow", f"campaign '{c.id}' total would overflow")
            if self.pledges[ev["pledge"]] is not None:
                raise Rejected("duplicate_pledge", f"pledge '{ev['pledge']}' exists already")
            self.pledges[ev["pledge"]] = Pledge(ev["pledge"], c.id, ev["supporter"], ev["amount"],
                                                0, ev["id"], new=True)
            c.raised += ev["amount"]
            c.pledges += 1
            c.supporters += self.add_to_supporter(c.id, ev["supporter"], ev["amount"])
            self.touch(c, ev)
        elif t == "pledge.refunded":
            c = self.campaigns[ev["campaign"]]
            p = self.pledges[ev["pledge"]]
            if c is None or p is None or p.campaign != c.id:
                raise Rejected("unknown_pledge", f"no pledge '{ev['pledge']}' in campaign '{ev['campaign']}'")
            left = p.amount - p.refunded
            if ev["amount"] > left:
                raise Rejected("refund_exceeds_pledge", f"refund of {ev['amount']} exceeds the"
                               f" {left} left of pledge '{p.id}'")
            p.refunded += ev["amount"]
            p.dirty = True
            c.raised -= ev["amount"]
            c.supporters += self.add_to_supporter(c.id, p.supporter, -ev["amount"])
            self.touch(c, ev)
        elif t == "comment.posted":
            c = self.campaign(ev)
            if self.supporters.get((c.id, ev["supporter"]), 0) <= 0:
                raise Rejected("not_a_backer", f"supporter '{ev['supporter']}' has no pledge"
                               f" standing in campaign '{c.id}'")
            if self.comments[ev["comment"]] is not None:
                raise Rejected("duplicate_comment", f"comment '{ev['comment']}' exists already")
            row = [ev["comment"], c.id, ev["supporter"], ev.get("name"), ev["text"], ev["at"],
                   ev["id"]]
            self.comments[ev["comment"]] = m = Comment(ev["comment"], c.id, False, row, new=True)
            self.new_comments.append(m)
            c.comments += 1
            self.touch(c, ev)
        elif t == "comment.removed":
            m = self.comments[ev["comment"]]
            if m is None or m.campaign != ev["campaign"]:
                raise Rejected("unknown_comment", f"no comment '{ev['comment']}' in campaign '{ev['campaign']}'")
            if m.removed:
                raise Rejected("unknown_comment", f"comment '{m.id}' was already removed")
            c = self.campaign(ev)
            m.removed = True
            m.dirty = True
            c.comments -= 1
            self.touch(c, ev)

    def handle(self, msg, ev):
        """One message: append it, reject it, or ignore it as a duplicate."""
        src = (msg.topic(), msg.partition(), msg.offset())
        if isinstance(ev, Rejected):
            return self.reject(msg, src, ev, *partial_ids(msg.value() or b""))
        if ev["id"] in self.seen_ids:
            self.duplicates += 1
            return
        try:
            self.apply(ev)
        except Rejected as r:
            return self.reject(msg, src, r, ev["id"], ev["type"])
        self.seen_ids.add(ev["id"])
        self.events.append((ev["id"], ev["type"], ev["campaign"], ev["at"], *src, msg.value()))
        self.applied += 1

    def reject(self, msg, src, r, ev_id, ev_type):
        raw = (msg.value() or b"")[:MAX_EVENT_BYTES]
        self.rejections.append((*src, pg_text(ev_id), pg_text(ev_type), r.reason,
                                pg_text(r.detail), msg.key(), raw))
        self.rejected += 1
        self.reasons[r.reason] = self.reasons.get(r.reason, 0) + 1

    # -- writing -----------------------------------------------------------

    def write(self, offsets):
        """Writes the batch: COPY for the rows it adds, and through the
        temporary tables of TEMP_TABLES for the rows it changes."""
        cur = self.cur
        if self.events:
            copy_rows(cur, "events", ("event_id", "type", "campaign", "at", "topic",
                                      "kafka_partition", "kafka_offset", "raw"), self.events)
        if self.rejections:
            copy_rows(cur, "rejections", ("topic", "kafka_partition", "kafka_offset", "event_id",
                                          "type", "reason", "detail", "key", "raw"),
                      self.rejections)
        campaigns = [c for c in self.campaigns.values() if c and c.dirty]
        new = [c for c in campaigns if c.new]
        if new:
            copy_rows(cur, "campaigns", ("id", "title", "owner", "location", "currency", "target",
                                         "closes_at", "opened_at", "closed_at", "last_at",
                                         "raised", "pledges", "supporters", "comments", "status"),
                      [(c.id, c.title, c.owner, c.location, c.currency, c.target, c.closes_at,
                        c.opened_at, c.closed_at, c.last_at, c.raised, c.pledges, c.supporters,
                        c.comments, status(c)) for c in new])
        changed = [c for c in campaigns if not c.new]
        if changed:
            copy_rows(cur, "campaign_totals", ("id", "closed_at", "last_at", "raised", "pledges",
                                               "supporters", "comments", "status"),
                      [(c.id, c.closed_at, c.last_at, c.raised, c.pledges, c.supporters,
                        c.comments, status(c)) for c in changed])
            cur.execute("UPDATE campaigns c SET closed_at = t.closed_at, last_at = t.last_at,"
                        " raised = t.raised, pledges = t.pledges, supporters = t.supporters,"
                        " comments = t.comments, status = t.status"
                        " FROM campaign_totals t WHERE c.id = t.id")
        pledges = [p for p in self.pledges.values() if p and (p.new or p.dirty)]
        new = [p for p in pledges if p.new]
        if new:
            copy_rows(cur, "pledges", ("id", "campaign", "supporter", "amount", "refunded",
                                       "event_id"),
                      [(p.id, p.campaign, p.supporter, p.amount, p.refunded, p.event_id)
                       for p in new])
        changed = [p for p in pledges if not p.new]
        if changed:
            copy_rows(cur, "pledge_refunds", ("id", "refunded"),
                      [(p.id, p.refunded) for p in changed])
            cur.execute("UPDATE pledges p SET refunded = t.refunded FROM pledge_refunds t"
                        " WHERE p.id = t.id")
        if self.supporters_dirty:
            copy_rows(cur, "supporter_nets", ("campaign", "supporter", "net"),
                      [(c, s, self.supporters[(c, s)]) for c, s in self.supporters_dirty])
            cur.execute("INSERT INTO supporters SELECT campaign, supporter, net FROM supporter_nets"
                        " ON CONFLICT (campaign, supporter) DO UPDATE SET net = EXCLUDED.net")
        if self.new_comments:  # in log order: comments.seq orders the feed
            copy_rows(cur, "comments", ("id", "campaign", "supporter", "name", "text", "at",
                                        "event_id", "removed"),
                      [(*m.row, m.removed) for m in self.new_comments])
        removed = [m.id for m in self.comments.values() if m and m.dirty and not m.new]
        if removed:
            cur.execute("UPDATE comments SET removed = true WHERE id = ANY(%s)", (removed,))
        psycopg2.extras.execute_values(
            cur, "INSERT INTO offsets (topic, kafka_partition, next_offset) VALUES %s"
            " ON CONFLICT (topic, kafka_partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
            [(t, p, o) for (t, p), o in offsets.items()])


def status(c):
    return "open" if c.closed_at is None else "closed"


COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(v):
    """One value in COPY's text format."""
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return v.translate(COPY_ESCAPES)
    if isinstance(v, bytes):
        return "\\\\x" + v.hex()  # bytea's hex form, its backslash escaped for COPY
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v)


def copy_rows(cur, table, columns, rows):
    """Adds rows to table with COPY: PostgreSQL's bulk path, several times
    cheaper for the server than parsing a multi-row INSERT of literals."""
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(map(copy_text, row)))
        buf.write("\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)


# ---------------------------------------------------------------------------
# The consumer


class PgConsumer:
    def __init__(self, args):
        self.args = args
        self.db = psycopg2.connect(args.dsn)
        with self.db.cursor() as cur:
            cur.execute(TEMP_TABLES)
        self.db.commit()
        self.consumer = Consumer({
            "bootstrap.servers": args.brokers,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        })
        self.next = {}  # (topic, partition) -> next offset, for assigned partitions
        self.pending = []  # messages of the batch in hand
        self.batch_started = None  # when its first message came
        self.committed = {}  # (topic, partition) -> next offset committed to PostgreSQL
        self.handled = self.applied = self.rejected = self.duplicates = 0
        self.reasons = {}
        self.first_at = self.last_commit_at = None

    def on_assign(self, consumer, partitions):
        """Starts each partition from the offset stored in PostgreSQL (from
        the beginning when none is: the database is the truth, not Kafka)."""
        with self.db.cursor() as cur:
            cur.execute("SELECT topic, kafka_partition, next_offset FROM offsets")
            stored = {(t, p): o for t, p, o in cur}
        self.db.commit()
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
            self.next[(tp.topic, tp.partition)] = stored.get((tp.topic, tp.partition), 0)
        consumer.assign(partitions)

    def on_revoke(self, consumer, partitions):
        self.flush()  # the batch in hand still belongs to us: commit it first
        for tp in partitions:
            self.next.pop((tp.topic, tp.partition), None)
        consumer.unassign()

    def flush(self):
        """Writes the batch in hand in one transaction, then tells Kafka."""
        msgs, self.pending, self.batch_started = self.pending, [], None
        if not msgs:
            return
        decoded = []
        for m in msgs:
            try:
                decoded.append(decode(m.value(), m.key()))
            except Rejected as r:
                decoded.append(r)
        offsets = {}
        for m in msgs:
            offsets[(m.topic(), m.partition())] = m.offset() + 1
        with self.db.cursor() as cur:
            b = Batch(cur)
            b.load(decoded)
            for m, ev in zip(msgs, decoded):
                b.handle(m, ev)
            b.write(offsets)
        self.db.commit()  # synchronous_commit=on: durable when this returns
        self.last_commit_at = time.monotonic()
        self.next.update(offsets)
        self.committed.update(offsets)
        self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                             asynchronous=True)
        self.applied += b.applied
        self.rejected += b.rejected
        self.duplicates += b.duplicates
        self.handled += b.applied + b.rejected + b.duplicates
        for k, v in b.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v

    def run(self):
        args = self.args
        self.consumer.subscribe([args.topic], on_assign=self.on_assign, on_revoke=self.on_revoke)
        deadline = time.monotonic() + args.timeout
        try:
            while self.handled < args.expect:
                now = time.monotonic()
                if now > deadline:
                    held = [(tp.partition, self.next.get((tp.topic, tp.partition)))
                            for tp in self.consumer.assignment()]
                    print(f"pg_consumer: handled {self.handled} of {args.expect} messages in"
                          f" {args.timeout:g} s; holding (partition, next offset) {held}",
                          file=sys.stderr)
                    return 1
                if self.batch_started is None:
                    wait = args.batch_ms / 1000
                else:
                    wait = max(0.0, self.batch_started + args.batch_ms / 1000 - now)
                room = min(args.batch_max - len(self.pending),
                           args.expect - self.handled - len(self.pending))
                for m in self.consumer.consume(num_messages=max(1, room), timeout=wait):
                    if m.error():
                        if m.error().fatal():
                            raise KafkaException(m.error())
                        print(f"pg_consumer: {m.error()}", file=sys.stderr)
                        continue
                    # A message from before the stored offset, or of a partition
                    # no longer ours, was dealt with already or is another's.
                    nxt = self.next.get((m.topic(), m.partition()))
                    if nxt is None or m.offset() < nxt:
                        continue
                    if self.first_at is None:
                        self.first_at = time.monotonic()
                    if self.batch_started is None:
                        self.batch_started = time.monotonic()
                    self.pending.append(m)
                if self.pending and (len(self.pending) >= args.batch_max or
                                     self.handled + len(self.pending) >= args.expect or
                                     time.monotonic() >= self.batch_started + args.batch_ms / 1000):
                    self.flush()
            if self.committed:  # the last asynchronous commits may still be in flight
                self.consumer.commit(offsets=[TopicPartition(t, p, o)
                                              for (t, p), o in self.committed.items()],
                                     asynchronous=False)
        finally:
            self.pending = []  # not committed: read again on the next start
            self.consumer.close()
            self.db.close()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = (self.last_commit_at or 0) - (self.first_at or 0)
        rate = self.handled / elapsed if elapsed > 0 else 0.0
        print("pg_consumer: rejected by reason: " +
              (" ".join(f"{k}={v}" for k, v in sorted(self.reasons.items())) or "none"),
              file=sys.stderr)
        print(f"handled {self.handled} applied {self.applied} rejected {self.rejected}"
              f" duplicates {self.duplicates} elapsed_s {elapsed:.3f} events_per_s {rate:.1f}"
              f" cpu_s {ru.ru_utime + ru.ru_stime:.2f}", flush=True)
        return 0


# ---------------------------------------------------------------------------
# Campaign totals, in the shape `pledged replay --dry-run` prints them


def print_totals(dsn, out):
    db = psycopg2.connect(dsn)
    with db.cursor() as cur:
        cur.execute('SELECT id, title, owner, location, currency, target, raised, pledges,'
                    ' supporters, comments, status, opened_at, closed_at, last_at, closes_at'
                    ' FROM campaigns ORDER BY id COLLATE "C"')
        for (cid, title, owner, location, currency, target, raised, pledges, supporters,
             comments, status, opened_at, closed_at, last_at, closes_at) in cur:
            span = (closed_at if closed_at is not None else last_at) - opened_at
            days = abs(span) // DAY_MS * (1 if span >= 0 else -1)  # C division truncates
            out.write(json.dumps({
                "id": cid, "title": title, "owner": owner, "location": location,
                "currency": currency, "target": target, "raised": raised, "pledges": pledges,
                "supporters": supporters, "comments": comments, "status": status,
                "opened_at": opened_at, "closed_at": closed_at, "days": max(1, days),
                "closes_at": closes_at,
            }, ensure_ascii=False, separators=(",", ":")) + "\n")
    db.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", required=True, help="libpq connection string")
    ap.add_argument("--create-schema", action="store_true", help="create the tables and exit")
    ap.add_argument("--totals", action="store_true", help="print campaigns as JSON lines and exit")
    ap.add_argument("--brokers", help="Kafka bootstrap servers")
    ap.add_argument("--topic", default="pledges")
    ap.add_argument("--group", default="pg-consumer")
    ap.add_argument("--expect", type=int, help="exit after handling this many messages")
    ap.add_argument("--batch-max", type=int, default=20000, help="messages per batch (20000)")
    ap.add_argument("--batch-ms", type=int, default=50, help="longest wait to fill a batch (50)")
    ap.add_argument("--timeout", type=float, default=3600, help="give up after this many seconds")
    args = ap.parse_args()
    if args.create_schema:
        db = psycopg2.connect(args.dsn)
        with db.cursor() as cur:
            cur.execute(SCHEMA)
        db.commit()
        db.close()
        return 0
    if args.totals:
        print_totals(args.dsn, sys.stdout)
        return 0
    if not args.brokers or args.expect is None:
        ap.error("--brokers and --expect are needed to consume")
    return PgConsumer(args).run()


if __name__ == "__main__":
    sys.exit(main())
