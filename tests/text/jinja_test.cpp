// The chat-template interpreter piece by piece. Expected outputs are Jinja semantics worked by
// hand (as @huggingface/jinja, the byte-for-byte oracle of tests/jinja_js, renders them);
// the limits must turn hostile templates and data into errors, never crashes or hangs.
#include <gtest/gtest.h>

#include <string>

#include "text/jinja/lexer.h"
#include "text/jinja/template.h"
#include "text/jinja/value.h"

namespace st::jinja {
namespace {

using json = nlohmann::ordered_json;

std::string render(const std::string& source, const json& ctx = json::object(), const Limits& limits = {}) {
  return Template(source).render(ctx, limits);
}

// The error a render raises ("" if it rendered).
std::string error_of(const std::string& source, const json& ctx = json::object(), const Limits& limits = {}) {
  try {
    Template(source).render(ctx, limits);
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "";
}

TEST(JinjaLexer, WhitespaceControlAsHuggingFaceRenders) {
  // lstrip_blocks: blanks before a block tag at a line start go; trim_blocks: the newline after it.
  EXPECT_EQ(preprocess("  {% if x %}\nA\n  {% endif %}\nB\n"), "{% if x %}A\n{% endif %}B");
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a \n{%- if true -%}\n b {%- endif %}"), "ab");
  EXPECT_EQ(render("x {#- note -#} y{# kept #}z"), "xyz");
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");
  EXPECT_EQ(render("{{ '\\n\\t\\'\\\"\\\\\\x41\\u00e9' }}"), "\n\t'\"\\A\xC3\xA9");
}

TEST(JinjaLexer, SyntaxErrorsNameTheProblem) {
  EXPECT_NE(error_of("{{ 'open"), "");
  EXPECT_NE(error_of("{% if x %}never closed"), "");
  EXPECT_NE(error_of("{% frobnicate %}"), "");
  EXPECT_NE(error_of("{{ 1 + }}"), "");
  EXPECT_NE(error_of("{{ x $ y }}").find("unexpected character"), std::string::npos);
}

TEST(JinjaExpressions, ArithmeticAndNumbersPrintLikeTheReference) {
  EXPECT_EQ(render("{{ 1 + 2 }} {{ 7 // 2 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1.0 }} {{ 3 * 1.5 }} {{ 0.1 + 0.2 }}"),
            "3 3 3.5 1024 1.0 4.5 0.30000000000000004");
  EXPECT_EQ(render("{{ -7 % 3 }} {{ 1 / 3 }} {{ 100000000000000000000.0 }} {{ 1000000000000000000000 }}"),
            "-1 0.3333333333333333 100000000000000000000.0 1e+21");
  EXPECT_EQ(render("{{ [1, 2.0, 'a', none, true] }} {{ {'k': [1]} }}"), "[1, 2, \"a\", null, true] {\"k\": [1]}");
}

TEST(JinjaExpressions, ComparisonsMembershipAndLogic) {
  EXPECT_EQ(render("{{ 1 < 2 and not false }} {{ 'b' in 'abc' }} {{ 2 not in [1, 3] }} {{ 'k' in {'k': 1} }}"),
            "true true true true");
  EXPECT_EQ(render("{{ none or 'x' }} {{ 0 and 'y' }} {{ 'a' if false else 'b' }}[{{ 'c' if false }}]"), "x 0 b[]");
  EXPECT_EQ(render("{{ '1' == 1 }} {{ none == undefined_name }} {{ [1] == [1] }}"), "true true false");
}

TEST(JinjaExpressions, StringsSlicesAndMethods) {
  const json ctx = {{"s", "Hello World"}};
  EXPECT_EQ(render("{{ s[0] }}{{ s[-1] }}|{{ s[1:4] }}|{{ s[::-1] }}|{{ s[:100] }}", ctx), "Hd|ell|dlroW olleH|Hello World");
  EXPECT_EQ(render("{{ s.upper() }} {{ s.lower() }} {{ 'it\\'s a-b'.title() }} {{ 'hELLO'.capitalize() }}", ctx),
            "HELLO WORLD hello world It'S A-B HELLO");
  EXPECT_EQ(render("{{ '  x \\n'.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a-b-c'.split('-', 1) }}"),
            "x|[\"a\", \"b\", \"\", \"c\"]|[\"a\", \"b\"]|[\"a\", \"b-c\"]");
  EXPECT_EQ(render("{{ s.startswith('He') }} {{ s.endswith(('x', 'ld')) }} {{ s.replace('o', '0', 1) }} {{ s.length }}", ctx),
            "true true Hell0 World 11");
}

TEST(JinjaExpressions, UndefinedIsLenientLikeJinja) {
  EXPECT_EQ(render("[{{ nothing }}][{{ nothing.attr }}][{{ nothing is defined }}][{{ nothing | default('d') }}]"),
            "[][][false][d]");
  EXPECT_NE(error_of("{{ nothing + 1 }}"), "");
  EXPECT_NE(error_of("{{ nothing | trim }}"), "");
}

TEST(JinjaFilters, JsonAndCollections) {
  const json ctx = {{"d", {{"b", 1}, {"a", {1, 2}}}}, {"xs", {3, 1, 2}}};
  EXPECT_EQ(render("{{ d | tojson }}", ctx), "{\"b\": 1, \"a\": [1, 2]}");  // insertion order kept
  EXPECT_EQ(render("{{ d | tojson(indent=2) }}", ctx), "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n}");
  EXPECT_EQ(render("{{ 'é\"' | tojson }} {{ 'é' | tojson(ensure_ascii=true) }}"), "\"é\\\"\" \"\\u00e9\"");
  EXPECT_EQ(render("{{ xs | sort }} {{ xs | length }} {{ xs | first }} {{ xs | last }} {{ xs | join('-') }} {{ xs | reverse }}", ctx),
            "[1, 2, 3] 3 3 2 3-1-2 [2, 1, 3]");
  const json people = {{"p", {{{"n", "a"}, {"on", true}}, {{"n", "b"}, {"on", false}}}}};
  EXPECT_EQ(render("{{ p | selectattr('on') | map(attribute='n') | join }} {{ p | rejectattr('on') | map(attribute='n') | list }}", people),
            "a [\"b\"]");
  EXPECT_EQ(render("{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}", ctx), "b=1;a=[1, 2];");
  EXPECT_EQ(render("{{ '  t  ' | trim }}|{{ 'a\\nb' | indent(2) }}|{{ '12px' | int }}|{{ 3.9 | int }}"), "t|a\n  b|12|3");
}

TEST(JinjaStatements, LoopsWithLoopVariablesElseAndFilters) {
  const json ctx = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ x }}{{ ',' if not loop.last }}{% endfor %}", ctx), "1a,2b,3c");
  EXPECT_EQ(render("{% for x in xs %}{{ loop.previtem | default('-') }}{{ loop.revindex0 }}{% endfor %}", ctx), "-2a1b0");
  EXPECT_EQ(render("{% for x in xs if x != 'b' %}{{ x }}{{ loop.length }}{% endfor %}", ctx), "a2c2");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for i in range(6) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "023");
}

