#include "text/pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace st {
namespace {

std::vector<std::string> split(std::string_view text) {
  static const Pretokenizer pre;
  std::vector<std::string> out;
  for (auto piece : pre.split(text)) out.emplace_back(piece);
  return out;
}
using V = std::vector<std::string>;

TEST(Pretokenizer, WordsKeepTheirLeadingSpace) {
  EXPECT_EQ(split(""), V{});
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("Hello, world!"), (V{"Hello", ",", " world", "!"}));
}

TEST(Pretokenizer, ContractionsMatchInAnyAsciiCase) {
  EXPECT_EQ(split("it's"), (V{"it", "'s"}));
  EXPECT_EQ(split("IT'S"), (V{"IT", "'S"}));
  EXPECT_EQ(split("we'Re they'vE I'M you'LL he'D don'T"),
            (V{"we", "'Re", " they", "'vE", " I", "'M", " you", "'LL", " he", "'D", " don", "'T"}));
  EXPECT_EQ(split("'SS"), (V{"'S", "S"}));   // the contraction wins over "'" + letters
  EXPECT_EQ(split("'x"), (V{"'x"}));         // not a contraction: punctuation joins the word
  EXPECT_EQ(split("x'LLy"), (V{"x", "'LL", "y"}));
  EXPECT_EQ(split(" 's"), (V{" '", "s"}));   // " ?[^\s\p{L}\p{N}]+" takes the space first
}

TEST(Pretokenizer, DigitsAreSingle) {
  EXPECT_EQ(split("12345"), (V{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(split("x=10;"), (V{"x", "=", "1", "0", ";"}));
  EXPECT_EQ(split("\xD9\xA3\xD9\xA4"), (V{"\xD9\xA3", "\xD9\xA4"}));  // Arabic-Indic digits are \p{N}
  EXPECT_EQ(split("\xC2\xBD"), (V{"\xC2\xBD"}));                      // ½ is \p{N} too
}

TEST(Pretokenizer, WhitespaceRuns) {
  EXPECT_EQ(split("   hello"), (V{"  ", " hello"}));  // \s+(?!\S) leaves the last space to the word
  EXPECT_EQ(split("hello   "), (V{"hello", "   "}));
  EXPECT_EQ(split("a\n\nb"), (V{"a", "\n\n", "b"}));
  EXPECT_EQ(split("a \n b"), (V{"a", " \n", " b"}));
  EXPECT_EQ(split("a\r\nb"), (V{"a", "\r\n", "b"}));
  EXPECT_EQ(split("a\t\t b"), (V{"a", "\t\t", " b"}));
  EXPECT_EQ(split("  ..."), (V{" ", " ..."}));
  EXPECT_EQ(split("hello!!!\n\nworld"), (V{"hello", "!!!\n\n", "world"}));
  EXPECT_EQ(split("    Hello\n    Hello"), (V{"   ", " Hello", "\n", "   ", " Hello"}));
}

TEST(Pretokenizer, UnicodeLettersAndPunctuation) {
  EXPECT_EQ(split("\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96"),  // 你好，世
            (V{"\xE4\xBD\xA0\xE5\xA5\xBD", "\xEF\xBC\x8C\xE4\xB8\x96"}));
  EXPECT_EQ(split("\xC2\xA0x"), (V{"\xC2\xA0x"}));  // NBSP is neither \r, \n, L nor N
  EXPECT_EQ(split("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD ok"), (V{"\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", " ok"}));
}

// \s is Unicode White_Space (as in Oniguruma), not JavaScript's \s: U+0085 is a space and
// U+FEFF is not. These two inputs split differently under the other definition.
TEST(Pretokenizer, WhiteSpaceIsTheUnicodeProperty) {
  EXPECT_EQ(split("a \xEF\xBB\xBF\xEF\xBB\xBF" "b"), (V{"a", " \xEF\xBB\xBF\xEF\xBB\xBF", "b"}));
  EXPECT_EQ(split("a\xC2\x85\xC2\x85" "b"), (V{"a", "\xC2\x85", "\xC2\x85" "b"}));
  EXPECT_EQ(split("a\xE3\x80\x80\xE3\x80\x80" "b"), (V{"a", "\xE3\x80\x80", "\xE3\x80\x80" "b"}));
}

TEST(Pretokenizer, PiecesCoverLongInputs) {
  // Long runs must neither overflow the JIT stack nor go quadratic.
  const std::string spaces(1 << 20, ' ');
  std::string total;
  for (const auto& p : split(spaces + "x")) total += p;
  EXPECT_EQ(total, spaces + "x");
  const std::string mixed = std::string(100000, '!') + std::string(100000, '\n') + std::string(100000, 'a');
  total.clear();
  for (const auto& p : split(mixed)) total += p;
  EXPECT_EQ(total, mixed);
}

}  // namespace
}  // namespace st
