"""Fixtures of the Python package's tests: the CLI (the oracle: it links the static library,
not libsmallthinker.so, and has its own generation loop) and the nano model.
Environment: ST_BIN (build/bin/smallthinker), ST_SOURCE_DIR (the repository)."""
import os
import subprocess

import pytest

SOURCE = os.environ.get("ST_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("ST_BIN") or os.path.join(SOURCE, "build", "bin", "smallthinker")
    if not os.path.exists(path):
        pytest.fail("the CLI is not at %s (set ST_BIN)" % path)

    def run(*args, check=True):
        r = subprocess.run([path] + [str(a) for a in args], capture_output=True, timeout=300)
        if check and r.returncode != 0:
            raise AssertionError("smallthinker %s failed: %s" % (" ".join(map(str, args)), r.stderr.decode()))
        return r
    return run


@pytest.fixture(scope="session")
def model_path():
    return os.path.join(SOURCE, "models", "smallthinker-nano.gguf")


@pytest.fixture(scope="session")
def llm(model_path):
    from smallthinker import Llama
    return Llama(model_path=model_path, n_ctx=1024, n_threads=2, seed=1)
