// The statistics pictures' SVG writer: escaping, colour scale, axis ticks, document shape.
#include "tools/svg.h"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

namespace st::svg {
namespace {

TEST(Svg, EscapesMarkupAndControlCharacters) {
  EXPECT_EQ(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(escape(std::string("x\x01y\tz")), "x y\tz");  // XML 1.0 forbids most control characters
}

TEST(Svg, SequentialColourRunsFromDarkToYellowAndClamps) {
  EXPECT_EQ(sequential_colour(0), "#440154");
  EXPECT_EQ(sequential_colour(1), "#fde725");
  EXPECT_EQ(sequential_colour(-3), "#440154");
  EXPECT_EQ(sequential_colour(7), "#fde725");
  EXPECT_EQ(sequential_colour(0.5), "#21918c");  // the middle anchor
  EXPECT_EQ(sequential_colour(std::numeric_limits<double>::quiet_NaN()), "#440154");
}

TEST(Svg, NiceTicksUseRoundSteps) {
  const auto unit = nice_ticks(0, 1, 6);  // step 0.2
  ASSERT_EQ(unit.size(), 6u);
  for (size_t i = 0; i < unit.size(); ++i) EXPECT_NEAR(unit[i], 0.2 * static_cast<double>(i), 1e-12);
  const auto t = nice_ticks(0, 0.37, 6);  // step 0.1: 0 .. 0.3
  ASSERT_EQ(t.size(), 4u);
  EXPECT_NEAR(t[3], 0.3, 1e-12);
  EXPECT_EQ(nice_ticks(0, 100, 11).size(), 11u);  // step 10
  EXPECT_EQ(nice_ticks(5, 5, 6).size(), 1u);      // empty range: no division by zero
}

TEST(Svg, FormatNumberDropsTrailingZeros) {
  EXPECT_EQ(format_number(2.5), "2.5");
  EXPECT_EQ(format_number(3.0), "3");
  EXPECT_EQ(format_number(0.12345, 3), "0.123");
  EXPECT_EQ(format_number(-0.0001, 2), "0");
}

TEST(Svg, DocumentIsWellFormed) {
  Document d(200, 100);
  d.begin_group({{"class", "row"}, {"data-layer", "0"}});
  d.rect(1, 2, 3, 4, "#ff0000", {{"class", "cell"}}, "tip <1>");
  d.end_group();
  d.polyline({{0, 0}, {10.5, 20.25}}, "#000", 2, {{"class", "series"}});
  d.text(5, 5, "a & b", 10, "middle", {}, -90);
  d.horizontal_gradient("g", {{0, "#000000"}, {1, "#ffffff"}});
  const std::string s = d.str();
  EXPECT_NE(s.find("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"100\""), std::string::npos);
  EXPECT_NE(s.find("<title>tip &lt;1&gt;</title></rect>"), std::string::npos);
  EXPECT_NE(s.find("points=\"0,0 10.5,20.25\""), std::string::npos);
  EXPECT_NE(s.find(">a &amp; b</text>"), std::string::npos);
  EXPECT_NE(s.find("transform=\"rotate(-90 5 5)\""), std::string::npos);
  EXPECT_LT(s.find("<defs>"), s.find("<g class=\"row\""));
  EXPECT_EQ(s.substr(s.size() - 7), "</svg>\n");
}

TEST(Svg, UnbalancedGroupsAreProgrammingErrors) {
  Document d(10, 10);
  EXPECT_THROW(d.end_group(), std::logic_error);
  d.begin_group({});
  EXPECT_THROW(d.str(), std::logic_error);
}

}  // namespace
}  // namespace st::svg
