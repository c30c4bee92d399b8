// Qwen2 byte-level BPE tokenizer (SmallThinker's), loaded from GGUF metadata or from a Hugging
// Face tokenizer.json. Encoding, in the order the tokenizers library applies it:
//   1. ill-formed UTF-8 -> U+FFFD per maximal subpart (rule in text/utf8.h), never an error;
//   2. added tokens are cut out of the raw text (leftmost, then longest); control tokens only
//      when parse_special is true, so untrusted text cannot inject <|im_start|>;
//   3. each remaining segment is NFC-normalized, split by the Qwen2 regex (text/pretokenizer.h),
//      and every piece is merged by BPE (text/bpe.h) over the GPT-2 byte mapping.
// No BOS is prepended (Qwen2 does not use one). A Tokenizer is immutable after loading and
// safe to use from several threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace st {

class GgufFile;
class GgufWriter;
class BpeModel;
class Pretokenizer;
class AddedTokenMatcher;

class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Values as stored in tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,       // a BPE vocabulary entry, stored byte-mapped ("Ġthe")
  Unknown = 2,
  Control = 3,      // special tokens: <|endoftext|>, <|im_start|>, <|im_end|>, ...
  UserDefined = 4,  // added tokens that are plain text: <think>, <tool_call>, ...
  Unused = 5,       // padding entries up to the embedding size
  Byte = 6,         // <0xAB> byte-fallback tokens (not used by byte-level BPE)
};

// Everything a tokenizer is made of, as both loaders produce it and as it is written to GGUF.
struct TokenizerData {
  std::vector<std::string> tokens;  // by id; byte-mapped for Normal tokens, raw text for added ones
  std::vector<TokenType> types;     // same length as tokens
  std::vector<std::string> merges;  // "left right", rank order (rank 0 merges first)
  int32_t bos_id = -1, eos_id = -1, eot_id = -1, pad_id = -1;  // -1: none
  bool normalize_nfc = true;
  std::string pre = "qwen2";       // the pre-tokenizer; only "qwen2" is implemented
  std::string chat_template;       // Jinja source as shipped (used to recognise the format)
  std::string source = "<memory>";  // file name, for error messages
};

class Tokenizer {
 public:
  // Validates and indexes the data. Throws TokenizerError naming `data.source` on a problem
  // (e.g. a merge naming a token that does not exist, a missing single-byte token).
  static Tokenizer from_data(TokenizerData data);
  // tokenizer.ggml.{model,pre,tokens,token_type,merges,*_token_id} and tokenizer.chat_template.
  static Tokenizer from_gguf(const GgufFile& file);
  // A tokenizer.json (model BPE, Qwen2 normalizer and pre-tokenizer). tokenizer_config.json
  // supplies bos/eos/pad and the chat template: `config_path`, or if empty the file of that name
  // next to tokenizer.json when it exists.
  static Tokenizer from_hf_json(const std::string& tokenizer_json_path, const std::string& config_path = "");

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Writes the tokenizer.ggml.* keys and tokenizer.chat_template. With pad_to_n_vocab larger
  // than n_vocab(), "[PAD<id>]" tokens of type Unused fill the gap (embedding rows past the
  // vocabulary, as llama.cpp's converter writes them).
  void to_gguf(GgufWriter& writer, int32_t pad_to_n_vocab = 0) const;
  const TokenizerData& data() const { return data_; }

  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  void encode(std::string_view text, std::vector<int32_t>& out, bool parse_special = true) const;

  // Concatenated bytes of the tokens. Not necessarily valid UTF-8 (a token can hold part of a
  // character); use StreamDecoder or utf8::sanitize for display. Control tokens are included
  // as their text unless show_control is false. Ids outside [0, n_vocab) decode to nothing.
  std::string decode(std::span<const int32_t> ids, bool show_control = true) const;

  // The bytes one token stands for (see decode). Throws std::out_of_range for a bad id.
  const std::string& token_bytes(int32_t id) const;
  // The vocabulary string as stored ("Ġthe", "<|im_end|>"). Throws std::out_of_range.
  const std::string& token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view vocabulary_string) const;

  int32_t n_vocab() const { return static_cast<int32_t>(data_.tokens.size()); }
  int32_t bos_id() const { return data_.bos_id; }
  int32_t eos_id() const { return data_.eos_id; }
  int32_t eot_id() const { return data_.eot_id; }
  int32_t pad_id() const { return data_.pad_id; }
  // End of generation: eos, eot, and <|endoftext|> / <|im_end|> when the vocabulary has them.
  bool is_eog(int32_t id) const;
  const std::vector<int32_t>& eog_ids() const { return eog_ids_; }
  const std::string& chat_template() const { return data_.chat_template; }

 private:
  Tokenizer();
  void encode_segment(std::string_view text, std::vector<int32_t>& out) const;

  TokenizerData data_;
  std::vector<std::string> bytes_;  // by id: what decode() emits
  std::vector<int32_t> eog_ids_;
  struct Index;                     // string -> id map
  std::unique_ptr<Index> index_;
  std::unique_ptr<BpeModel> bpe_;
  std::unique_ptr<Pretokenizer> pre_;
  std::unique_ptr<AddedTokenMatcher> added_;
};

}  // namespace st
