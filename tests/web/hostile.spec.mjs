// The web page against hostile input (security review, issue 12): opened on a non-loopback host with
// ?api= pointing at another server, and fed style names that are HTML. Chromium maps the two test
// hostnames to loopback (--host-resolver-rules); nothing leaves the machine.
// Usage: node tests/web/hostile.spec.mjs PAGE_URL EVIL_URL — prints one JSON line.
import { chromium } from "playwright-core";

const [pageUrl, evilUrl] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--host-resolver-rules=MAP stickers.test 127.0.0.1, MAP evil.test 127.0.0.1"],
});
const result = { ok: false };
try {
  const page = await browser.newPage();
  const requests = [];
  page.on("request", (r) => requests.push({ url: r.url(), key: r.headers()["x-api-key"] || null }));
  // 1. a link to the deployed page with ?api= must not send the stored key anywhere but the configured API
  await page.goto(`${pageUrl}?api=${encodeURIComponent(evilUrl)}`);
  await page.waitForSelector("#styles input[type=checkbox]", { timeout: 15000 });
  result.toEvil = requests.filter((r) => r.url.startsWith(evilUrl));
  result.keyedRequests = requests.filter((r) => r.key).map((r) => new URL(r.url).origin);
  // 2. server strings are text, never markup
  await page.route("**/v1/styles", (route) => route.fulfill({
    status: 200, contentType: "application/json", headers: { "access-control-allow-origin": "*" },
    body: JSON.stringify({ success: true, image: [{ name: "<img src=x onerror=\"window.__pwned=1\">", description: "x", default: true }], text: [] }),
  }));
  await page.evaluate(() => { document.getElementById("apikey").value = "local-dev-key"; document.getElementById("apikey").dispatchEvent(new Event("change")); });
  await page.waitForFunction(() => document.querySelector("#styles label")?.textContent.includes("<img"), null, { timeout: 10000 });
  // the style previews are the page's own <img src="styles/…">; a server string must create no other element
  result.imgsInStyles = await page.locator('#styles img:not([src^="styles/"])').count();
  result.pwned = await page.evaluate(() => window.__pwned === 1);
  result.label = await page.textContent("#styles label");
  result.ok = true;
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
