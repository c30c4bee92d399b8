#include "tools/stats_plots.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/memory_plan.h"

namespace st::stats_plots {
namespace {

using smallthinker::ActivityLog;
using smallthinker::ActivityStats;

constexpr const char* kAxis = "#333333";
constexpr const char* kGrid = "#dddddd";
constexpr const char* kMuted = "#555555";

std::string percent(double share, int decimals = 1) { return svg::format_number(100 * share, decimals) + "%"; }

// The plot area inside a picture, with helpers mapping data to pixels.
struct Frame {
  double left, top, width, height;
  double right() const { return left + width; }
  double bottom() const { return top + height; }
};

constexpr double kWidth = 700;  // every picture: room for two subtitle lines
constexpr double kTop = 80;     // plot area starts below the title and subtitles

void title(svg::Document& d, const std::string& main, const std::string& sub, const std::string& sub2 = "") {
  d.text(d.width() / 2, 24, main, 16, "middle", {{"font-weight", "bold"}, {"class", "title"}});
  if (!sub.empty()) d.text(d.width() / 2, 44, sub, 11, "middle", {{"fill", kMuted}});
  if (!sub2.empty()) d.text(d.width() / 2, 60, sub2, 11, "middle", {{"fill", kMuted}});
}

// The smallest "nice" tick value at or above v (so the top grid line closes the axis).
double nice_ceiling(double v) {
  const std::vector<double> ticks = svg::nice_ticks(0, v, 6);
  if (ticks.size() < 2) return v;
  const double step = ticks[1] - ticks[0];
  return std::ceil(v / step - 1e-9) * step;
}

// Horizontal grid lines and labels for a y axis from 0 to y_max (values shown as percents
// when `as_percent`), plus the axis lines.
void y_axis(svg::Document& d, const Frame& f, double y_max, bool as_percent, const std::string& label) {
  for (double v : svg::nice_ticks(0, y_max, 6)) {
    const double y = f.bottom() - v / y_max * f.height;
    d.line(f.left, y, f.right(), y, kGrid, 1);
    d.text(f.left - 6, y + 4, as_percent ? percent(v, 1) : svg::format_number(v), 11, "end");
  }
  d.line(f.left, f.top, f.left, f.bottom(), kAxis, 1);
  d.line(f.left, f.bottom(), f.right(), f.bottom(), kAxis, 1);
  d.text(16, f.top + f.height / 2, label, 12, "middle", {}, -90);
}

std::string subtitle(const ActivityLog& log) {
  return (log.model_name.empty() ? std::string("model") : log.model_name) + ": " + std::to_string(log.n_layer) +
         " layers, " + std::to_string(log.n_expert) + " experts (top-" + std::to_string(log.k) + "), " +
         std::to_string(log.n_tokens()) + " tokens from " + std::to_string(log.prompt_tokens.size()) + " prompts";
}

}  // namespace

svg::Document expert_frequency_heatmap(const ActivityLog& log, const ActivityStats& s) {
  const int L = log.n_layer, E = log.n_expert;
  const double cell_w = std::clamp(640.0 / E, 6.0, 40.0), cell_h = std::clamp(400.0 / L, 6.0, 28.0);
  const Frame f{80, kTop, cell_w * E, cell_h * L};
  svg::Document d(std::max(kWidth, f.right() + 40), f.bottom() + 110);
  title(d, "Expert frequency per layer", subtitle(log));

  // Colour = share of tokens whose top-K includes the expert, scaled to the largest share.
  double v_max = static_cast<double>(log.k) / E;
  for (const auto& row : s.expert_frequency)
    for (double v : row) v_max = std::max(v_max, v);
  for (int l = 0; l < L; ++l) {
    d.begin_group({{"class", "heatmap-row"}, {"data-layer", std::to_string(l)}});
    for (int e = 0; e < E; ++e) {
      const double v = s.expert_frequency[static_cast<size_t>(l)][static_cast<size_t>(e)];
      d.rect(f.left + e * cell_w, f.top + l * cell_h, cell_w, cell_h, svg::sequential_colour(v / v_max),
             {{"class", "cell"}, {"data-expert", std::to_string(e)}, {"data-frequency", svg::format_number(v, 5)}},
             "layer " + std::to_string(l) + ", expert " + std::to_string(e) + ": " + percent(v) + " of tokens");
    }
    d.end_group();
  }
  // Row and column labels, thinned out so they never overlap.
  const int row_every = static_cast<int>(std::ceil(12.0 / cell_h));
  for (int l = 0; l < L; l += row_every)
    d.text(f.left - 6, f.top + (l + 0.5) * cell_h + 4, std::to_string(l), 10, "end");
  const int col_every = static_cast<int>(std::ceil(18.0 / cell_w));
  for (int e = 0; e < E; e += col_every)
    d.text(f.left + (e + 0.5) * cell_w, f.bottom() + 14, std::to_string(e), 10, "middle");
  d.text(f.left + f.width / 2, f.bottom() + 30, "expert", 12, "middle");
  d.text(16, f.top + f.height / 2, "layer", 12, "middle", {}, -90);

  // Legend: the colour scale from 0 to the largest share, with the uniform share K/E marked.
  const double lx = f.left, ly = f.bottom() + 50, lw = std::min(320.0, std::max(200.0, f.width)), lh = 12;
  std::vector<std::pair<double, std::string>> stops;
  for (int i = 0; i <= 8; ++i) stops.emplace_back(i / 8.0, svg::sequential_colour(i / 8.0));
  d.horizontal_gradient("freq-scale", stops);
  d.rect(lx, ly, lw, lh, "url(#freq-scale)", {{"class", "legend"}});
  for (double v : svg::nice_ticks(0, v_max, 5)) {
    const double x = lx + v / v_max * lw;
    d.line(x, ly + lh, x, ly + lh + 4, kAxis, 1);
    d.text(x, ly + lh + 16, percent(v, 0), 10, "middle");
  }
  const double uniform = static_cast<double>(log.k) / E;
  const double ux = lx + uniform / v_max * lw;
  d.line(ux, ly - 4, ux, ly + lh, "#d62728", 2);
  d.text(ux, ly - 6, "uniform " + percent(uniform, 1), 10, "middle", {{"fill", "#d62728"}});
  d.text(lx + lw + 10, ly + lh - 1, "share of tokens choosing the expert (a row sums to " + std::to_string(log.k) + ")", 10,
         "start", {{"fill", kMuted}});
  return d;
}

svg::Document zero_fraction_bars(const ActivityLog& log, const ActivityStats& s) {
  const int L = log.n_layer;
  const Frame f{70, kTop, std::clamp(L * 36.0, 500.0, 900.0), 300};
  svg::Document d(std::max(kWidth, f.right() + 130), f.bottom() + 60);
  title(d, "Exactly-zero ReGLU neurons per layer", subtitle(log));
  y_axis(d, f, 1.0, true, "share of neurons that are exactly zero");
  const double slot = f.width / L, bar = slot * 0.75;
  uint64_t zero = 0, total = 0;
  for (int l = 0; l < L; ++l) {
    zero += log.reglu_zero[static_cast<size_t>(l)];
    total += log.reglu_total[static_cast<size_t>(l)];
  }
  const double mean = total ? static_cast<double>(zero) / static_cast<double>(total) : 0.0;
  const int label_every = static_cast<int>(std::ceil(18.0 / slot));
  for (int l = 0; l < L; ++l) {
    const double v = s.zero_fraction[static_cast<size_t>(l)];
    const double x = f.left + l * slot + (slot - bar) / 2, h = v * f.height;
    d.rect(x, f.bottom() - h, bar, h, "#2a788e",
           {{"class", "bar"}, {"data-layer", std::to_string(l)}, {"data-value", svg::format_number(v, 5)}},
           "layer " + std::to_string(l) + ": " + percent(v) + " zero");
    if (bar >= 22) d.text(x + bar / 2, f.bottom() - h - 4, percent(v, 0), 9, "middle");
    if (l % label_every == 0) d.text(f.left + (l + 0.5) * slot, f.bottom() + 14, std::to_string(l), 10, "middle");
  }
  const double my = f.bottom() - mean * f.height;
  d.line(f.left, my, f.right(), my, "#d62728", 1.5, {{"stroke-dasharray", "6 4"}});
  d.text(f.right() + 6, my + 4, "all layers", 11, "start", {{"fill", "#d62728"}});
  d.text(f.right() + 6, my + 18, percent(mean), 11, "start", {{"fill", "#d62728"}});
  d.text(f.left + f.width / 2, f.bottom() + 32, "layer", 12, "middle");
  return d;
}

svg::Document reuse_distance_histogram(const ActivityLog& /*log*/, const ActivityStats& s) {
  const size_t B = std::max<size_t>(1, s.reuse.size());
  const Frame f{70, kTop, std::clamp(B * 48.0, 580.0, 900.0), 300};
  svg::Document d(std::max(kWidth, f.right() + 30), f.bottom() + 76);
  uint64_t reuses = 0;
  for (const auto& b : s.reuse) reuses += b.count;
  title(d, "Expert reuse distance", "for each use of an expert: tokens since its layer last chose it",
        std::to_string(reuses) + " reuses, mean " + svg::format_number(s.mean_reuse_distance, 1) + " tokens (" +
            std::to_string(s.first_uses) + " first uses, with nothing to measure from, not shown)");
  double y_max = 0;
  for (const auto& b : s.reuse) y_max = std::max(y_max, reuses ? static_cast<double>(b.count) / reuses : 0.0);
  y_max = y_max > 0 ? std::min(1.0, nice_ceiling(y_max * 1.05)) : 1.0;
  y_axis(d, f, y_max, true, "share of reuses");
  const double slot = f.width / static_cast<double>(B), bar = slot * 0.8;
  for (size_t i = 0; i < s.reuse.size(); ++i) {
    const auto& b = s.reuse[i];
    const double v = reuses ? static_cast<double>(b.count) / reuses : 0.0;
    const double x = f.left + static_cast<double>(i) * slot + (slot - bar) / 2, h = v / y_max * f.height;
    const std::string range = b.lo == b.hi ? std::to_string(b.lo) : std::to_string(b.lo) + "-" + std::to_string(b.hi);
    d.rect(x, f.bottom() - h, bar, h, "#35b779",
           {{"class", "bar"}, {"data-lo", std::to_string(b.lo)}, {"data-hi", std::to_string(b.hi)},
            {"data-count", std::to_string(b.count)}},
           range + " tokens: " + std::to_string(b.count) + " reuses (" + percent(v) + ")");
    if (bar >= 26) d.text(x + bar / 2, f.bottom() - h - 4, percent(v, 0), 9, "middle");
    const double lx = f.left + (static_cast<double>(i) + 0.5) * slot;
    if (slot >= 40) d.text(lx, f.bottom() + 14, range, 10, "middle");
    else d.text(lx + 3, f.bottom() + 8, range, 10, "end", {}, -45);
  }
  d.text(f.left + f.width / 2, f.bottom() + 56, "reuse distance (tokens, doubling bins)", 12, "middle");
  return d;
}

svg::Document cache_hit_rate_curves(const ActivityLog& log, const ActivityStats& s) {
  const Frame f{70, kTop, 580, 320};
  svg::Document d(std::max(kWidth, f.right() + 50), f.bottom() + 100);
  title(d, "Expert cache hit rate vs cache size",
        "the recorded routing replayed through the engine's cache policies (without look-ahead)", subtitle(log));
  y_axis(d, f, 1.0, true, "hit rate");
  // x axis: the cache as a share of all experts, and (second row) as bytes: slots x slot size.
  const int total = log.n_layer * log.n_expert;
  for (double v : svg::nice_ticks(0, 1, 11)) {
    const double x = f.left + v * f.width;
    d.line(x, f.top, x, f.bottom(), kGrid, 1);
    d.line(x, f.bottom(), x, f.bottom() + 4, kAxis, 1);
    d.text(x, f.bottom() + 16, percent(v, 0), 10, "middle");
    const uint64_t bytes = static_cast<uint64_t>(std::lround(v * total)) * log.expert_slot_bytes;
    if (log.expert_slot_bytes) d.text(x, f.bottom() + 30, v == 0 ? "0" : st::format_bytes(bytes), 9, "middle", {{"fill", kMuted}});
  }
  d.text(f.left + f.width / 2, f.bottom() + 50,
         "expert cache size: share of all " + std::to_string(total) + " experts (second row: bytes, " +
             st::format_bytes(log.expert_slot_bytes) + " per expert)",
         12, "middle");
  if (log.fixed_bytes)
    d.text(f.left + f.width / 2, f.bottom() + 68,
           "--memory = expert cache + about " + st::format_bytes(log.fixed_bytes) +
               " (dense weights, KV cache, buffers; plus the process itself)",
           11, "middle", {{"fill", kMuted}});

  const double lx = f.left + 14;
  double ly = f.top + 16;
  for (size_t i = 0; i < s.cache_curves.size(); ++i) {
    const auto& c = s.cache_curves[i];
    const std::string colour = svg::series_colour(static_cast<int>(i));
    std::vector<std::pair<double, double>> pts;
    for (const auto& p : c.points) pts.emplace_back(f.left + p.share * f.width, f.bottom() - p.hit_rate * f.height);
    d.polyline(pts, colour, 2, {{"class", "series"}, {"data-policy", c.policy}});
    for (const auto& p : c.points)
      d.rect(f.left + p.share * f.width - 2.5, f.bottom() - p.hit_rate * f.height - 2.5, 5, 5, colour,
             {{"class", "marker"}, {"data-policy", c.policy}},
             c.policy + ": " + std::to_string(p.slots) + " slots (" + percent(p.share, 0) + ", " +
                 st::format_bytes(p.cache_bytes) + "): hit rate " + percent(p.hit_rate));
    // Legend entry (a short line, not a polyline: only the series are polylines).
    d.line(lx, ly, lx + 24, ly, colour, 3);
    d.text(lx + 30, ly + 4, c.policy, 11, "start");
    ly += 16;
  }
  return d;
}

}  // namespace st::stats_plots
