// test_page_moved.mjs — campaign pages open in headless Chromium while a
// rebalance gives their campaigns to another instance: each page follows
// its campaign to the instance that holds it now, and its figures go on
// moving there, rather than stand still where the campaign left.
//
// Two `pledged serve` in one consumer group (each with advertise_url) on a
// mock broker process with 2 partitions: A alone opens the pages of 4
// campaigns; B joins and takes one partition; then a pledge to every
// campaign must reach every page. A page's stream may not follow A's 307 to
// B (another origin), so the page itself must.
//
// Usage: node test_page_moved.mjs PLEDGED MOCK_BROKER
// Exit 77 (skip) when playwright-core or chromium is not installed.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { check, failure, finish, launchChromium, until } from "./page_lib.mjs";

const [pledged, mockBroker] = process.argv.slice(2);
const CAMPAIGNS = ["m1", "m2", "m3", "m4"];

/* The first line of a process's output matching re, its first group. */
function waitFor(stream, re, timeoutMs) {
	return new Promise((resolve) => {
		let text = "";
		const timer = setTimeout(() => resolve(null), timeoutMs);
		stream.on("data", (chunk) => {
			text += chunk;
			const m = re.exec(text);
			if (m) {
				clearTimeout(timer);
				resolve(m[1]);
			}
		});
	});
}

const work = mkdtempSync(join(tmpdir(), "pledged-page-moved-"));
const procs = [];
let browser;
try {
	const mock = spawn(mockBroker, ["pledges", "2"]);
	procs.push(mock);
	const brokers = await waitFor(mock.stdout, /^(\S+)\n/, 10000);
	check(brokers, "the mock broker starts");

	const now = Date.now();
	let n = 0;
	const opened = (c) => JSON.stringify({ v: 1, type: "campaign.opened", id: `o-${c}`, at: now,
		campaign: c, title: c, owner: "o", currency: "GBP" });
	const pledge = (c, amount) => {
		n++;
		return JSON.stringify({ v: 1, type: "pledge.created", id: `p${n}`, at: now, campaign: c,
			pledge: `pl${n}`, supporter: `s${n}`, amount, currency: "GBP" });
	};
	const publish = (lines) => {
		const r = spawnSync(pledged, ["publish", "--brokers", brokers], { input: lines.join("\n") + "\n" });
		check(r.status === 0, `publish exits 0 (${r.stderr})`);
	};

	// advertise_url must name the real port: one is taken, then served on.
	const freePort = () => new Promise((resolve) => {
		const s = net.createServer();
		s.listen(0, "127.0.0.1", () => {
			const port = s.address().port;
			s.close(() => resolve(port));
		});
	});
	/* A serve of group "moved" that advertises its own address. */
	const start = async (name) => {
		const port = await freePort();
		const url = `http://127.0.0.1:${port}`;
		const p = spawn(pledged, ["serve", "--brokers", brokers, "--group", "moved",
			"--data", join(work, name), "--listen", `127.0.0.1:${port}`,
			"--admin-listen", "127.0.0.1:0", "--batch-ms", "10", "--kafka", "session.timeout.ms=6000",
			"--kafka", "heartbeat.interval.ms=500", "--advertise-url", url]);
		procs.push(p);
		check(await waitFor(p.stderr, /HTTP on \S+ \(port (\d+)\)/, 20000), `serve ${name} starts`);
		return url;
	};
	const holds = async (url) => {
		try {
			return (await fetch(`${url}/v1/campaigns`)).headers.get("x-pledged-partitions");
		} catch {
			return null;
		}
	};
	const raisedAt = async (url, c) => {
		const r = await fetch(`${url}/v1/campaigns/${c}`, { redirect: "manual" });
		return r.status === 200 ? (await r.json()).raised : null;
	};

	publish(CAMPAIGNS.flatMap((c) => [opened(c), pledge(c, 100)]));
	const a = await start("A");
	check(await until("A to hold both partitions", async () => (await holds(a)) === "0,1 of 2", 30000),
		`A alone holds both partitions (${await holds(a)})`);
	check(await until("A to apply the pledges", async () => {
		for (const c of CAMPAIGNS) if ((await raisedAt(a, c)) !== 100) return false;
		return true;
	}, 30000), "A has every campaign's first pledge");

	browser = await launchChromium();
	const pages = {};
	for (const c of CAMPAIGNS) {
		pages[c] = await browser.newPage();
		await pages[c].goto(`${a}/c/${c}`);
		check(await until(`${c}'s stream`, async () =>
			(await pages[c].getAttribute("main", "data-live")) === "true", 10000), `${c}'s page goes live on A`);
	}

	const b = await start("B");
	check(await until("the group to split the topic", async () => {
		const [ha, hb] = [await holds(a), await holds(b)];
		return /^[01] of 2$/.test(ha) && /^[01] of 2$/.test(hb) && ha !== hb;
	}, 60000), `A and B hold one partition each (${await holds(a)}, ${await holds(b)})`);
	const moved = [];
	for (const c of CAMPAIGNS)
		if ((await fetch(`${a}/v1/campaigns/${c}`, { redirect: "manual" })).status !== 200) moved.push(c);
	check(moved.length > 0 && moved.length < CAMPAIGNS.length, `some campaigns moved to B (${moved})`);

	publish(CAMPAIGNS.map((c) => pledge(c, 50)));
	for (const c of CAMPAIGNS) {
		const owner = moved.includes(c) ? b : a;
		check(await until(`${c}'s page to show £1.50`, async () =>
			(await pages[c].textContent("#raised")).trim() === "£1.50", 30000),
			`${c}'s page follows its campaign (${await pages[c].textContent("#raised")}, at ${pages[c].url()})`);
		check(pages[c].url().startsWith(owner), `${c}'s page is at its owner ${owner} (${pages[c].url()})`);
	}
} catch (err) {
	failure(err);
} finally {
	if (browser) await browser.close();
	for (const p of procs.reverse()) {
		p.kill("SIGKILL");
		await new Promise((resolve) => (p.exitCode !== null || p.signalCode ? resolve() : p.on("exit", resolve)));
	}
	rmSync(work, { recursive: true, force: true });
}
finish();
