// `smallthinker serve`'s Ollama API driven by the official `ollama` npm client: tags, show,
// version, ps, chat and generate (whole and streamed NDJSON), options, format (JSON and a JSON
// schema), the load call, and errors as ResponseError {error, status_code}. Oracles: the CLI's
// greedy `run --chat` (a different code path), SmallThinker-Nano's arithmetic, a JSON Schema
// check written here, and Ollama's documented shapes.
import { Ollama } from "ollama";
import { check, cliGreedyChat, nanoModel, stBin, withServer } from "./harness.mjs";

const key = "ollama-test-key";
const question = "What is 12 + 30?";

async function expectResponseError(promise, status, what, mention) {
  try {
    await promise;
  } catch (e) {
    check(e.name === "ResponseError", `${what}: expected a ResponseError, got ${e}`);
    check(e.status_code === status, `${what}: expected HTTP ${status}, got ${e.status_code} (${e.error})`);
    check(typeof e.error === "string" && e.error.length > 0, `${what}: no error message`);
    if (mention) check(e.error.includes(mention), `${what}: the message does not name ${mention}: ${e.error}`);
    return e;
  }
  throw new Error(`${what}: expected HTTP ${status}, the request succeeded`);
}

// A check of the JSON Schema subset used below (independent of the server's compiler).
function validates(value, schema) {
  if (schema.enum && !schema.enum.includes(value)) return false;
  switch (schema.type) {
    case "object":
      if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
      for (const r of schema.required ?? []) if (!(r in value)) return false;
      for (const [k, v] of Object.entries(value)) {
        const sub = schema.properties?.[k];
        if (!sub) { if (schema.additionalProperties === false) return false; continue; }
        if (!validates(v, sub)) return false;
      }
      return true;
    case "array":
      return Array.isArray(value) && value.length >= (schema.minItems ?? 0) && value.every((x) => validates(x, schema.items));
    case "integer": return Number.isInteger(value);
    case "number": return typeof value === "number";
    case "string": return typeof value === "string";
    case "boolean": return typeof value === "boolean";
    default: return true;
  }
}

