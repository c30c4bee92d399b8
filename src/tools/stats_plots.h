// The four pictures of `smallthinker stats`, drawn with tools/svg.h. Each element a test or
// script may want to count carries a class: heatmap rows <g class="heatmap-row"> (one per
// layer) of <rect class="cell">, bars <rect class="bar">, and one <polyline class="series">
// per cache policy.
#pragma once
#include "smallthinker/tools.h"
#include "tools/svg.h"

namespace st::stats_plots {

// (a) layers x experts, colour = share of tokens choosing the expert.
svg::Document expert_frequency_heatmap(const smallthinker::ActivityLog& log, const smallthinker::ActivityStats& s);
// (b) share of exactly-zero ReGLU neurons per layer.
svg::Document zero_fraction_bars(const smallthinker::ActivityLog& log, const smallthinker::ActivityStats& s);
// (c) histogram of tokens between successive uses of the same (layer, expert).
svg::Document reuse_distance_histogram(const smallthinker::ActivityLog& log, const smallthinker::ActivityStats& s);
// (d) hit rate vs cache size (share of all experts, and bytes), one line per policy.
svg::Document cache_hit_rate_curves(const smallthinker::ActivityLog& log, const smallthinker::ActivityStats& s);

}  // namespace st::stats_plots
