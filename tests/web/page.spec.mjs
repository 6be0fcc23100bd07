// Drives the web page in headless Chromium (Debian's /usr/bin/chromium through playwright-core; no
// browser download): photo → file input → "Make stickers" → the stickers render → "Download all" zip.
// Usage: node tests/web/page.spec.mjs URL PHOTO SCREENSHOT [TIMEOUT_MS]; prints one JSON line; exit 1 on failure.
import { chromium } from "playwright-core";

const [url, photo, screenshot, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 120000);
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = { ok: false };
try {
  const page = await browser.newPage({ viewport: { width: 1180, height: 900 }, acceptDownloads: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("#styles input[type=checkbox]", { timeout: 15000 });
  result.styleBoxes = await page.locator("#styles input[type=checkbox]").count();
  await page.setInputFiles("#file", photo);
  const started = Date.now();
  await page.click("#go");
  await page.waitForFunction(() => {
    if (document.getElementById("status").className === "error") return true;  // fail fast
    const imgs = [...document.querySelectorAll("img.sticker")];
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { timeout, polling: 250 });
  if (await page.getAttribute("#status", "class") === "error") throw new Error(`page error: ${await page.textContent("#status")}`);
  result.seconds = (Date.now() - started) / 1000;
  result.stickers = await page.$$eval("img.sticker", (imgs) => imgs.map((i) => ({ src: i.src, w: i.naturalWidth, h: i.naturalHeight })));
  result.status = await page.textContent("#status");
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }), page.click("#zip")]);
  const stream = await download.createReadStream();
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const zip = Buffer.concat(chunks);
  result.zip = { name: download.suggestedFilename(), bytes: zip.length, magic: zip.subarray(0, 4).toString("hex"), entries: zip.readUInt16LE(zip.length - 12) };
  await page.mouse.move(0, 0);
  await page.screenshot({ path: screenshot, fullPage: true });
  result.errors = errors;
  result.ok = errors.length === 0;
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
