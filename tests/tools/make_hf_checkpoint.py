#!/usr/bin/python3
"""Writes a random-weight Hugging Face SmallThinker checkpoint (what `smallthinker convert` reads):
config.json, bf16 safetensors written by hand (8-byte little-endian header length, JSON header,
data) sharded with model.safetensors.index.json, a small byte-level Qwen2-style tokenizer.json and
tokenizer_config.json with the ChatML template.  Names and config keys: shared/smallthinker-spec.md
section 3.  Values are Gaussian, scaled so activations stay O(1), rounded to bf16 (nearest even).

Streams tensor by tensor, so full-size shapes need little memory:
    /usr/bin/python3 tests/tools/make_hf_checkpoint.py --shape 4b -o /tmp/hf-4b     # ~8.5 GB, 4 shards
    /usr/bin/python3 tests/tools/make_hf_checkpoint.py --shape tiny-21b -o /tmp/hf-tiny
"""
import argparse
import json
import os
import struct

import numpy as np

SHAPES = {
    # 4B-style: sigmoid gating, every layer global + RoPE (the released 4B).
    "4b": dict(layers=32, hidden=1536, heads=12, kv_heads=2, head_dim=128, experts=32, used=4, ff=768,
               vocab=151936, ctx=32768, softmax=False, window=0),
    # 21B-style: softmax gating, NoPE global at il % 4 == 0, window 4096 + RoPE elsewhere.
    "21b": dict(layers=52, hidden=2560, heads=28, kv_heads=4, head_dim=128, experts=64, used=6, ff=768,
                vocab=151936, ctx=16384, softmax=True, window=4096),
    # Tiny test shapes: every row length a multiple of 256 (K-quants apply without fallback).
    "tiny-4b": dict(layers=4, hidden=256, heads=4, kv_heads=2, head_dim=64, experts=8, used=2, ff=256,
                    vocab=384, ctx=2048, softmax=False, window=0),
    "tiny-21b": dict(layers=5, hidden=256, heads=8, kv_heads=2, head_dim=64, experts=8, used=3, ff=256,
                     vocab=384, ctx=2048, softmax=True, window=8),
}


def layout(shape, rope=None, swa=None):
    """Per-layer rope_layout / sliding_window_layout: the given lists, else the family rule."""
    L = shape["layers"]
    if swa is None:
        swa = [1 if shape["window"] > 0 and il % 4 != 0 else 0 for il in range(L)]
    if rope is None:
        rope = [1 if shape["window"] == 0 or il % 4 != 0 else 0 for il in range(L)]
    return list(rope), list(swa)


def config_json(shape, rope, swa, tied=False, name="random-smallthinker"):
    return {
        "architectures": ["SmallThinkerForCausalLM"], "model_type": "smallthinker", "model_name": name,
        "hidden_size": shape["hidden"], "num_hidden_layers": shape["layers"],
        "num_attention_heads": shape["heads"], "num_key_value_heads": shape["kv_heads"],
        "head_dim": shape["head_dim"], "moe_num_primary_experts": shape["experts"],
        "moe_num_active_primary_experts": shape["used"], "moe_ffn_hidden_size": shape["ff"],
        "moe_primary_router_apply_softmax": shape["softmax"], "vocab_size": shape["vocab"],
        "max_position_embeddings": shape["ctx"], "rms_norm_eps": 1e-6, "rope_theta": 1.5e6,
        "rope_layout": rope, "sliding_window_layout": swa, "sliding_window_size": shape["window"] or 4096,
        "tie_word_embeddings": tied, "torch_dtype": "bfloat16", "bos_token_id": 151643, "eos_token_id": [151643, 151645],
    }


def tensor_list(shape, tied=False):
    """(HF name, shape, init std, init mean) in checkpoint order."""
    H, F, E, V = shape["hidden"], shape["ff"], shape["experts"], shape["vocab"]
    QW, KVW = shape["head_dim"] * shape["heads"], shape["head_dim"] * shape["kv_heads"]
    s = lambda n: 1.0 / np.sqrt(n)  # noqa: E731
    out = [("model.embed_tokens.weight", (V, H), 1.0, 0.0)]
    for il in range(shape["layers"]):
        p = "model.layers.%d." % il
        out += [(p + "input_layernorm.weight", (H,), 0.1, 1.0),
                (p + "self_attn.q_proj.weight", (QW, H), s(H), 0.0),
                (p + "self_attn.k_proj.weight", (KVW, H), s(H), 0.0),
                (p + "self_attn.v_proj.weight", (KVW, H), s(H), 0.0),
                (p + "self_attn.o_proj.weight", (H, QW), s(QW), 0.0),
                (p + "post_attention_layernorm.weight", (H,), 0.1, 1.0),
                # Router on the raw residual: small scale keeps logits O(1) (no sigmoid ties).
                (p + "block_sparse_moe.primary_router.weight", (E, H), 0.5 * s(H), 0.0)]
        for e in range(E):
            q = p + "block_sparse_moe.experts.%d." % e
            out += [(q + "gate.weight", (F, H), s(H), 0.0), (q + "up.weight", (F, H), s(H), 0.0),
                    (q + "down.weight", (H, F), s(F), 0.0)]
    out.append(("model.norm.weight", (H,), 0.1, 1.0))
    if not tied:
        out.append(("lm_head.weight", (V, H), s(H), 0.0))
    return out


