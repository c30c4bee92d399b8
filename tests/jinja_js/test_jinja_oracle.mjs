// Oracle test: smallthinker's chat-template interpreter (src/text/jinja) must render exactly
// what @huggingface/jinja renders (the JavaScript renderer of Hugging Face's transformers.js
// and chat UIs, pinned by package-lock.json), byte for byte, on
//  - a corpus of real published chat templates (templates/*.jinja, sources in SOURCES.md), each
//    rendered with every conversation of conversations.mjs (system or not, multi-turn, tools,
//    tool calls and results, generation prompt on and off, thinking on and off) plus the
//    variables huggingface.js's own tests render it with (templates/e2e_data.json);
//  - small templates exercising one language feature each (features.mjs);
//  - 600 seeded mutations of the real templates (differential fuzzing of the lexer and parser).
// Where the oracle raises (raise_exception, a role order the template refuses, a feature it
// lacks) ours must raise too. Every real template must render at least one conversation, and
// at least 20 templates at least 10.
//
// Run by ctest as `node test_jinja_oracle.mjs` with ST_BIN = the smallthinker binary (it uses
// `smallthinker template render --jsonl`, one process for the whole corpus).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";
import { conversations } from "./conversations.mjs";
import { features, vars } from "./features.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const stBin = process.env.ST_BIN ?? path.join(here, "../../build/bin/smallthinker");
function die(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}
if (!fs.existsSync(stBin)) die(`${stBin} is missing: build the smallthinker binary first (or set ST_BIN)`);

const templateDir = path.join(here, "templates");
const e2eData = JSON.parse(fs.readFileSync(path.join(templateDir, "e2e_data.json"), "utf8"));
const templates = fs
  .readdirSync(templateDir)
  .filter((f) => f.endsWith(".jinja"))
  .sort()
  .map((f) => ({ name: f.slice(0, -".jinja".length), source: fs.readFileSync(path.join(templateDir, f), "utf8") }));

// The variables apply_chat_template passes; special tokens as the template's family spells them.
function specialTokens(source) {
  if (source.includes("<|im_start|>")) return { bos_token: "", eos_token: "<|im_end|>" };
  if (source.includes("<|start_header_id|>")) return { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" };
  if (source.includes("<start_of_turn>")) return { bos_token: "<bos>", eos_token: "<eos>" };
  return { bos_token: "<s>", eos_token: "</s>" };
}

const cases = [];
for (const t of templates) {
  for (const c of conversations) {
    const context = { messages: c.messages, add_generation_prompt: c.add_generation_prompt, ...specialTokens(t.source) };
    if (c.tools) context.tools = c.tools;
    if (c.enable_thinking !== undefined) context.enable_thinking = c.enable_thinking;
    context.date_string = "26 Jul 2024";  // Llama 3.x would otherwise print today's date
    cases.push({ template: t.name, conversation: c.name, real: true, source: t.source, context });
  }
  for (const [i, data] of (e2eData[t.name] ?? []).entries()) {
    cases.push({ template: t.name, conversation: `huggingface.js data ${i}`, real: true, source: t.source, context: data });
  }
}
features.forEach((source, i) => cases.push({ template: `feature ${i}`, conversation: "-", real: false, source, context: vars }));

// Differential fuzzing: real templates with a few pieces of syntax inserted, cut or repeated
// (seeded, so the same cases every run). Most no longer parse; both engines must then fail,
// and where the oracle still renders, ours must render the same bytes.
let seed = 12345;
const rand = (n) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const pieces = ["{%", "%}", "{{", "}}", "(", ")", "[", "]", "|", ".", "-", "~", "if ", "in ", "not ", "loop.", "'", "\"", ",", ":", " x ", "0", "-1"];
for (let i = 0; i < 600; ++i) {
  const t = templates[rand(templates.length)];
  let source = t.source;
  for (let k = 1 + rand(3); k > 0; --k) {
    const p = rand(source.length + 1);
    const r = rand(3);
    if (r === 0) source = source.slice(0, p) + pieces[rand(pieces.length)] + source.slice(p);
    else if (r === 1) source = source.slice(0, p) + source.slice(p + 1 + rand(12));
    else source = source.slice(0, p) + source.slice(rand(source.length), rand(source.length)) + source.slice(p);
  }
  const c = conversations[rand(conversations.length)];
  const context = { messages: c.messages, add_generation_prompt: c.add_generation_prompt, bos_token: "<s>", eos_token: "</s>" };
  if (c.tools) context.tools = c.tools;
  cases.push({ template: `${t.name} mutated #${i}`, conversation: c.name, real: false, source, context });
}

function renderOracle(c) {
  try {
    return { text: new Template(c.source).render(structuredClone(c.context)) };
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st-jinja-oracle-"));
const input = path.join(dir, "cases.jsonl");
fs.writeFileSync(input, cases.map((c) => JSON.stringify({ template: c.source, context: c.context })).join("\n") + "\n");
const out = execFileSync(stBin, ["template", "render", "--jsonl", input], { maxBuffer: 1 << 30, encoding: "utf8" });
const ours = out.split("\n").slice(0, -1).map((l) => JSON.parse(l));
if (ours.length !== cases.length) die(`smallthinker printed ${ours.length} results for ${cases.length} cases`);

const failures = [];
const rendered = new Map();  // template -> conversations rendered identically
let identical = 0, bothRaised = 0;
cases.forEach((c, i) => {
  const want = renderOracle(c);
  const got = ours[i];
  if (want.error !== undefined && got.error !== undefined) {
    ++bothRaised;
    return;
  }
  if (want.text !== undefined && got.text === want.text) {
    ++identical;
    if (c.real) rendered.set(c.template, (rendered.get(c.template) ?? 0) + 1);
    return;
  }
  failures.push({ c, want, got });
});

for (const { c, want, got } of failures.slice(0, 15)) {
  console.error(`--- ${c.template} / ${c.conversation}`);
  console.error(`oracle: ${JSON.stringify(want).slice(0, 1500)}`);
  console.error(`ours:   ${JSON.stringify(got).slice(0, 1500)}`);
}
const counts = templates.map((t) => rendered.get(t.name) ?? 0);
const wellCovered = counts.filter((n) => n >= 10).length;
console.log(
  `${cases.length} cases (${templates.length} real templates x ${conversations.length} conversations + their own data, ` +
    `${features.length} feature templates, 600 mutated): ${identical} byte-identical, ${bothRaised} raised in both, ${failures.length} differ; ` +
    `${wellCovered} templates rendered >= 10 conversations identically`,
);
if (failures.length > 0) die(`${failures.length} cases differ from @huggingface/jinja`);
const never = templates.filter((t, i) => counts[i] === 0).map((t) => t.name);
if (never.length > 0) die(`templates that never rendered: ${never.join(", ")}`);
if (wellCovered < 20) die(`only ${wellCovered} templates rendered >= 10 conversations`);
console.log("PASS");
