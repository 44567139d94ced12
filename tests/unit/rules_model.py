#!/usr/bin/env python3
"""rules_model.py — the rules of docs/events.md written again, apart from
the C code, to predict what pledged does with a stream of events.

It reads JSON lines as `pledged import` takes them and says, for each line,
whether it is applied (and its log sequence), rejected (and the reason) or
a duplicate; at the end, each campaign as `pledged replay --dry-run` and
GET /v1/campaigns/{id} print it, the visible comment feed of each campaign
(GET /v1/campaigns/{id}/comments, newest first), the platform totals
(GET /v1/totals), and which log entries and rejections an erasure
overwrote. Everything here comes from docs/events.md, docs/http.md and
the README (points in time), and import's --help (a line rejected before
is a duplicate); where they leave an order open (which of two broken rules
an event is refused for), the code's order is taken and said so.

    python3 rules_model.py [--now MS] < events.jsonl   # one JSON line per input line, then the figures
"""
import json
import re
import sys
import time

DAY_MS = 86400000
EARLIEST_MS = 946684800000  # 2000-01-01T00:00:00Z, serve's earliest_event_time
SKEW_MS = DAY_MS            # max_clock_skew_s
MAX_AMOUNT = 10**12
INT64_MAX = 2**63 - 1
MAX_ID = 64
ERASED_TEXT = "(erased)"
# What a point-in-time replay may miss when it leaves later events out.
DEPENDS_ON_EARLIER = {"unknown_campaign", "unknown_pledge", "unknown_comment", "not_a_backer",
                      "total_overflow"}

# Fields, in the order of the tables of events.md: (key, kind, min, max, required).
# kind: "str" (limits in UTF-8 bytes), "int", "cur" (a currency code).
COMMON = [("id", "str", 1, MAX_ID, True), ("at", "int", 0, INT64_MAX, True)]
CAMPAIGN = [("campaign", "str", 1, MAX_ID, True)]
TYPES = {
    "campaign.opened": CAMPAIGN + [
        ("title", "str", 0, 200, True), ("owner", "str", 0, 200, True),
        ("currency", "cur", 3, 3, True), ("location", "str", 0, 200, False),
        ("target", "int", 0, INT64_MAX, False), ("closes_at", "int", 0, INT64_MAX, False)],
    "campaign.closed": CAMPAIGN,
    "pledge.created": CAMPAIGN + [
        ("currency", "cur", 3, 3, True), ("pledge", "str", 1, MAX_ID, True),
        ("supporter", "str", 1, MAX_ID, True), ("amount", "int", 1, MAX_AMOUNT, True),
        ("name", "str", 0, 100, False)],
    "pledge.refunded": CAMPAIGN + [
        ("pledge", "str", 1, MAX_ID, True), ("amount", "int", 1, MAX_AMOUNT, True)],
    "comment.posted": CAMPAIGN + [
        ("supporter", "str", 1, MAX_ID, True), ("name", "str", 0, 100, False),
        ("comment", "str", 1, MAX_ID, True), ("text", "str", 1, 4000, True)],
    "comment.removed": CAMPAIGN + [("comment", "str", 1, MAX_ID, True)],
    "supporter.forgotten": [
        ("supporter", "str", 1, MAX_ID, True), ("by", "str", 0, 200, False)],
}

WORD = re.compile(rb"[A-Za-z0-9._\-]|[\x80-\xff]")


def is_word_byte(b):
    return WORD.match(bytes([b])) is not None


def holds_word(text, word):
    """Whether text holds word with no word byte (events.md's ids) either side."""
    t, w = text.encode(), word.encode()
    i = t.find(w)
    while i >= 0:
        end = i + len(w)
        if (i == 0 or not is_word_byte(t[i - 1])) and (end == len(t) or not is_word_byte(t[end])):
            return True
        i = t.find(w, i + 1)
    return False


