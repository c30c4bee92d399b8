#include "text/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>
#include <string>

namespace st {
namespace {

// The Qwen2 pattern in PCRE2 syntax, with \s spelled out as Unicode White_Space and the
// case-insensitive contractions as ASCII classes (see the header for why).
std::string pcre_pattern() {
  const std::string ws =
      "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
      "\\x{202F}\\x{205F}\\x{3000}";
  return "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"
         "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
         "|\\p{N}"
         "| ?[^" + ws + "\\p{L}\\p{N}]+[\\r\\n]*"
         "|[" + ws + "]*[\\r\\n]+"
         "|[" + ws + "]+(?![^" + ws + "])"
         "|[" + ws + "]+";
}

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

}  // namespace

Pretokenizer::Pretokenizer() {
  const std::string pattern = pcre_pattern();
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw std::logic_error("pre-tokenizer regex does not compile at offset " + std::to_string(err_offset) +
                           ": " + reinterpret_cast<const char*>(msg));
  }
  code_ = code;
  // JIT is an optimisation only: PCRE2 built without it (or a W^X system) still matches.
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Pretokenizer::~Pretokenizer() { pcre2_code_free(as_code(code_)); }

Pretokenizer::Cursor::Cursor(const Pretokenizer& pre, std::string_view text) : pre_(pre), text_(text) {
  match_data_ = pcre2_match_data_create_from_pattern(as_code(pre.code_), nullptr);
  if (!match_data_) throw std::bad_alloc();
}

Pretokenizer::Cursor::~Cursor() { pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_)); }

bool Pretokenizer::Cursor::next(std::string_view& piece) {
  if (pending_end_ > pos_) {
    piece = text_.substr(pending_start_, pending_end_ - pending_start_);
    pos_ = pending_end_;
    return true;
  }
  if (pos_ >= text_.size()) return false;
  auto* md = static_cast<pcre2_match_data*>(match_data_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text_.data());
  // The text was validated once by the caller; re-checking it on every call would make
  // splitting quadratic.
  int rc = pcre2_match(as_code(pre_.code_), subject, text_.size(), pos_, PCRE2_NO_UTF_CHECK, md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    // Pathological input for the JIT's fixed stack: the interpreter keeps its backtracking
    // state on the heap, so retry there instead of failing.
    rc = pcre2_match(as_code(pre_.code_), subject, text_.size(), pos_, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                     nullptr);
  }
  if (rc == PCRE2_ERROR_NOMATCH) {
    piece = text_.substr(pos_);
    pos_ = text_.size();
    return true;
  }
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    throw std::runtime_error(std::string("pre-tokenizer match failed: ") + reinterpret_cast<const char*>(msg));
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
  size_t start = ov[0], end = ov[1];
  if (end == start) {
    // The Qwen2 pattern never matches empty; guard anyway so a loop cannot stall.
    end = start + 1;
    while (end < text_.size() && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) ++end;
  }
  if (start > pos_) {  // unmatched gap: a piece of its own (Split "Isolated" behaviour)
    piece = text_.substr(pos_, start - pos_);
    pending_start_ = start;
    pending_end_ = end;
    pos_ = start;
    return true;
  }
  piece = text_.substr(start, end - start);
  pos_ = end;
  return true;
}

std::vector<std::string_view> Pretokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  Cursor cursor(*this, text);
  std::string_view piece;
  while (cursor.next(piece)) pieces.push_back(piece);
  return pieces;
}

}  // namespace st
