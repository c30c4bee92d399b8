// Deterministic test corpus for the tokenizer oracle test: the same seed gives the same texts
// on every machine. `lines` are single-line texts (no \n or \r); `documents` are multi-line
// texts, passed as JSON strings.
//
// Characters are drawn only from Unicode blocks that were complete long before Unicode 13, so
// the engines' different Unicode versions (PCRE2 10.42: 14, utf8proc 2.6: 13, V8/ICU: 15+)
// cannot classify them differently.
//
//   node make_corpus.mjs OUT_DIR [seed]   writes OUT_DIR/lines.txt and OUT_DIR/documents.jsonl

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// mulberry32: tiny, fast, and the same in every JavaScript engine.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ENGLISH = (
  "the of and to in is was that for it with as his on be at by had are but from or have an they which one you were " +
  "her all she there would their we him been has when who will more no if out so said what up its about into than " +
  "them can only other new some could time these two may then do first any my now such like our over man me even " +
  "most made after also did many before must through back years where much your way well down should because each " +
  "just those people how too little state good very make world still own see men work long get here between both " +
  "life being under never day same another know while last might us great old year off come since against go came " +
  "right used take three tokenizer engine model expert router attention memory budget token stream kernel cache " +
  "Hello World OpenAI Qwen SmallThinker GGUF JSON HTTP CPU GPU RAM SSD NVMe iPhone McDonald O'Brien naïve café résumé " +
  "coöperate façade Zürich São Paulo Ελλάδα Москва"
).split(" ");
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re", "'rE", "'VE", "'Ve",
  "'M", "'LL", "'Ll", "'lL", "'D"];
const CONTRACTED = ["don't", "I'm", "you're", "we've", "he'll", "she'd", "it's", "IT'S", "I'LL", "WE'RE", "They'Ve",
  "can't", "won't", "y'all", "o'clock", "rock'n'roll", "'tis", "'twas", "ma'am", "isn't", "AREN'T", "Couldn'T"];
const PUNCT = [".", ",", "!", "?", ";", ":", "...", "—", "–", "-", "(", ")", "[", "]", "\"", "'", "“", "”", "‘", "’",
  "«", "»", "…", "!!", "?!", "#", "@", "&", "*", "%", "$", "€", "£", "¥", "©", "®", "™", "°", "±", "§", "¶"];
const CHINESE = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面" +
  "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还" +
  "因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问" +
  "意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接" +
  "知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理世界你好我想在工作天气今天";
const CN_PUNCT = ["，", "。", "！", "？", "、", "；", "：", "“", "”", "（", "）", "《", "》", "……", "——"];
const JAPANESE = ["こんにちは", "ありがとうございます", "日本語", "東京", "カタカナ", "ひらがな", "漢字", "です", "ます",
  "コンピューター", "トークナイザー", "私は", "学生", "勉強しています", "ラーメン", "すし", "ｶﾀｶﾅ", "。", "、", "「", "」", "ー"];
const KOREAN = ["안녕하세요", "감사합니다", "한국어", "서울", "토크나이저", "컴퓨터", "사랑해요", "학교", "에서", "입니다",
  "는", "를", "이", "가", "하늘", "바다", "대한민국"];
const ARABIC = ["مرحبا", "بالعالم", "السلام", "عليكم", "اللغة", "العربية", "كتاب", "مدرسة", "شكرا", "جزيلا", "مُحَمَّد",
  "العَرَبِيَّة", "٠١٢٣٤٥٦٧٨٩", "،", "؟", "ـــ", "ﷲ"];
