"""Byte-level BPE tokenizer (Qwen2 style) trained from scratch.

Pipeline: NFC normalisation -> special tokens matched first -> Qwen2 pre-tokenizer regex ->
GPT-2 byte-to-unicode mapping -> BPE merges applied by rank.

Vocabulary layout (ids): 0..255 the 256 byte symbols (in GPT-2 byte_to_unicode order of byte
value), then one token per merge in merge order, then the added special tokens
<|endoftext|>, <|im_start|>, <|im_end|>.
"""
import collections
import json
import unicodedata

import regex

QWEN2_PRETOKENIZE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                     r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character mapping."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}
_PAT = regex.compile(QWEN2_PRETOKENIZE)
_SPECIAL_PAT = regex.compile("(" + "|".join(regex.escape(s) for s in SPECIALS) + ")")


def pretokenize(text):
    """NFC, then the Qwen2 regex; returns pieces already mapped through byte_to_unicode."""
    text = unicodedata.normalize("NFC", text)
    return ["".join(BYTE_ENC[b] for b in m.encode("utf-8")) for m in _PAT.findall(text)]


def train_bpe(texts, vocab_size, log=print):
    """Train byte-level BPE. Returns the merge list [(a, b), ...]."""
    n_merges = vocab_size - 256 - len(SPECIALS)
    counts = collections.Counter()
    for t in texts:
        for part in _SPECIAL_PAT.split(t):
            if part in SPECIALS or not part:
                continue
            counts.update(pretokenize(part))
    words = [list(w) for w in counts]
    freqs = [counts[w] for w in counts]
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_counts[(a, b)] += freqs[i]
            where[(a, b)].add(i)
    merges = []
    known = set(BYTE_ENC.values())
    n_new = 0
    import heapq
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    while n_new < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        c = pair_counts.get(pair, 0)
        if c <= 0:
            continue
        if -negc != c:  # stale entry
            heapq.heappush(heap, (-c, pair))
            continue
        # deterministic tie-break: heap orders equal counts by the pair itself
        merges.append(pair)
        a, b = pair
        new = a + b
        if new not in known:
            known.add(new)
            n_new += 1
        changed = set()
        for i in list(where[pair]):
            w = words[i]
            f = freqs[i]
            j = 0
            out = []
            hit = False
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(new)
                    j += 2
                    hit = True
                else:
                    out.append(w[j])
                    j += 1
            if not hit:
                continue
            for p in zip(w, w[1:]):
                pair_counts[p] -= f
                changed.add(p)
            for p in zip(out, out[1:]):
                pair_counts[p] += f
                where[p].add(i)
                changed.add(p)
            words[i] = out
        pair_counts.pop(pair, None)
        where.pop(pair, None)
        for p in changed:
            if p != pair and pair_counts.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
        if len(merges) % 500 == 0:
            log(f"bpe: {len(merges)}/{n_merges} merges")
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.tokens = [BYTE_ENC[b] for b in range(256)]
        seen = set(self.tokens)
        for a, b in self.merges:  # two merges may produce the same string: one token
            if a + b not in seen:
                seen.add(a + b)
                self.tokens.append(a + b)
        self.n_regular = len(self.tokens)
        self.tokens += SPECIALS
        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        assert len(self.vocab) == len(self.tokens), "duplicate tokens"
        self.special_ids = {s: self.vocab[s] for s in SPECIALS}
        self.eot_id = self.special_ids["<|endoftext|>"]
        self.im_start_id = self.special_ids["<|im_start|>"]
        self.im_end_id = self.special_ids["<|im_end|>"]
        self._cache = {}

    def __len__(self):
        return len(self.tokens)

    def _bpe(self, piece):
        if piece in self._cache:
            return self._cache[piece]
        w = list(piece)
        while len(w) > 1:
            best = None
            for k in range(len(w) - 1):
                r = self.ranks.get((w[k], w[k + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, k)
            if best is None:
                break
            k = best[1]
            w = w[:k] + [w[k] + w[k + 1]] + w[k + 2:]
        ids = [self.vocab[s] for s in w]
        if len(self._cache) < 500000:
            self._cache[piece] = ids
        return ids

    def encode(self, text, allow_special=True):
        ids = []
        parts = _SPECIAL_PAT.split(text) if allow_special else [text]
        for part in parts:
            if not part:
                continue
            if allow_special and part in self.special_ids:
                ids.append(self.special_ids[part])
                continue
            for piece in pretokenize(part):
                ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            if i >= self.n_regular:
                out += t.encode("utf-8")
            else:
                out += bytes(BYTE_DEC[c] for c in t)
        return out.decode("utf-8", errors="replace")

    # ---- serialisation ----
    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"merges": [list(m) for m in self.merges]}, f)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        if "model" in d:  # HF tokenizer.json
            ms = d["model"]["merges"]
            ms = [m.split(" ") if isinstance(m, str) else m for m in ms]
            return cls(ms)
        return cls(d["merges"])

    def to_hf_json(self):
        added = [{"id": self.special_ids[s], "content": s, "single_word": False, "lstrip": False,
                  "rstrip": False, "normalized": False, "special": True} for s in SPECIALS]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": {"type": "NFC"},
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": QWEN2_PRETOKENIZE},
                     "behavior": "Isolated", "invert": False},
                    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                     "use_regex": False},
                ],
            },
            "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                               "use_regex": False},
            "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                        "use_regex": False},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                "ignore_merges": False,
                "vocab": {t: i for i, t in enumerate(self.tokens[:self.n_regular])},
                "merges": [a + " " + b for a, b in self.merges],
            },
        }

    def save_hf(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_hf_json(), f, ensure_ascii=False, indent=1)