TEST(JinjaStatements, SetScopingNamespacesMacrosAndCalls) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1");  // loop scope
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in [1, 2] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "3");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}{% set blk %}in{{ a }}{% endset %}{{ blk }}"), "21in1");
  EXPECT_EQ(render("{% macro m(x, y='d') %}{{ x }}{{ y }}{% endmacro %}{{ m(1) }}{{ m(2, y='e') }}"), "1d2e");
  EXPECT_EQ(render("{% macro w() %}[{{ caller() }}]{% endmacro %}{% call w() %}body{% endcall %}"), "[body]");
  EXPECT_EQ(render("{% filter upper %}ab{{ 'c' }}{% endfilter %}"), "ABC");
  EXPECT_NE(error_of("{% macro m(x) %}{% endmacro %}{{ m(1, 2) }}"), "");
}

TEST(JinjaStatements, RaiseExceptionCarriesTheMessage) {
  EXPECT_NE(error_of("{{ raise_exception('roles must alternate') }}").find("roles must alternate"), std::string::npos);
}

TEST(JinjaData, JsonKeepsOrderAndMatchesJavaScriptNumbers) {
  const json ctx = json::parse(R"({"o": {"b": 1, "2": "x", "a": 2.0, "1": 3.5}})");
  // JavaScript puts integer-like keys first; 2.0 parses as the integer 2.
  EXPECT_EQ(render("{{ o | tojson }}", ctx), "{\"1\": 3.5, \"2\": \"x\", \"b\": 1, \"a\": 2}");
}

TEST(JinjaLimits, DeepNestingIsRefusedWhenParsing) {
  const std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_NE(error_of(deep).find("deeper than"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 3000; ++i) ifs += "{% if true %}";
  EXPECT_NE(error_of(ifs).find("deeper than"), std::string::npos);
}

TEST(JinjaLimits, RunawayRecursionLoopsAndOutputAreStopped) {
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("deeper than"), std::string::npos);
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}").find("loop iterations"),
            std::string::npos);
  EXPECT_NE(error_of("{{ range(100000000) | length }}").find("range()"), std::string::npos);
  const std::string doubling = "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}";
  EXPECT_NE(error_of(doubling).find("bytes"), std::string::npos);
  Limits small;
  small.max_steps = 1000;
  EXPECT_NE(error_of("{% for i in range(10000) %}{{ i }}{% endfor %}", json::object(), small).find("steps"), std::string::npos);
  small = Limits{};
  small.max_output_bytes = 100;
  EXPECT_NE(error_of("{% for i in range(1000) %}xx{% endfor %}", json::object(), small).find("bytes"), std::string::npos);
}

TEST(JinjaLimits, SelfReferenceAndDeepValuesAreErrorsNotCrashes) {
  EXPECT_NE(error_of("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}").find("deeper than"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(a=[]) %}{% for i in range(100000) %}{% set ns.a = [ns.a] %}{% endfor %}")
                .find("deeper than"),
            std::string::npos);
  json deep = json::array();
  for (int i = 0; i < 1000; ++i) deep = json::array({deep});
  EXPECT_NE(error_of("{{ x | length }}", {{"x", deep}}).find("deeper than"), std::string::npos);
}

}  // namespace
}  // namespace st::jinja
