# feed_gen.awk — generated campaigns for the random-order tests, as JSON lines:
#   awk -v seed=7 -v campaigns=6 -v events=12000 -v id=o -v name=ord -v erasures=1 -f feed_gen.awk
# Every event is valid where it stands, but for the ones meant to be rejected
# whatever came before (a negative amount, an unknown type): fed again
# through Kafka, a message the rules refused would be judged again against
# a later state, and a feed sent twice would then differ from one import.
# Refunds within what is left of their pledge, comments by backers, removals
# of comments still shown, re-sent ids of pledges of the same campaign (so
# that a data dir holding only that campaign's partition knows them), and
# with erasures=1 supporter.forgotten (which reaches every campaign: only
# where one data dir holds them all).
function ev(type, rest, at_id) {
	printf "{\"v\":1,\"type\":\"%s\",\"id\":\"%s-%d\",\"at\":%.0f%s}\n", type, id, at_id, t, rest
}
BEGIN {
	srand(seed); t = 1590000000000; n = 0; p = 0; m = 0
	for (c = 1; c <= campaigns; c++)
		ev("campaign.opened", sprintf(",\"campaign\":\"%s-%d\",\"title\":\"%s %d\",\"owner\":\"o\",\"location\":\"l\",\"currency\":\"EUR\",\"closes_at\":%.0f", name, c, name, c, t + 86400000 * 30), ++n)
	for (i = 1; i <= events; i++) {
		c = 1 + int(rand() * campaigns); s = int(rand() * 400); t += 1000 + int(rand() * 60000)
		r = rand(); k = 1 + int(rand() * (p + 1)); q = 1 + int(rand() * (m + 1))
		if (r < 0.70 || p == 0) {
			p++; camp[p] = c; left[p] = 100 + int(rand() * 5000); sup[p] = s
			net[c, s] += left[p]; applied[c, ++a[c]] = n + 1
			ev("pledge.created", sprintf(",\"campaign\":\"%s-%d\",\"pledge\":\"%sp-%d\",\"supporter\":\"%ss-%d\",\"amount\":%d,\"currency\":\"EUR\",\"name\":\"Supporter %d\"", name, c, id, p, id, s, left[p], s), ++n)
		} else if (r < 0.78 && k <= p && left[k] > 0) {
			x = 1 + int(rand() * left[k]); left[k] -= x; net[camp[k], sup[k]] -= x
			ev("pledge.refunded", sprintf(",\"campaign\":\"%s-%d\",\"pledge\":\"%sp-%d\",\"amount\":%d", name, camp[k], id, k, x), ++n)
		} else if (r < 0.90 && k <= p && net[camp[k], sup[k]] > 0) {
			m++; ccamp[m] = camp[k]; author[m] = sup[k]; shown[m] = 1
			ev("comment.posted", sprintf(",\"campaign\":\"%s-%d\",\"comment\":\"%sc-%d\",\"supporter\":\"%ss-%d\",\"name\":\"Supporter %d\",\"text\":\"comment %d\"", name, camp[k], id, m, id, sup[k], sup[k], m), ++n)
		} else if (r < 0.93 && q <= m && shown[q]) {
			shown[q] = 0
			ev("comment.removed", sprintf(",\"campaign\":\"%s-%d\",\"comment\":\"%sc-%d\"", name, ccamp[q], id, q), ++n)
		} else if (r < 0.95 && erasures) {
			for (j = 1; j <= m; j++)
				if (author[j] == s)
					shown[j] = 0
			ev("supporter.forgotten", sprintf(",\"supporter\":\"%ss-%d\",\"by\":\"ticket %d\"", id, s, i), ++n)
		} else if (r < 0.97) {
			ev("pledge.created", sprintf(",\"campaign\":\"%s-%d\",\"pledge\":\"%sx-%d\",\"supporter\":\"%ss-%d\",\"amount\":-5,\"currency\":\"EUR\"", name, c, id, i, id, s), ++n)
		} else if (r < 0.98) {
			ev("pledge.teleported", sprintf(",\"campaign\":\"%s-%d\"", name, c), ++n)
		} else if (a[c]) {
			# the id of a pledge of this campaign applied before: a duplicate
			ev("pledge.created", sprintf(",\"campaign\":\"%s-%d\",\"pledge\":\"%sd-%d\",\"supporter\":\"%ss-%d\",\"amount\":100,\"currency\":\"EUR\"", name, c, id, i, id, s), applied[c, 1 + int(rand() * a[c])])
		}
	}
}
