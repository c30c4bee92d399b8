#!/usr/bin/python3
"""Dump the PyTorch model's logits for a token sequence (to compare with `smallthinker logits`).

  /usr/bin/python3 train/torch_logits.py models/smallthinker-nano.gguf --tokens 1,2,3 -o out.f32
  /usr/bin/python3 train/torch_logits.py train/out/stage3.pt --prompt "Hello" -o out.f32

MODEL is a GGUF file (loaded back into the PyTorch model, weights exactly as stored) or a training
checkpoint (*.pt; then the big matrices are rounded to f16 as the export does, unless --no-round).
Writes raw little-endian float32 [n_tokens x n_vocab], the logits at every position, computed in
one causal pass from position 0. --gating overrides the router gating (softmax|sigmoid).
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import load_gguf, round_to_file_precision  # noqa: E402
from model import Config, SmallThinker  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402


def load(path, no_round=False):
    if path.endswith(".gguf"):
        return load_gguf(path)
    ck = torch.load(path)
    m = SmallThinker(Config(**ck["cfg"]))
    m.load_state_dict(ck["model"])
    round_to_file_precision(m, not no_round)
    tok = Tokenizer.load(os.path.join(os.path.dirname(path), "tokenizer_merges.json"))
    return m, tok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tokens", help="comma-separated token ids")
    ap.add_argument("--prompt", help="text to tokenize instead (special tokens recognised)")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--gating", choices=["softmax", "sigmoid"])
    ap.add_argument("--no-round", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, tok = load(a.model, a.no_round)
    if a.gating:
        model.cfg.gating = a.gating
    model.eval()
    if a.tokens:
        ids = [int(t) for t in a.tokens.replace(" ", "").split(",") if t]
    elif a.prompt is not None:
        ids = tok.encode(a.prompt)
    else:
        ap.error("give --tokens or --prompt")
    with torch.no_grad():
        logits = model(torch.tensor([ids], dtype=torch.long))[0]
    arr = logits.numpy().astype("<f4")
    arr.tofile(a.out)
    print(f"{len(ids)} tokens x {arr.shape[1]} vocab -> {a.out}; argmax of last position: "
          f"{int(arr[-1].argmax())} {tok.decode([int(arr[-1].argmax())])!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