def to_bf16(x):
    """float32 -> bf16 bits (uint16), round to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r")]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def write_tokenizer(out_dir):
    """A byte-level BPE in Qwen2's tokenizer.json structure: 256 byte tokens (GPT-2 mapping, ids 0..255),
    the merges above (ids 256..), then the special tokens.  Returns the special token ids."""
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    added = [{"id": len(vocab) + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": None, "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in MERGES]},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    cfg = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": CHATML,
           "model_max_length": 32768, "tokenizer_class": "Qwen2Tokenizer"}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    return {s: a["id"] for s, a in zip(SPECIALS, added)}


def write_checkpoint(out_dir, shape, seed=0, n_shards=2, rope=None, swa=None, tied=False, dtype="bf16",
                     tokenizer=True, keep=False):
    """Writes the checkpoint; returns {name: float32 array} of the values written when keep=True."""
    os.makedirs(out_dir, exist_ok=True)
    rope, swa = layout(shape, rope, swa)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config_json(shape, rope, swa, tied), f, indent=1)
    if tokenizer:
        write_tokenizer(out_dir)
    tensors = tensor_list(shape, tied)
    esz = 2 if dtype in ("bf16", "f16") else 4
    st_dtype = {"bf16": "BF16", "f16": "F16", "f32": "F32"}[dtype]
    total = sum(int(np.prod(s)) * esz for _, s, _, _ in tensors)
    # Shards of about equal size, in order.
    shards, cur, acc = [[]], 0, 0
    for t in tensors:
        nbytes = int(np.prod(t[1])) * esz
        if acc > 0 and acc + nbytes > total / n_shards * (len(shards)) and len(shards) < n_shards:
            shards.append([])
        shards[-1].append(t)
        acc += nbytes
    rng = np.random.default_rng(seed)
    kept = {}
    weight_map = {}
    names = []
    for si, shard in enumerate(shards):
        fname = "model.safetensors" if n_shards == 1 else "model-%05d-of-%05d.safetensors" % (si + 1, len(shards))
        names.append(fname)
        header, off = {"__metadata__": {"format": "pt"}}, 0
        for name, shp, _, _ in shard:
            n = int(np.prod(shp)) * esz
            header[name] = {"dtype": st_dtype, "shape": list(shp), "data_offsets": [off, off + n]}
            off += n
            weight_map[name] = fname
        hj = json.dumps(header, separators=(",", ":")).encode()
        hj += b" " * (-len(hj) % 8)  # data section 8-byte aligned, as the reference writer pads
        with open(os.path.join(out_dir, fname), "wb") as f:
            f.write(struct.pack("<Q", len(hj)))
            f.write(hj)
            for name, shp, std, mean in shard:
                n = int(np.prod(shp))
                chunk = 1 << 24
                parts = []
                for a in range(0, n, chunk):
                    x = (rng.standard_normal(min(chunk, n - a), dtype=np.float32) * np.float32(std) + np.float32(mean))
                    if dtype == "bf16":
                        bits = to_bf16(x)
                        f.write(bits.tobytes())
                        x = (bits.astype(np.uint32) << 16).view(np.float32)
                    elif dtype == "f16":
                        h = x.astype(np.float16)
                        f.write(h.tobytes())
                        x = h.astype(np.float32)
                    else:
                        f.write(x.astype("<f4").tobytes())
                    if keep:
                        parts.append(x)
                if keep:
                    kept[name] = np.concatenate(parts).reshape(shp)
    if n_shards > 1:
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    return kept


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="4b")
    ap.add_argument("-o", "--output", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shards", type=int, default=0, help="number of safetensors files (default: ~2 GB each)")
    ap.add_argument("--dtype", choices=["bf16", "f16", "f32"], default="bf16")
    ap.add_argument("--layers", type=int, default=0, help="override the number of layers (smaller test files)")
    a = ap.parse_args()
    shape = dict(SHAPES[a.shape])
    if a.layers > 0:
        shape["layers"] = a.layers
    n = a.shards
    if n <= 0:
        total = sum(int(np.prod(s)) for _, s, _, _ in tensor_list(shape)) * 2
        n = max(1, round(total / 2e9))
    write_checkpoint(a.output, shape, seed=a.seed, n_shards=n, dtype=a.dtype)
    # (a full 4b checkpoint: ~8.5 GB, ~2-4 minutes on one core)
    print("wrote", a.output)


if __name__ == "__main__":
    main()
