"""Independent PyTorch implementation of the SmallThinker architecture (written from the spec).

Per layer:  r = x
            router_logits = r @ Wr^T                  (pre-attention router on the RAW residual)
            x = r + Attn(rmsnorm(r))                  (GQA, NoPE-global or windowed-RoPE)
            h2 = rmsnorm(x)
            x = x + sum_{e in topK} w_e * down_e(relu(gate_e h2) * up_e h2)   (ReGLU experts)
Gating: softmax over the K selected logits (21B style) or sigmoid(selected)/sum (4B style).
Parameters are stored in the shapes the GGUF file wants (torch row-major = ggml ne reversed):
  tok_embd [V,H], wq [nH*D,H], wk/wv [nKV*D,H], wo [H,nH*D], router [E,H],
  gate/up [E,F,H], down [E,H,F], lm_head [V,H].
"""
import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclasses.dataclass
class Config:
    vocab_size: int = 4096
    hidden: int = 256
    n_layers: int = 8
    n_heads: int = 6
    n_kv_heads: int = 2
    head_dim: int = 64
    n_experts: int = 16
    top_k: int = 4
    ffn: int = 128
    rope_theta: float = 10000.0
    rms_eps: float = 1e-6
    sliding_window: int = 4096     # 0 = every layer global with RoPE (4B style)
    gating: str = "softmax"       # "softmax" (21B) or "sigmoid" (4B)
    context_length: int = 512

    def layer_uses_rope(self, il):
        if self.sliding_window > 0:
            return il % 4 != 0
        return True

    def layer_window(self, il):
        if self.sliding_window > 0 and il % 4 != 0:
            return self.sliding_window
        return 0


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_cos_sin(positions, head_dim, theta):
    inv = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = positions.to(torch.float64)[:, None] * inv[None, :]          # [T, D/2]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float(), ang.sin().float()


def apply_rope_neox(x, cos, sin):
    # x [..., T, D]; NeoX rotate-half: pairs (d, d + D/2)
    d2 = x.shape[-1] // 2
    x1, x2 = x[..., :d2], x[..., d2:]
    rot = torch.cat([-x2, x1], dim=-1)
    return x * cos + rot * sin


def attn_mask(pos, window):
    """Additive mask [T, T]: causal, and for window > 0 only keys p-window+1 .. p."""
    dpos = pos[:, None] - pos[None, :]        # query position - key position
    allowed = dpos >= 0
    if window > 0:
        allowed = allowed & (dpos < window)
    m = torch.zeros(dpos.shape)
    return m.masked_fill(~allowed, float("-inf"))


class Layer(nn.Module):
    def __init__(self, cfg: Config, il: int):
        super().__init__()
        self.cfg, self.il = cfg, il
        H, D, E, Fd = cfg.hidden, cfg.head_dim, cfg.n_experts, cfg.ffn
        self.attn_norm = nn.Parameter(torch.ones(H))
        self.wq = nn.Parameter(torch.empty(cfg.n_heads * D, H))
        self.wk = nn.Parameter(torch.empty(cfg.n_kv_heads * D, H))
        self.wv = nn.Parameter(torch.empty(cfg.n_kv_heads * D, H))
        self.wo = nn.Parameter(torch.empty(H, cfg.n_heads * D))
        self.ffn_norm = nn.Parameter(torch.ones(H))
        self.router = nn.Parameter(torch.empty(E, H))
        # one parameter per expert (avoids full-size gradient buffers when slicing a stacked
        # tensor); stacked to [E,F,H] / [E,H,F] on export
        self.gate = nn.ParameterList([nn.Parameter(torch.empty(Fd, H)) for _ in range(E)])
        self.up = nn.ParameterList([nn.Parameter(torch.empty(Fd, H)) for _ in range(E)])
        self.down = nn.ParameterList([nn.Parameter(torch.empty(H, Fd)) for _ in range(E)])
        self.use_rope = cfg.layer_uses_rope(il)
        self.window = cfg.layer_window(il)

    def attention(self, h, cos, sin, mask):
        cfg = self.cfg
        B, T, _ = h.shape
        D = cfg.head_dim
        q = (h @ self.wq.t()).view(B, T, cfg.n_heads, D).transpose(1, 2)
        k = (h @ self.wk.t()).view(B, T, cfg.n_kv_heads, D).transpose(1, 2)
        v = (h @ self.wv.t()).view(B, T, cfg.n_kv_heads, D).transpose(1, 2)
        if self.use_rope:
            q = apply_rope_neox(q, cos, sin)
            k = apply_rope_neox(k, cos, sin)
        g = cfg.n_heads // cfg.n_kv_heads       # q head i uses kv head i // g
        # group the g query heads that share a kv head: [B, nKV, g*T, D]
        qg = q.reshape(B, cfg.n_kv_heads, g * T, D)
        s = (qg @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D))       # [B, nKV, g*T, T]
        s = s.view(B, cfg.n_kv_heads, g, T, T) + mask
        a = torch.softmax(s, dim=-1).view(B, cfg.n_kv_heads, g * T, T) @ v
        a = a.view(B, cfg.n_heads, T, D)
        a = a.transpose(1, 2).reshape(B, T, cfg.n_heads * D)
        return a @ self.wo.t()

    def gate_weights(self, logits):
        cfg = self.cfg
        top_v, top_i = torch.topk(logits, cfg.top_k, dim=-1)
        if cfg.gating == "softmax":
            w = torch.softmax(top_v, dim=-1)
        else:
            sg = torch.sigmoid(top_v)
            w = sg / sg.sum(-1, keepdim=True)
        return w, top_i

    def moe(self, h2, w, idx, stats=None):
        cfg = self.cfg
        N, H = h2.shape
        K = cfg.top_k
        flat_e = idx.reshape(-1)                                   # [N*K]
        flat_tok = torch.arange(N, device=h2.device).repeat_interleave(K)
        flat_w = w.reshape(-1)
        order = torch.argsort(flat_e, stable=True)
        counts = torch.bincount(flat_e, minlength=cfg.n_experts).tolist()
        out = torch.zeros_like(h2)
        start = 0
        for e in range(cfg.n_experts):
            n = counts[e]
            if n == 0:
                continue
            sel = order[start:start + n]
            start += n
            tok = flat_tok[sel]
            x = h2.index_select(0, tok)
            gt = F.relu(x @ self.gate[e].t())
            if stats is not None:
                stats["zero"][self.il] += (gt == 0).sum().item()
                stats["total"][self.il] += gt.numel()
            y = (gt * (x @ self.up[e].t())) @ self.down[e].t()
            out.index_add_(0, tok, y * flat_w[sel].unsqueeze(1))
        return out

    def forward(self, x, cos, sin, masks, aux, stats=None):
        cfg = self.cfg
        B, T, H = x.shape
        r = x
        router_logits = r @ self.router.t()                       # on the raw residual
        x = r + self.attention(rmsnorm(r, self.attn_norm, cfg.rms_eps), cos, sin, masks[self.window])
        h2 = rmsnorm(x, self.ffn_norm, cfg.rms_eps).reshape(B * T, H)
        lg = router_logits.reshape(B * T, -1)
        w, idx = self.gate_weights(lg)
        if stats is not None:
            stats["counts"][self.il] += torch.bincount(idx.reshape(-1), minlength=cfg.n_experts)
            stats["tokens"][self.il] += B * T
        y = self.moe(h2, w, idx, stats)
        if aux is not None:
            aux.append((lg, idx))
        return x + y.view(B, T, H)


