// `smallthinker serve`'s Anthropic Messages API (POST /v1/messages) driven by the official
// `@anthropic-ai/sdk` npm client: whole and streamed messages (the stream's text reassembles to
// the whole greedy reply), the event order, stop reasons, usage, system prompts, prefill, the
// x-api-key header, and errors as the SDK's typed APIErrors. Oracles: the CLI's greedy `run
// --chat` (a different code path), SmallThinker-Nano's arithmetic, Anthropic's documented shapes.
import Anthropic from "@anthropic-ai/sdk";
import { check, cliGreedyChat, nanoModel, stBin, withServer } from "./harness.mjs";

const key = "anthropic-test-key";
const question = "What is 12 + 30?";

async function expectApiError(promise, status, errorType, what, mention) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof Anthropic.APIError, `${what}: expected an APIError, got ${e}`);
    check(e.status === status, `${what}: expected HTTP ${status}, got ${e.status} (${e.message})`);
    check(e.error?.type === "error" && e.error?.error?.type === errorType && typeof e.error.error.message === "string",
          `${what}: not an Anthropic error body: ${JSON.stringify(e.error)}`);
    if (mention) check(e.error.error.message.includes(mention), `${what}: the message does not name ${mention}: ${e.error.error.message}`);
    return e;
  }
  throw new Error(`${what}: expected HTTP ${status}, the request succeeded`);
}

const textOf = (msg) => msg.content.filter((b) => b.type === "text").map((b) => b.text).join("");