const OTHER_SCRIPTS = ["Привет", "мир", "Ελληνικά", "γλώσσα", "שלום", "עולם", "नमस्ते", "दुनिया", "क़िला", "สวัสดี",
  "ภาษาไทย", "ជំរាបសួរ", "გამარჯობა", "Բարեւ", "ሰላም", "வணக்கம்", "ನಮಸ್ಕಾರ", "Tiếng Việt", "Đà Nẵng", "İstanbul",
  "ǅemal", "ß", "ẞ", "ﬁ", "ﬀ", "Ⅻ", "½", "²", "₃", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟙𝟚𝟛"];
const EMOJI = ["😀", "😂", "🥲", "👍", "👋", "🙏", "❤️", "❤", "🔥", "🚀", "🦙", "🤖", "✅", "☀️", "⭐", "🎉", "🇺🇸", "🇯🇵",
  "🇩🇪", "1️⃣", "#️⃣", "©️", "🏳️‍🌈", "👨‍👩‍👧‍👦", "👩‍💻", "🧑‍🚀", "👁️‍🗨️", "🐻‍❄️", "❤️‍🔥"];
const SKIN_TONES = ["\u{1F3FB}", "\u{1F3FC}", "\u{1F3FD}", "\u{1F3FE}", "\u{1F3FF}"];
const TONE_BASES = ["👍", "👋", "🙏", "✋", "👩", "👨", "🧑", "💪", "🤝", "👶"];
const ZERO_WIDTH = ["\u200B", "\u200C", "\u200D", "\u2060", "\uFEFF", "\u00AD", "\u180E", "\u034F", "\u061C", "\u200E", "\u200F"];
const SPACES = [" ", "  ", "   ", "\t", "\t\t", " \t", "\u00A0", "\u3000", "\u2003", "\u2009", "\u202F", "\u205F",
  "\u1680", "\u000B", "\u000C", "\u0085", "    ", "        "];
// Non-NFC input and combining marks: decomposed letters, canonical singletons (Angstrom, Ohm,
// Kelvin), stacked marks in non-canonical order, conjoining Hangul jamo, composition exclusions.
const NON_NFC = ["e\u0301", "a\u0308", "o\u0302\u0323", "o\u0323\u0302", "A\u030A", "\u212B", "\u2126", "\u212A",
  "n\u0303", "c\u0327", "u\u0308\u0301", "\u1100\u1161", "\u1112\u1161\u11AB", "\u0915\u093C", "\u0958", "s\u0323\u0307",
  "\u00C5\u0301", "Z\u0335\u0361\u0320a\u0334\u0352\u031Dl\u0336\u0344\u0329g\u0337\u0343\u0325o\u0338\u035B\u0332",
  "\u0301", "\u0301\u0301\u0301x", "\u05D1\u05BC", "\u0627\u0653", "\u30AB\u3099", "\u304B\u309A"];
const SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "<|fim_prefix|>",
  "<|im_start", "im_end|>", "<|im_start|><|im_end|>", "<<|im_end|>>", "<|vision_pad|>", "<|IM_START|>"];
const CODE = [
  "int main(int argc, char** argv) { return argc > 1 ? 0 : -1; }",
  "for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];",
  "def tokenize(text: str) -> list[int]:",
  "    return [vocab[w] for w in text.split() if w in vocab]",
  "const x = await fetch(`/api/v1/items?id=${id}&limit=10`).then(r => r.json());",
  "fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); println!(\"{:?}\", v); }",
  "func (s *Server) Handle(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }",
  "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC LIMIT 50;",
  "<div class=\"container\"><a href=\"https://example.com/path?q=1#frag\">link</a></div>",
  "if [ -f \"$HOME/.bashrc\" ]; then source ~/.bashrc; fi && echo $PATH | tr ':' '\\n'",
  "#include <vector>\n#define MAX(a,b) ((a)>(b)?(a):(b))",
  "x += 1; y -= 2; z *= 3; w /= 4; v %= 5; u <<= 6; t >>= 7; s &&= true; r ||= false; q ??= null;",
  "public static void Main(string[] args) => Console.WriteLine(\"Hello, \" + args[0]);",
  "    }\n  }\n}",
  "let re = /^[a-z0-9_-]{3,16}$/i; // username",
  "{\"key\": [1, 2.5, -3e10, true, null, \"s\\u00e9\"], \"nested\": {\"a\": {}}}",
  "print(f\"{x:>10.3f} | {y!r} | {z=}\")",
  "matrix = [[0] * 8 for _ in range(8)]  # 8x8",
  "@decorator\nclass Foo(Base, metaclass=Meta):\n\tpass",
  "0x7fffffff 0b1010_1010 0o777 1_000_000 3.14159e-10 .5 5. 1e+308",
];

