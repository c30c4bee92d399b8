// logprobs and request-field checking of `smallthinker serve`, through the official openai npm
// client. Oracle for the values: `smallthinker logits` (a Session evaluating the whole sequence,
// not the server's batched decoder) on the prompt's ids (`smallthinker tokenize --ids`) plus the
// generated ids, with log_softmax computed here in double precision. The server documents its
// logprobs as log_softmax of the logits after penalties (none here) and before temperature and
// top_k/top_p/min_p, so a sampled reply at temperature 1 with top_k 40 must match it as well.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { check, nanoModel, stBin, withServer } from "./harness.mjs";

const key = "logprobs-key";
const TOL = 5e-3;  // batched vs. single-sequence forward pass: the same math, summed in another order
const system = "You are a helpful assistant.";
const question = "What is 12 + 30?";

function cliIds(text) {
  return JSON.parse(execFileSync(stBin, ["tokenize", "-m", nanoModel, "-p", text, "--ids"]).toString());
}

// log_softmax rows of the oracle's logits for `ids`: rows[i] is the distribution after ids[0..i].
function oracleLogSoftmax(ids) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "st-logprobs-")), "logits.bin");
  execFileSync(stBin, ["logits", "-m", nanoModel, "-t", "2", "--tokens", ids.join(","), "-o", out], { stdio: ["ignore", "ignore", "pipe"] });
  const buf = fs.readFileSync(out);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const V = all.length / ids.length;
  fs.rmSync(path.dirname(out), { recursive: true });
  return ids.map((_, i) => {
    const row = all.subarray(i * V, (i + 1) * V);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    return Float64Array.from(row, (v) => v - lse);
  });
}

function topIds(row, n) {
  return Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, n);
}

const close = (a, b) => Math.abs(a - b) <= TOL;

// Every generated token of a chat reply against the oracle: the chosen token's logprob, and the
// top alternatives (ids, values, order); the tokens' bytes spell the reply.
function checkChatLogprobs(reply, promptIds, nTop, what) {
  const entries = reply.choices[0].logprobs?.content;
  check(Array.isArray(entries), `${what}: no choices[0].logprobs.content: ${JSON.stringify(reply.choices[0])}`);
  check(entries.length === reply.usage.completion_tokens, `${what}: ${entries.length} logprob entries for ${reply.usage.completion_tokens} tokens`);
  const text = Buffer.concat(entries.map((e) => Buffer.from(e.bytes)));
  check(text.toString("utf8") === reply.choices[0].message.content, `${what}: the tokens' bytes spell ${JSON.stringify(text.toString())}, not the reply`);
  const rows = oracleLogSoftmax([...promptIds, ...entries.map((e) => e.id)]);
  entries.forEach((e, i) => {
    const row = rows[promptIds.length - 1 + i];
    check(close(e.logprob, row[e.id]), `${what}: token ${i} (${e.id}) logprob ${e.logprob}, oracle ${row[e.id]}`);
    check(typeof e.token === "string" && Array.isArray(e.bytes), `${what}: entry shape ${JSON.stringify(e)}`);
    check(e.top_logprobs.length === nTop, `${what}: ${e.top_logprobs.length} top_logprobs, asked ${nTop}`);
    const want = topIds(row, nTop);
    e.top_logprobs.forEach((t, k) => {
      check(close(t.logprob, row[t.id]), `${what}: token ${i} alternative ${t.id} logprob ${t.logprob}, oracle ${row[t.id]}`);
      check(close(t.logprob, row[want[k]]), `${what}: token ${i} alternative #${k} is ${t.id} (${t.logprob}); oracle's is ${want[k]} (${row[want[k]]})`);
      check(Buffer.from(t.bytes).equals(Buffer.from(t.token, "utf8")) || t.token.includes("\ufffd"), `${what}: bytes/token mismatch ${JSON.stringify(t)}`);
    });
  });
  return entries;
}

