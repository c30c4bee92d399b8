// Tokenizer metadata for synthetic models.
#pragma once
#include <cstdint>
#include <string>

namespace st {
class GgufWriter;
}

namespace smallthinker {

// Writes tokenizer.ggml.* keys for an n_vocab model: from a HF tokenizer.json when a path is
// given (its vocabulary must fit in n_vocab; the rest is padding), else a built-in byte-level
// vocabulary (256 byte tokens, a few merges, the ChatML special tokens, then padding).
void add_synth_vocab(st::GgufWriter& writer, int64_t n_vocab, const std::string& tokenizer_json);

}  // namespace smallthinker
