// page_lib.mjs — what the page tests in headless Chromium share: Debian's
// Chromium driven by playwright-core (exit 77, skip, when either is
// missing), checks counted honestly, and waits with timeouts.
import { existsSync } from "node:fs";

const CHROMIUM = "/usr/bin/chromium";

let playwright;
try {
	playwright = await import("playwright-core");
} catch {
	console.log("playwright-core not installed (deploy/install-deps.sh installs it): skipping");
	process.exit(77);
}
if (!existsSync(CHROMIUM)) {
	console.log("chromium not installed: skipping");
	process.exit(77);
}

/* Debian's Chromium, headless, without its background traffic. */
export function launchChromium() {
	return playwright.chromium.launch({
		executablePath: CHROMIUM,
		args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-dev-shm-usage"],
	});
}

let passed = 0;
let failed = 0;

export function check(ok, what) {
	if (ok) {
		passed++;
	} else {
		failed++;
		console.error(`FAIL: ${what}`);
	}
}

/* A test that threw: counted as a failure, with where. */
export function failure(err) {
	failed++;
	console.error(`FAIL: ${err.stack || err}`);
}

/* Prints the count and exits 1 if anything failed. */
export function finish() {
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(what, predicate, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (await predicate()) return true;
		await sleep(100);
	}
	console.error(`timed out waiting for ${what}`);
	return false;
}
