// test_page_live.mjs — the campaign page's script in headless Chromium,
// driven like a person would: "Show more" loads older comments, and totals
// and comments change on the page, without a reload, when events arrive
// through Kafka; money above 2^53 minor units stays exact.
//
// Usage: node test_page_live.mjs PLEDGED DEMO_JSONL
// Runs `pledged serve` on its embedded broker with the demo campaign plus 15
// more comments, then drives the page with playwright-core (npm, no browser
// download: it uses Debian's /usr/bin/chromium). Exit 77 (skip) when
// playwright-core or chromium is not installed.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [pledged, demo] = process.argv.slice(2);
const CHROMIUM = "/usr/bin/chromium";
const CAMPAIGN = "jess-phillips-for-labour-leader";

let chromium;
try {
	({ chromium } = await import("playwright-core"));
} catch {
	console.log("playwright-core not installed (deploy/install-deps.sh installs it): skipping");
	process.exit(77);
}
if (!existsSync(CHROMIUM)) {
	console.log("chromium not installed: skipping");
	process.exit(77);
}

let passed = 0;
let failed = 0;
function check(ok, what) {
	if (ok) {
		passed++;
	} else {
		failed++;
		console.error(`FAIL: ${what}`);
	}
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, predicate, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (await predicate()) return true;
		await sleep(100);
	}
	console.error(`timed out waiting for ${what}`);
	return false;
}

function publish(dir, lines) {
	const r = spawnSync(pledged, ["publish", "--data", dir], { input: lines, encoding: "utf8" });
	check(r.status === 0, `publish exits 0 (${r.stderr})`);
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

	browser = await chromium.launch({
		executablePath: CHROMIUM,
		args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-dev-shm-usage"],
	});
	const page = await browser.newPage();
	await page.goto(`${base}/`);
	const raised = async () => (await page.textContent("#raised")).trim();
	const items = () => page.locator("#comments > li").count();
	check((await raised()) === "£58,041", `the page shows £58,041 (${await raised()})`);
	check((await items()) === 20, `20 comments on the first page (${await items()})`);

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
	await big.reload();
	check((await bigRaised()) === exact, `the server renders the same total (${await bigRaised()})`);
} catch (err) {
	failed++;
	console.error(`FAIL: ${err.stack || err}`);
} finally {
	if (browser) await browser.close();
	serve.kill("SIGTERM");
	await new Promise((resolve) => serve.on("exit", resolve));
	rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
