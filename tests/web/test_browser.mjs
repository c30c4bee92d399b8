// Browser test of the chat page: starts the real `smallthinker serve` with the nano model on a
// free loopback port, drives the page in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core) and checks streaming, stop, conversations, settings and markdown rendering.
// A screenshot is kept as a test artifact in <build>/test-artifacts/chat-page.png.
//
// The nano model loops under greedy decoding ("..., and the LORD, and the LORD, ...") until
// max_tokens, which gives a reply long enough to watch it grow and to stop it midway.
//
// Env: ST_BIN (the smallthinker binary), ST_SOURCE_DIR. Run: node tests/web/test_browser.mjs
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import assert from "node:assert/strict";

const BIN = process.env.ST_BIN;
const SRC = process.env.ST_SOURCE_DIR;
const CHROMIUM = process.env.ST_CHROMIUM || "/usr/bin/chromium";
if (!BIN || !SRC) {
  console.error("set ST_BIN and ST_SOURCE_DIR (ctest does)");
  process.exit(2);
}
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  console.error("FAIL: playwright-core is not installed: run scripts/install-deps.sh (npm ci in tests/web)");
  process.exit(1);
}
if (!existsSync(CHROMIUM)) {
  console.error(`FAIL: ${CHROMIUM} not found: run scripts/install-deps.sh (Debian package chromium)`);
  process.exit(1);
}
const MODEL = path.join(SRC, "models/smallthinker-nano.gguf");
const WEB = path.join(SRC, "src/apps/server/web");
const ARTIFACTS = path.join(path.dirname(BIN), "..", "test-artifacts");
const LOOPING_PROMPT = "Continue the text: And it came to pass";

let server = null;
let serverLog = "";
let browser = null;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForHealth(base, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}:\n${serverLog}`);
    try {
      const res = await fetch(`${base}/health`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  throw new Error(`server not healthy after ${timeoutMs} ms:\n${serverLog}`);
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server.once("exit", r));
  server.kill("SIGTERM");
  const timer = setTimeout(() => server.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

// The embedded files must be the source files byte for byte, with the right content types.
async function checkAssets(base) {
  const expected = [
    ["/", "index.html", "text/html"],
    ["/index.html", "index.html", "text/html"],
    ["/app.js", "app.js", "text/javascript"],
    ["/markdown.js", "markdown.js", "text/javascript"],
    ["/style.css", "style.css", "text/css"],
    ["/favicon.svg", "favicon.svg", "image/svg+xml"],
    ["/vendor/marked.js", "node_modules/marked/lib/marked.umd.js", "text/javascript"],
    ["/vendor/purify.js", "node_modules/dompurify/dist/purify.min.js", "text/javascript"],
  ];
  for (const [url, file, type] of expected) {
    const res = await fetch(base + url);
    assert.equal(res.status, 200, url);
    assert.ok(res.headers.get("content-type").startsWith(type), `${url}: ${res.headers.get("content-type")}`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(readFileSync(path.join(WEB, file))), `${url} differs from ${file}`);
  }
}

// Records every change of the last assistant message: [ms since start, text length, state].
async function watchLastReply(page) {
  await page.evaluate(() => {
    window.__trace = [];
    const t0 = performance.now();
    const messages = document.getElementById("messages");
    const record = () => {
      const all = messages.querySelectorAll(".message.assistant");
      const last = all[all.length - 1];
      if (!last) return;
      const len = last.querySelector(".content").textContent.length;
      const prev = window.__trace[window.__trace.length - 1];
      if (!prev || prev[1] !== len || prev[2] !== last.dataset.state)
        window.__trace.push([performance.now() - t0, len, last.dataset.state]);
    };
    window.__observer?.disconnect();
    window.__observer = new MutationObserver(record);
    window.__observer.observe(messages, { childList: true, subtree: true, characterData: true, attributes: true });
  });
}

const lastReply = (page) => page.locator(".message.assistant").last();

async function setSetting(page, id, value) {
  await page.fill(`#${id}`, String(value));
  await page.dispatchEvent(`#${id}`, "change");
}

async function send(page, text) {
  await page.fill("#prompt", text);
  await page.press("#prompt", "Enter");
}

