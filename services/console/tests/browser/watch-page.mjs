// Drives Debian's chromium (headless) through the console page for
// services/console/tests/console/browser.rs:
//
//   GANTRY_TOKEN=<token> node watch-page.mjs <page url> <screenshot path>
//
// It logs in with the form, waits until the page's EventSource is live and
// prints READY; then reads a request id from stdin, waits for it to show
// in the live events and in the pending-approval table (at most 1 s in all,
// from reading the id), saves a screenshot and prints
// `SEEN event_ms=<ms> summary_ms=<ms>`. It exits non-zero (after a
// screenshot) when the request does not show in time.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [url, screenshot] = process.argv.slice(2);
const token = process.env.GANTRY_TOKEN;
const WITHIN_MS = 1000;

const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
let status = 0;
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
try {
  await page.goto(url);
  await page.fill("input[name=token]", token);
  await Promise.all([page.waitForURL(url), page.click("form[action='/login'] button")]);
  await page.waitForSelector("#connection.live", { timeout: 10_000 });
  console.log("READY");
  const id = (await nextLine()).trim();
  const started = performance.now();
  await page.waitForSelector(`#events tr[data-aggregate-id="${id}"]`, { timeout: WITHIN_MS });
  const eventMs = performance.now() - started;
  const left = Math.max(1, WITHIN_MS - eventMs);
  await page.waitForSelector(`#pending tr[data-request-id="${id}"]`, { timeout: left });
  const summaryMs = performance.now() - started;
  console.log(`SEEN event_ms=${eventMs.toFixed(1)} summary_ms=${summaryMs.toFixed(1)}`);
} catch (error) {
  console.log(`FAILED ${String(error.message || error).split("\n")[0]}`);
  status = 1;
} finally {
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  await browser.close();
  lines.close();
}
process.exit(status);