async function expect400(promise, param, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === 400, `${what}: expected a 400, got ${e.status ?? e}`);
    check(e.param === param, `${what}: error names ${e.param}, not ${param}`);
    check(e.message.includes(param), `${what}: message does not name '${param}': ${e.message}`);
    return;
  }
  throw new Error(`${what}: expected a 400 naming '${param}', the request succeeded`);
}

await withServer(["--api-key", key, "--parallel", "2", "-c", "512", "--max-tokens", "24"], async ({ url }) => {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0, timeout: 60000 });
  const model = (await client.models.list()).data[0].id;
  const messages = [{ role: "system", content: system }, { role: "user", content: question }];
  const promptIds = cliIds(`<|im_start|>system\n${system}<|im_end|>\n<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`);

  // Greedy chat, whole and streamed: the same entries; greedy picks the top alternative.
  const greedy = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 12, logprobs: true, top_logprobs: 5 });
  check(greedy.usage.prompt_tokens === promptIds.length, `the test's ChatML rendering has ${promptIds.length} tokens, the server's ${greedy.usage.prompt_tokens}`);
  const whole = checkChatLogprobs(greedy, promptIds, 5, "greedy chat");
  for (const e of whole) check(e.top_logprobs[0].id === e.id, `greedy chose ${e.id}, not the most likely ${e.top_logprobs[0].id}`);
  const stream = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 12, logprobs: true, top_logprobs: 5, stream: true });
  const streamed = [];
  for await (const chunk of stream) for (const c of chunk.choices) streamed.push(...(c.logprobs?.content ?? []));
  check(JSON.stringify(streamed.map((e) => [e.id, e.bytes])) === JSON.stringify(whole.map((e) => [e.id, e.bytes])), "streamed logprob tokens differ from the whole reply's");
  streamed.forEach((e, i) => check(close(e.logprob, whole[i].logprob) && e.top_logprobs.length === 5, `streamed entry ${i} differs`));

  // Sampled at temperature 1 with top_k 40: still the full, untruncated distribution.
  const sampled = await client.chat.completions.create({ model, messages, temperature: 1, top_k: 40, seed: 7, max_tokens: 16, logprobs: true, top_logprobs: 2 });
  checkChatLogprobs(sampled, promptIds, 2, "sampled chat");
  // logprobs without alternatives, and llama.cpp's n_probs.
  const bare = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 4, logprobs: true });
  checkChatLogprobs(bare, promptIds, 0, "logprobs without top_logprobs");
  const nprobs = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 4, n_probs: 3 });
  checkChatLogprobs(nprobs, promptIds, 3, "n_probs");
  const none = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 4 });
  check(none.choices[0].logprobs === null, "logprobs reported without being asked");

  // Completions: OpenAI's legacy shape; the first position against the oracle.
  const prompt = "The capital of France is";
  const cIds = cliIds(prompt);
  const comp = await client.completions.create({ model, prompt, temperature: 0, max_tokens: 8, logprobs: 3 });
  const lp = comp.choices[0].logprobs;
  const n = comp.usage.completion_tokens;
  check(lp && [lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset].every((a) => a.length === n), `completions logprobs shape: ${JSON.stringify(lp)}`);
  check(lp.tokens.join("") === comp.choices[0].text, "completion tokens do not spell the text");
  let offset = 0;
  lp.tokens.forEach((t, i) => {
    check(lp.text_offset[i] === offset, `text_offset[${i}] = ${lp.text_offset[i]}, expected ${offset}`);
    offset += [...t].length;
    const alts = Object.values(lp.top_logprobs[i]);
    check(alts.length === 3 && close(Math.max(...alts), lp.token_logprobs[i]), `greedy token ${i} is not its top alternative: ${JSON.stringify(lp.top_logprobs[i])}`);
  });
  const row = oracleLogSoftmax(cIds)[cIds.length - 1];
  const best = topIds(row, 3);
  check(close(lp.token_logprobs[0], row[best[0]]), `first completion logprob ${lp.token_logprobs[0]}, oracle ${row[best[0]]}`);
  Object.values(lp.top_logprobs[0]).sort((a, b) => b - a).forEach((v, k) => check(close(v, row[best[k]]), `first position alternative ${k}: ${v} vs ${row[best[k]]}`));
  const cstream = await client.completions.create({ model, prompt, temperature: 0, max_tokens: 8, logprobs: 3, stream: true });
  const ctokens = [], coffsets = [];
  for await (const chunk of cstream)
    for (const c of chunk.choices) {
      ctokens.push(...(c.logprobs?.tokens ?? []));
      coffsets.push(...(c.logprobs?.text_offset ?? []));
    }
  check(JSON.stringify(ctokens) === JSON.stringify(lp.tokens) && JSON.stringify(coffsets) === JSON.stringify(lp.text_offset), "streamed completion logprobs differ");

  // Fields not supported yet: a 400 naming the field, never a 200 with another meaning.
  const hi = [{ role: "user", content: "hi" }];
  const tool = { type: "function", function: { parameters: { type: "object", properties: {} } } };
  await expect400(client.chat.completions.create({ model, messages: hi, tools: [tool] }), "tools[0].function.name", "tool without a name");
  await expect400(client.chat.completions.create({ model, messages: hi, tool_choice: "required" }), "tool_choice", "tool_choice required without tools");
  await expect400(client.chat.completions.create({ model, messages: hi, grammar: "root ::= \"a\"" }), "grammar", "grammar");
  await expect400(client.chat.completions.create({ model, messages: hi, frobnicate: 3 }), "frobnicate", "unknown field");
  await expect400(client.chat.completions.create({ model, messages: hi, logit_bias: { 42: 5 } }), "logit_bias", "logit_bias");
  await expect400(client.chat.completions.create({ model, messages: hi, logprobs: true, top_logprobs: 21 }), "top_logprobs", "top_logprobs 21");
  await expect400(client.chat.completions.create({ model, messages: hi, top_logprobs: 2 }), "top_logprobs", "top_logprobs without logprobs");
  await expect400(client.chat.completions.create({ model, messages: [{ role: "user", content: "hi", tool_calls: [{ id: "1" }] }] }), "messages[0].tool_calls", "tool_calls in history");
  await expect400(client.completions.create({ model, prompt: "hi", echo: true }), "echo", "echo");
  await expect400(client.completions.create({ model, prompt: "hi", suffix: "end" }), "suffix", "suffix");
  await expect400(client.completions.create({ model, prompt: "hi", stream: true, stream_options: { include_usage: true, extra: 1 } }), "stream_options.extra", "stream_options.extra");

  // Harmless fields and the empty forms of the unsupported ones are accepted; any model name is.
  const ok = await client.chat.completions.create({
    model: "gpt-4o", messages: hi, max_tokens: 2, user: "u1", metadata: { a: "b" }, store: false, tools: [], tool_choice: "none",
    parallel_tool_calls: false, logit_bias: {}, grammar: "",
  });
  check(ok.model === model, `reply names model ${ok.model}, not the served ${model}`);

  // max_tokens above --max-tokens 24: clamped and reported, not refused.
  const { data: clamped, response } = await client.completions
    .create({ model, prompt: "Count: 1, 2, 3,", max_tokens: 100000, temperature: 0 })
    .withResponse();
  check(response.headers.get("x-max-tokens-clamped") === "24", `X-Max-Tokens-Clamped: ${response.headers.get("x-max-tokens-clamped")}`);
  check(clamped.usage.completion_tokens <= 24, `clamped reply has ${clamped.usage.completion_tokens} tokens`);
  check(Array.isArray(clamped.warnings) && clamped.warnings[0].includes("max_tokens"), `no warning: ${JSON.stringify(clamped.warnings)}`);
});
console.log("test_logprobs: OK");