function checkStats(r, what) {
  for (const f of ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"])
    check(Number.isInteger(r[f]) && r[f] >= 0, `${what}: ${f} = ${r[f]}`);
  check(r.prompt_eval_count > 5 && r.eval_count > 0, `${what}: counts ${r.prompt_eval_count}, ${r.eval_count}`);
  // Durations are nanoseconds: a reply of this model takes well over a microsecond and under a minute.
  check(r.total_duration > 1e3 && r.total_duration < 6e10 && r.total_duration >= r.eval_duration, `${what}: total_duration ${r.total_duration}`);
  check(!Number.isNaN(Date.parse(r.created_at)), `${what}: created_at ${r.created_at}`);
}

await withServer(["--api-key", key, "--parallel", "2", "-c", "512", "--max-tokens", "300"], async ({ url }) => {
  const ollama = new Ollama({ host: url, headers: { Authorization: `Bearer ${key}` } });

  // The key is required like on the other routes (Ollama clients send it as a Bearer header).
  await expectResponseError(new Ollama({ host: url }).list(), 401, "no key", "API key");

  // tags / show / version / ps
  const tags = await ollama.list();
  check(tags.models.length === 1, `tags: ${JSON.stringify(tags)}`);
  const m = tags.models[0];
  check(m.name === "smallthinker-nano:latest" && m.model === m.name && m.size > 1e6 && /^[0-9a-f]{64}$/.test(m.digest),
        `tags entry: ${JSON.stringify(m)}`);
  check(m.details.format === "gguf" && m.details.family === "smallthinker", `details ${JSON.stringify(m.details)}`);
  check(!Number.isNaN(Date.parse(m.modified_at)), `modified_at ${m.modified_at}`);
  const model = m.name;
  const show = await ollama.show({ model });
  check(typeof show.template === "string" && show.details.format === "gguf", `show: ${JSON.stringify(show).slice(0, 300)}`);
  check(show.model_info["general.architecture"] === "smallthinker" && show.model_info["smallthinker.context_length"] > 0,
        `show model_info: ${JSON.stringify(show.model_info)}`);
  check(Array.isArray(show.capabilities) && show.capabilities.includes("completion"), "show capabilities");
  const version = await ollama.version();
  check(/^\d+\.\d+\.\d+$/.test(version.version), `version ${JSON.stringify(version)}`);
  const ps = await ollama.ps();
  check(ps.models.length === 1 && ps.models[0].name === model && ps.models[0].context_length === 512,
        `ps: ${JSON.stringify(ps)}`);  // -c 512 over 2 slots

  // Chat, greedy and whole: the CLI's greedy text, the right answer, Ollama's counters.
  const expected = cliGreedyChat(question, 64);
  const chat = await ollama.chat({ model, messages: [{ role: "user", content: question }], options: { temperature: 0, num_predict: 64 } });
  check(chat.message.role === "assistant" && chat.message.content === expected,
        `chat ${JSON.stringify(chat.message)} differs from the CLI's ${JSON.stringify(expected)}`);
  check(chat.message.content.includes("42"), `nano should answer 42: ${JSON.stringify(chat.message.content)}`);
  check(chat.done === true && chat.done_reason === "stop" && chat.model === model, `chat end: ${JSON.stringify(chat)}`);
  checkStats(chat, "chat");

  // Streamed (NDJSON): the same text in pieces; the last line carries done and the counters.
  let streamed = "", lines = 0, last = null;
  for await (const part of await ollama.chat({ model, messages: [{ role: "user", content: question }], stream: true,
                                               options: { temperature: 0, num_predict: 64 } })) {
    ++lines;
    streamed += part.message.content;
    last = part;
    if (!part.done) check(part.done_reason === undefined, "done_reason before the end");
  }
  check(streamed === chat.message.content, `streamed ${JSON.stringify(streamed)} != ${JSON.stringify(chat.message.content)}`);
  check(lines >= 3 && last.done && last.done_reason === "stop" && last.eval_count === chat.eval_count, `stream end ${JSON.stringify(last)}`);

  // The NDJSON stream on the wire: application/x-ndjson, one JSON object per line.
  const raw = await fetch(`${url}/api/chat`, {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, messages: [{ role: "user", content: question }], options: { temperature: 0, num_predict: 8 } }),
  });
  check(raw.headers.get("content-type") === "application/x-ndjson", `content-type ${raw.headers.get("content-type")}`);
  const rawLines = (await raw.text()).split("\n");
  check(rawLines.pop() === "" && rawLines.every((l) => typeof JSON.parse(l).done === "boolean"), "NDJSON lines");
  check(JSON.parse(rawLines.at(-1)).done_reason === "length", "8 tokens: done_reason length");

  // Generate: the prompt goes through the chat template (the same text as the chat); raw does not.
  const gen = await ollama.generate({ model, prompt: question, options: { temperature: 0, num_predict: 64 } });
  check(gen.response === chat.message.content && gen.done && gen.done_reason === "stop", `generate ${JSON.stringify(gen)}`);
  checkStats(gen, "generate");
  let genStreamed = "";
  for await (const part of await ollama.generate({ model, prompt: question, stream: true, options: { temperature: 0, num_predict: 64 } }))
    genStreamed += part.response;
  check(genStreamed === gen.response, `generate stream ${JSON.stringify(genStreamed)} != ${JSON.stringify(gen.response)}`);
  const rawGen = await ollama.generate({ model, prompt: "Once upon a time", raw: true, options: { temperature: 0, num_predict: 6 } });
  // Raw: exactly the prompt's tokens (as /tokenize counts them), no template around them.
  const tok = await (await fetch(`${url}/tokenize`, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
                                                     body: JSON.stringify({ content: "Once upon a time" }) })).json();
  check(rawGen.eval_count <= 6 && rawGen.prompt_eval_count === tok.tokens.length, `raw generate ${JSON.stringify(rawGen)} vs ${JSON.stringify(tok)}`);

  // Options: num_predict bounds the reply; stop cuts before the stop string; seeds repeat.
  const short = await ollama.chat({ model, messages: [{ role: "user", content: question }], options: { temperature: 0, num_predict: 3 } });
  check(short.eval_count === 3 && short.done_reason === "length", `num_predict 3: ${JSON.stringify(short)}`);
  const stopAt = chat.message.content.indexOf("42");
  if (stopAt > 0) {
    const cut = await ollama.chat({ model, messages: [{ role: "user", content: question }], options: { temperature: 0, stop: ["42"] } });
    check(cut.message.content === chat.message.content.slice(0, stopAt) && cut.done_reason === "stop", `stop: ${JSON.stringify(cut.message)}`);
  }
  const sampled = async (seed) => (await ollama.generate({ model, prompt: "Tell me a story.",
    options: { temperature: 1.2, top_k: 0, top_p: 1, min_p: 0, seed, num_predict: 16 } })).response;
  const s1 = await sampled(11), s2 = await sampled(11);
  check(s1 === s2, `seed 11 gave ${JSON.stringify(s1)} then ${JSON.stringify(s2)}`);
  // num_ctx narrows the window: the reply stops where prompt + reply fill it.
  const narrow = await ollama.chat({ model, messages: [{ role: "user", content: question }], options: { temperature: 0, num_ctx: chat.prompt_eval_count + 2 } });
  check(narrow.eval_count === 2 && narrow.done_reason === "length", `num_ctx: ${JSON.stringify(narrow)}`);

  // format: a JSON schema constrains the output: it parses and validates.
  const schema = {
    type: "object",
    properties: { answer: { type: "integer" }, unit: { type: "string", enum: ["apples", "pears"] }, exact: { type: "boolean" } },
    required: ["answer", "unit", "exact"],
    additionalProperties: false,
  };
  let validated = 0;
  for (const seed of [1, 2, 3]) {
    const r = await ollama.chat({ model, messages: [{ role: "user", content: "How many apples are 12 + 30 apples? Answer in JSON." }],
                                  format: schema, options: { seed, temperature: 0.7, num_predict: 250 } });
    if (r.done_reason === "length") continue;  // cut short: not a complete value
    const value = JSON.parse(r.message.content);
    check(validates(value, schema), `seed ${seed}: ${r.message.content} does not validate`);
    ++validated;
  }
  check(validated >= 2, `only ${validated} of 3 schema replies ended within 250 tokens`);
  const js = await ollama.generate({ model, prompt: "Give me a JSON object about a cat.", format: "json", options: { temperature: 0, num_predict: 250 } });
  if (js.done_reason === "stop") {
    const v = JSON.parse(js.response);
    check(typeof v === "object" && v !== null && !Array.isArray(v), `format json: ${js.response}`);
  }

  // The load call (no messages / no prompt) answers at once; keep_alive is accepted.
  const load = await ollama.generate({ model, prompt: "", keep_alive: "10m" });
  check(load.done && load.done_reason === "load" && load.response === "", `load: ${JSON.stringify(load)}`);
  const loadChat = await ollama.chat({ model, messages: [], keep_alive: 0 });
  check(loadChat.done && loadChat.done_reason === "load", `chat load: ${JSON.stringify(loadChat)}`);

  // Errors: {error} with the status, naming the field.
  await expectResponseError(ollama.chat({ model, messages: [{ role: "user", content: "hi" }], options: { mirostat: 2 } }), 400, "mirostat", "options.mirostat");
  await expectResponseError(ollama.chat({ model, messages: [{ role: "user", content: "hi" }], options: { num_ctx: 100000 } }), 400, "num_ctx", "options.num_ctx");
  await expectResponseError(ollama.chat({ model, messages: [{ role: "user", content: "hi", images: ["aGk="] }] }), 400, "images", "images");
  await expectResponseError(ollama.chat({ model, messages: [{ role: "user", content: "hi" }],
    tools: [{ type: "function", function: { name: "add", parameters: "object" } }] }), 400, "tool parameters", "tools[0].function.parameters");
  await expectResponseError(ollama.chat({ model, messages: [{ role: "user", content: "hi" }], format: "yaml" }), 400, "format", "format");
  await expectResponseError(ollama.chat({ model, messages: [{ role: "user", content: "hi" }], stream: true, options: { top_p: 7 } }), 400,
                            "streamed request with a bad option", "options.top_p");
  const notFound = await fetch(`${url}/api/pull`, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` }, body: "{}" });
  check(notFound.status === 404 && typeof (await notFound.json()).error === "string", "unknown /api route: {error} 404");
}, { timeoutMs: 60000 });
console.log("ok: ollama client");
