// `smallthinker serve` driven by the official openai npm client (and fetch for raw HTTP):
// chat, streaming, completions, usage/timings, seeds, stop strings, prefix reuse, errors.
// Oracles: the CLI's own `run --chat` greedy output (a different code path: Session::generate),
// SmallThinker-Nano's arithmetic (it answers 12 + 30 = 42), and the OpenAI error contract.
import OpenAI from "openai";
import { check, cliGreedyChat, metrics, nanoModel, stBin, withServer } from "./harness.mjs";

const key = "test-key-123";
const question = "What is 12 + 30?";

async function expectApiError(promise, status, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof OpenAI.APIError, `${what}: expected an APIError, got ${e}`);
    check(e.status === status, `${what}: expected HTTP ${status}, got ${e.status} (${e.message})`);
    check(typeof e.error?.message === "string" && typeof e.error?.type === "string", `${what}: no OpenAI error object: ${JSON.stringify(e.error)}`);
    return e;
  }
  throw new Error(`${what}: expected HTTP ${status}, the request succeeded`);
}

async function rawPost(url, path, body, headers = {}) {
  const res = await fetch(url + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}`, ...headers },
    body,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

function checkErrorObject(r, status, what, param) {
  check(r.status === status, `${what}: expected ${status}, got ${r.status}: ${r.text}`);
  const e = r.json?.error;
  check(e && typeof e.message === "string" && e.message.length > 0 && typeof e.type === "string" && "param" in e && "code" in e,
        `${what}: not an OpenAI error object: ${r.text}`);
  if (param) check(e.param === param, `${what}: expected param ${param}, got ${e.param}`);
}

await withServer(["--api-key", key, "--parallel", "2", "-c", "384", "--max-tokens", "300"], async ({ url }) => {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0, timeout: 60000 });

  // /v1/models, /health
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  check(ids.length === 1 && ids[0] === "smallthinker-nano", `models: ${JSON.stringify(ids)}`);
  const model = ids[0];
  const health = await fetch(`${url}/health`);  // no key needed
  check(health.status === 200 && (await health.json()).status === "ok", "health");

  // Chat, greedy: the same text as the CLI's greedy `run --chat`, and the right answer.
  const chat = await client.chat.completions.create({
    model, messages: [{ role: "user", content: question }], temperature: 0, max_tokens: 64,
  });
  const answer = chat.choices[0].message.content;
  check(chat.object === "chat.completion" && chat.choices[0].message.role === "assistant", "chat reply shape");
  check(answer === cliGreedyChat(question, 64), `chat greedy text ${JSON.stringify(answer)} differs from the CLI's ${JSON.stringify(cliGreedyChat(question, 64))}`);
  check(answer.includes("42"), `nano should answer 42: ${JSON.stringify(answer)}`);
  check(chat.choices[0].finish_reason === "stop", `finish_reason ${chat.choices[0].finish_reason}`);
  const u = chat.usage;
  check(u.prompt_tokens > 5 && u.completion_tokens > 0 && u.total_tokens === u.prompt_tokens + u.completion_tokens, `usage ${JSON.stringify(u)}`);
  const t = chat.timings;
  for (const f of ["prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second", "predicted_n", "predicted_ms",
                   "predicted_per_token_ms", "predicted_per_second"])
    check(typeof t?.[f] === "number" && t[f] >= 0, `timings.${f} missing: ${JSON.stringify(t)}`);
  check(t.predicted_n === u.completion_tokens && t.prompt_n + t.cache_n === u.prompt_tokens, `timings vs usage ${JSON.stringify(t)}`);

  // Streaming gives the same text in pieces, then a finish chunk and (asked for) a usage chunk.
  const stream = await client.chat.completions.create({
    model, messages: [{ role: "user", content: question }], temperature: 0, max_tokens: 64, stream: true,
    stream_options: { include_usage: true },
  });
  let streamed = "", finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    ++chunks;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      streamed += ch.delta?.content ?? "";
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  check(streamed === answer, `streamed ${JSON.stringify(streamed)} != ${JSON.stringify(answer)}`);
  check(finish === "stop" && chunks >= 3, `stream finish ${finish}, ${chunks} chunks`);
  check(usage && usage.completion_tokens === u.completion_tokens, `stream usage ${JSON.stringify(usage)}`);

  // Prefix reuse: the next turn of a conversation evaluates only the new tokens, and answers
  // exactly as a slot without the cached prefix does.
  const turn2 = [{ role: "user", content: question }, { role: "assistant", content: answer }, { role: "user", content: "What is 20 + 5?" }];
  const reused = await client.chat.completions.create({ model, messages: turn2, temperature: 0, max_tokens: 16 });
  check(reused.timings.cache_n > 0 && reused.timings.prompt_n < reused.usage.prompt_tokens, `no prefix reuse: ${JSON.stringify(reused.timings)}`);
  // Evict the cached prefix from both slots, then ask again from scratch.
  for (const prompt of ["Red fox", "Blue sky"]) await client.completions.create({ model, prompt, max_tokens: 1 });
  const fresh = await client.chat.completions.create({ model, messages: turn2, temperature: 0, max_tokens: 16 });
  check(fresh.timings.cache_n === 0, `expected a fresh slot: ${JSON.stringify(fresh.timings)}`);
  check(fresh.choices[0].message.content === reused.choices[0].message.content,
        `reused slot answered ${JSON.stringify(reused.choices[0].message.content)}, fresh ${JSON.stringify(fresh.choices[0].message.content)}`);

  // Completions, streaming and not, agree; max_tokens bounds the reply ("length").
  const prompt = "Once upon a time";
  const comp = await client.completions.create({ model, prompt, temperature: 0, max_tokens: 12 });
  check(comp.object === "text_completion" && typeof comp.choices[0].text === "string", "completion shape");
  check(comp.usage.completion_tokens <= 12, `completion_tokens ${comp.usage.completion_tokens} > 12`);
  if (comp.usage.completion_tokens === 12) check(comp.choices[0].finish_reason === "length", "finish length");
  let compStreamed = "";
  for await (const c of await client.completions.create({ model, prompt, temperature: 0, max_tokens: 12, stream: true }))
    compStreamed += c.choices[0]?.text ?? "";
  check(compStreamed === comp.choices[0].text, `completion stream ${JSON.stringify(compStreamed)} != ${JSON.stringify(comp.choices[0].text)}`);

  // Seeds: the same seed gives the same sampled text; sampling does vary with the seed.
  const sampled = async (seed) =>
    (await client.completions.create({ model, prompt, temperature: 1.2, top_k: 0, top_p: 1, min_p: 0, seed, max_tokens: 16 })).choices[0].text;
  const s1 = await sampled(7), s2 = await sampled(7);
  check(s1 === s2, `seed 7 gave ${JSON.stringify(s1)} then ${JSON.stringify(s2)}`);
  const others = await Promise.all([8, 9, 10].map(sampled));
  check(others.some((o) => o !== s1), "different seeds all gave the same text");

  // Stop strings: the reply ends right before the first occurrence, which is not included.
  const full = comp.choices[0].text;
  check(full.length >= 6, `greedy completion too short for the stop test: ${JSON.stringify(full)}`);
  const stop = full.slice(3, 5);
  const cut = await client.completions.create({ model, prompt, temperature: 0, max_tokens: 12, stop: [stop, "\u0000never"] });
  check(cut.choices[0].text === full.slice(0, full.indexOf(stop)), `stop ${JSON.stringify(stop)}: got ${JSON.stringify(cut.choices[0].text)} of ${JSON.stringify(full)}`);
  check(cut.choices[0].finish_reason === "stop", "stop-string finish reason");

  // JSON mode: every reply that ends normally parses as JSON, and most do end within 250 tokens.
  let parsed = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = await client.chat.completions.create({
      model, messages: [{ role: "user", content: "What is 12 + 30? Answer in JSON." }], response_format: { type: "json_object" },
      max_tokens: 250, temperature: 1.0, seed,
    });
    const c = r.choices[0];
    if (c.finish_reason !== "stop") continue;
    try {
      JSON.parse(c.message.content);
    } catch (e) {
      throw new Error(`json_object reply (seed ${seed}) does not parse: ${JSON.stringify(c.message.content)}: ${e}`);
    }
    ++parsed;
  }
  check(parsed >= 3, `only ${parsed} of 6 json_object replies ended within 250 tokens`);

  // Errors, through the client.
  await expectApiError(new OpenAI({ baseURL: `${url}/v1`, apiKey: "wrong", maxRetries: 0 }).models.list(), 401, "wrong key");
  // Any model name is served by the one model, as llama-server does (test_logprobs.mjs covers
  // max_tokens above the cap: clamped and reported).
  const other = await client.chat.completions.create({ model: "gpt-4", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
  check(other.model === model, `a request for gpt-4 is answered as ${other.model}`);
  const e400 = await expectApiError(client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 0 }), 400, "max_tokens 0");
  check(e400.param === "max_tokens", `param ${e400.param}`);
  await expectApiError(client.chat.completions.create({ model, messages: [] }), 400, "no messages");
  await expectApiError(client.completions.create({ model, prompt: "x ".repeat(1000), max_tokens: 4 }), 400, "prompt longer than the slot context");

  // Errors, raw: malformed JSON, wrong types, oversized body, no key, unknown route.
  checkErrorObject(await rawPost(url, "/v1/chat/completions", "{\"messages\": [", {}), 400, "malformed JSON");
  checkErrorObject(await rawPost(url, "/v1/chat/completions", "[1, 2]"), 400, "not an object");
  checkErrorObject(await rawPost(url, "/v1/chat/completions", JSON.stringify({ messages: [{ role: "user", content: "hi" }], temperature: "hot" })), 400, "temperature string", "temperature");
  checkErrorObject(await rawPost(url, "/v1/chat/completions", JSON.stringify({ messages: [{ role: "user", content: 5 }] })), 400, "content number", "messages[0].content");
  checkErrorObject(await rawPost(url, "/v1/chat/completions", JSON.stringify({ messages: [{ role: "wizard", content: "hi" }] })), 400, "bad role", "messages[0].role");
  checkErrorObject(await rawPost(url, "/v1/completions", JSON.stringify({ prompt: "hi", stop: 3 })), 400, "stop number", "stop");
  checkErrorObject(await rawPost(url, "/v1/completions", JSON.stringify({ prompt: "hi", stream: "yes" })), 400, "stream string", "stream");
  checkErrorObject(await rawPost(url, "/v1/completions", JSON.stringify({ prompt: "hi", seed: 1.5 })), 400, "fractional seed", "seed");
  checkErrorObject(await rawPost(url, "/v1/completions", JSON.stringify({ prompt: "x".repeat(2 << 20) })), 413, "2 MiB body");
  checkErrorObject(await rawPost(url, "/v1/completions", JSON.stringify({ prompt: "hi" }), { Authorization: "" }), 401, "no key");
  checkErrorObject(await rawPost(url, "/v1/nothing-here", "{}"), 404, "unknown route");
  const m401 = await fetch(`${url}/metrics`);
  check(m401.status === 401, `/metrics without the key: ${m401.status}`);

  // The server is still healthy after all of that, and counted its work.
  const m = await metrics(url, key);
  check(m.smallthinker_requests_total >= 10 && m.smallthinker_tokens_predicted_total > 0, `metrics ${JSON.stringify(m)}`);
  check(m.smallthinker_prompt_tokens_cached_total > 0, "metrics: no cached prompt tokens counted");
  check(m.smallthinker_memory_rss_bytes > 0 && m.smallthinker_expert_cache_hit_rate === 1, "metrics: rss / hit rate");
  const again = await client.completions.create({ model, prompt, temperature: 0, max_tokens: 12 });
  check(again.choices[0].text === full, "greedy completion changed after the error tests");
});
console.log("test_openai: all passed");