def strings_of(value):
    """Every string of a JSON value, map keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings_of(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_of(v)


def check_message(ev):
    """The reason a message is refused on its own ("Checked on the message alone"), or None."""
    if not isinstance(ev, dict):
        return "bad_msgpack"
    if "type" not in ev:
        return "missing_field"
    if not isinstance(ev["type"], str):
        return "wrong_type"
    if ev["type"] not in TYPES:
        return "unknown_type"
    if "v" not in ev:
        return "missing_field"
    if not isinstance(ev["v"], int) or isinstance(ev["v"], bool):
        return "wrong_type"
    if ev["v"] != 1:
        return "unsupported_version"
    fields = COMMON + TYPES[ev["type"]]
    for key, kind, lo, hi, required in fields:
        if key not in ev:
            if required:
                return "missing_field"
            continue
        value = ev[key]
        if kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                return "wrong_type"
            if not lo <= value <= hi:
                return "out_of_range"
        else:
            if not isinstance(value, str):
                return "wrong_type"
            n = len(value.encode())
            if n < lo:
                return "too_short"
            if n > hi:
                return "too_long"
    cur = ev.get("currency")
    if any(k == "currency" for k, *_ in fields) and not re.fullmatch(r"[A-Z]{3}", cur):
        return "bad_currency"
    return None


def known_fields(ev):
    """The event as its type reads it: keys it ignores left out."""
    keys = {"v", "type"} | {k for k, *_ in COMMON + TYPES[ev["type"]]}
    return {k: v for k, v in ev.items() if k in keys}


class Campaign:
    def __init__(self, cid, ev):
        self.id = cid
        self.title, self.owner, self.currency = ev["title"], ev["owner"], ev["currency"]
        self.location = ev.get("location")
        self.target = ev.get("target")
        self.closes_at = ev.get("closes_at")
        self.opened_at = self.last_at = ev["at"]
        self.closed_at = None
        self.raised = self.pledges = 0

    def touch(self, at):
        """An event of the campaign's own: days count to the latest."""
        self.last_at = max(self.last_at, at)


