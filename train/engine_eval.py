#!/usr/bin/python3
"""Engine-side checks of SmallThinker-Nano against the PyTorch model (fills NANO.md's engine rows).

  /usr/bin/python3 train/engine_eval.py [--engine build/bin/smallthinker] [--model models/smallthinker-nano.gguf]

1. logits: `smallthinker logits` vs train/torch_logits.py (the GGUF loaded into PyTorch) on a few
   prompts; max |diff| / max |logit| per prompt (done criterion: < 1e-3).
2. held-out perplexity: the same held-out KJV windows (every 40th chapter, 128-token windows) scored
   by the engine's logits and by PyTorch.
3. addition accuracy: the held-out two-digit additions (train/heldout_additions.json) asked through
   `smallthinker run --chat --temp 0` (with and without the system prompt); correct when the last
   integer of the reply equals a + b.
Writes train/figures/eval_engine.json.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from data import SYSTEM, kjv_chapters, split_kjv  # noqa: E402
from export import load_gguf  # noqa: E402


def engine_logits(engine, model, ids, threads):
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        subprocess.run([engine, "logits", "-m", model, "-t", str(threads), "--tokens",
                        ",".join(map(str, ids)), "-o", f.name], check=True, capture_output=True)
        return np.fromfile(f.name, dtype="<f4").reshape(len(ids), -1)


def log_softmax_loss(logits, ids):
    lg = logits[:-1].astype(np.float64)
    m = lg.max(1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(lg - m).sum(1)))
    return float((lse - lg[np.arange(len(ids) - 1), ids[1:]]).sum()), len(ids) - 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default=os.path.join(ROOT, "build", "bin", "smallthinker"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "smallthinker-nano.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--windows", type=int, default=0, help="held-out KJV windows of 128 tokens (0 = all)")
    ap.add_argument("--questions", type=int, default=0, help="limit the addition questions (0 = all)")
    ap.add_argument("-o", "--out", default=os.path.join(HERE, "figures", "eval_engine.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, tok = load_gguf(a.model)
    model.eval()
    res = {"engine": a.engine, "model": a.model}

    # 1. logits
    prompts = ["<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
               "What is 23 + 45?<|im_end|>\n<|im_start|>assistant\n",
               "In the beginning God created the heaven and the earth. And the earth was without form",
               "def add(a, b):\n    return a + b\n\nprint(add(12, 30))\n# 42\n17 + 26 = 43\n81 - 19 = 62"]
    rows = []
    for p in prompts:
        ids = tok.encode(p)
        with torch.no_grad():
            t = model(torch.tensor([ids]))[0].numpy()
        e = engine_logits(a.engine, a.model, ids, a.threads)
        rel = float(np.abs(t - e).max() / np.abs(t).max())
        agree = float((t.argmax(1) == e.argmax(1)).mean())
        rows.append({"n_tokens": len(ids), "max_rel_diff": rel, "argmax_agreement": agree})
        print(f"logits: {len(ids)} tokens, max rel diff {rel:.2e}, argmax agreement {agree:.3f}")
    res["logits"] = rows

    # 2. perplexity on held-out KJV windows
    _, held = split_kjv(kjv_chapters())
    stream = []
    for c in held:
        stream += tok.encode(c, allow_special=False) + [tok.eot_id]
    T = 128
    nll_t = nll_e = 0.0
    n = 0
    n_win = (len(stream) - 1) // T if a.windows <= 0 else min(a.windows, (len(stream) - 1) // T)
    for w in range(n_win):
        ids = stream[w * T:w * T + T + 1]
        with torch.no_grad():
            t = model(torch.tensor([ids]))[0].numpy()
        e = engine_logits(a.engine, a.model, ids, a.threads)
        lt, k = log_softmax_loss(t, np.array(ids))
        le, _ = log_softmax_loss(e, np.array(ids))
        nll_t += lt
        nll_e += le
        n += k
    res["heldout_kjv"] = {"windows": n_win, "tokens": n,
                          "perplexity_pytorch": math.exp(nll_t / n),
                          "perplexity_engine": math.exp(nll_e / n)}
    print(f"held-out KJV perplexity over {n} tokens: PyTorch {math.exp(nll_t / n):.3f}, "
          f"engine {math.exp(nll_e / n):.3f}")

    # 3. addition accuracy through the chat format
    held_add = json.load(open(os.path.join(HERE, "heldout_additions.json")))["pairs"]
    if a.questions:
        held_add = held_add[:a.questions]
    for system in (True, False):
        ok, wrong = 0, []
        for x, y, s in held_add:
            cmd = [a.engine, "run", "-m", a.model, "-t", str(a.threads), "--chat", "--temp", "0",
                   "-n", "48", "-p", f"What is {x} + {y}?"]
            if system:
                cmd += ["--system", SYSTEM]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            nums = re.findall(r"-?\d+", out)
            if nums and int(nums[-1]) == s:
                ok += 1
            else:
                wrong.append({"a": x, "b": y, "answer": out})
        key = "with_system_prompt" if system else "without_system_prompt"
        res["addition_" + key] = {"accuracy": ok / len(held_add), "n": len(held_add),
                                  "wrong": wrong[:20]}
        print(f"engine addition accuracy ({key.replace('_', ' ')}): {ok}/{len(held_add)} "
              f"= {ok / len(held_add):.3f}")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    json.dump(res, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