function pick(r, list) {
  return list[Math.floor(r() * list.length)];
}
function int(r, lo, hi) {
  return lo + Math.floor(r() * (hi - lo + 1));
}
function repeat(r, n, f) {
  let s = "";
  for (let i = 0; i < n; ++i) s += f();
  return s;
}

// Code points from blocks assigned by Unicode 4.1 or earlier (see the header comment).
const STABLE_RANGES = [[0x20, 0x7e], [0xa0, 0x24f], [0x391, 0x3c9], [0x400, 0x4ff], [0x5d0, 0x5ea], [0x621, 0x64a],
  [0x905, 0x939], [0xe01, 0xe3a], [0x2010, 0x2027], [0x2190, 0x21ff], [0x2200, 0x22ff], [0x2500, 0x257f],
  [0x3041, 0x3096], [0x30a1, 0x30fa], [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xff01, 0xff5e], [0x1f600, 0x1f64f],
  [0x20000, 0x2a6d6], [0x1d400, 0x1d4ff]];
function randomChar(r) {
  const [lo, hi] = pick(r, STABLE_RANGES);
  return String.fromCodePoint(int(r, lo, hi));
}

function number(r) {
  switch (int(r, 0, 7)) {
    case 0: return String(int(r, 0, 9));
    case 1: return repeat(r, int(r, 5, 40), () => String(int(r, 0, 9)));
    case 2: return `${int(r, 0, 999)},${String(int(r, 0, 999)).padStart(3, "0")},${String(int(r, 0, 999)).padStart(3, "0")}`;
    case 3: return `${int(r, 0, 99999)}.${int(r, 0, 99999)}`;
    case 4: return `+1 (${int(r, 200, 999)}) ${int(r, 200, 999)}-${int(r, 1000, 9999)}`;
    case 5: return `${int(r, 1900, 2099)}-${String(int(r, 1, 12)).padStart(2, "0")}-${String(int(r, 1, 28)).padStart(2, "0")}`;
    case 6: return "0x" + int(r, 0, 0x7fffffff).toString(16).toUpperCase();
    default: return "٣٤٥" + repeat(r, int(r, 1, 6), () => String.fromCodePoint(0xff10 + int(r, 0, 9)));
  }
}

function englishSentence(r) {
  const words = [];
  const n = int(r, 3, 18);
  for (let i = 0; i < n; ++i) {
    let w = pick(r, ENGLISH);
    const roll = r();
    if (roll < 0.08) w = pick(r, CONTRACTED);
    else if (roll < 0.12) w += pick(r, CONTRACTIONS);
    else if (roll < 0.16) w = w.toUpperCase();
    else if (roll < 0.20) w = w[0].toUpperCase() + w.slice(1);
    else if (roll < 0.23) w = number(r);
    words.push(w);
    if (r() < 0.12) words.push(pick(r, PUNCT));
  }
  return words.join(r() < 0.9 ? " " : pick(r, SPACES)) + pick(r, [".", "!", "?", "", "...", ";"]);
}

function cjk(r) {
  const src = pick(r, [0, 1, 2]);
  if (src === 0) return repeat(r, int(r, 2, 30), () => (r() < 0.12 ? pick(r, CN_PUNCT) : CHINESE[int(r, 0, CHINESE.length - 1)]));
  if (src === 1) return repeat(r, int(r, 2, 10), () => pick(r, JAPANESE));
  return repeat(r, int(r, 2, 8), () => pick(r, KOREAN) + (r() < 0.5 ? " " : ""));
}

