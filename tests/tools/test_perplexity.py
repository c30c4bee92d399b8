"""`smallthinker perplexity`: llama.cpp's method (chunks of n_ctx tokens from an empty KV cache,
the second half of each scored; PPL = exp(mean NLL) +/- PPL * stderr(NLL)) checked against
independent computations of the same chunked NLL:
  * SmallThinker-Nano against its PyTorch implementation (train/model.py loading the same GGUF,
    text tokenized by train/tokenizer.py): agreement to 1e-3 relative;
  * a tiny synthetic f32 model against the numpy reference (tests/reference/reference.py, float64).
The printed +/- is checked against the formula applied to the oracle's per-token NLLs."""
import math
import os
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("ST_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import reference  # noqa: E402
from harness import Results, st_bin  # noqa: E402

TEXT = """In the beginning God created the heaven and the earth. And the earth was without form, and void;
and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.
And God said, Let there be light: and there was light. And God saw the light, that it was good: and God
divided the light from the darkness. And God called the light Day, and the darkness he called Night.
And the evening and the morning were the first day.
And God said, Let there be a firmament in the midst of the waters, and let it divide the waters from the
waters. And God made the firmament, and divided the waters which were under the firmament from the
waters which were above the firmament: and it was so. And God called the firmament Heaven. And the
evening and the morning were the second day.
And God said, Let the waters under the heaven be gathered together unto one place, and let the dry land
appear: and it was so. And God called the dry land Earth; and the gathering together of the waters called
he Seas: and God saw that it was good. And God said, Let the earth bring forth grass, the herb yielding
seed, and the fruit tree yielding fruit after his kind, whose seed is in itself, upon the earth: and it
was so. And the earth brought forth grass, and herb yielding seed after his kind, and the tree yielding
fruit, whose seed was in itself, after his kind: and God saw that it was good. And the evening and the
morning were the third day.
And God said, Let there be lights in the firmament of the heaven to divide the day from the night; and
let them be for signs, and for seasons, and for days, and years: And let them be for lights in the
firmament of the heaven to give light upon the earth: and it was so. And God made two great lights; the
greater light to rule the day, and the lesser light to rule the night: he made the stars also.
"""


def chunked_nll(logits_fn, tokens, n_ctx):
    """Per-token NLLs of llama.cpp's scheme: chunk c = tokens[c*n_ctx:(c+1)*n_ctx]; the logits
    at positions n_ctx/2 .. n_ctx-2 predict the next token."""
    nll = []
    first = n_ctx // 2
    for c in range(len(tokens) // n_ctx):
        chunk = tokens[c * n_ctx:(c + 1) * n_ctx]
        lg = np.asarray(logits_fn(chunk), dtype=np.float64)
        for j in range(first, n_ctx - 1):
            row = lg[j]
            m = row.max()
            nll.append(m + math.log(np.exp(row - m).sum()) - row[chunk[j + 1]])
    return np.array(nll)


def ppl_and_error(nll):
    mean = nll.mean()
    var = (nll ** 2).mean() - mean ** 2
    return math.exp(mean), math.exp(mean) * math.sqrt(var / (len(nll) - 1))


def parse(out):
    m = re.search(r"PPL = ([0-9.]+) \+/- ([0-9.]+)", out)
    chunks = re.findall(r"\[(\d+)\]([0-9.]+),", out)
    return (float(m.group(1)), float(m.group(2))) if m else (None, None), chunks


def engine_tokens(binary, model, text):
    r = subprocess.run([binary, "tokenize", "-m", model, "-p", text, "--ids", "--no-special"],
                       capture_output=True, text=True, check=True)
    return [int(x) for x in r.stdout.strip().strip("[]").split(",") if x]


def check_against(res, name, binary, model, text_file, n_ctx, extra, ref_nll, tol):
    r = subprocess.run([binary, "perplexity", model, text_file, "-c", str(n_ctx), "-t", "2"] + extra,
                       capture_output=True, text=True, timeout=300)
    if not res.check(name + ": perplexity exits 0", r.returncode == 0, r.stderr[-1500:]):
        return
    (ppl, err), chunks = parse(r.stdout)
    want_ppl, want_err = ppl_and_error(ref_nll)
    res.check(name + ": prints `PPL = X +/- Y`", ppl is not None, r.stdout[-300:])
    if ppl is None:
        return
    rel = abs(ppl - want_ppl) / want_ppl
    res.check(name + ": PPL %.4f vs oracle %.4f (rel %.1e, limit %.0e)" % (ppl, want_ppl, rel, tol), rel <= tol)
    rel_err = abs(err - want_err) / want_err
    res.check(name + ": +/- %.5f vs PPL * stderr(NLL) of the oracle %.5f (rel %.1e)" % (err, want_err, rel_err),
              rel_err <= max(10 * tol, 2e-3))
    n_chunks = len(ref_nll) // (n_ctx - 1 - n_ctx // 2)
    res.check(name + ": one [i]ppl progress value per chunk, the last equal to the final PPL",
              [int(i) for i, _ in chunks] == list(range(1, n_chunks + 1)) and
              abs(float(chunks[-1][1]) - ppl) <= 1e-4 * ppl, str(chunks))


def main():
    res = Results("perplexity")
    binary = st_bin(res)
    if not binary:
        res.finish()
    tmp = tempfile.mkdtemp(prefix="st_ppl_")
    text_file = os.path.join(tmp, "genesis.txt")
    with open(text_file, "w") as f:
        f.write(TEXT)

    # 1. A tiny synthetic f32 model against the float64 numpy reference (f32 KV cache).
    synth = os.path.join(tmp, "tiny.gguf")
    subprocess.run([binary, "synth", "-o", synth, "--preset", "tiny-swa", "--type", "f32", "--seed", "11"],
                   check=True, capture_output=True)
    toks = engine_tokens(binary, synth, TEXT)
    n_ctx = 64
    ref = reference.load(synth)
    nll = chunked_nll(lambda c: ref.forward(c), toks[:3 * n_ctx], n_ctx)  # --chunks 3
    check_against(res, "tiny (numpy reference)", binary, synth, text_file, n_ctx, ["--kv-f32", "-b", "16", "--chunks", "3"],
                  nll, 1e-5)

    # 2. SmallThinker-Nano against its PyTorch implementation.
    nano = os.path.join(ROOT, "models", "smallthinker-nano.gguf")
    if res.check("nano model present", os.path.isfile(nano), nano):
        sys.path.insert(0, os.path.join(ROOT, "train"))
        import torch  # noqa: E402
        from export import load_gguf  # noqa: E402
        torch.set_num_threads(2)
        model, tok = load_gguf(nano)
        model.eval()
        toks = tok.encode(TEXT, allow_special=False)
        res.check("nano: engine and PyTorch tokenizers agree on the text", engine_tokens(binary, nano, TEXT) == toks,
                  "%d tokens" % len(toks))
        n_ctx = 128

        def torch_logits(chunk):
            with torch.no_grad():
                return model(torch.tensor([chunk]))[0].double().numpy()

        nll = chunked_nll(torch_logits, toks, n_ctx)
        res.check("nano: the text makes %d chunks of %d" % (len(toks) // n_ctx, n_ctx), len(toks) // n_ctx >= 2)
        check_against(res, "nano (PyTorch)", binary, nano, text_file, n_ctx, ["-b", "48"], nll, 1e-3)

    # 3. Too little text for one chunk: a clear error.
    r = subprocess.run([binary, "perplexity", synth, text_file, "-c", "4096"], capture_output=True, text=True)
    res.check("text shorter than one chunk: error naming the fix", r.returncode == 1 and "-c" in r.stderr, r.stderr.strip())
    res.finish()


if __name__ == "__main__":
    main()
