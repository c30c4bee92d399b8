// UTF-8 validation by the byte ranges of Unicode Table 3-7 (well-formed byte sequences), so
// overlongs, surrogates and values above U+10FFFF are rejected at the first byte that makes
// them impossible; that same table defines the maximal subparts replaced by U+FFFD.
#include "text/utf8.h"

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <utf8proc.h>

namespace st::utf8 {
namespace {

struct LeadInfo {
  int length;         // total sequence length, 0 when the byte can never start a sequence
  uint8_t second_lo;  // allowed range of the second byte (Table 3-7 narrows it for E0, ED, F0, F4)
  uint8_t second_hi;
};

LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // excludes the surrogates D800..DFFF
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // caps at U+10FFFF
  return {0, 0, 0};                        // 80..C1 and F5..FF
}

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Number of bytes after the lead that fit the pattern (stops at the first misfit or the end).
size_t matched_tail(std::string_view s, size_t pos, const LeadInfo& info) {
  size_t n = 0;
  for (int i = 1; i < info.length; ++i) {
    if (pos + i >= s.size()) break;
    const auto b = static_cast<uint8_t>(s[pos + i]);
    const bool ok = (i == 1) ? (b >= info.second_lo && b <= info.second_hi) : is_continuation(b);
    if (!ok) break;
    ++n;
  }
  return n;
}

}  // namespace

void append(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t valid_sequence_length(std::string_view s, size_t pos, char32_t* cp) {
  if (pos >= s.size()) return 0;
  const auto lead = static_cast<uint8_t>(s[pos]);
  const LeadInfo info = lead_info(lead);
  if (info.length == 0) return 0;
  if (matched_tail(s, pos, info) + 1 != static_cast<size_t>(info.length)) return 0;
  if (cp) {
    static constexpr uint8_t kLeadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    char32_t v = lead & kLeadMask[info.length];
    for (int i = 1; i < info.length; ++i) v = (v << 6) | (static_cast<uint8_t>(s[pos + i]) & 0x3F);
    *cp = v;
  }
  return static_cast<size_t>(info.length);
}

size_t maximal_subpart_length(std::string_view s, size_t pos) {
  const LeadInfo info = lead_info(static_cast<uint8_t>(s[pos]));
  if (info.length == 0) return 1;
  return 1 + matched_tail(s, pos, info);
}

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

bool is_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = valid_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = valid_sequence_length(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append(kReplacementUtf8);
      i += maximal_subpart_length(s, i);
    }
  }
  return out;
}

size_t complete_prefix_length(std::string_view s) {
  // Only the last (at most 3) bytes can be an unfinished sequence: find the last lead byte and
  // check whether the bytes after it are a proper prefix of a sequence it starts.
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t pos = n - back;
    const auto b = static_cast<uint8_t>(s[pos]);
    if (is_continuation(b)) continue;
    const LeadInfo info = lead_info(b);
    if (info.length > static_cast<int>(back) && matched_tail(s, pos, info) + 1 == back) return pos;
    return n;
  }
  return n;
}

std::string nfc(std::string_view s) {
  if (is_ascii(s)) return std::string(s);  // ASCII is always NFC; skips a copy through utf8proc
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw std::invalid_argument(std::string("NFC normalization failed: ") + utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(dst, &std::free);
  return std::string(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
}

}  // namespace st::utf8
