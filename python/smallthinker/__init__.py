"""smallthinker: run SmallThinker MoE models from Python (ctypes over libsmallthinker.so).

The API follows llama-cpp-python, so code written for it ports by changing the import:

    from smallthinker import Llama
    llm = Llama(model_path="models/smallthinker-nano.gguf", n_ctx=1024, memory="1GiB")
    print(llm("Once upon a time", max_tokens=32)["choices"][0]["text"])
    for chunk in llm.create_chat_completion([{"role": "user", "content": "Hello"}], stream=True):
        print(chunk["choices"][0]["delta"].get("content", ""), end="", flush=True)
"""
from ._ffi import SmallThinkerError, version
from .llama import LLAMA_DEFAULT_SEED, Llama, LlamaState, parse_memory

__all__ = ["Llama", "LlamaState", "LLAMA_DEFAULT_SEED", "SmallThinkerError", "parse_memory", "version"]
__version__ = "0.1.0"
