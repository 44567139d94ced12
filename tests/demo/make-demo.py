#!/usr/bin/env python3
"""Writes campaign.jsonl: the demo event stream for the seed campaign page.

The page (../../../shared/seed/campaign-page.txt) says: "On 23rd January 2020
we successfully raised £58,041 with 1975 supporters in 19 days", and shows
ten comments. This stream reproduces exactly that: 1975 distinct supporters
with a positive net, pledges netting 5804100 pence, open 19 whole days, the
ten comments with their authors and dates, plus what real streams have:
repeat pledges, partial and full refunds, supporters who refunded everything
(and so do not count), and a spam comment removed by a moderator.

Deterministic: re-running it writes the same bytes. Run: python3 make-demo.py
"""
import json
import random
from datetime import datetime, timezone

CAMPAIGN = "jess-phillips-for-labour-leader"
SUPPORTERS = 1975
RAISED = 5804100


def ms(text):
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


OPENED = ms("2020-01-04T10:00:00")
CLOSED = ms("2020-01-23T18:00:00")

# (name, supporter id, comment time, text) newest first, as on the page.
COMMENTS = [
    ("Tom W", "2020-01-15T21:40:00", "Vital that truth is spoken to power to repair the economic and social damage that has been done to our country. Jess is the most clear and passionate advocate of the change that is needed."),
    ("Diane Dixon", "2020-01-15T20:15:00", "Jess, you are a beacon of hope after four years of disastrous leadership. I have rejoined Labour as an affiliated supporter to vote for you and Ian Murray. The very best of luck"),
    ("tony.ohagan", "2020-01-15T18:02:00", "Can't think of anyone better to help our party learn the lessons of the last election and take the fight to the Tories and win back support. #jesswecan"),
    ("Clive Smith", "2020-01-15T12:30:00", "I truly hope you can being the Labour Party together again. I know the county needs the Labour Party to lead agin but it also needs a credible opposition for the next 5 years that will hold the Tories to account and make sure they do not take anything for granted! I wish you all the best Jess, and thank you for standing for leader!"),
    ("Bob Holloway", "2020-01-14T22:10:00", "I left the party last year as I could no longer support the leadership. Today I have rejoined so that I can vote and support you and vote for you to become leader of the labour Party"),
    ("Simon Tarlton", "2020-01-14T19:45:00", "I have never voted Labour before - I voted Lib Dem at the General Election out of total frustration and anger at the Conservative Party. But just when I though all was lost in our political system up pops Jess - at last someone with honesty, integrity who seems to truly understand the issues confronting the country and to be motivated only by a genuine desire to do good and to improve lives. I couldn't in all honesty ever join the Labour party because of their policy on the Public School system. My son has been the recipient of an amazing education in that system through a generous scholarship and it would be hypocritical of me to join a party that campaigned for the demolition of the same system. However, I truly believe that Jess represents all that can be good about our politics and our country and she deserves every bit of support and encouragement."),
    ("kathyt", "2020-01-14T17:20:00", "Labour needs a charismatic leader if it is ever to win another General Election and I believe that Jess Phillips is the only candidate with any charisma combined with empathy."),
    ("richard.olszewski", "2020-01-14T15:05:00", "I support Jess Phillips for Labour Leader as she will be a complete break with the failed Corbyn years. She is prepared to be bold and ambitious for Labour to win next time, not in 10 years time. There's no better choice."),
    ("Marcus Paine", "2020-01-14T11:30:00", "Hi Jess Whilst I am not a member of any particular political party I am moved on this particular occasion to contribute to your campaign as I sincerely believe in your honesty and integrity. The average voter who is not tethered to any political affiliation is left only to choose the least worst option with what has been on offer over the recent period....and I feel we yearn for someone like you to step forward. As someone who started a business from zero 25 years ago and has steadily and organically grown it to 40 staff with all the difficulty and pain that that has required of us all I find nowhere for us to cast a vote that understands the needs and demands on both the UK SME Business and it's loyal staff.....and so I choose honesty, decent caring honesty and therefore to contribute to you. I wish you the very best of luck in what I can only imagine must be a very tough process. I hope you succeed and can represent all people who do their best whatever their circumstances. Kind regards. Marcus"),
    ("Jo Miller", "2020-01-14T09:12:00", "I can’t think of a better person to lead Labour to success than Jess. She not only speaks for the people as ‘one of the people’ but speaks in clear sentences with no hidden agenda. She doesn’t do the traditional question dodging favoured by most politicians, she answers truthfully and is honest about what is achievable if we all pull together and, that’s what we need right now, transparency and dedication. Goooo on Jess, keep doing what you’ve been doing x"),
]

