#!/usr/bin/python3
"""Independent reader of a Hugging Face SmallThinker checkpoint for the numpy oracle.

Reads config.json and the safetensors files directly (8-byte little-endian header length, JSON
header, raw little-endian data; bf16 = the top 16 bits of a float32), maps the HF names
(shared/smallthinker-spec.md section 3) onto reference.Model's weights, and returns a Model that
runs the same forward pass as for a GGUF -- without going through any GGUF file.

    m = safetensors_ref.load_hf(DIR)            # reference.Model, weights in float64
    logits = m.forward(token_ids)
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quants  # noqa: E402
import reference  # noqa: E402


def read_safetensors(path):
    """{name: float32 array} of every tensor in one file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        buf = raw[base + a:base + b]
        if e["dtype"] == "BF16":
            x = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif e["dtype"] == "F16":
            x = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "F32":
            x = np.frombuffer(buf, dtype="<f4").astype(np.float32)
        else:
            raise ValueError("%s: unsupported dtype %s" % (name, e["dtype"]))
        out[name] = x.reshape(e["shape"])
    return out


def read_checkpoint(hf_dir):
    """config dict, {HF name: float32 array} from the index's shards or model.safetensors."""
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(hf_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for fn in files:
        tensors.update(read_safetensors(os.path.join(hf_dir, fn)))
    return cfg, tensors


class HfConfig:
    """The attributes reference.Model reads from its Config, taken from config.json."""

    def __init__(self, j):
        self.n_layer = j["num_hidden_layers"]
        self.n_embd = j["hidden_size"]
        self.n_head = j["num_attention_heads"]
        self.n_head_kv = j.get("num_key_value_heads", self.n_head)
        self.head_dim = j.get("head_dim", self.n_embd // self.n_head)
        self.head_dim_v = self.head_dim
        self.n_expert = j["moe_num_primary_experts"]
        self.n_expert_used = j["moe_num_active_primary_experts"]
        self.n_ff_exp = j["moe_ffn_hidden_size"]
        self.eps = float(j.get("rms_norm_eps", 1e-6))
        self.rope_base = self.rope_base_swa = float(j.get("rope_theta", 1.5e6))
        self.gating = 1 if j.get("moe_primary_router_apply_softmax", False) else 2
        L = self.n_layer
        self.layer_rope = [bool(x) for x in j.get("rope_layout", [1] * L)]
        self.layer_swa = [bool(x) for x in j.get("sliding_window_layout", [0] * L)]
        self.window = int(j.get("sliding_window_size", 0)) if any(self.layer_swa) else 0


def load_hf(hf_dir, dtype=np.float64):
    cfg_json, t = read_checkpoint(hf_dir)
    c = HfConfig(cfg_json)
    m = reference.Model.__new__(reference.Model)
    m.path, m.dtype, m.cfg = hf_dir, dtype, c
    g = lambda name: t[name].astype(dtype)  # noqa: E731
    m.embd = g("model.embed_tokens.weight")
    m.out_norm = g("model.norm.weight")
    m.tied = "lm_head.weight" not in t
    m.out = m.embd if m.tied else g("lm_head.weight")
    m.n_vocab = m.out.shape[0]
    m.layers = []
    for il in range(c.n_layer):
        p = "model.layers.%d." % il
        ex = lambda w: np.stack([g(p + "block_sparse_moe.experts.%d.%s.weight" % (e, w))  # noqa: E731
                                 for e in range(c.n_expert)])
        m.layers.append(dict(
            attn_norm=g(p + "input_layernorm.weight"),
            wq=g(p + "self_attn.q_proj.weight"), wk=g(p + "self_attn.k_proj.weight"),
            wv=g(p + "self_attn.v_proj.weight"), wo=g(p + "self_attn.o_proj.weight"),
            ffn_norm=g(p + "post_attention_layernorm.weight"),
            router=g(p + "block_sparse_moe.primary_router.weight"),
            gate=ex("gate"), up=ex("up"), down=ex("down")))
    # forward() looks tensor types up by GGUF name (only to simulate activation rounding): all f32.
    m.types = _AllF32()
    m.router_log = []
    m.act_quant = None
    return m


class _AllF32(dict):
    def __missing__(self, key):
        return quants.F32
