// libFuzzer target: arbitrary bytes through the whole tokenizer (with the tiny hand-built
// vocabulary, which exercises the same BPE, regex, NFC and special-token code as the real
// one), checking invariants rather than only "no crash":
//  - encode never throws; decode(encode(x)) == NFC(sanitize(x)) when x has no added token;
//  - the pre-tokenizer's pieces cover the text exactly;
//  - streaming decode == sanitize(decode) and is valid UTF-8 at every step;
//  - the linear and heap BPE strategies agree;
//  - ChatML encoding of the bytes as content decodes back to the rendered text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../text/tiny_vocab.h"
#include "text/bpe.h"
#include "text/chat_template.h"
#include "text/pretokenizer.h"
#include "text/stream_decoder.h"
#include "text/utf8.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

const st::Tokenizer& tokenizer() {
  static const st::Tokenizer t = st::testing::tiny_tokenizer();
  return t;
}

const st::BpeModel& small_bpe() {
  static const st::BpeModel bpe = [] {
    std::array<int32_t, 256> bytes{};
    for (int i = 0; i < 256; ++i) bytes[i] = i;
    // A fixed pseudo-random merge table over 'a'..'d' with many equal-looking chains.
    std::vector<st::BpeMerge> merges;
    std::vector<int32_t> symbols = {'a', 'b', 'c', 'd'};
    uint32_t x = 12345;
    for (int32_t next = 256; next < 320; ++next) {
      x = x * 1103515245u + 12345u;
      const int32_t l = symbols[(x >> 8) % symbols.size()];
      x = x * 1103515245u + 12345u;
      const int32_t r = symbols[(x >> 8) % symbols.size()];
      merges.push_back({l, r, next});
      symbols.push_back(next);
    }
    return st::BpeModel(bytes, merges);
  }();
  return bpe;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const st::Tokenizer& tok = tokenizer();
  const std::string clean = st::utf8::sanitize(input);
  check(st::utf8::is_valid(clean), "sanitize gives valid UTF-8");

  for (bool special : {true, false}) {
    const auto ids = tok.encode(input, special);
    const std::string decoded = tok.decode(ids);
    check(st::utf8::is_valid(decoded), "decoded text is valid UTF-8");
    if (input.find('<') == std::string_view::npos) {
      check(decoded == st::utf8::nfc(clean), "decode(encode(x)) == NFC(sanitize(x))");
    }
    st::StreamDecoder stream(tok, /*show_control=*/true);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string part = stream.push(id);
      check(st::utf8::is_valid(part), "streamed text is valid UTF-8");
      streamed += part;
    }
    streamed += stream.flush();
    check(streamed == st::utf8::sanitize(decoded), "streaming == whole decode");
  }

  static const st::Pretokenizer pre;
  std::string joined;
  for (auto piece : pre.split(clean)) {
    check(!piece.empty(), "no empty pieces");
    joined += piece;
  }
  check(joined == clean, "pieces cover the text");

  std::vector<int32_t> a;
  // The linear scan is quadratic (it is only used for short words): keep this input short.
  for (char c : input.substr(0, 300)) a.push_back('a' + (static_cast<uint8_t>(c) & 3));
  auto b = a;
  small_bpe().merge_linear(a);
  small_bpe().merge_heap(b);
  check(a == b, "linear and heap BPE agree");

  const st::ChatTemplate chat;
  const std::vector<st::ChatMessage> messages = {{"user", clean}};
  check(tok.decode(chat.encode(tok, messages)) == chat.render(messages) ||
            clean != st::utf8::nfc(clean),
        "ChatML ids decode to the rendered text");
  return 0;
}