class SmallThinker(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.tok_embd = nn.Parameter(torch.empty(cfg.vocab_size, cfg.hidden))
        self.layers = nn.ModuleList([Layer(cfg, il) for il in range(cfg.n_layers)])
        self.out_norm = nn.Parameter(torch.ones(cfg.hidden))
        self.lm_head = nn.Parameter(torch.empty(cfg.vocab_size, cfg.hidden))
        self.reset_parameters()

    def reset_parameters(self):
        std = 0.02
        proj = std / math.sqrt(2 * self.cfg.n_layers)
        nn.init.normal_(self.tok_embd, std=std)
        nn.init.normal_(self.lm_head, std=std)
        for L in self.layers:
            for p in [L.wq, L.wk, L.wv] + list(L.gate) + list(L.up):
                nn.init.normal_(p, std=std)
            for p in [L.wo] + list(L.down):
                nn.init.normal_(p, std=proj)
            nn.init.normal_(L.router, std=std)

    def forward(self, tokens, aux=None, stats=None, start_pos=0):
        B, T = tokens.shape
        pos = torch.arange(start_pos, start_pos + T)
        cos, sin = rope_cos_sin(pos, self.cfg.head_dim, self.cfg.rope_theta)
        masks = {}
        for L in self.layers:
            if L.window not in masks:
                masks[L.window] = attn_mask(pos, L.window)
        x = self.tok_embd[tokens]
        for L in self.layers:
            x = L(x, cos, sin, masks, aux, stats)
        x = rmsnorm(x, self.out_norm, self.cfg.rms_eps)
        return x @ self.lm_head.t()


class GlobalLoadBalance:
    """Global-batch load-balance loss (Qiu et al. 2025, as used by SmallThinker).

    LBL = E * sum_i f_i * P_i per layer, where P_i is the mean router probability of expert i over
    the current micro-batch (differentiable) and f_i is the fraction of routed slots that went to
    expert i, accumulated GLOBALLY: an exponential moving average over recent micro-batches/steps
    (decay 0.99 ~ a window of ~100 micro-batches), not the current micro-batch alone. Balancing
    against the global frequency lets a micro-batch specialise (domain-specific experts) while the
    overall usage stays balanced.
    """

    def __init__(self, n_layers, n_experts, decay=0.99):
        self.f = torch.full((n_layers, n_experts), 1.0 / n_experts)
        self.decay = decay

    def __call__(self, aux, gating):
        losses = []
        for il, (lg, idx) in enumerate(aux):
            E = lg.shape[-1]
            cnt = torch.bincount(idx.reshape(-1), minlength=E).float()
            f_now = cnt / cnt.sum()
            self.f[il] = self.decay * self.f[il] + (1 - self.decay) * f_now
            f_glob = self.f[il].clone()
            if gating == "softmax":
                p = torch.softmax(lg, dim=-1)
            else:
                s = torch.sigmoid(lg)
                p = s / s.sum(-1, keepdim=True)
            P = p.mean(0)
            losses.append(E * (f_glob * P).sum())
        return torch.stack(losses).mean()
