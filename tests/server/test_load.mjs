// Load and batching test of `smallthinker serve` on loopback with SmallThinker-Nano:
//  - two concurrent requests are decoded in the same forward passes (/metrics counts passes
//    over more than one sequence) and each still gets its lone greedy answer;
//  - 240 requests from 8 concurrent clients (chat and completions, streaming and not, every
//    tenth streaming client disconnecting after its first chunk): zero 5xx, none hung, the
//    disconnected generations stopped, every slot free afterwards;
//  - a client that disconnects mid-stream stops its generation;
//  - the server's resident memory afterwards is within 10% of its idle size after warm-up;
//  - with the queue full, further requests get 429.
import { check, metrics, rssBytes, withServer } from "./harness.mjs";

const N_REQUESTS = Number(process.env.ST_LOAD_REQUESTS ?? 240), CLIENTS = 8, TIMEOUT_MS = 30000;

async function post(url, path, body, signal) {
  return fetch(url + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal });
}

async function complete(url, prompt, maxTokens) {
  const r = await post(url, "/v1/completions", { prompt, temperature: 0, max_tokens: maxTokens });
  check(r.status === 200, `completion: HTTP ${r.status}`);
  return (await r.json()).choices[0].text;
}

// One request of the load mix; resolves to { status, hung, aborted }.
async function oneRequest(url, i) {
  const chat = i % 2 === 0, stream = i % 4 < 2, disconnect = stream && i % 10 === 0;
  const body = chat
    ? { messages: [{ role: "user", content: `What is ${i % 50} + ${(i * 7) % 50}?` }] }
    : { prompt: `Request ${i}: once upon a time` };
  Object.assign(body, { max_tokens: disconnect ? 200 : 4 + (i % 13), temperature: 0.8, seed: i, stream });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error("timeout")), TIMEOUT_MS);
  try {
    const res = await post(url, chat ? "/v1/chat/completions" : "/v1/completions", body, abort.signal);
    if (!stream) {
      await res.json();
      return { status: res.status };
    }
    const reader = res.body.getReader();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      if (disconnect && text.includes("data: ")) {
        await reader.cancel();  // the client goes away mid-stream
        return { status: res.status, aborted: true };
      }
    }
    check(res.status !== 200 || text.trimEnd().endsWith("data: [DONE]"), `stream ${i} did not end with [DONE]: ${text.slice(-200)}`);
    return { status: res.status };
  } catch (e) {
    if (abort.signal.aborted) return { status: 0, hung: true };
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function waitIdle(url) {
  for (let i = 0; i < 100; ++i) {
    const m = await metrics(url);
    if (m.smallthinker_requests_processing === 0 && m.smallthinker_requests_deferred === 0) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = await metrics(url);
  throw new Error(`slots still busy 10 s after the last request: ${JSON.stringify(m)}`);
}

await withServer(["--parallel", "4", "-c", "512"], async ({ url, pid }) => {
  // Batching: two requests at once share forward passes and answer as they do alone.
  const prompts = ["Once upon a time", "And it came to pass"];
  const lone = [];
  for (const p of prompts) lone.push(await complete(url, p, 24));
  const m0 = await metrics(url);
  const together = await Promise.all(prompts.map((p) => complete(url, p, 24)));
  const m1 = await metrics(url);
  const multi = m1.smallthinker_batch_steps_multi_seq_total - m0.smallthinker_batch_steps_multi_seq_total;
  check(multi >= 10, `two concurrent requests shared only ${multi} forward passes`);
  check(m1.smallthinker_batch_max_seqs >= 2, `batch_max_seqs ${m1.smallthinker_batch_max_seqs}`);
  for (let k = 0; k < prompts.length; ++k)
    check(together[k] === lone[k], `batched answer ${JSON.stringify(together[k])} != lone ${JSON.stringify(lone[k])}`);

  // Disconnect: a client that leaves mid-stream stops its generation. The same request run to
  // the end generates all 300 tokens (greedy, no end token), so fewer means it was stopped.
  const long = { prompt: "Once upon a time", max_tokens: 300, temperature: 0 };
  const whole = await (await post(url, "/v1/completions", long)).json();
  check(whole.usage.completion_tokens === 300, `the long request ended early: ${JSON.stringify(whole.usage)}`);
  const m3 = await metrics(url);
  const res = await post(url, "/v1/completions", { ...long, stream: true });
  const reader = res.body.getReader();
  await reader.read();
  await reader.cancel();
  const m4 = await waitIdle(url);
  const generated = m4.smallthinker_tokens_predicted_total - m3.smallthinker_tokens_predicted_total;
  check(m4.smallthinker_requests_cancelled_total === m3.smallthinker_requests_cancelled_total + 1 && generated < 300,
        `after the disconnect: ${generated} tokens generated, cancelled ${m3.smallthinker_requests_cancelled_total} -> ${m4.smallthinker_requests_cancelled_total}`);

  const tWarm = Date.now();
  // Warm-up (all slots, streaming and not), then the idle size.
  for (let round = 0; round < 2; ++round)
    await Promise.all(Array.from({ length: CLIENTS }, (_, k) => oneRequest(url, 1000 + round * CLIENTS + k + 1)));
  await waitIdle(url);
  await new Promise((r) => setTimeout(r, 300));
  const idleRss = rssBytes(pid);
  console.log(`batching check and warm-up done; warm-up took ${Date.now() - tWarm} ms`);

  const t0 = Date.now();
  const results = [];
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < N_REQUESTS) results.push(await oneRequest(url, next++));
  }));
  const seconds = (Date.now() - t0) / 1000;
  const m2 = await waitIdle(url);
  await new Promise((r) => setTimeout(r, 300));
  const afterRss = rssBytes(pid);

  const s5xx = results.filter((r) => r.status >= 500).length;
  const hung = results.filter((r) => r.hung).length;
  const not200 = results.filter((r) => r.status !== 200).length;
  const aborted = results.filter((r) => r.aborted).length;
  console.log(`${results.length} requests by ${CLIENTS} clients in ${seconds.toFixed(1)} s: ${s5xx} 5xx, ${hung} hung, ` +
              `${aborted} disconnected; RSS idle ${(idleRss / 2 ** 20).toFixed(1)} MiB, after ${(afterRss / 2 ** 20).toFixed(1)} MiB; ` +
              `${m2.smallthinker_batch_steps_multi_seq_total} of ${m2.smallthinker_batch_steps_total} passes batched`);
  check(results.length === N_REQUESTS, `${results.length} results`);
  check(s5xx === 0 && hung === 0 && not200 === 0, `${s5xx} 5xx, ${hung} hung, ${not200} not 200`);
  // (A disconnected chat request may still finish its short answer before the server's next
  // write fails; the exact check is the dedicated one above.)
  check(aborted === Math.ceil(N_REQUESTS / 20) && m2.smallthinker_requests_cancelled_total >= aborted / 2,
        `disconnects: ${aborted} clients left, ${m2.smallthinker_requests_cancelled_total} generations cancelled`);
  check(Math.abs(afterRss - idleRss) <= 0.1 * idleRss, `RSS ${afterRss} after the load vs ${idleRss} idle`);
});

// A full queue: with one slot and room for one waiting request, concurrent requests beyond
// that get 429 with an OpenAI error object, and the others complete.
await withServer(["--parallel", "1", "--queue", "1", "-c", "512"], async ({ url }) => {
  const long = () => post(url, "/v1/completions", { prompt: "Once upon a time", max_tokens: 200, temperature: 0 });
  const replies = await Promise.all([long(), long(), long(), long()]);
  const bodies = await Promise.all(replies.map((r) => r.json()));
  const codes = replies.map((r) => r.status);
  check(codes.filter((c) => c === 429).length >= 2 && codes.filter((c) => c === 200).length >= 1 &&
        codes.every((c) => c === 200 || c === 429), `statuses with a full queue: ${codes}`);
  for (let k = 0; k < 4; ++k)
    if (codes[k] === 429) check(bodies[k].error?.type === "rate_limit_error", `429 body ${JSON.stringify(bodies[k])}`);
});
console.log("test_load: all passed");
