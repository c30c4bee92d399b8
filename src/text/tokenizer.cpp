// Tokenizer core: indexing the vocabulary, encode and decode. The loaders live in
// tokenizer_gguf.cpp and tokenizer_hf.cpp; both only fill a TokenizerData.
#include "text/tokenizer.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <unordered_map>

#include "text/added_tokens.h"
#include "text/bpe.h"
#include "text/byte_unicode.h"
#include "text/pretokenizer.h"
#include "text/utf8.h"

namespace st {

struct Tokenizer::Index {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string_view, int32_t, Hash, std::equal_to<>> ids;  // views into data_.tokens
};

Tokenizer::Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

namespace {

[[noreturn]] void fail(const TokenizerData& d, const std::string& what) {
  throw TokenizerError(d.source + ": " + what);
}

std::string hex_byte(int b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return {kHex[(b >> 4) & 15], kHex[b & 15]};
}

}  // namespace

Tokenizer Tokenizer::from_data(TokenizerData data) {
  Tokenizer t;
  if (data.tokens.empty()) fail(data, "the vocabulary is empty");
  if (data.types.empty()) data.types.assign(data.tokens.size(), TokenType::Normal);
  if (data.types.size() != data.tokens.size()) {
    fail(data, "token_type has " + std::to_string(data.types.size()) + " entries but there are " +
                   std::to_string(data.tokens.size()) + " tokens");
  }
  if (data.pre != "qwen2") fail(data, "unsupported pre-tokenizer '" + data.pre + "' (only qwen2 is implemented)");
  const auto n = static_cast<int32_t>(data.tokens.size());
  for (int32_t* id : {&data.bos_id, &data.eos_id, &data.eot_id, &data.pad_id}) {
    if (*id >= n) fail(data, "special token id " + std::to_string(*id) + " is outside the vocabulary");
    if (*id < 0) *id = -1;
  }
  t.data_ = std::move(data);
  const TokenizerData& d = t.data_;

  // String -> id. The first id wins when a string repeats (only padding could repeat).
  t.index_ = std::make_unique<Index>();
  t.index_->ids.reserve(d.tokens.size());
  for (int32_t id = 0; id < n; ++id) t.index_->ids.emplace(d.tokens[id], id);

  // What each id decodes to. Normal tokens go back through the byte mapping; a Normal token
  // that is not byte-mapped text (a hand-written vocabulary) decodes to its string as is.
  t.bytes_.resize(d.tokens.size());
  t.added_ = std::make_unique<AddedTokenMatcher>();
  for (int32_t id = 0; id < n; ++id) {
    const std::string& text = d.tokens[id];
    switch (d.types[id]) {
      case TokenType::Normal:
        if (!byte_unicode::decode(text, t.bytes_[id])) t.bytes_[id] = text;
        break;
      case TokenType::Control:
      case TokenType::UserDefined:
        t.bytes_[id] = text;
        t.added_->add(text, id, d.types[id] == TokenType::Control);
        break;
      case TokenType::Byte:  // "<0xAB>"
        if (int v = 0; text.size() == 6 && text.starts_with("<0x") && text.back() == '>' &&
                       std::from_chars(text.data() + 3, text.data() + 5, v, 16).ptr == text.data() + 5) {
          t.bytes_[id] = std::string(1, static_cast<char>(v));
        }
        break;
      default:  // Unknown, Unused, Undefined: nothing to print
        break;
    }
  }

  std::array<int32_t, 256> byte_tokens{};
  for (int b = 0; b < 256; ++b) {
    const auto mapped = byte_unicode::encode_byte(static_cast<uint8_t>(b));
    const auto id = t.token_id(mapped);
    if (!id || d.types[*id] != TokenType::Normal) {
      fail(d, "byte-level BPE needs a Normal token for every byte, but byte 0x" + hex_byte(b) + " ('" +
                  std::string(mapped) + "') has none");
    }
    byte_tokens[b] = *id;
  }

  std::vector<BpeMerge> merges;
  merges.reserve(d.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < d.merges.size(); ++rank) {
    const std::string& m = d.merges[rank];
    const size_t space = m.find(' ', 1);  // tokens of a byte-level vocabulary never contain ' '
    if (space == std::string::npos) fail(d, "merge " + std::to_string(rank) + " ('" + m + "') is not 'left right'");
    const std::string_view left(m.data(), space), right(m.data() + space + 1, m.size() - space - 1);
    joined.assign(left).append(right);
    const auto l = t.token_id(left), r = t.token_id(right), res = t.token_id(joined);
    if (!l || !r || !res) fail(d, "merge " + std::to_string(rank) + " ('" + m + "') names a token not in the vocabulary");
    merges.push_back(BpeMerge{*l, *r, *res});
  }
  t.bpe_ = std::make_unique<BpeModel>(byte_tokens, merges);
  t.pre_ = std::make_unique<Pretokenizer>();

  for (int32_t id : {d.eos_id, d.eot_id}) {
    if (id >= 0) t.eog_ids_.push_back(id);
  }
  for (std::string_view s : {"<|endoftext|>", "<|im_end|>"}) {
    if (auto id = t.token_id(s); id && d.types[*id] == TokenType::Control) t.eog_ids_.push_back(*id);
  }
  std::sort(t.eog_ids_.begin(), t.eog_ids_.end());
  t.eog_ids_.erase(std::unique(t.eog_ids_.begin(), t.eog_ids_.end()), t.eog_ids_.end());
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode(text, out, parse_special);
  return out;
}

void Tokenizer::encode(std::string_view text, std::vector<int32_t>& out, bool parse_special) const {
  std::string sanitized;
  if (!utf8::is_valid(text)) {
    sanitized = utf8::sanitize(text);
    text = sanitized;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    const auto match = added_->find(text, pos, parse_special);
    const size_t end = match ? match->pos : text.size();
    if (end > pos) encode_segment(text.substr(pos, end - pos), out);
    if (!match) break;
    out.push_back(match->id);
    pos = match->pos + match->length;
  }
}

void Tokenizer::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
  // Normalization runs per segment between added tokens, as in the tokenizers library (added
  // tokens are matched on the raw text and are not normalized).
  std::string normalized;
  if (data_.normalize_nfc && !utf8::is_ascii(text)) {
    normalized = utf8::nfc(text);
    text = normalized;
  }
  Pretokenizer::Cursor cursor(*pre_, text);
  std::string_view piece;
  while (cursor.next(piece)) bpe_->encode_piece(piece, out);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool show_control) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= n_vocab()) continue;
    if (!show_control && data_.types[id] == TokenType::Control) continue;
    out += bytes_[id];
  }
  return out;
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= n_vocab()) throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary");
  return bytes_[id];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= n_vocab()) throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary");
  return data_.tokens[id];
}

TokenType Tokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= n_vocab()) throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary");
  return data_.types[id];
}

std::optional<int32_t> Tokenizer::token_id(std::string_view vocabulary_string) const {
  const auto it = index_->ids.find(vocabulary_string);
  if (it == index_->ids.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::is_eog(int32_t id) const {
  return std::find(eog_ids_.begin(), eog_ids_.end(), id) != eog_ids_.end();
}

}  // namespace st
