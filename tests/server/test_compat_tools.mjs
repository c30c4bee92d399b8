// Tool use on the Anthropic (/v1/messages) and Ollama (/api/chat) routes, driven by the official
// `@anthropic-ai/sdk` and `ollama` npm clients. SmallThinker-Nano was not trained on tools, so
// Anthropic calls are forced with tool_choice {type: "tool"}; Ollama has no forcing, so its test
// is the history round trip (assistant tool_calls + role "tool" results) and the translator's
// gtests (compat_protocol_test.cpp). Oracle for the arguments: ajv on the tool's JSON schema.
import path from "node:path";
import Ajv from "ajv";
import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import { check, sourceDir, withServer } from "./harness.mjs";

const template = path.join(sourceDir, "tests/jinja_js/templates/Qwen__Qwen2.5-7B-Instruct.jinja");
const schema = { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } }, required: ["a", "b"] };
const validate = new Ajv({ strict: false }).compile(schema);
const tools = [{ name: "add", description: "Adds two integers", input_schema: schema }];

await withServer(["--chat-template", template, "-c", "4096"], async ({ url }) => {
  const client = new Anthropic({ baseURL: url, apiKey: "none", maxRetries: 0, timeout: 120000 });
  const ask = { model: "claude", max_tokens: 200, temperature: 0, tools, tool_choice: { type: "tool", name: "add", disable_parallel_tool_use: true },
                messages: [{ role: "user", content: "What is 2 + 3?" }] };

  // Forced call: a tool_use block whose input validates; stop_reason tool_use.
  const msg = await client.messages.create(ask);
  const uses = msg.content.filter((b) => b.type === "tool_use");
  check(uses.length >= 1 && uses[0].name === "add" && /^toolu_/.test(uses[0].id), `tool_use ${JSON.stringify(msg.content)}`);
  check(validate(uses[0].input), `input ${JSON.stringify(uses[0].input)} does not validate`);
  check(msg.stop_reason === "tool_use", `stop_reason ${msg.stop_reason}: ${JSON.stringify(msg)}`);

  // Streamed: content_block_start (tool_use) + input_json_delta pieces reassemble to the same input.
  const events = [];
  const stream = client.messages.stream(ask);
  stream.on("streamEvent", (e) => events.push(e));
  const final = await stream.finalMessage();
  const starts = events.filter((e) => e.type === "content_block_start" && e.content_block.type === "tool_use");
  const partial = events.filter((e) => e.type === "content_block_delta" && e.delta.type === "input_json_delta")
                        .map((e) => e.delta.partial_json).join("");
  check(starts.length === uses.length && starts[0].content_block.name === "add", `stream starts ${JSON.stringify(starts)}`);
  check(JSON.stringify(JSON.parse(partial)) === JSON.stringify(uses[0].input), `streamed input ${partial} != ${JSON.stringify(uses[0].input)}`);
  const finalUses = final.content.filter((b) => b.type === "tool_use");
  check(JSON.stringify(finalUses[0].input) === JSON.stringify(uses[0].input) && final.stop_reason === "tool_use",
        `final ${JSON.stringify(final)}`);

  // Second turn: the tool_use and its tool_result in the history; the reply completes with text.
  const second = await client.messages.create({
    ...ask, tool_choice: { type: "none" },
    messages: [...ask.messages, { role: "assistant", content: msg.content },
               { role: "user", content: [{ type: "tool_result", tool_use_id: uses[0].id, content: String(uses[0].input.a + uses[0].input.b) }] }],
  });
  check(second.content.every((b) => b.type === "text") && second.content.length === 1, `second ${JSON.stringify(second.content)}`);
  check(["end_turn", "max_tokens"].includes(second.stop_reason), `second stop ${second.stop_reason}`);
  check(second.usage.input_tokens > msg.usage.input_tokens, `the history's tool turn is in the prompt: ${JSON.stringify(second.usage)}`);

  // Ollama: tools offered, a history with the assistant's tool_calls and a "tool" result: completes.
  const ollama = new Ollama({ host: url });
  const otools = [{ type: "function", function: { name: "add", description: "Adds two integers", parameters: schema } }];
  const reply = await ollama.chat({
    model: "nano", stream: false, tools: otools, options: { temperature: 0, num_predict: 40 },
    messages: [{ role: "user", content: "What is 2 + 3?" },
               { role: "assistant", content: "", tool_calls: [{ function: { name: "add", arguments: { a: 2, b: 3 } } }] },
               { role: "tool", content: "5", tool_name: "add" }],
  });
  check(reply.done && reply.message.role === "assistant" && typeof reply.message.content === "string", `ollama ${JSON.stringify(reply)}`);
  for (const call of reply.message.tool_calls ?? [])
    check(call.function.name === "add" && validate(call.function.arguments), `ollama call ${JSON.stringify(call)}`);
  check(reply.prompt_eval_count > 20, `ollama prompt ${reply.prompt_eval_count}`);
}, { timeoutMs: 300000 });
console.log("ok: compat tools");