AMOUNTS = [500, 1000, 1000, 1000, 1500, 2000, 2000, 2500, 2500, 3000, 5000, 5000, 10000]


def main():
    rng = random.Random(2020)
    events = []
    counter = [0]

    def add(at, typ, **fields):
        counter[0] += 1
        ev = {"v": 1, "type": typ, "id": "demo-%06d" % counter[0], "at": at, "campaign": CAMPAIGN}
        ev.update(fields)
        events.append(ev)

    add(OPENED, "campaign.opened", title="Jess Phillips for Labour Leader campaign",
        owner="Jess Phillips for Labour Leader", location="Birmingham, England, United Kingdom",
        currency="GBP", closes_at=CLOSED)

    span = CLOSED - OPENED - 60_000
    pledges = []  # (at, supporter, pledge id, amount, name)
    commenters = {name: "sup-%04d" % (i + 1) for i, (name, _, _) in enumerate(COMMENTS)}
    names = {sup: name for name, sup in commenters.items()}
    for n in range(1, SUPPORTERS + 1):
        sup = "sup-%04d" % n
        at = OPENED + 60_000 + rng.randrange(span)
        if sup in names:  # commenters backed the campaign before they commented
            comment_at = ms(next(t for nm, t, _ in COMMENTS if nm == names[sup]))
            at = comment_at - 3_600_000 - rng.randrange(86_400_000)
        name = names.get(sup) or (None if rng.random() < 0.3 else "Supporter %d" % n)
        pledges.append([at, sup, "pl-%05d" % n, rng.choice(AMOUNTS), name])
    # Repeat pledges from 40 supporters.
    for k, n in enumerate(rng.sample(range(1, SUPPORTERS + 1), 40)):
        first = pledges[n - 1]
        at = first[0] + 1 + rng.randrange(max(1, CLOSED - 1 - first[0] - 1))
        pledges.append([at, first[1], "pl-r%03d" % k, rng.choice(AMOUNTS), first[4]])
    # Five supporters who pledge and later take it all back: they do not count.
    gone = []
    for k in range(5):
        at = OPENED + 60_000 + rng.randrange(span // 2)
        p = [at, "sup-gone-%d" % k, "pl-gone-%d" % k, 2000, None]
        pledges.append(p)
        gone.append(p)
    # Make the net come out exactly: adjust the last ordinary pledge.
    partial = [(p, 200) for p in pledges[100:120]]  # 20 partial refunds of 2 pounds
    for p, _ in partial:
        p[3] = max(p[3], 1000)
    net = sum(p[3] for p in pledges) - sum(p[3] for p in gone) - sum(a for _, a in partial)
    pledges[SUPPORTERS - 1][3] += RAISED - net
    assert pledges[SUPPORTERS - 1][3] > 0

    timeline = []
    for at, sup, pid, amount, name in pledges:
        fields = dict(pledge=pid, supporter=sup, amount=amount, currency="GBP")
        if name:
            fields["name"] = name
        timeline.append((at, "pledge.created", fields))
    for p, amount in partial:
        timeline.append((p[0] + 3_600_000, "pledge.refunded", dict(pledge=p[2], amount=amount)))
    for p in gone:
        timeline.append((p[0] + 86_400_000, "pledge.refunded", dict(pledge=p[2], amount=p[3])))
    for i, (name, when, text) in enumerate(COMMENTS):
        timeline.append((ms(when), "comment.posted",
                         dict(comment="c-%02d" % (len(COMMENTS) - i), supporter=commenters[name],
                              name=name, text=text)))
    spam_at = ms("2020-01-16T03:00:00")
    spammer = next(p[1] for p in pledges[20:] if p[0] < spam_at - 3_600_000 and p[1] not in names)
    timeline.append((spam_at, "comment.posted", dict(comment="c-spam", supporter=spammer,
                                                     text="Cheap watches at example.invalid")))
    timeline.append((spam_at + 600_000, "comment.removed", dict(comment="c-spam")))
    timeline.sort(key=lambda e: e[0])
    for at, typ, fields in timeline:
        add(at, typ, **fields)
    add(CLOSED, "campaign.closed")

    with open("campaign.jsonl", "w", encoding="utf-8") as f:
        for ev in events:
            f.write(json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
