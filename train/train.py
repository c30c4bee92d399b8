#!/usr/bin/python3
"""SmallThinker-Nano training pipeline.

  /usr/bin/python3 train/train.py --all            # everything: data, tokenizer, 3 stages, eval,
                                                   # stats, GGUF export, figures
  /usr/bin/python3 train/train.py --all --preset tiny   # minutes-long smoke test
Individual steps: --prepare, --stage 1|2|3, --eval, --stats, --export, --plots.
Outputs: train/out/ (checkpoints, logs, data; gitignored), train/figures/*.png,
models/smallthinker-nano.gguf, models/smallthinker-nano.tokenizer.json,
train/heldout_additions.json, train/figures/*.json (measured statistics).
"""
import argparse
import csv
import json
import math
import os
import random
import re
import sys
import time

# Busy-waiting OpenMP threads are ~50x slower on a shared, oversubscribed 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from data import (Gen, addition_chat, addition_prompt, chatml, heldout_additions,  # noqa: E402
                  kjv_chapters, split_kjv, write_heldout)
from export import export_gguf, load_gguf, round_to_file_precision  # noqa: E402
from model import Config, GlobalLoadBalance, SmallThinker  # noqa: E402
from tokenizer import Tokenizer, train_bpe  # noqa: E402

ROOT = os.path.dirname(HERE)
FIG = os.path.join(HERE, "figures")

PRESETS = {
    # the shipped model
    "nano": dict(
        model=dict(vocab_size=4096, hidden=128, n_layers=8, n_heads=4, n_kv_heads=2, head_dim=64,
                   n_experts=16, top_k=4, ffn=128, rope_theta=10000.0, sliding_window=4096,
                   gating="softmax", context_length=512),
        seq=128, batch=16,
        # wall-clock budget per stage (the machine is shared: throughput varies 3-10x), or
        # fixed step counts with --fixed-steps
        stages={1: dict(minutes=16, steps=600, lr=3e-3, warmup=30),
                2: dict(minutes=16, steps=600, lr=2e-3, warmup=20),
                3: dict(minutes=19, steps=400, lr=1.5e-3, warmup=10)},
        out=os.path.join(HERE, "out"),
        gguf=os.path.join(ROOT, "models", "smallthinker-nano.gguf"),
        tokjson=os.path.join(ROOT, "models", "smallthinker-nano.tokenizer.json"),
        figures=FIG),
    # smoke test of the whole pipeline
    "tiny": dict(
        model=dict(vocab_size=1024, hidden=64, n_layers=4, n_heads=3, n_kv_heads=1, head_dim=32,
                   n_experts=8, top_k=2, ffn=64, rope_theta=10000.0, sliding_window=4096,
                   gating="softmax", context_length=256),
        seq=128, batch=8,
        stages={1: dict(minutes=0.5, steps=30, lr=3e-3, warmup=5),
                2: dict(minutes=0.5, steps=30, lr=3e-3, warmup=5),
                3: dict(minutes=0.5, steps=30, lr=2e-3, warmup=5)},
        out=os.path.join(HERE, "out", "tiny"),
        gguf=os.path.join(HERE, "out", "tiny", "tiny.gguf"),
        tokjson=os.path.join(HERE, "out", "tiny", "tiny.tokenizer.json"),
        figures=os.path.join(HERE, "out", "tiny", "figures")),
}
LBL_COEF = 0.01
SEED = 20250728


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def set_seed(s):
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


