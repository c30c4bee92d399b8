"""Export the PyTorch model + tokenizer to GGUF (llama.cpp 'smallthinker' schema) and load it back."""
import numpy as np
import torch

from gguf_io import GGML_F16, GGML_F32, GGUFWriter, T_I32, T_STR, read_gguf
from model import Config, SmallThinker
from tokenizer import CHATML_TEMPLATE, Tokenizer

ARCH = "smallthinker"


def export_gguf(model, tok, path, f16=True, name="SmallThinker-Nano"):
    cfg = model.cfg
    assert len(tok) == cfg.vocab_size
    w = GGUFWriter(alignment=32)
    w.add_str("general.architecture", ARCH)
    w.add_str("general.name", name)
    w.add_u32("general.alignment", 32)
    w.add_u32("general.file_type", 1 if f16 else 0)
    p = ARCH + "."
    w.add_u32(p + "block_count", cfg.n_layers)
    w.add_u32(p + "context_length", cfg.context_length)
    w.add_u32(p + "embedding_length", cfg.hidden)
    w.add_u32(p + "feed_forward_length", cfg.ffn)
    w.add_u32(p + "expert_feed_forward_length", cfg.ffn)
    w.add_u32(p + "attention.head_count", cfg.n_heads)
    w.add_u32(p + "attention.head_count_kv", cfg.n_kv_heads)
    w.add_u32(p + "attention.key_length", cfg.head_dim)
    w.add_u32(p + "attention.value_length", cfg.head_dim)
    w.add_f32(p + "rope.freq_base", cfg.rope_theta)
    w.add_f32(p + "attention.layer_norm_rms_epsilon", cfg.rms_eps)
    w.add_u32(p + "expert_count", cfg.n_experts)
    w.add_u32(p + "expert_used_count", cfg.top_k)
    w.add_u32(p + "expert_gating_func", 1 if cfg.gating == "softmax" else 2)
    if cfg.sliding_window > 0:
        w.add_u32(p + "attention.sliding_window", cfg.sliding_window)
    # tokenizer
    w.add_str("tokenizer.ggml.model", "gpt2")
    w.add_str("tokenizer.ggml.pre", "qwen2")
    w.add_arr("tokenizer.ggml.tokens", T_STR, tok.tokens)
    w.add_arr("tokenizer.ggml.token_type", T_I32,
              [1] * tok.n_regular + [3] * (len(tok) - tok.n_regular))
    w.add_arr("tokenizer.ggml.merges", T_STR, [a + " " + b for a, b in tok.merges])
    w.add_u32("tokenizer.ggml.bos_token_id", tok.eot_id)
    w.add_u32("tokenizer.ggml.eos_token_id", tok.im_end_id)
    w.add_u32("tokenizer.ggml.padding_token_id", tok.eot_id)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_str("tokenizer.chat_template", CHATML_TEMPLATE)

    big = GGML_F16 if f16 else GGML_F32
    f = lambda t: t.detach().float().numpy()
    w.add_tensor("token_embd.weight", f(model.tok_embd), big)
    for il, L in enumerate(model.layers):
        b = f"blk.{il}."
        w.add_tensor(b + "attn_norm.weight", f(L.attn_norm), GGML_F32)
        w.add_tensor(b + "attn_q.weight", f(L.wq), big)
        w.add_tensor(b + "attn_k.weight", f(L.wk), big)
        w.add_tensor(b + "attn_v.weight", f(L.wv), big)
        w.add_tensor(b + "attn_output.weight", f(L.wo), big)
        w.add_tensor(b + "ffn_norm.weight", f(L.ffn_norm), GGML_F32)
        w.add_tensor(b + "ffn_gate_inp.weight", f(L.router), GGML_F32)     # ne {H, E}
        w.add_tensor(b + "ffn_gate_exps.weight", f(torch.stack(list(L.gate))), big)   # ne {H, F, E}
        w.add_tensor(b + "ffn_up_exps.weight", f(torch.stack(list(L.up))), big)       # ne {H, F, E}
        w.add_tensor(b + "ffn_down_exps.weight", f(torch.stack(list(L.down))), big)   # ne {F, H, E}
    w.add_tensor("output_norm.weight", f(model.out_norm), GGML_F32)
    w.add_tensor("output.weight", f(model.lm_head), big)
    w.write(path)


def load_gguf(path):
    """GGUF -> (SmallThinker in float32, Tokenizer)."""
    meta, t = read_gguf(path)
    assert meta["general.architecture"] == ARCH
    p = ARCH + "."
    g = lambda k, d=None: meta.get(p + k, d)
    V, H = t["token_embd.weight"].shape
    gating = {1: "softmax", 2: "sigmoid"}.get(g("expert_gating_func", 2))
    cfg = Config(vocab_size=V, hidden=H, n_layers=g("block_count"), n_heads=g("attention.head_count"),
                 n_kv_heads=g("attention.head_count_kv"), head_dim=g("attention.key_length"),
                 n_experts=g("expert_count"), top_k=g("expert_used_count"),
                 ffn=g("expert_feed_forward_length", g("feed_forward_length")),
                 rope_theta=g("rope.freq_base"), rms_eps=g("attention.layer_norm_rms_epsilon"),
                 sliding_window=g("attention.sliding_window", 0), gating=gating,
                 context_length=g("context_length"))
    m = SmallThinker(cfg)
    T = lambda n: torch.from_numpy(np.array(t[n], dtype=np.float32))
    with torch.no_grad():
        m.tok_embd.copy_(T("token_embd.weight"))
        m.out_norm.copy_(T("output_norm.weight"))
        m.lm_head.copy_(T("output.weight") if "output.weight" in t else T("token_embd.weight"))
        for il, L in enumerate(m.layers):
            b = f"blk.{il}."
            L.attn_norm.copy_(T(b + "attn_norm.weight"))
            L.wq.copy_(T(b + "attn_q.weight"))
            L.wk.copy_(T(b + "attn_k.weight"))
            L.wv.copy_(T(b + "attn_v.weight"))
            L.wo.copy_(T(b + "attn_output.weight"))
            L.ffn_norm.copy_(T(b + "ffn_norm.weight"))
            L.router.copy_(T(b + "ffn_gate_inp.weight"))
            for name, plist in (("gate", L.gate), ("up", L.up), ("down", L.down)):
                st = T(b + f"ffn_{name}_exps.weight")
                for e in range(cfg.n_experts):
                    plist[e].copy_(st[e])
    tok = Tokenizer([m_.split(" ") for m_ in meta["tokenizer.ggml.merges"]])
    assert tok.tokens == meta["tokenizer.ggml.tokens"], "token list mismatch"
    return m, tok


def round_to_file_precision(model, f16=True):
    """Round the big matrices as export does (so the PyTorch model equals the GGUF model)."""
    if not f16:
        return
    with torch.no_grad():
        big = [model.tok_embd, model.lm_head]
        for L in model.layers:
            big += [L.wq, L.wk, L.wv, L.wo] + list(L.gate) + list(L.up) + list(L.down)
        for p_ in big:
            p_.copy_(p_.half().float())
