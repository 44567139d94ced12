// test_page_live.mjs — the campaign page's script in headless Chromium,
// driven like a person would: "Show more" loads older comments; totals,
// the chart and comments change on the page, without a reload, when events
// arrive through Kafka, also after the connection dropped (through a TCP
// proxy the test cuts), and removals and more comments than a page that
// arrive at once leave the feed in order, with no gap, a late "Show more"
// answer too, a removal and a post while cut off show after the
// reconnect, and so does a removal while comments are on their way, and a
// post whose comments a cache in front answered from before it; the list of campaigns is cards with the crowd's
// totals, and campaign "." opens and goes live, as does one with a NUL in
// its id; money above 2^53 minor
// units stays exact; a server that lost Kafka says so on the open page
// ("Updates paused since ..."), and takes it back when the group forms
// again; a dashboard on another origin reads a campaign, its ETag and
// X-Pledged-Seq, revalidates it and follows its stream (CORS).
// Screenshots at desktop and phone widths go to OUT_DIR.
//
// Usage: node test_page_live.mjs PLEDGED SERVE_FIXTURE DEMO_JSONL [OUT_DIR]
// Runs `pledged serve` on its embedded broker with the demo campaign plus 15
// more comments, then drives the page with playwright-core (npm, no browser
// download: it uses Debian's /usr/bin/chromium). Exit 77 (skip) when
// playwright-core or chromium is not installed.
import { spawn, spawnSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { check, failure, finish, launchChromium, sleep, until } from "./page_lib.mjs";

const [pledged, fixture, demo, out] = process.argv.slice(2);
const CAMPAIGN = "jess-phillips-for-labour-leader";

function publish(dir, lines) {
	const r = spawnSync(pledged, ["publish", "--data", dir], { input: lines, encoding: "utf8" });
	check(r.status === 0, `publish exits 0 (${r.stderr})`);
}

/* A page with routes closes with its handlers' late errors dropped: a
 * handler still waiting when the page goes (the page asks again on its own
 * timers) would otherwise reject after the close, and end the test. */
async function closeRouted(page) {
	await page.unrouteAll({ behavior: "ignoreErrors" });
	await page.close();
}

/* Money as the page writes it, from exact minor units (GBP). */
function pounds(minor) {
	const whole = (minor / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
	const pence = minor % 100n;
	return "£" + whole + (pence ? "." + pence.toString().padStart(2, "0") : "");
}

/* A TCP proxy the test can cut: every connection dropped, new ones refused
 * until resumed. Records the Last-Event-ID of the requests it forwards. */
function cuttableProxy(port) {
	const sockets = new Set();
	const proxy = { accepting: true, lastEventIds: [] };
	proxy.server = net.createServer((client) => {
		if (!proxy.accepting) {
			client.destroy();
			return;
		}
		const upstream = net.connect(port, "127.0.0.1");
		const close = () => {
			client.destroy();
			upstream.destroy();
			sockets.delete(client);
			sockets.delete(upstream);
		};
		for (const s of [client, upstream]) {
			sockets.add(s);
			s.on("close", close);
			s.on("error", close);
		}
		client.on("data", (d) => {
			const m = /\r\nlast-event-id: *([^\r]*)/i.exec(d.toString("latin1"));
			if (m) proxy.lastEventIds.push(m[1]);
			upstream.write(d);
		});
		upstream.on("data", (d) => client.write(d));
	});
	proxy.cut = () => {
		proxy.accepting = false;
		for (const s of sockets) s.destroy();
	};
	return new Promise((resolve) => proxy.server.listen(0, "127.0.0.1", () => {
		proxy.port = proxy.server.address().port;
		resolve(proxy);
	}));
}

function event(n, fields) {
	return JSON.stringify({ v: 1, id: `live-${n}`, campaign: CAMPAIGN, ...fields });
}

const work = mkdtempSync(join(tmpdir(), "pledged-page-live-"));
const dir = join(work, "data");
let log = "";
const serve = spawn(pledged, ["serve", "--data", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--batch-ms", "5"]);
serve.stderr.on("data", (chunk) => (log += chunk));
let browser;
let proxy;
try {
	let port = 0;
	await until("serve to listen", () => {
		const m = log.match(/HTTP on \S+ \(port (\d+)\)/);
		port = m ? Number(m[1]) : 0;
		return port > 0 && existsSync(join(dir, "broker.address"));
	}, 20000);
	check(port > 0, `serve started (${log})`);
	const base = `http://127.0.0.1:${port}`;
	const summary = async () => (await fetch(`${base}/v1/campaigns/${CAMPAIGN}`)).json().catch(() => ({}));

	// The demo, then 15 more comments from a backer: 25 in all.
	publish(dir, readFileSync(demo, "utf8"));
	const more = [];
	for (let i = 0; i < 15; i++) {
		more.push(event(i, {
			type: "comment.posted", at: 1579000000000 - i * 60000, comment: `live-c${i}`,
			supporter: "sup-0001", name: `Reader ${i}`, text: `Older comment ${i}`,
		}));
	}
	publish(dir, more.join("\n") + "\n");
	check(await until("25 comments applied", async () => (await summary()).comments === 25, 30000),
		"the extra comments are applied");

	browser = await launchChromium();
	// A dashboard served from another origin (a page of its own, no CSP)
	// reads the figures and how fresh they are, revalidates (a preflight
	// first: If-None-Match is no simple header) and follows the stream.
	const dashboard = http.createServer((req, res) => {
		res.setHeader("Content-Type", "text/html");
		res.end("<!doctype html><title>dashboard</title>");
	});
	await new Promise((resolve) => dashboard.listen(0, "127.0.0.1", resolve));
	const elsewhere = await browser.newPage();
	await elsewhere.goto(`http://127.0.0.1:${dashboard.address().port}/`);
	const seen = await elsewhere.evaluate(async ([api, campaign]) => {
		const within = (what, p) => Promise.race([p, new Promise((_, no) =>
			setTimeout(() => no(new Error(`${what}: no answer in 5 s`)), 5000))]);
		const first = await within("the campaign", fetch(`${api}/v1/campaigns/${campaign}`));
		const body = await first.json();
		const etag = first.headers.get("ETag");
		const again = await within("the revalidation", fetch(`${api}/v1/campaigns/${campaign}`,
			{ headers: { "If-None-Match": etag }, cache: "no-store" }));
		const event = await within("the stream", new Promise((resolve) => {
			const es = new EventSource(`${api}/v1/campaigns/${campaign}/stream`);
			es.addEventListener("summary", (e) => { es.close(); resolve(e.data.length > 0); });
			es.onerror = () => { es.close(); resolve(false); };
		}));
		return { raised: body.raised, etag, seq: first.headers.get("X-Pledged-Seq"),
			 again: again.status, event };
	}, [base, CAMPAIGN]).catch((e) => ({ error: String(e) }));
	check(!seen.error && seen.raised !== undefined, `another origin reads a campaign (${JSON.stringify(seen)})`);
	check(seen.etag && seen.seq, `and its ETag and X-Pledged-Seq (${JSON.stringify(seen)})`);
	check(seen.again === 304, `and revalidates it after a preflight (${JSON.stringify(seen)})`);
	check(seen.event === true, `and follows its stream (${JSON.stringify(seen)})`);
	await elsewhere.close();
	dashboard.close();
	const page = await browser.newPage();
	const consoleErrors = [];
	page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
	page.on("pageerror", (e) => consoleErrors.push(String(e)));
	await page.goto(`${base}/`);
	const raised = async () => (await page.textContent("#raised")).trim();
	const items = () => page.locator("#comments > li").count();
	check((await raised()) === "£58,041", `the page shows £58,041 (${await raised()})`);
	check((await items()) === 20, `20 comments on the first page (${await items()})`);
	const chartValues = async (p) => (await p.getAttribute("#chart", "data-values")).split(" ");
	const values = await chartValues(page);
	const points = (await page.getAttribute("#chart-line", "points")).split(" ");
	check(values.length >= 2 && points.length === values.length,
		`the chart has a point per value (${values.length}, ${points.length})`);
	check(values[0] === "0" && values[values.length - 1] === "5804100",
		`the chart runs from 0 to the total (${values[0]} .. ${values[values.length - 1]})`);
	check((await page.textContent("#chart-raised")).trim() === "£58,041", "the chart's caption says the total");
	// Nothing the page asks for is missing (an icon included), and no script fails.
	await sleep(500);
	check(consoleErrors.length === 0, `no errors in the console (${consoleErrors.join("; ")})`);
	if (out) {
		await page.screenshot({ path: join(out, "page-desktop.png") });
		const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
		await phone.goto(`${base}/`);
		await phone.screenshot({ path: join(out, "page-phone.png") });
		await phone.close();
	}

	// "Show more" appends the 5 older ones in place and then disappears.
	await page.click("#more");
	check(await until("25 comments shown", async () => (await items()) === 25, 10000),
		"Show more loads the older comments");
	check((await page.locator("#more").count()) === 0, "no Show more once all are shown");
	const last = (await page.locator("#comments > li").last().textContent()) || "";
	check(last.includes("Jo Miller"), `the oldest comment, Jo Miller's, comes last (${last.slice(0, 40)})`);

	// Live: a refund and a new comment reach the open page through the stream.
	check(await until("the stream to open", async () =>
		(await page.getAttribute("main", "data-live")) === "true", 10000), "the page goes live");
	publish(dir, [
		event(100, { type: "pledge.refunded", at: 1579900000000, pledge: "pl-00001", amount: 100 }),
		event(101, { type: "comment.posted", at: 1579900000001, comment: "live-new",
			supporter: "sup-0002", name: "Late Reader", text: "Posted while you were reading" }),
	].join("\n") + "\n");
	check(await until("the new total", async () => (await raised()) === "£58,040", 10000),
		`the total updates live (${await raised()})`);
	check(await until("the new comment", async () =>
		((await page.locator("#comments > li").first().textContent()) || "").includes("Late Reader"),
		10000), "the new comment appears first, live");
	check((await page.textContent("#comment-count")).trim() === "26", "the comment count updates");
	check((await page.title()).length > 0, "the page still has its title");
	check(await until("the chart's last point", async () =>
		(await chartValues(page)).pop() === "5804000", 10000), "the chart's last point follows the total");
	check((await page.textContent("#chart-raised")).trim() === "£58,040", "the chart's caption follows");

	const feedIds = (p) => p.$$eval("#comments > li", (li) => li.map((e) => e.getAttribute("data-id")));
	// Events n and n + 1: a comment removed, another posted, in one publish.
	const swapComments = (n, removed, removedAt, posted, postedAt, text) => publish(dir, [
		event(n, { type: "comment.removed", at: removedAt, comment: removed }),
		event(n + 1, { type: "comment.posted", at: postedAt, comment: posted,
			supporter: "sup-0002", name: "Swapper", text }),
	].join("\n") + "\n");
	const swapped = async (p, posted, removed) => {
		const ids = await feedIds(p);
		return ids.includes(posted) && !ids.includes(removed);
	};
	// A comment removed and another posted at once (both on the first page,
	// the new one older than the race's below) leave the count as it was:
	// the stream's "comments" event, not the count, brings the feed. The
	// page asks for nothing meanwhile: its last answer added up.
	const swapCount = (await page.textContent("#comment-count")).trim();
	swapComments(150, "c-10", 1579900000020, "swap-1", 1579799999999, "Posted as another went");
	check(await until("the swap", () => swapped(page, "swap-1", "c-10"), 10000), `a comment posted as another is removed reaches the page (${(await feedIds(page)).slice(0, 3)})`);
	check((await page.textContent("#comment-count")).trim() === swapCount, "the count stays");

	// The same between the page's rendering and its stream's opening (the
	// stream held back): its first summary, from a later log position,
	// brings the feed, though the count is the one the page shows.
	const held = await browser.newPage();
	let releaseStream;
	const streamHeld = new Promise((resolve) => (releaseStream = resolve));
	await held.route((url) => url.pathname.endsWith("/stream"), async (route) => {
		await streamHeld;
		await route.continue();
	});
	await held.goto(`${base}/c/${CAMPAIGN}`);
	swapComments(152, "c-09", 1579900000022, "swap-2", 1579799999998, "Posted before the stream opened");
	check(await until("the second swap applied", async () => {
		const c = await (await fetch(`${base}/v1/campaigns/${CAMPAIGN}/comments?limit=20`)).json();
		return c.comments.some((x) => x.id === "swap-2");
	}, 10000), "the second swap is applied");
	releaseStream();
	check(await until("the held page's swap", () => swapped(held, "swap-2", "c-09"), 10000), `a swap before the stream opened reaches the page (${(await feedIds(held)).slice(0, 4)})`);
	await closeRouted(held);

	// A removal while every comment is shown, of the oldest: whatever the
	// feed keeps, "Show more" brings back every other comment, in order.
	const newest = async (n) => (await (await fetch(`${base}/v1/campaigns/${CAMPAIGN}/comments?limit=${n}`)).json())
		.comments.map((c) => c.id);
	publish(dir, event(103, { type: "comment.removed", at: 1579900000003, comment: "c-01" }) + "\n");
	check(await until("the removal", async () => !(await feedIds(page)).includes("c-01"), 10000),
		"the removed comment goes live");
	for (let n = 0; n < 3 && (await page.locator("#more").count()) === 1; n++) {
		const shown = await items();
		await page.click("#more");
		await until("more comments", async () => (await items()) > shown, 10000);
	}
	check(JSON.stringify(await feedIds(page)) === JSON.stringify(await newest(100)),
		`Show more brings back every other comment (${await items()} shown)`);

	// "Show more" answered late: meanwhile more comments came than a page
	// holds, so the feed started again from the newest. The late answer
	// continues the feed as it was, not as it is: appended, it would leave
	// a gap. Both answers are held back to make that happen in this order.
	const racer = await browser.newPage();
	await racer.goto(`${base}/c/${CAMPAIGN}`);
	check(await until("the racer's stream", async () =>
		(await racer.getAttribute("main", "data-live")) === "true", 10000), "the racing page goes live");
	let releaseFirst, releaseMore;
	const firstHeld = new Promise((resolve) => (releaseFirst = resolve));
	const moreHeld = new Promise((resolve) => (releaseMore = resolve));
	await racer.route((url) => url.pathname.endsWith("/comments"), async (route) => {
		await (new URL(route.request().url()).searchParams.has("before") ? moreHeld : firstHeld);
		await route.continue();
	});
	await racer.click("#more");
	const race = [];
	for (let i = 0; i < 21; i++) {
		race.push(event(200 + i, { type: "comment.posted", at: 1579800000000 + i, comment: `race-${i}`,
			supporter: "sup-0002", name: "Racer", text: `Race comment ${i}` }));
	}
	const counted = (await summary()).comments;
	publish(dir, race.join("\n") + "\n");
	check(await until("the race's comments", async () => (await summary()).comments === counted + 21, 10000),
		"the race's comments are applied");
	releaseFirst();
	check(await until("the race's comments on the page", async () =>
		(await feedIds(racer)).includes("race-2"), 10000), "the race's comments reach the page");
	releaseMore();
	await sleep(1000);
	const raced = await feedIds(racer);
	check(JSON.stringify(raced) === JSON.stringify(await newest(raced.length)),
		`a late Show more leaves no gap (${raced.slice(18, 23)})`);
	await closeRouted(racer);

	// A removal while the comments asked for after the post are on their
	// way, with the removed comment in them: the page must not keep it.
	const late = await browser.newPage();
	await late.goto(`${base}/c/${CAMPAIGN}`);
	check(await until("the late page's stream", async () =>
		(await late.getAttribute("main", "data-live")) === "true", 10000), "the late page goes live");
	let releaseOld;
	const oldHeld = new Promise((resolve) => (releaseOld = resolve));
	let asked = 0;
	await late.route((url) => url.pathname.endsWith("/comments"), async (route) => {
		const response = await route.fetch();
		if (++asked === 1) {
			await oldHeld;
		}
		await route.fulfill({ response });
	});
	const counting = (await summary()).comments;
	publish(dir, event(300, { type: "comment.posted", at: 1579900000300, comment: "late-1",
		supporter: "sup-0002", name: "Late", text: "Soon removed" }) + "\n");
	check(await until("the first refresh asked", async () => asked === 1, 10000), "the post asks for comments");
	publish(dir, event(301, { type: "comment.removed", at: 1579900000301, comment: "late-1" }) + "\n");
	check(await until("the removal applied", async () => (await summary()).comments === counting, 10000),
		"the removal is applied");
	await sleep(500);
	releaseOld();
	check(await until("the removed comment to go", async () => !(await feedIds(late)).includes("late-1"), 5000),
		"a comment removed while the comments were on their way goes");
	await closeRouted(late);

	// A cache in front (cache_s_maxage, docs/operations.md) may answer the
	// comments asked for after a post with a page from before it: the page
	// asks again until the answer has the post.
	const cached = await browser.newPage();
	await cached.goto(`${base}/c/${CAMPAIGN}`);
	check(await until("the cached page's stream", async () =>
		(await cached.getAttribute("main", "data-live")) === "true", 10000), "the cached page goes live");
	const old = await (await fetch(`${base}/v1/campaigns/${CAMPAIGN}/comments?limit=20`)).text();
	let fromCache = 0;
	await cached.route((url) => url.pathname.endsWith("/comments") && !url.searchParams.has("before"),
		async (route) => {
			if (fromCache < 2) {
				fromCache++;
				await route.fulfill({ status: 200, contentType: "application/json", body: old });
			} else {
				await route.continue();
			}
		});
	publish(dir, event(310, { type: "comment.posted", at: 1579900000310, comment: "cached-1",
		supporter: "sup-0002", name: "Cached", text: "Behind a cache" }) + "\n");
	check(await until("the post behind the cache", async () => (await feedIds(cached)).includes("cached-1"), 10000),
		`a post first answered from a cache shows once the cache has it (${fromCache} old answers)`);
	check(fromCache === 2, `both old answers were asked for (${fromCache})`);
	await closeRouted(cached);
	const withCached = (await summary()).comments;
	publish(dir, event(311, { type: "comment.removed", at: 1579900000311, comment: "cached-1" }) + "\n");
	check(await until("the cached post removed", async () => (await summary()).comments === withCached - 1, 10000),
		"the post behind the cache is removed again, for the tests after");

	// A dropped connection: cut, a refund arrives meanwhile, the page catches up
	// once connections are let through again.
	proxy = await cuttableProxy(port);
	const viaProxy = await browser.newPage();
	await viaProxy.goto(`http://127.0.0.1:${proxy.port}/c/${CAMPAIGN}`);
	check(await until("the proxied stream", async () =>
		(await viaProxy.getAttribute("main", "data-live")) === "true", 10000), "the proxied page goes live");
	proxy.cut();
	check(await until("the page to notice", async () =>
		(await viaProxy.getAttribute("main", "data-live")) === "false", 10000), "the page notices the drop");
	publish(dir, event(102, { type: "pledge.refunded", at: 1579900000002, pledge: "pl-00002", amount: 500 }) + "\n");
	check(await until("the refund applied", async () => (await summary()).raised === 5803500, 10000),
		"the refund is applied while the page is cut off");
	check((await viaProxy.textContent("#raised")).trim() === "£58,040", "the cut-off page still shows the old total");
	proxy.accepting = true;
	check(await until("the page to catch up", async () =>
		(await viaProxy.textContent("#raised")).trim() === "£58,035", 15000),
		`the page catches up after the reconnect (${await viaProxy.textContent("#raised")})`);
	check((await viaProxy.getAttribute("main", "data-live")) === "true", "the page is live again");
	check(proxy.lastEventIds.length > 0 && /^[0-9]+$/.test(proxy.lastEventIds[0]),
		`the reconnect sent Last-Event-ID (${proxy.lastEventIds})`);
	// While it is cut off, a shown comment is removed and 22 are posted: the
	// first summary after the reconnect brings them all at once. The page
	// then shows the newest comments in order, with no gap and without the
	// removed one.
	check((await feedIds(viaProxy))[0] === "live-new", "the proxied page shows the newest comment first");
	proxy.cut();
	check(await until("the page to notice again", async () =>
		(await viaProxy.getAttribute("main", "data-live")) === "false", 10000), "the page notices the second drop");
	const before = (await summary()).comments;
	const burst = [event(104, { type: "comment.removed", at: 1579900000004, comment: "live-new" })];
	for (let i = 0; i < 22; i++) {
		burst.push(event(110 + i, { type: "comment.posted", at: 1579900000010 + i, comment: `burst-${i}`,
			supporter: "sup-0002", name: "Burst", text: `Burst comment ${i}` }));
	}
	publish(dir, burst.join("\n") + "\n");
	check(await until("the burst applied", async () => (await summary()).comments === before + 21, 10000),
		"the removal and the burst are applied while the page is cut off");
	proxy.accepting = true;
	check(await until("the page to show the burst", async () =>
		(await feedIds(viaProxy)).includes("burst-21"), 15000), "the burst reaches the page");
	await sleep(500);
	const shown = await feedIds(viaProxy);
	check(!shown.includes("live-new"), "the comment removed while cut off is gone");
	check(JSON.stringify(shown) === JSON.stringify(await newest(shown.length)),
		`the page shows the newest comments in order, with no gap (${shown.slice(18, 23)})`);
	// Cut off again, a shown comment is removed and one is posted: the
	// count is as it was, yet the page catches up after the reconnect.
	proxy.cut();
	check(await until("the third drop", async () =>
		(await viaProxy.getAttribute("main", "data-live")) === "false", 10000), "the page notices the third drop");
	publish(dir, [
		event(140, { type: "comment.removed", at: 1579900000040, comment: "burst-20" }),
		event(141, { type: "comment.posted", at: 1579900000041, comment: "swap-in", supporter: "sup-0002",
			name: "Swap", text: "Posted as another went" }),
	].join("\n") + "\n");
	check(await until("the swap applied", async () =>
		JSON.stringify(await newest(2)) === JSON.stringify(["swap-in", "burst-21"]), 10000),
		"the removal and the post are applied while the page is cut off");
	proxy.accepting = true;
	check(await until("the swap on the page", async () =>
		JSON.stringify(await feedIds(viaProxy)) === JSON.stringify(await newest((await feedIds(viaProxy)).length)),
		15000), `the page shows the post and not the removed comment (${(await feedIds(viaProxy)).slice(0, 3)})`);

	// More campaigns: "/" is a list of cards with the crowd's totals, and the
	// campaign "." (a path step to a browser) opens and goes live.
	publish(dir, [
		JSON.stringify({ v: 1, type: "campaign.opened", id: "dot-open", at: 1579000000000, campaign: ".",
			title: "A garden for Hackney Road", owner: "Friends of Hackney Road", currency: "GBP",
			target: 500000, closes_at: Date.now() + 40 * 86400000 }),
		JSON.stringify({ v: 1, type: "pledge.created", id: "dot-1", at: 1579000000001, campaign: ".",
			pledge: "dot-p1", supporter: "sup-0001", amount: 2500, currency: "GBP" }),
	].join("\n") + "\n");
	check(await until("campaign .", async () =>
		(await fetch(`${base}/v1/campaigns/?id=.`)).status === 200, 10000), "campaign . opens");
	const list = await browser.newPage();
	await list.goto(`${base}/`);
	check((await list.locator(".card").count()) === 2, `two cards (${await list.locator(".card").count()})`);
	const dotCard = list.locator('.card[data-id="."]');
	check(((await dotCard.textContent()) || "").includes("£25 raised of £5,000 (<1%)"),
		`the card of . says what it raised (${await dotCard.textContent()})`);
	check(((await dotCard.textContent()) || "").includes("days left"), "the card says the days left");
	const crowd = (await list.textContent("#platform")).trim();
	check(crowd === `${pounds(5803500n + 2500n)} from 1975 supporters for 2 campaigns`,
		`the foot says what the crowd raised (${crowd})`);
	if (out) {
		await list.setViewportSize({ width: 1200, height: 700 });
		await list.screenshot({ path: join(out, "list-desktop.png") });
	}
	await Promise.all([list.waitForNavigation(), dotCard.locator("a").click()]);
	check((await list.textContent("#title")).trim() === "A garden for Hackney Road",
		`the card opens campaign . (${list.url()})`);
	check(await until("the stream of .", async () =>
		(await list.getAttribute("main", "data-live")) === "true", 10000), "campaign . goes live");
	publish(dir, JSON.stringify({ v: 1, type: "pledge.created", id: "dot-2", at: 1579000000002, campaign: ".",
		pledge: "dot-p2", supporter: "sup-0002", amount: 1000, currency: "GBP" }) + "\n");
	check(await until("the new total of .", async () => (await list.textContent("#raised")).trim() === "£35", 10000),
		`campaign . updates live (${await list.textContent("#raised")})`);
	check((await list.textContent("#percent")).trim() === "<1", "under one per cent reads <1%");
	// It closes while shown: the page says so, without the reader reloading.
	check(await list.isVisible("#deadline"), "an open campaign shows its days left");
	publish(dir, JSON.stringify({ v: 1, type: "campaign.closed", id: "dot-close", at: 1579000000003,
		campaign: "." }) + "\n");
	check(await until("the heading of the closed .", async () =>
		((await list.textContent("#totals-heading").catch(() => "")) || "").trim() === "Campaign closed", 10000),
		`the closed campaign's heading (${await list.textContent("#totals-heading").catch(() => "")})`);
	check(!(await list.isVisible("#deadline")), "a closed campaign shows no days left");
	check((await list.textContent("#raised")).trim() === "£35", "the closed campaign keeps its total");
	// A refund after the close takes a campaign that did it to nothing: the
	// open page says so too.
	publish(dir, [
		JSON.stringify({ v: 1, type: "campaign.opened", id: "done-open", at: 1579000000000, campaign: "done",
			title: "Done", owner: "Owner", currency: "GBP" }),
		JSON.stringify({ v: 1, type: "pledge.created", id: "done-p", at: 1579000000001, campaign: "done",
			pledge: "done-p", supporter: "sup-0001", amount: 1000, currency: "GBP" }),
		JSON.stringify({ v: 1, type: "campaign.closed", id: "done-close", at: 1579000000002, campaign: "done" }),
	].join("\n") + "\n");
	check(await until("the closed campaign done", async () =>
		(await fetch(`${base}/v1/campaigns/done`).then((r) => r.json()).catch(() => ({}))).status === "closed",
		10000), "campaign done opens and closes");
	const done = await browser.newPage();
	await done.goto(`${base}/c/done`);
	const heading = async () => ((await done.textContent("#totals-heading").catch(() => "")) || "").trim();
	check((await heading()) === "We did it", `a closed campaign that raised something did it (${await heading()})`);
	check(await until("its stream to open", async () =>
		(await done.getAttribute("main", "data-live")) === "true", 10000), "the done page goes live");
	publish(dir, JSON.stringify({ v: 1, type: "pledge.refunded", id: "done-r", at: 1579000000003, campaign: "done",
		pledge: "done-p", amount: 1000 }) + "\n");
	check(await until("the refunded heading", async () => (await heading()) === "Campaign closed", 10000),
		`refunded to nothing after the close, the page says closed (${await heading()})`);
	await done.close();

	// A campaign id with a NUL in it, which HTML cannot carry: its page goes live too.
	publish(dir, JSON.stringify({ v: 1, type: "campaign.opened", id: "nul-open", at: 1579000000000,
		campaign: "nul\u0000id", title: "Nul", owner: "Owner", currency: "GBP" }) + "\n");
	check(await until("the campaign with a NUL", async () =>
		(await fetch(`${base}/v1/campaigns/nul%00id`)).status === 200, 10000), "the campaign with a NUL opens");
	const nul = await browser.newPage();
	await nul.goto(`${base}/c/nul%00id`);
	check(await until("its stream to open", async () =>
		(await nul.getAttribute("main", "data-live")) === "true", 10000), "the page of an id with a NUL goes live");
	await nul.close();

	// Money above 2^53 minor units stays exact when it changes live: 9008
	// pledges of £10bn and one of 1p to a campaign with a £1 target.
	publish(dir, JSON.stringify({ v: 1, type: "campaign.opened", id: "big-open", at: 1579000000000,
		campaign: "big", title: "Big", owner: "Owner", currency: "GBP", target: 100 }) + "\n");
	check(await until("the big campaign", async () =>
		(await fetch(`${base}/v1/campaigns/big`)).status === 200, 10000), "the big campaign opens");
	const big = await browser.newPage();
	await big.goto(`${base}/c/big`);
	check(await until("its stream to open", async () =>
		(await big.getAttribute("main", "data-live")) === "true", 10000), "the big page goes live");
	const pledges = [];
	for (let i = 0; i < 9008; i++) {
		pledges.push(JSON.stringify({ v: 1, type: "pledge.created", id: `big-${i}`, at: 1579000001000 + i,
			campaign: "big", pledge: `bp-${i}`, supporter: `bs-${i}`, amount: 1000000000000, currency: "GBP" }));
	}
	pledges.push(JSON.stringify({ v: 1, type: "pledge.created", id: "big-penny", at: 1579000100000,
		campaign: "big", pledge: "bp-penny", supporter: "bs-penny", amount: 1, currency: "GBP" }));
	publish(dir, pledges.join("\n") + "\n");
	const exact = "£90,080,000,000,000.01"; // 9008000000000001 pence: not a double
	const bigRaised = async () => (await big.textContent("#raised")).trim();
	check(await until("the exact big total", async () => (await bigRaised()) === exact, 30000),
		`the total is exact above 2^53 (${await bigRaised()})`);
	check((await big.textContent("#percent")).trim() === "9008000000000001",
		`the percentage is exact (${await big.textContent("#percent")})`);
	check((await big.textContent("#chart-raised")).trim() === exact, "the chart's caption is exact too");
	await big.reload();
	check((await bigRaised()) === exact, `the server renders the same total (${await bigRaised()})`);

	// Words longer than the screen is wide, in a title, an owner, a
	// location and a comment: they wrap; nothing scrolls sideways.
	const word = "W".repeat(150);
	publish(dir, [
		JSON.stringify({ v: 1, type: "campaign.opened", id: "long-open", at: 1579000000000, campaign: "long",
			title: word, owner: word, location: word, currency: "GBP", target: 100 }),
		JSON.stringify({ v: 1, type: "pledge.created", id: "long-p", at: 1579000000001, campaign: "long",
			pledge: "long-p", supporter: "long-s", amount: 100, currency: "GBP", name: word.slice(0, 100) }),
		JSON.stringify({ v: 1, type: "comment.posted", id: "long-c", at: 1579000000002, campaign: "long",
			comment: "long-c", supporter: "long-s", name: word.slice(0, 100), text: word }),
	].join("\n") + "\n");
	check(await until("the long campaign's comment", async () =>
		(await fetch(`${base}/v1/campaigns/long`).then((r) => r.json()).catch(() => ({}))).comments === 1,
		10000), "the campaign of long words opens");
	for (const width of [390, 1000]) {
		const p = await browser.newPage({ viewport: { width, height: 800 } });
		for (const path of ["/c/long", "/"]) {
			await p.goto(`${base}${path}`);
			const [scroll, inner] = await p.evaluate(() =>
				[document.documentElement.scrollWidth, window.innerWidth]);
			check(scroll <= inner, `${path} at ${width} px does not scroll sideways (${scroll} > ${inner})`);
		}
		await p.close();
	}

	// A server alone in its consumer group that lost Kafka answers on,
	// marked stale: the open page says its figures stopped moving, and
	// takes it back when the group forms again. serve_fixture flips that
	// state on signals, as serve's consumer does (assignment_lost.sh
	// checks serve itself).
	const still = join(work, "still");
	const imported = spawnSync(pledged, ["import", "--data", still], { input: readFileSync(demo), encoding: "utf8" });
	check(imported.status === 0, `the demo imported for the fixture (${imported.stderr})`);
	const server = spawn(fixture, [still]);
	let fixtureOut = "";
	server.stdout.on("data", (chunk) => (fixtureOut += chunk));
	try {
		let fixturePort = 0;
		await until("the fixture to listen", () => {
			const m = fixtureOut.match(/port (\d+)/);
			fixturePort = m ? Number(m[1]) : 0;
			return fixturePort > 0;
		}, 10000);
		const stale = await browser.newPage();
		await stale.goto(`http://127.0.0.1:${fixturePort}/c/${CAMPAIGN}`);
		check(await until("its stream to open", async () =>
			(await stale.getAttribute("main", "data-live")) === "true", 10000), "the fixture's page goes live");
		check(!(await stale.isVisible("#stale")), "no stale note while the figures move");
		server.kill("SIGUSR1");
		check(await until("the stale note", async () => await stale.isVisible("#stale"), 10000),
			"the page says when Kafka was lost");
		check(((await stale.textContent("#stale")) || "").startsWith("Updates paused since "),
			`the note says updates paused (${await stale.textContent("#stale")})`);
		check((await stale.getAttribute("main", "data-live")) === "stale", "the page is marked stale");
		if (out) {
			await stale.screenshot({ path: join(out, "page-stale.png") });
		}
		server.kill("SIGUSR2");
		check(await until("the note to go", async () => !(await stale.isVisible("#stale")), 10000),
			"the note goes when the group forms again");
		check((await stale.getAttribute("main", "data-live")) === "true", "the page is live again");
		// Loaded while stale, the server's own page says it, script or none.
		server.kill("SIGUSR1");
		await sleep(300);
		const plain = await browser.newPage({ javaScriptEnabled: false });
		await plain.goto(`http://127.0.0.1:${fixturePort}/c/${CAMPAIGN}`);
		check(await plain.isVisible("#stale"), "a page loaded while stale has the note without its script");
		await plain.close();
	} finally {
		server.kill("SIGTERM");
		await new Promise((resolve) => server.on("exit", resolve));
	}
} catch (err) {
	failure(err);
} finally {
	if (browser) await browser.close();
	if (proxy) proxy.server.close();
	serve.kill("SIGTERM");
	await new Promise((resolve) => serve.on("exit", resolve));
	rmSync(work, { recursive: true, force: true });
}
finish();