# ---------------------------------------------------------------- data preparation
def prepare(P):
    os.makedirs(P["out"], exist_ok=True)
    set_seed(SEED)
    chapters = kjv_chapters()
    kjv_train, kjv_held = split_kjv(chapters)
    held_pairs = heldout_additions()
    write_heldout(os.path.join(HERE, "heldout_additions.json"), held_pairs)
    gen = Gen(SEED, held_pairs)
    prose_lines = [l for c in kjv_train for l in c.split("\n")]
    n_arith = 6000 if P is PRESETS["nano"] else 600
    arith_docs = [gen.arithmetic_doc() for _ in range(n_arith)]
    code_docs = [gen.code_doc() for _ in range(n_arith // 2)]
    chats = [gen.chat(prose_lines) for _ in range(n_arith * 4)]
    val_gen = Gen(SEED + 1, held_pairs)
    val_arith = [val_gen.worked_doc() for _ in range(100)]
    val_chats = [val_gen.chat(prose_lines, worked=True) for _ in range(300)]

    # separate streams (the tokenizer corpus above stays fixed): worked column additions for
    # stage 2, chats with worked answers and an addition drill for stage 3
    g2 = Gen(SEED + 2, held_pairs)
    worked_docs = [g2.worked_doc() for _ in range(n_arith * 3)]
    g3 = Gen(SEED + 3, held_pairs)
    add_chats = [addition_chat(g3) for _ in range(n_arith * 3)]
    chats_w = [g3.chat(prose_lines, worked=True) for _ in range(n_arith * 3)]

    V = P["model"]["vocab_size"]
    log(f"training BPE tokenizer (vocab {V})")
    corpus = kjv_train + arith_docs[:500] + code_docs[:300] + [chatml(c) for c in chats[:1000]]
    merges = train_bpe(corpus, V, log=log)
    tok = Tokenizer(merges)
    while len(tok) < V:   # duplicate merge results can leave the vocab short: train a bit more
        merges = train_bpe(corpus, V + (V - len(tok)), log=log)
        tok = Tokenizer(merges)
    assert len(tok) == V, len(tok)
    tok.save(os.path.join(P["out"], "tokenizer_merges.json"))
    os.makedirs(os.path.dirname(P["tokjson"]), exist_ok=True)
    tok.save_hf(P["tokjson"])

    eot = tok.eot_id

    def stream(docs):
        ids = []
        for d in docs:
            ids.extend(tok.encode(d, allow_special=False))
            ids.append(eot)
        return np.array(ids, dtype=np.int32)

    log("encoding corpora")
    d = {
        "kjv_train": stream(kjv_train),
        "kjv_held": stream(kjv_held),
        "arith": stream(arith_docs),
        "code": stream(code_docs),
        "val_arith": stream(val_arith),
        "chats": [encode_chat(tok, c) for c in chats],
        "add_chats": [encode_chat(tok, c) for c in add_chats],
        "worked": stream(worked_docs),
        "chats_w": [encode_chat(tok, c) for c in chats_w],
        "val_chats": [encode_chat(tok, c) for c in val_chats],
    }
    torch.save(d, os.path.join(P["out"], "data.pt"))
    stats = {k: (len(v) if not isinstance(v, list) else sum(len(x[0]) for x in v)) for k, v in d.items()}
    stats["kjv_bytes_train"] = sum(len(c.encode()) for c in kjv_train)
    stats["vocab"] = len(tok)
    json.dump(stats, open(os.path.join(P["out"], "data_stats.json"), "w"), indent=1)
    log("data:", stats)


def encode_chat(tok, turns):
    """Token ids and loss mask (1 on assistant content and its <|im_end|>)."""
    ids, mask = [], []
    for role, content in turns:
        head = [tok.im_start_id] + tok.encode(role + "\n", allow_special=False)
        body = tok.encode(content, allow_special=False) + [tok.im_end_id]
        tail = tok.encode("\n", allow_special=False)
        on = 1 if role == "assistant" else 0
        ids += head + body + tail
        mask += [0] * len(head) + [on] * len(body) + [0] * len(tail)
    return ids, mask


# ---------------------------------------------------------------- batches
class Batcher:
    def __init__(self, P, data, stage, seed):
        self.P, self.d, self.stage = P, data, stage
        self.rng = np.random.default_rng(seed)
        self.T, self.B = P["seq"], P["batch"]

    def window(self, arr):
        i = int(self.rng.integers(0, len(arr) - self.T - 1))
        x = arr[i:i + self.T + 1].astype(np.int64)
        return x, np.ones(self.T, dtype=np.float32)

    def packed_chats(self, chats):
        T = self.T
        ids, mask = [], []
        while len(ids) < T + 1:
            c_ids, c_mask = chats[int(self.rng.integers(0, len(chats)))]
            ids += c_ids + [self.eot]
            mask += c_mask + [0]
        x = np.array(ids[:T + 1], dtype=np.int64)
        m = np.array(mask[1:T + 1], dtype=np.float32)   # mask of the predicted token
        return x, m

    def sample(self):
        d = self.d
        r = self.rng.random()
        if self.stage == 1:
            return self.window(d["kjv_train"])
        if self.stage == 2:
            if r < 0.70:
                return self.window(d["worked"])
            if r < 0.80:
                return self.window(d["code"])
            return self.window(d["kjv_train"])
        # stage 3: supervised chat (general mix + an addition drill), with a little replay of
        # stage-2 data (loss on everything)
        if r < 0.35:
            return self.packed_chats(d["chats_w"])
        if r < 0.85:
            return self.packed_chats(d["add_chats"])
        if r < 0.93:
            return self.window(d["worked"])
        return self.window(d["kjv_train"])

    def batch(self):
        xs, ms = zip(*[self.sample() for _ in range(self.B)])
        x = torch.from_numpy(np.stack(xs))
        return x[:, :-1], x[:, 1:], torch.from_numpy(np.stack(ms))


def masked_ce(logits, y, m):
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
    m = m.reshape(-1)
    return (ce * m).sum() / m.sum().clamp_min(1.0)


@torch.no_grad()
def eval_stream(model, arr, T, max_windows=64):
    """Mean next-token loss over consecutive non-overlapping windows of the token stream."""
    model.eval()
    n = min(max_windows, (len(arr) - 1) // T)
    tot, cnt = 0.0, 0
    for i in range(0, n, 8):
        xs = [arr[j * T:j * T + T + 1].astype(np.int64) for j in range(i, min(n, i + 8))]
        x = torch.from_numpy(np.stack(xs))
        lg = model(x[:, :-1])
        tot += F.cross_entropy(lg.reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1), reduction="sum").item()
        cnt += x[:, 1:].numel()
    model.train()
    return tot / cnt


@torch.no_grad()
def eval_chats(model, chats, n=120):
    model.eval()
    tot, cnt = 0.0, 0
    for ids, mask in chats[:n]:
        x = torch.tensor([ids])
        lg = model(x[:, :-1])[0]
        ce = F.cross_entropy(lg, x[0, 1:], reduction="none")
        m = torch.tensor(mask[1:], dtype=torch.float32)
        tot += (ce * m).sum().item()
        cnt += m.sum().item()
    model.train()
    return tot / max(cnt, 1)


# ---------------------------------------------------------------- training
def param_groups(model):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.dim() < 2 else decay).append(p)
    return [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]


def train_stage(P, stage):
    torch.set_num_threads(2)
    out = P["out"]
    S = P["stages"][stage]
    cfg = Config(**P["model"])
    data = torch.load(os.path.join(out, "data.pt"))
    tok = Tokenizer.load(os.path.join(out, "tokenizer_merges.json"))
    set_seed(SEED + stage)
    model = SmallThinker(cfg)
    opt = torch.optim.AdamW(param_groups(model), lr=S["lr"], betas=(0.9, 0.95), eps=1e-8)
    lbl = GlobalLoadBalance(cfg.n_layers, cfg.n_experts)
    if stage > 1:
        ck = torch.load(os.path.join(out, f"stage{stage - 1}.pt"))
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        lbl.f = ck["lbl_f"]
        for g in opt.param_groups:
            g["lr"] = S["lr"]
    batcher = Batcher(P, data, stage, SEED * 10 + stage)
    batcher.eot = tok.eot_id
    rows = []
    t0 = time.time()
    ntok = 0
    fixed = P.get("fixed_steps")
    steps = int(fixed[str(stage)]) if fixed else None
    budget = S["minutes"] * 60.0
    n_log, n_eval = 0, 0
    model.train()
    step = 0
    while True:
        step += 1
        # progress through the stage: by step count (--fixed-steps) or by wall clock
        frac = (step - 1) / steps if fixed else (time.time() - t0) / budget
        if frac >= 1.0:
            step -= 1
            break
        if step <= S["warmup"]:
            lr = S["lr"] * step / S["warmup"]
        else:
            lr = S["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y, m = batcher.batch()
        aux = []
        logits = model(x, aux=aux)
        ce = masked_ce(logits, y, m)
        lb = lbl(aux, cfg.gating)
        loss = ce + LBL_COEF * lb
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ntok += x.numel()
        row = {"stage": stage, "step": step, "tokens": ntok, "loss": ce.item(), "lbl": lb.item(),
               "lr": lr, "grad_norm": float(gn), "elapsed_s": time.time() - t0}
        done = (step >= steps) if fixed else (time.time() - t0 >= budget)
        if frac >= n_eval / 8 or done:
            n_eval += 1
            row["val_kjv"] = eval_stream(model, data["kjv_held"], P["seq"], 16)
            if stage >= 2:
                row["val_arith"] = eval_stream(model, data["val_arith"], P["seq"], 16)
            if stage >= 3:
                row["val_chat"] = eval_chats(model, data["val_chats"], 40)
        rows.append(row)
        if frac >= n_log / 50 or "val_kjv" in row:
            n_log += 1
            extra = " ".join(f"{k}={row[k]:.3f}" for k in ("val_kjv", "val_arith", "val_chat") if k in row)
            log(f"stage {stage} step {step} ({100 * frac:.0f}%) loss {ce.item():.3f} lbl {lb.item():.3f} "
                f"lr {lr:.2e} {ntok / (time.time() - t0):.0f} tok/s {extra}")
        if done:
            break
    sfile = os.path.join(out, "steps.json")
    sd = json.load(open(sfile)) if os.path.exists(sfile) else {}
    sd[str(stage)] = step
    json.dump(sd, open(sfile, "w"))
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "lbl_f": lbl.f,
                "cfg": P["model"]}, os.path.join(out, f"stage{stage}.pt"))
    keys = ["stage", "step", "tokens", "loss", "lbl", "lr", "grad_norm", "elapsed_s",
            "val_kjv", "val_arith", "val_chat"]
    with open(os.path.join(out, f"loss_stage{stage}.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    log(f"stage {stage} done in {time.time() - t0:.0f}s")


def load_final(P):
    cfg = Config(**P["model"])
    m = SmallThinker(cfg)
    ck = torch.load(os.path.join(P["out"], "stage3.pt"))
    m.load_state_dict(ck["model"])
    m.eval()
    return m, Tokenizer.load(os.path.join(P["out"], "tokenizer_merges.json"))


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def greedy(model, tok, prompts, max_new=40):
    """Batched greedy decoding of equal-length prompts (recomputes the prefix each step)."""
    ids = [tok.encode(p) for p in prompts]
    L = len(ids[0])
    assert all(len(i) == L for i in ids)
    x = torch.tensor(ids)
    done = torch.zeros(len(ids), dtype=torch.bool)
    outs = [[] for _ in ids]
    for _ in range(max_new):
        nxt = model(x)[:, -1].argmax(-1)
        for i, t in enumerate(nxt.tolist()):
            if not done[i]:
                if t in (tok.im_end_id, tok.eot_id):
                    done[i] = True
                else:
                    outs[i].append(t)
        if done.all():
            break
        x = torch.cat([x, nxt[:, None]], 1)
    return [tok.decode(o) for o in outs]


def addition_accuracy(model, tok, pairs, system=True):
    res = []
    for i in range(0, len(pairs), 50):
        chunk = pairs[i:i + 50]
        answers = greedy(model, tok, [addition_prompt(a, b, system) for a, b in chunk])
        for (a, b), ans in zip(chunk, answers):
            nums = re.findall(r"-?\d+", ans)
            ok = bool(nums) and int(nums[-1]) == a + b
            res.append({"a": a, "b": b, "answer": ans, "correct": ok})
    return sum(r["correct"] for r in res) / len(res), res


def evaluate(P, model=None, tok=None, tag="pytorch"):
    torch.set_num_threads(2)
    if model is None:
        model, tok = load_final(P)
    data = torch.load(os.path.join(P["out"], "data.pt"))
    pairs = heldout_additions()
    acc_sys, res_sys = addition_accuracy(model, tok, pairs, True)
    acc_nosys, _ = addition_accuracy(model, tok, pairs, False)
    held_loss = eval_stream(model, data["kjv_held"], P["seq"], 10 ** 9)
    arith_loss = eval_stream(model, data["val_arith"], P["seq"], 10 ** 9)
    kjv_bytes = None
    r = {"model": tag, "addition_accuracy_with_system_prompt": acc_sys,
         "addition_accuracy_without_system_prompt": acc_nosys, "n_questions": len(pairs),
         "heldout_kjv_loss": held_loss, "heldout_kjv_perplexity": math.exp(held_loss),
         "heldout_kjv_tokens": int(len(data["kjv_held"])),
         "heldout_arith_loss": arith_loss, "heldout_arith_perplexity": math.exp(arith_loss),
         "examples": res_sys[:10], "wrong": [x for x in res_sys if not x["correct"]][:20]}
    samples = greedy(model, tok, [chatml([("user", "Continue the text: In the beginning")], True)], 40)
    r["sample_continue"] = samples[0]
    del kjv_bytes
    log(f"[{tag}] addition accuracy {acc_sys:.3f} (system prompt) {acc_nosys:.3f} (none); "
        f"held-out KJV ppl {math.exp(held_loss):.2f}; arith ppl {math.exp(arith_loss):.3f}")
    return r


# ---------------------------------------------------------------- activation statistics
@torch.no_grad()
def measure_stats(P, model, arr, n_windows=64):
    cfg = model.cfg
    st = {"counts": [torch.zeros(cfg.n_experts, dtype=torch.long) for _ in range(cfg.n_layers)],
          "tokens": [0] * cfg.n_layers, "zero": [0] * cfg.n_layers, "total": [0] * cfg.n_layers}
    T = P["seq"]
    n = min(n_windows, (len(arr) - 1) // T)
    for i in range(0, n, 8):
        xs = [arr[j * T:j * T + T].astype(np.int64) for j in range(i, min(n, i + 8))]
        model(torch.from_numpy(np.stack(xs)), stats=st)
    freq = [(c.float() / st["tokens"][l]).tolist() for l, c in enumerate(st["counts"])]
    zero = [st["zero"][l] / max(1, st["total"][l]) for l in range(cfg.n_layers)]
    return {"tokens": st["tokens"][0], "expert_frequency": freq, "reglu_zero_fraction": zero,
            "note": "expert_frequency[l][e] = fraction of tokens that select expert e in layer l "
                    "(top-%d, so each row sums to %d); reglu_zero_fraction[l] = fraction of "
                    "relu(gate) outputs that are exactly 0 over the selected experts" % (cfg.top_k, cfg.top_k)}


def stats(P):
    torch.set_num_threads(2)
    model, tok = load_final(P)
    data = torch.load(os.path.join(P["out"], "data.pt"))
    s = {"heldout_kjv": measure_stats(P, model, data["kjv_held"]),
         "heldout_arith": measure_stats(P, model, data["val_arith"])}
    os.makedirs(P["figures"], exist_ok=True)
    json.dump(s, open(os.path.join(P["figures"], "activation_stats.json"), "w"), indent=1)
    z = s["heldout_kjv"]["reglu_zero_fraction"]
    log("ReGLU zero fraction per layer:", " ".join(f"{v:.2f}" for v in z))
    return s


# ---------------------------------------------------------------- export
def export(P):
    torch.set_num_threads(2)
    model, tok = load_final(P)
    os.makedirs(os.path.dirname(P["gguf"]), exist_ok=True)
    export_gguf(model, tok, P["gguf"], f16=True)
    tok.save_hf(P["tokjson"])
    log(f"wrote {P['gguf']} ({os.path.getsize(P['gguf']) / 1e6:.1f} MB)")
    # round trip: the GGUF loaded back must reproduce the (f16-rounded) PyTorch model exactly
    m2, tok2 = load_gguf(P["gguf"])
    round_to_file_precision(model, True)
    x = torch.tensor([tok.encode(addition_prompt(23, 45))])
    with torch.no_grad():
        a, b = model(x), m2(x)
    err = ((a - b).abs().max() / a.abs().max()).item()
    log(f"GGUF round trip: max rel logit diff {err:.2e}")
    assert err < 1e-5, err
    assert tok2.encode("In the beginning 23 + 45 = 68<|im_end|>") == tok.encode("In the beginning 23 + 45 = 68<|im_end|>")
    # the shipped file is what the evaluation reports
    r = evaluate(P, m2, tok2, tag="pytorch-from-gguf")
    r["gguf_bytes"] = os.path.getsize(P["gguf"])
    r["gguf_roundtrip_max_rel_diff"] = err
    os.makedirs(P["figures"], exist_ok=True)
    json.dump(r, open(os.path.join(P["figures"], "eval_pytorch.json"), "w"), indent=1)


# ---------------------------------------------------------------- plots
def plots(P):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(P["figures"], exist_ok=True)
    rows = []
    for s in (1, 2, 3):
        fn = os.path.join(P["out"], f"loss_stage{s}.csv")
        if os.path.exists(fn):
            rows += list(csv.DictReader(open(fn)))
    json.dump(rows, open(os.path.join(P["figures"], "loss_curves.json"), "w"))
    names = {1: "stage 1: KJV prose", 2: "stage 2: arithmetic + code (+ prose replay)",
             3: "stage 3: ChatML SFT (assistant tokens)"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for s, ax in zip((1, 2, 3), axes):
        rs = [r for r in rows if int(r["stage"]) == s]
        if not rs:
            continue
        st = [int(r["step"]) for r in rs]
        loss = np.array([float(r["loss"]) for r in rs])
        k = max(1, len(loss) // 50)
        sm = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax.plot(st, loss, alpha=0.3, color="C0", label="train loss")
        ax.plot(st[k - 1:], sm, color="C0", label=f"train loss (mean of {k})")
        for key, c in (("val_kjv", "C1"), ("val_arith", "C2"), ("val_chat", "C3")):
            pts = [(int(r["step"]), float(r[key])) for r in rs if r.get(key)]
            if pts:
                ax.plot(*zip(*pts), "o-", color=c, label=key.replace("val_", "held-out "))
        ax.set_title(names[s])
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(P["figures"], "loss_curves.png"), dpi=100)
    plt.close(fig)

    fn = os.path.join(P["figures"], "activation_stats.json")
    if not os.path.exists(fn):
        return
    s = json.load(open(fn))["heldout_kjv"]
    freq = np.array(s["expert_frequency"])            # [L, E]
    zero = np.array(s["reglu_zero_fraction"])
    L, E = freq.shape
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    im = axes[0].imshow(freq, aspect="auto", cmap="viridis", vmin=0, vmax=max(0.6, freq.max()))
    axes[0].set_xlabel("expert")
    axes[0].set_ylabel("layer")
    axes[0].set_title("expert activation frequency (held-out KJV)")
    fig.colorbar(im, ax=axes[0])
    srt = -np.sort(-freq, axis=1)
    for l in range(L):
        axes[1].plot(np.arange(E), srt[l], marker=".", label=f"layer {l}")
    axes[1].axhline(0.14, color="gray", ls="--", lw=1)
    axes[1].axhspan(0.4, 0.6, color="orange", alpha=0.15)
    axes[1].set_title("per-layer frequency, experts sorted\n(paper: 70-80% < 0.14, hot 20-30% at 0.4-0.6)")
    axes[1].set_xlabel("expert rank")
    axes[1].set_ylabel("fraction of tokens")
    axes[1].legend(fontsize=7, ncol=2)
    axes[2].hist(freq.ravel(), bins=30, color="C0")
    axes[2].axvline(0.14, color="gray", ls="--")
    axes[2].axvline(1.0 * (freq.shape[1] and freq.sum(1).mean() / E), color="C3", ls=":",
                    label="uniform = K/E")
    axes[2].set_title(f"all {L * E} experts: {100 * (freq < 0.14).mean():.0f}% below 0.14")
    axes[2].set_xlabel("activation frequency")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(P["figures"], "expert_frequency.png"), dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(np.arange(L), 100 * zero, color="C2", label="SmallThinker-Nano (held-out KJV)")
    ax.axhline(60, color="gray", ls="--", label="paper: median > 60%")
    ax.axhspan(90, 100, color="orange", alpha=0.15, label="paper: early layers 90-100%")
    ax.set_xlabel("layer")
    ax.set_ylabel("ReGLU neurons exactly zero (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"ReGLU zero fraction per layer (median {100 * np.median(zero):.0f}%)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(P["figures"], "reglu_zero_fraction.png"), dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="nano", choices=sorted(PRESETS))
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--stage", type=int, action="append")
    ap.add_argument("--eval", action="store_true")
    ap.add_argument("--stats", action="store_true")
    ap.add_argument("--export", action="store_true")
    ap.add_argument("--plots", action="store_true")
    ap.add_argument("--fixed-steps", metavar="STEPS_JSON",
                    help="train each stage for the step counts in this file (e.g. a previous run's "
                         "train/out/steps.json) instead of by wall-clock budget: fully deterministic")
    a = ap.parse_args()
    torch.set_num_threads(2)
    P = PRESETS[a.preset]
    if a.fixed_steps:
        P["fixed_steps"] = json.load(open(a.fixed_steps))
    t0 = time.time()
    if a.all or a.prepare:
        prepare(P)
    for s in ([1, 2, 3] if a.all else (a.stage or [])):
        train_stage(P, s)
    if a.all or a.stats:
        stats(P)
    if a.all or a.export:
        export(P)
    if a.eval:
        json.dump(evaluate(P), open(os.path.join(P["out"], "eval_checkpoint.json"), "w"), indent=1)
    if a.all or a.plots:
        plots(P)
    log(f"total {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
