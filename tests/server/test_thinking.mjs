// <think>...</think> split into the reasoning by all three APIs, driven by their official npm
// clients: OpenAI's message.reasoning_content / delta.reasoning_content (reasoning_format none,
// auto, deepseek-legacy; chat_template_kwargs), Ollama's message.thinking / thinking (think:
// true/false) and Anthropic's thinking blocks and thinking_delta events (thinking enabled /
// disabled). SmallThinker-Nano does not think by itself, so the server runs a Qwen3-style
// template that opens the thinking in the prompt (data/think_template.jinja), and the close tag
// comes from a schema whose enum strings hold "</think>" (the model picks one, greedily). The
// oracle of every split is the same request with reasoning_format none: the text as generated.
// Last, the server flag --reasoning-format.
import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import OpenAI from "openai";
import path from "node:path";
import { check, sourceDir, withServer } from "./harness.mjs";

const template = path.join(sourceDir, "tests/server/data/think_template.jinja");
const question = "What is 2 + 2?";
const user = [{ role: "user", content: question }];
const closing = {  // (a schema's top level is an array or an object)
  type: "array", minItems: 1, maxItems: 1,
  items: { type: "string", enum: ["Two and two make four </think> The answer is 4", "I add them </think> It is 4", "Hmm </think> 4"] },
};
const close = "</think>";
const eq = (a, b, what) => check(a === b, `${what}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);

// The split of a raw reply as the README specifies it.
function expectedSplit(raw) {
  const at = raw.indexOf(close);
  if (at < 0) return { reasoning: raw.trim(), content: "" };
  return { reasoning: raw.slice(0, at).trim(), content: raw.slice(at + close.length).trimStart() };
}

async function streamed(stream) {
  let reasoning = "", content = "";
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta ?? {};
    if (d.reasoning_content) {
      check(content === "", "reasoning arrived after content");
      reasoning += d.reasoning_content;
    }
    if (d.content) content += d.content;
  }
  return { reasoning, content };
}

await withServer(["--chat-template", template, "-c", "512", "--max-tokens", "40"], async ({ url }) => {
  const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0, timeout: 60000 });
  const ask = (extra) => openai.chat.completions.create({ messages: user, temperature: 0, max_tokens: 40, ...extra });
  const json = { response_format: { type: "json_schema", json_schema: { name: "t", schema: closing } } };

  // The close tag is more than one token: the streamed split below sees it arrive in pieces.
  const tok = await (await fetch(`${url}/tokenize`, { method: "POST", headers: { "Content-Type": "application/json" },
                                                      body: JSON.stringify({ content: close }) })).json();
  check(tok.tokens.length > 1, `"${close}" is one token here: ${JSON.stringify(tok)}`);

  // 1. A reply that never closes the thinking (max_tokens): all of it is reasoning.
  const rawOpen = (await ask({ reasoning_format: "none" })).choices[0].message;
  check(!rawOpen.content.includes(close) && rawOpen.content.trim().length > 0, `unexpected raw reply ${JSON.stringify(rawOpen)}`);
  check(rawOpen.reasoning_content === undefined, "reasoning_format none still split");
  const open = (await ask({})).choices[0].message;  // reasoning_format auto (the default)
  eq(open.reasoning_content, rawOpen.content.trim(), "unclosed: reasoning_content");
  eq(open.content, "", "unclosed: content");
  const openStream = await streamed(await ask({ stream: true }));
  eq(openStream.reasoning, rawOpen.content.trim(), "unclosed, streamed: reasoning");
  eq(openStream.content, "", "unclosed, streamed: content");

  // 2. A reply that closes it: reasoning before </think>, content after.
  const raw = (await ask({ ...json, reasoning_format: "none" })).choices[0].message.content;
  check(raw.includes(close), `the schema's reply has no ${close}: ${raw}`);
  const want = expectedSplit(raw);
  check(want.reasoning.length > 0 && want.content.length > 0, `degenerate split of ${raw}`);
  for (const format of ["auto", "deepseek", undefined]) {
    const m = (await ask({ ...json, ...(format ? { reasoning_format: format } : {}) })).choices[0].message;
    eq(m.reasoning_content, want.reasoning, `reasoning_format ${format}: reasoning_content`);
    eq(m.content, want.content, `reasoning_format ${format}: content`);
  }
  const s = await streamed(await ask({ ...json, stream: true }));
  eq(s.reasoning, want.reasoning, "streamed reasoning");
  eq(s.content, want.content, "streamed content");
  // (How many chunks depends on how fast the client reads: the engine's text is taken in
  // whatever pieces have arrived. reasoning_test.cpp feeds every split of the tags.)
  const legacy = (await ask({ ...json, reasoning_format: "deepseek-legacy" })).choices[0].message;
  eq(legacy.content, raw, "deepseek-legacy: content");
  eq(legacy.reasoning_content, want.reasoning, "deepseek-legacy: reasoning_content");

  // 3. chat_template_kwargs reaches the template: enable_thinking false closes the thinking in
  // the prompt (two more lines of it), so the reply is content.
  const plain = await ask({ chat_template_kwargs: { enable_thinking: false } });
  const thinking = await ask({});
  check(plain.usage.prompt_tokens > thinking.usage.prompt_tokens,
        `enable_thinking false: prompt ${plain.usage.prompt_tokens} tokens, with thinking ${thinking.usage.prompt_tokens}`);
  const noThink = plain.choices[0].message;
  check(noThink.reasoning_content === undefined && noThink.content.length > 0, `enable_thinking false: ${JSON.stringify(noThink)}`);
  let refused = null;
  try {
    await ask({ reasoning_format: "r1" });
  } catch (e) {
    refused = e;
  }
  check(refused?.status === 400 && refused.message.includes("reasoning_format"), `reasoning_format r1: ${refused}`);

  // 4. Ollama: think true splits into message.thinking / thinking, false renders without thinking,
  // absent leaves the text as generated.
  const ollama = new Ollama({ host: url });
  const chat = (extra) => ollama.chat({ model: "m", messages: user, options: { temperature: 0, num_predict: 40 }, format: closing, ...extra });
  eq((await chat({})).message.content, raw, "ollama, think absent");
  const t = (await chat({ think: true })).message;
  eq(t.thinking, want.reasoning, "ollama think: thinking");
  eq(t.content, want.content, "ollama think: content");
  let thinkingText = "", contentText = "";
  for await (const part of await chat({ think: true, stream: true })) {
    thinkingText += part.message.thinking ?? "";
    contentText += part.message.content;
  }
  eq(thinkingText, want.reasoning, "ollama streamed thinking");
  eq(contentText, want.content, "ollama streamed content");
  const g = await ollama.generate({ model: "m", prompt: question, think: true, format: closing, options: { temperature: 0, num_predict: 40 } });
  eq(g.thinking, want.reasoning, "ollama generate: thinking");
  eq(g.response, want.content, "ollama generate: response");
  const off = (await ollama.chat({ model: "m", messages: user, think: false, options: { temperature: 0, num_predict: 40 } })).message;
  eq(off.content, noThink.content, "ollama think false = enable_thinking false");
  check(off.thinking === undefined, "ollama think false has thinking");
  // Thinking passed back in the history is accepted (the template may show it).
  const again = await ollama.chat({ model: "m", think: true, options: { temperature: 0, num_predict: 5 },
                                    messages: [...user, { role: "assistant", content: t.content, thinking: t.thinking }, { role: "user", content: "And 3 + 3?" }] });
  check(typeof again.message.thinking === "string", "ollama: a second turn with thinking in the history");

  // 5. Anthropic: thinking enabled gives a thinking block before the text block; the server's
  // --max-tokens (40) clamps max_tokens, so the thinking is cut off: all reasoning.
  const anthropic = new Anthropic({ baseURL: url, apiKey: "x", maxRetries: 0, timeout: 60000 });
  const enabled = { thinking: { type: "enabled", budget_tokens: 1024 }, max_tokens: 2000, temperature: 0 };
  const msg = await anthropic.messages.create({ model: "m", messages: user, ...enabled });
  eq(msg.content[0].type, "thinking", "anthropic: first block");
  eq(msg.content[0].thinking, rawOpen.content.trim(), "anthropic: thinking");
  eq(msg.content[1].type, "text", "anthropic: second block");
  eq(msg.content[1].text, "", "anthropic: text");
  const stream = anthropic.messages.stream({ model: "m", messages: user, ...enabled });
  let deltas = "";
  stream.on("thinking", (delta) => (deltas += delta));
  const final = await stream.finalMessage();
  eq(deltas, rawOpen.content.trim(), "anthropic: thinking_delta events");
  eq(final.content[0].thinking, rawOpen.content.trim(), "anthropic streamed: thinking block");
  const disabled = await anthropic.messages.create({ model: "m", messages: user, max_tokens: 40, temperature: 0, thinking: { type: "disabled" } });
  eq(disabled.content.length, 1, "anthropic disabled: blocks");
  eq(disabled.content[0].text, noThink.content, "anthropic disabled = enable_thinking false");
  const plainAnthropic = await anthropic.messages.create({ model: "m", messages: user, max_tokens: 40, temperature: 0 });
  eq(plainAnthropic.content[0].text, rawOpen.content, "anthropic without thinking: the text as generated");
  // A thinking block passed back, as clients do in tool loops.
  const turn2 = await anthropic.messages.create({ model: "m", max_tokens: 5, ...{ thinking: enabled.thinking, max_tokens: 1100 },
    messages: [...user, { role: "assistant", content: [msg.content[0], { type: "text", text: "4" }] }, { role: "user", content: "And 3 + 3?" }] });
  eq(turn2.content[0].type, "thinking", "anthropic: a second turn after a thinking block");
  let badBudget = null;
  try {
    await anthropic.messages.create({ model: "m", messages: user, max_tokens: 1000, thinking: { type: "enabled", budget_tokens: 1000 } });
  } catch (e) {
    badBudget = e;
  }
  check(badBudget?.status === 400 && badBudget.message.includes("thinking.budget_tokens"), `budget_tokens >= max_tokens: ${badBudget}`);
});
// --reasoning-format sets the default of requests that name none (as llama-server's flag).
await withServer(["--chat-template", template, "-c", "512", "--max-tokens", "40", "--reasoning-format", "none"], async ({ url }) => {
  const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0, timeout: 60000 });
  const m = (await openai.chat.completions.create({ messages: user, temperature: 0, max_tokens: 40 })).choices[0].message;
  check(m.reasoning_content === undefined && m.content.length > 0, `--reasoning-format none: ${JSON.stringify(m)}`);
  const split = (await openai.chat.completions.create({ messages: user, temperature: 0, max_tokens: 40, reasoning_format: "auto" })).choices[0].message;
  eq(split.reasoning_content, m.content.trim(), "--reasoning-format none, request auto: reasoning_content");
});
console.log("test_thinking: OK");
