// Drives the web page in headless Chromium (Debian's /usr/bin/chromium through playwright-core; no
// browser download), served from the CDN origin while the API is on another origin, as on AWS:
//   photo (direct multipart) → stickers → "Download all" zip → screenshot;
//   a photo over 4 MB (presigned S3 POST, then the job from its uploadId) → stickers;
//   a text → stickers; then the API reference (Swagger UI) on the same CDN.
// Every response the page reads from the API origin is recorded with its Access-Control-Allow-Origin, and
// every WebSocket the page opens (live progress) with what it received.
// Usage: node tests/web/page.spec.mjs PAGE_URL API_URL PHOTO BIG_PHOTO SCREENSHOT [TIMEOUT_MS]
// Prints one JSON line; exit 1 on failure.
import { chromium } from "playwright-core";

const [url, apiUrl, photo, bigPhoto, screenshot, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 120000);
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = { ok: false, runs: {} };
const apiOrigin = new URL(apiUrl).origin;

async function makeStickers(page, name) {
  const started = Date.now();
  await page.click("#go");
  await page.waitForFunction(() => {
    if (document.getElementById("status").className === "error") return true;  // fail fast
    const imgs = [...document.querySelectorAll("img.sticker")];
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { timeout, polling: 250 });
  if (await page.getAttribute("#status", "class") === "error") throw new Error(`${name}: page error: ${await page.textContent("#status")}`);
  result.runs[name] = {
    seconds: (Date.now() - started) / 1000,
    status: await page.textContent("#status"),
    stickers: await page.$$eval("img.sticker", (imgs) => imgs.map((i) => ({ src: i.src, w: i.naturalWidth, h: i.naturalHeight }))),
  };
}

try {
  const page = await browser.newPage({ viewport: { width: 1180, height: 900 }, acceptDownloads: true });
  const errors = [];
  const apiResponses = [];
  const uploads = [];
  const sockets = [];
  page.on("websocket", (ws) => {
    const entry = { url: ws.url(), received: [] };
    sockets.push(entry);
    ws.on("framereceived", (frame) => {
      try {
        const m = JSON.parse(frame.payload);
        entry.received.push(m.type === "job" ? `${m.data.status}:${m.data.progress}:${m.data.attempts}` : `${m.type}:${m.code}`);
      } catch (_) { entry.received.push("unparsable"); }
    });
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", async (r) => {
    const u = new URL(r.url());
    if (u.origin === apiOrigin) {
      apiResponses.push({ method: r.request().method(), path: u.pathname, status: r.status(), allowOrigin: (await r.allHeaders())["access-control-allow-origin"] || null });
    } else if (r.request().method() === "POST" && u.origin !== new URL(url).origin) {
      uploads.push({ origin: u.origin, status: r.status() });
    }
  });
  await page.goto(url);
  result.pageOrigin = new URL(page.url()).origin;
  await page.waitForSelector("#styles input[type=checkbox]", { timeout: 15000 });
  result.styleBoxes = await page.locator("#styles input[type=checkbox]").count();
  await page.waitForFunction(() => [...document.querySelectorAll("#styles img")].every((i) => i.complete), null, { timeout: 15000 });
  result.stylePreviews = await page.$$eval("#styles img", (imgs) => imgs.filter((i) => i.naturalWidth > 0).length);

  await page.setInputFiles("#file", photo);
  await makeStickers(page, "photo");
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }), page.click("#zip")]);
  const chunks = [];
  for await (const chunk of await download.createReadStream()) chunks.push(chunk);
  const zip = Buffer.concat(chunks);
  result.zip = { name: download.suggestedFilename(), bytes: zip.length, magic: zip.subarray(0, 4).toString("hex"), entries: zip.readUInt16LE(zip.length - 12) };
  await page.mouse.move(0, 0);
  await page.screenshot({ path: screenshot, fullPage: true });

  await page.setInputFiles("#file", bigPhoto);
  await makeStickers(page, "bigPhoto");

  await page.click("#tab-text");
  await page.fill("#text", "Happy Birthday!");
  await makeStickers(page, "text");

  // the seed styles and the output options: two painted media, WebP, 256 px, rotated, watermarked
  await page.click("#tab-photo");
  await page.setInputFiles("#file", photo);
  for (const box of await page.locator("#styles input[type=checkbox]").all()) {
    const name = await box.getAttribute("value");
    await box.setChecked(name === "watercolor" || name === "charcoal");
  }
  await page.click("#options summary");
  await page.selectOption("#method", "artistic");
  await page.selectOption("#format", "webp");
  await page.fill("#size", "256");
  await page.fill("#rotate", "30");
  await page.fill("#watermark", "©me");
  await makeStickers(page, "options");

  // the API reference: Swagger UI from the CDN (no key, no Lambda), pointed at the API by config.json,
  // rendered under the site's Content-Security-Policy (a violation lands in `errors`)
  await page.goto(new URL("docs/index.html", url).href);
  await page.waitForSelector(".swagger-ui .info .title", { timeout: 30000 });
  result.docs = {
    title: (await page.textContent(".swagger-ui .info .title")).trim(),
    servers: await page.$$eval(".swagger-ui .servers option", (os) => os.map((o) => o.value)),
    operations: await page.locator(".swagger-ui .opblock").count(),
  };

  result.apiResponses = apiResponses;
  result.websockets = sockets.map((s) => {
    const u = new URL(s.url);
    return { origin: u.origin, path: u.pathname, keyed: u.searchParams.has("key"), received: s.received };
  });
  result.uploads = uploads;
  result.errors = errors;
  result.ok = errors.length === 0;
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