class Model:
    def __init__(self, now_ms):
        self.now = now_ms
        self.ids = set()           # ids of applied events, erasures included
        self.rejected_lines = set()
        self.campaigns = {}
        self.pledges = {}          # pledge id -> {campaign, supporter, amount, refunded}
        self.comments = {}         # comment id -> {campaign, supporter, name, text, at, seq,
                                   #                removed, removed_by: the entry that removed it first}
        self.net = {}              # (campaign, supporter) -> net pledged amount
        self.log = []              # applied: {line, seq, event, erased}
        self.rejections = []       # {line, reason, event, erased}

    # -- one line -----------------------------------------------------------
    def feed(self, line, text):
        """Judges input line number `line`; returns ("applied", seq), ("rejected", reason) or ("duplicate",)."""
        # import --help: lines kept as rejections are known by their bytes.
        if text in self.rejected_lines:
            return ("duplicate",)
        try:
            ev = json.loads(text)
        except ValueError:
            return ("skipped",)
        reason = check_message(ev)
        if reason:
            return self.reject(line, text, ev, reason)
        # "Only then is the id looked up": an id applied before is a duplicate.
        if ev["id"] in self.ids:
            return ("duplicate",)
        if not EARLIEST_MS <= ev["at"] <= self.now + SKEW_MS:
            return self.reject(line, text, ev, "out_of_range")
        reason = self.rule(ev)
        if reason:
            return self.reject(line, text, ev, reason)
        seq = len(self.log) + 1
        entry = {"line": line, "seq": seq, "event": dict(ev), "erased": False}
        self.ids.add(ev["id"])
        if ev["type"] == "supporter.forgotten":
            self.forget(ev["supporter"])
        self.log.append(entry)
        self.apply(ev, seq)
        return ("applied", seq)

    def reject(self, line, text, ev, reason):
        self.rejected_lines.add(text)
        self.rejections.append({"line": line, "reason": reason, "event": ev, "erased": False})
        return ("rejected", reason)

    # -- "Checked against what came before" ---------------------------------
    def rule(self, ev):
        t = ev["type"]
        c = self.campaigns.get(ev.get("campaign"))
        if t == "campaign.opened":
            return "campaign_exists" if c else None
        if t == "campaign.closed":
            if not c:
                return "unknown_campaign"
            return "campaign_closed" if c.closed_at is not None else None
        if t == "pledge.created":
            # The code's order where more than one is broken.
            if not c:
                return "unknown_campaign"
            if c.closed_at is not None:
                return "campaign_closed"
            if ev["currency"] != c.currency:
                return "currency_mismatch"
            if ev["pledge"] in self.pledges:
                return "duplicate_pledge"
            if c.raised + ev["amount"] > INT64_MAX:
                return "total_overflow"
            return None
        if t == "pledge.refunded":
            p = self.pledges.get(ev["pledge"])
            if not p or p["campaign"] != ev["campaign"]:
                return "unknown_pledge"
            if ev["amount"] > p["amount"] - p["refunded"]:
                return "refund_exceeds_pledge"
            return None
        if t == "comment.posted":
            if not c:
                return "unknown_campaign"
            if self.net.get((c.id, ev["supporter"]), 0) <= 0:
                return "not_a_backer"
            if ev["comment"] in self.comments:
                return "duplicate_comment"
            return None
        if t == "comment.removed":
            m = self.comments.get(ev["comment"])
            if not m or m["campaign"] != ev["campaign"] or m["removed"]:
                return "unknown_comment"
            return None
        return None  # supporter.forgotten: never rejected by a rule

    # -- what an applied event changes --------------------------------------
    def apply(self, ev, seq):
        t = ev["type"]
        if t == "supporter.forgotten":
            return
        cid = ev["campaign"]
        if t == "campaign.opened":
            self.campaigns[cid] = Campaign(cid, ev)
            return
        c = self.campaigns[cid]
        c.touch(ev["at"])
        if t == "campaign.closed":
            # "never before opened_at" (http.md)
            c.closed_at = max(ev["at"], c.opened_at)
        elif t == "pledge.created":
            self.pledges[ev["pledge"]] = {"campaign": cid, "supporter": ev["supporter"],
                                          "amount": ev["amount"], "refunded": 0}
            c.raised += ev["amount"]
            c.pledges += 1
            key = (cid, ev["supporter"])
            self.net[key] = self.net.get(key, 0) + ev["amount"]
        elif t == "pledge.refunded":
            p = self.pledges[ev["pledge"]]
            p["refunded"] += ev["amount"]
            c.raised -= ev["amount"]
            key = (cid, p["supporter"])  # the pledge's supporter, whatever the refund says
            self.net[key] -= ev["amount"]
        elif t == "comment.posted":
            self.comments[ev["comment"]] = {
                "campaign": cid, "supporter": ev["supporter"], "name": ev.get("name"),
                "text": ev["text"], "at": ev["at"], "seq": seq, "removed": False,
                "removed_by": None}
        elif t == "comment.removed":
            self.hide(self.comments[ev["comment"]], seq)

    @staticmethod
    def hide(m, seq):
        """Comment m shows as removed, by entry seq if it showed until now."""
        if not m["removed"]:
            m["removed"], m["removed_by"] = True, seq

    def forget(self, supporter):
        """The right to erasure, on what came before it."""
        for e in self.log:
            ev = e["event"]
            if ev.get("supporter") == supporter and ("name" in ev or "text" in ev):
                e["erased"] = True
                ev.pop("name", None)
                if "text" in ev:
                    ev["text"] = ERASED_TEXT
        for m in self.comments.values():
            if m["supporter"] == supporter:
                self.hide(m, len(self.log) + 1)  # money and supporters stay
                m["name"], m["text"] = None, ERASED_TEXT
        for r in self.rejections:
            if any(holds_word(s, supporter) for s in strings_of(r["event"])):
                r["erased"] = True

    # -- a point in time ----------------------------------------------------
    def replay(self, until_seq=None, until_time=None):
        """The log replayed as `replay --dry-run` does: entries 1..until_seq, or
        those timed at or before until_time, in log order, leaving out those that
        then miss what they refer to (README: point in time; http.md: history).
        Returns (model, left out later, left out depending on them)."""
        cut = Model(self.now)
        later = dependent = 0
        for e in self.log:
            ev, seq = e["event"], e["seq"]
            if until_seq is not None and seq > until_seq:
                break
            if until_time is not None and ev["at"] > until_time:
                later += 1
                continue
            reason = cut.rule(ev)
            if reason in DEPENDS_ON_EARLIER and later:
                dependent += 1
                continue
            if reason:
                raise ValueError("log entry %d refused on replay: %s" % (seq, reason))
            cut.log.append(e)
            if ev["type"] == "supporter.forgotten":
                # A comment counts as removed by what removed it first in the log.
                for k, m in cut.comments.items():
                    if self.comments[k]["removed_by"] == seq:
                        cut.hide(m, seq)
            cut.apply(ev, seq)
        return cut, later, dependent

    # -- what readers see ---------------------------------------------------
    def supporters(self, cid):
        return sum(1 for (c, _), n in self.net.items() if c == cid and n > 0)

    def campaign_view(self, cid):
        c = self.campaigns[cid]
        end = c.closed_at if c.closed_at is not None else c.last_at
        return {
            "id": cid, "title": c.title, "owner": c.owner, "location": c.location,
            "currency": c.currency, "target": c.target, "raised": c.raised,
            "pledges": c.pledges, "supporters": self.supporters(cid),
            "comments": sum(1 for m in self.comments.values()
                            if m["campaign"] == cid and not m["removed"]),
            "status": "open" if c.closed_at is None else "closed",
            "opened_at": c.opened_at, "closed_at": c.closed_at,
            "days": max(1, (end - c.opened_at) // DAY_MS), "closes_at": c.closes_at}

    def feed_view(self, cid):
        """The visible comments, newest first; of one millisecond, the highest id first."""
        shown = [(m["at"], k.encode(), k, m) for k, m in self.comments.items()
                 if m["campaign"] == cid and not m["removed"]]
        shown.sort(key=lambda x: (x[0], x[1]), reverse=True)
        return [{"id": k, "name": m["name"], "text": m["text"], "at": at}
                for at, _, k, m in shown]

    def feed_as_of(self, cid, t):
        """The feed at time t (http.md): comments timed by then and not removed
        by then, a removal counting from its comment's time if later; a
        comment whose author was forgotten since never shows."""
        shown = []
        for k, m in self.comments.items():
            if m["campaign"] != cid or m["at"] > t or m["text"] == ERASED_TEXT:
                continue
            by = m["removed_by"] and self.log[m["removed_by"] - 1]["event"]
            if by and max(by["at"], m["at"]) <= t:
                continue
            shown.append((m["at"], k.encode(), k, m))
        shown.sort(key=lambda x: (x[0], x[1]), reverse=True)
        return [{"id": k, "name": m["name"], "text": m["text"], "at": at}
                for at, _, k, m in shown]

    def list_view(self, status=None, sort=None):
        """GET /v1/campaigns: by id (bytes), or sorted with ties by id."""
        views = [self.campaign_view(c) for c in sorted(self.campaigns, key=str.encode)]
        if sort == "closing":
            status = "open"
        if status:
            views = [v for v in views if v["status"] == status]
        if sort == "raised":
            views.sort(key=lambda v: -v["raised"])
        elif sort == "newest":
            views.sort(key=lambda v: -v["opened_at"])
        elif sort == "closing":
            views.sort(key=lambda v: INT64_MAX if v["closes_at"] is None else v["closes_at"])
        return views

    def totals_view(self):
        out = {}
        for c in self.campaigns.values():
            t = out.setdefault(c.currency, {"currency": c.currency, "raised": 0, "pledges": 0,
                                            "campaigns": {"open": 0, "closed": 0},
                                            "backers": set()})
            t["raised"] += c.raised
            t["pledges"] += c.pledges
            t["campaigns"]["open" if c.closed_at is None else "closed"] += 1
            t["backers"].update(s for (cid, s), n in self.net.items() if cid == c.id and n > 0)
        for t in out.values():
            t["supporters"] = len(t.pop("backers"))
            if t["raised"] > INT64_MAX:
                t["raised"] = str(t["raised"])
        return [out[k] for k in sorted(out)]


def main():
    now = int(time.time() * 1000)
    if len(sys.argv) == 3 and sys.argv[1] == "--now":
        now = int(sys.argv[2])
    model = Model(now)
    for n, text in enumerate(sys.stdin, 1):
        text = text.rstrip("\r\n")
        if text:
            print(json.dumps({"line": n, "outcome": list(model.feed(n, text))}))
    for cid in sorted(model.campaigns, key=str.encode):
        print(json.dumps(model.campaign_view(cid)))


if __name__ == "__main__":
    main()
