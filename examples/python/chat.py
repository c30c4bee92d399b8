"""Asks a SmallThinker model one question from Python and streams the answer (the API is
llama-cpp-python's: only the import differs).
    python3 chat.py MODEL.gguf [QUESTION] [MAX_TOKENS]
Needs the package: `pip install --no-build-isolation .` at the repository root. Greedy
decoding, so the answer equals `smallthinker run --chat --temp 0`."""
import sys

from smallthinker import Llama  # was: from llama_cpp import Llama


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: %s MODEL.gguf [QUESTION] [MAX_TOKENS]" % sys.argv[0], file=sys.stderr)
        return 2
    question = sys.argv[2] if len(sys.argv) > 2 else "Who made the heaven and the earth?"
    max_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    llm = Llama(model_path=sys.argv[1], n_ctx=1024)
    stream = llm.create_chat_completion([{"role": "user", "content": question}], max_tokens=max_tokens,
                                        temperature=0, stream=True)
    for chunk in stream:
        print(chunk["choices"][0]["delta"].get("content", ""), end="", flush=True)
    print()
    stats = llm.runtime_stats()
    print("ReGLU outputs exactly zero: %.1f%%" % (100.0 * stats["reglu_zero"] / max(1, stats["reglu_neurons"])),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