async function main() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ["serve", "-m", MODEL, "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  await waitForHealth(base, 20000);
  await checkAssets(base);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], headless: true });
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  const foreign = [];
  const chatRequests = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) foreign.push(r.url());
    if (r.url() === `${base}/v1/chat/completions`) chatRequests.push(r);
  });

  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.getElementById("model-info").textContent.startsWith("model:"));
  assert.equal(await page.evaluate(() => window.stMarkdown.haveLibraries), true, "marked/DOMPurify not loaded");

  // Settings: greedy decoding, a shorter reply first. 1200 tokens: the page redraws at most
  // every 40 ms, and 400 tokens of the nano model streamed in ~250 ms, too few redraws to see
  // the text grow when the machine is busy (a flaky failure under ctest -j2).
  await page.click("#settings-toggle");
  assert.equal(await page.isVisible("#settings"), true);
  await setSetting(page, "temperature", 0);
  await setSetting(page, "max-tokens", 1200);

  // 1. A streamed answer: the text grows over several updates, then the reply finishes.
  await watchLastReply(page);
  await send(page, LOOPING_PROMPT);
  await page.waitForSelector(".message.assistant[data-state=done]", { timeout: 20000 });
  const trace = await page.evaluate(() => window.__trace);
  const streamingLengths = [...new Set(trace.filter(([, len, s]) => s === "streaming" && len > 0).map(([, len]) => len))];
  assert.ok(streamingLengths.length >= 3, `text did not grow while streaming: ${JSON.stringify(trace)}`);
  for (let i = 1; i < streamingLengths.length; ++i) assert.ok(streamingLengths[i] > streamingLengths[i - 1], "text shrank");
  const first = await lastReply(page).locator(".content").textContent();
  assert.ok(first.includes("LORD"), `unexpected reply: ${first}`);
  assert.ok(first.length >= streamingLengths[streamingLengths.length - 1]);
  assert.match(await lastReply(page).locator(".meta").textContent(), /1200 tokens · [\d.]+ tokens\/s/);
  const body = JSON.parse(chatRequests[0].postData());
  assert.equal(body.stream, true);
  assert.equal(body.temperature, 0);
  assert.equal(body.max_tokens, 1200);
  assert.equal(body.messages.at(-1).content, LOOPING_PROMPT);

  // 2. Stop a long generation midway; the page is usable again afterwards.
  await setSetting(page, "max-tokens", 3000);
  await page.click("#new-chat");
  await watchLastReply(page);
  await send(page, LOOPING_PROMPT);
  await page.waitForFunction(() => {
    const all = document.querySelectorAll(".message.assistant");
    const last = all[all.length - 1];
    return last && last.dataset.state === "streaming" && last.querySelector(".content").textContent.length > 80;
  }, null, { timeout: 20000 });
  assert.equal(await page.isVisible("#stop"), true);
  assert.equal(await page.isVisible("#send"), false);
  await page.click("#stop");
  await page.waitForSelector(".message.assistant[data-state=stopped]", { timeout: 3000 });
  const stoppedLength = (await lastReply(page).locator(".content").textContent()).length;
  assert.ok(stoppedLength < 3000 * 3, "the whole reply arrived before stop");
  await sleep(700);
  assert.equal((await lastReply(page).locator(".content").textContent()).length, stoppedLength, "text grew after stop");
  assert.equal(await page.isVisible("#stop"), false);
  assert.equal(await page.isEnabled("#send"), true);
  assert.match(await lastReply(page).locator(".meta").textContent(), /^stopped/);
  // ... and the server noticed the client went away and freed the slot.
  const metric = (text, name) => Number((text.match(new RegExp(`^\\w*${name}(?:\\{[^}]*\\})? (\\S+)$`, "m")) || [])[1]);
  let metrics = "";
  for (let i = 0; i < 50; ++i) {
    metrics = await (await fetch(`${base}/metrics`)).text();
    if (metric(metrics, "requests_processing") === 0 && metric(metrics, "requests_cancelled_total") >= 1) break;
    await sleep(100);
  }
  assert.equal(metric(metrics, "requests_processing"), 0, `server still generating after stop:\n${metrics}`);
  assert.equal(metric(metrics, "requests_cancelled_total"), 1, metrics);
  assert.ok(metric(metrics, "tokens_predicted_total") < 400 + 2000, "the stopped generation ran on");

  // The API key setting is sent as a bearer token (this server needs none, so it still works).
  await setSetting(page, "api-key", "sk-browser-test");
  await setSetting(page, "max-tokens", 16);
  await send(page, "Hello");
  await page.waitForFunction(() => document.querySelectorAll(".message.assistant[data-state=done]").length >= 1 &&
    document.querySelector(".message.assistant:last-of-type")?.dataset.state === "done", null, { timeout: 20000 });
  assert.equal(chatRequests.at(-1).headers().authorization, "Bearer sk-browser-test");
  assert.equal(chatRequests.length, 3);  // (a fourth, in JSON mode, follows)
  // The stopped reply stays in the history sent with the next request.
  const third = JSON.parse(chatRequests[2].postData());
  assert.deepEqual(third.messages.map((m) => m.role), ["user", "assistant", "user"]);

  // JSON mode: response_format json_object, the reply parses (constrained sampling). A new
  // conversation, so the greedy reply does not depend on the history above.
  await page.click("#new-chat");
  await page.selectOption("#reply-format", "json_object");
  await page.dispatchEvent("#reply-format", "change");
  await setSetting(page, "max-tokens", 300);
  await send(page, "Describe a dragon as JSON.");
  await page.waitForFunction(() => document.querySelector(".message.assistant:last-of-type")?.dataset.state === "done",
    null, { timeout: 20000 });
  assert.deepEqual(JSON.parse(chatRequests.at(-1).postData()).response_format, { type: "json_object" });
  const jsonReply = await lastReply(page).locator("pre code.language-json").textContent();
  assert.equal(typeof JSON.parse(jsonReply), "object", `not JSON: ${jsonReply}`);
  await page.selectOption("#reply-format", "text");
  await page.dispatchEvent("#reply-format", "change");

  // 3. Conversations: two in the list, switching restores messages, they survive a reload,
  //    deleting removes one.
  const titles = async () => page.locator("#conversation-list li .open").allTextContents();
  assert.deepEqual(await titles(), ["Describe a dragon as JSON.", LOOPING_PROMPT, LOOPING_PROMPT]);
  await page.locator("#conversation-list li .open").nth(2).click();
  assert.equal(await page.locator(".message").count(), 2);
  assert.equal(await page.locator(".message.assistant .content").textContent(), first);
  await page.reload();
  await page.waitForSelector("#conversation-list li");
  assert.equal((await titles()).length, 3);
  assert.equal(await page.locator(".message").count(), 2, "the selected conversation is restored after a reload");
  await page.locator("#conversation-list li").nth(1).locator(".delete").click();
  await page.locator("#conversation-list li").nth(0).locator(".delete").click();
  assert.deepEqual(await titles(), [LOOPING_PROMPT]);
  await page.locator("#conversation-list li .open").first().click();
  assert.equal(await page.locator(".message").count(), 2);

  // 4. Markdown through the page's own renderer: code block, emphasis, a table; nothing runs.
  const markdown = [
    "Here is **bold** text and `inline code`.",
    "",
    "```python",
    "def add(a, b):",
    "    return a + b  # 1 < 2 && 3 > 2",
    "```",
    "",
    "| x | y |",
    "|---|---|",
    "| 1 | 2 |",
    "",
    '<img src="x" onerror="window.__xss = 1"> <script>window.__xss = 2</script>',
  ].join("\n");
  await page.evaluate((text) => window.chatApp.showMessage({ role: "assistant", content: text }), markdown);
  const md = page.locator(".message.assistant").last();
  assert.equal(await md.locator("pre code.language-python").textContent(), "def add(a, b):\n    return a + b  # 1 < 2 && 3 > 2\n");
  assert.equal(await md.locator("strong").textContent(), "bold");
  assert.equal(await md.locator("p code").textContent(), "inline code");
  assert.equal(await md.locator("table td").count(), 2);
  assert.equal(await md.locator("pre button.copy").count(), 1);
  assert.equal(await md.locator("script").count(), 0);
  assert.equal(await md.locator("img").count(), 0);
  await sleep(100);
  assert.equal(await page.evaluate(() => window.__xss), undefined, "sanitizer let script run");

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = path.join(ARTIFACTS, "chat-page.png");
  await page.screenshot({ path: shot, fullPage: false });

  assert.deepEqual(foreign, [], "the page must work offline (no requests outside the server)");
  assert.deepEqual(pageErrors, [], "JavaScript errors on the page");
  console.log(`ok: streamed ${streamingLengths.length} updates, stopped at ${stoppedLength} chars; screenshot ${shot}`);
}

const watchdog = setTimeout(async () => {
  console.error("FAIL: timed out after 90 s");
  await stopServer();
  process.exit(1);
}, 90000);

try {
  await main();
} catch (e) {
  console.error(`FAIL: ${e.stack || e}`);
  if (serverLog) console.error(`server output:\n${serverLog.slice(-3000)}`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
  await stopServer();
}