function emoji(r) {
  return repeat(r, int(r, 1, 8), () => {
    const roll = r();
    if (roll < 0.3) return pick(r, TONE_BASES) + pick(r, SKIN_TONES);
    if (roll < 0.4) return pick(r, TONE_BASES) + pick(r, SKIN_TONES) + "\u200D" + pick(r, ["💻", "🚀", "🔬", "🎨"]);
    return pick(r, EMOJI) + (r() < 0.3 ? " " : "");
  });
}

// Each generator makes one single-line text of a kind the issue lists.
const KINDS = [
  englishSentence,
  (r) => englishSentence(r) + " " + englishSentence(r),
  cjk,
  (r) => repeat(r, int(r, 2, 9), () => pick(r, ARABIC) + " ") + number(r),
  (r) => repeat(r, int(r, 2, 7), () => pick(r, OTHER_SCRIPTS) + pick(r, [" ", ", ", " - "])),
  emoji,
  (r) => englishSentence(r) + " " + emoji(r) + " " + cjk(r),
  (r) => pick(r, CODE).replace(/\n/g, " "),
  (r) => repeat(r, int(r, 1, 6), () => number(r) + pick(r, [" ", "", ", ", "/", ":", "."])),
  (r) => repeat(r, int(r, 1, 6), () => pick(r, ENGLISH) + pick(r, SPACES)) + pick(r, SPACES),
  (r) => repeat(r, int(r, 2, 10), () => pick(r, [...CONTRACTIONS, ...CONTRACTED]) + pick(r, ["", " ", "'"])),
  (r) => repeat(r, int(r, 1, 8), () => pick(r, NON_NFC) + pick(r, ["", " ", pick(r, ENGLISH)])),
  (r) => repeat(r, int(r, 1, 8), () => pick(r, ENGLISH) + pick(r, ZERO_WIDTH)),
  (r) => repeat(r, int(r, 1, 5), () => englishSentence(r).slice(0, 20) + pick(r, SPECIAL)),
  (r) => repeat(r, int(r, 1, 40), () => randomChar(r)),
  (r) => repeat(r, int(r, 1, 12), () => pick(r, [randomChar(r), pick(r, SPACES), pick(r, PUNCT), pick(r, NON_NFC),
    pick(r, ZERO_WIDTH), pick(r, EMOJI), number(r), pick(r, CONTRACTIONS)])),
];

function document(r) {
  const parts = [];
  const n = int(r, 2, 25);
  for (let i = 0; i < n; ++i) {
    const roll = r();
    if (roll < 0.3) parts.push(pick(r, CODE));
    else if (roll < 0.5) parts.push(pick(r, KINDS)(r));
    else parts.push(englishSentence(r));
    parts.push(pick(r, ["\n", "\n\n", "\r\n", "\n\n\n", " \n", "\t\n", "\n  ", "\n\t\t", "  \n  \n", "\r", "\u2028",
      "\u0085", "\n\u3000", " ", "\n" + " ".repeat(int(r, 1, 16))]));
  }
  return parts.join("");
}

// Lines must survive a byte-oriented line reader intact: no \n or \r (U+0085 and U+2028
// stay: they are not line ends there).
function clean(line) {
  return line.replace(/[\n\r]/g, " ");
}

export function makeCorpus(seed = 20240607, nLines = 24000, nDocuments = 400) {
  const r = rng(seed);
  const lines = [];
  for (let i = 0; i < nLines; ++i) lines.push(clean(KINDS[i % KINDS.length](r)));
  const documents = [];
  for (let i = 0; i < nDocuments; ++i) documents.push(document(r));
  return { lines, documents };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error("usage: node make_corpus.mjs OUT_DIR [seed]");
    process.exit(2);
  }
  const { lines, documents } = makeCorpus(process.argv[3] ? Number(process.argv[3]) : undefined);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "lines.txt"), lines.join("\n") + "\n");
  fs.writeFileSync(path.join(out, "documents.jsonl"), documents.map((d) => JSON.stringify(d)).join("\n") + "\n");
  console.log(`wrote ${lines.length} lines and ${documents.length} documents to ${out}`);
}