await withServer(["--api-key", key, "--parallel", "2", "-c", "512", "--max-tokens", "300"], async ({ url }) => {
  const client = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0, timeout: 60000 });
  const model = "claude-sonnet-4-5";  // any name is accepted and echoed
  const ask = { model, max_tokens: 64, temperature: 0, messages: [{ role: "user", content: question }] };

  // Whole message, greedy: the CLI's greedy text; Anthropic's shape.
  const msg = await client.messages.create(ask);
  const expected = cliGreedyChat(question, 64);
  check(msg.type === "message" && msg.role === "assistant" && msg.model === model && /^msg_/.test(msg.id), `shape ${JSON.stringify(msg)}`);
  check(msg.content.length === 1 && msg.content[0].type === "text", `content ${JSON.stringify(msg.content)}`);
  check(textOf(msg) === expected, `text ${JSON.stringify(textOf(msg))} differs from the CLI's ${JSON.stringify(expected)}`);
  check(textOf(msg).includes("42"), `nano should answer 42: ${JSON.stringify(textOf(msg))}`);
  check(msg.stop_reason === "end_turn" && msg.stop_sequence === null, `stop ${msg.stop_reason} ${msg.stop_sequence}`);
  check(msg.usage.input_tokens > 5 && msg.usage.output_tokens > 0, `usage ${JSON.stringify(msg.usage)}`);

  // Streamed with the SDK's helper: the text reassembles to the whole reply; same final message.
  let deltas = "";
  const stream = client.messages.stream(ask);
  stream.on("text", (t) => { deltas += t; });
  const final = await stream.finalMessage();
  check(deltas === textOf(msg) && textOf(final) === textOf(msg), `streamed ${JSON.stringify(deltas)} != ${JSON.stringify(textOf(msg))}`);
  check(final.stop_reason === "end_turn" && final.usage.output_tokens === msg.usage.output_tokens &&
        final.usage.input_tokens === msg.usage.input_tokens, `final ${JSON.stringify(final)}`);

  // The raw events, in Anthropic's order.
  const events = [];
  for await (const ev of await client.messages.create({ ...ask, max_tokens: 5, stream: true })) events.push(ev);
  const types = events.map((e) => e.type);
  check(types[0] === "message_start" && types[1] === "content_block_start" && types.at(-3) === "content_block_stop" &&
        types.at(-2) === "message_delta" && types.at(-1) === "message_stop", `event order ${types.join(",")}`);
  check(types.slice(2, -3).every((t) => t === "content_block_delta") && types.length >= 6, `deltas ${types.join(",")}`);
  check(events[0].message.usage.input_tokens === msg.usage.input_tokens && events[0].message.content.length === 0, "message_start");
  const md = events.at(-2);
  check(md.delta.stop_reason === "max_tokens" && md.usage.output_tokens === 5, `message_delta ${JSON.stringify(md)}`);

  // max_tokens and stop_sequences give their stop reasons.
  const short = await client.messages.create({ ...ask, max_tokens: 3 });
  check(short.stop_reason === "max_tokens" && short.usage.output_tokens === 3, `max_tokens: ${JSON.stringify(short)}`);
  const at = textOf(msg).indexOf("42");
  check(at > 0, "the greedy reply has 42 after some text");
  const cut = await client.messages.create({ ...ask, stop_sequences: ["42", "never-there"] });
  check(textOf(cut) === textOf(msg).slice(0, at) && cut.stop_reason === "stop_sequence" && cut.stop_sequence === "42",
        `stop_sequence: ${JSON.stringify(cut)}`);

  // A system prompt (string, or text blocks) goes first: both spellings give the same reply.
  const sysString = await client.messages.create({ ...ask, system: "You are a calculator. Reply with the number only." });
  const sysBlocks = await client.messages.create({ ...ask, system: [{ type: "text", text: "You are a calculator. " }, { type: "text", text: "Reply with the number only." }] });
  check(textOf(sysString) === textOf(sysBlocks) && sysString.usage.input_tokens > msg.usage.input_tokens, "system prompt");
  // Content blocks read as the string they hold.
  const blocks = await client.messages.create({ ...ask, messages: [{ role: "user", content: [{ type: "text", text: question }] }] });
  check(textOf(blocks) === textOf(msg), "text blocks");
  // Prefill: a last assistant message is continued, not repeated.
  const prefix = textOf(msg).slice(0, at);
  const pre = await client.messages.create({ ...ask, messages: [{ role: "user", content: question }, { role: "assistant", content: prefix }] });
  check((prefix + textOf(pre)).startsWith(textOf(msg).slice(0, at + 2)), `prefill continued ${JSON.stringify(textOf(pre))}`);

  // The key may come as Authorization: Bearer as well (the SDK's authToken).
  const bearer = new Anthropic({ baseURL: url, apiKey: null, authToken: key, maxRetries: 0 });
  check(textOf(await bearer.messages.create({ ...ask, max_tokens: 2 })).length > 0, "Bearer key");

  // Errors: the SDK's typed errors with Anthropic's {type: "error", error: {type, message}}.
  await expectApiError(new Anthropic({ baseURL: url, apiKey: "wrong", maxRetries: 0 }).messages.create(ask), 401, "authentication_error", "wrong key");
  const { max_tokens: _, ...noMax } = ask;
  await expectApiError(client.messages.create(noMax), 400, "invalid_request_error", "no max_tokens", "max_tokens");
  await expectApiError(client.messages.create({ ...ask, temperature: 1.5 }), 400, "invalid_request_error", "temperature", "temperature");
  await expectApiError(client.messages.create({ ...ask, tools: [{ name: "add", description: "adds", input_schema: { type: "array" } }] }),
                       400, "invalid_request_error", "tool schema", "tools[0].input_schema.type");
  await expectApiError(client.messages.create({ ...ask, messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "AA==" } }] }] }),
                       400, "invalid_request_error", "image block", "messages[0].content[0].type");
  await expectApiError(client.messages.create({ ...ask, stream: true, top_k: 0 }), 400, "invalid_request_error", "streamed request with a bad field", "top_k");
  await expectApiError(client.messages.create({ ...ask, max_tokens: 5, messages: [{ role: "user", content: "hello ".repeat(800) }] }),
                       400, "invalid_request_error", "prompt larger than the context");
}, { timeoutMs: 60000 });
console.log("ok: anthropic client");
