// The files `smallthinker stats` writes: stats.json (everything, for scripts), one CSV per
// measurement (for spreadsheets), the routing as a trace for `replay`, and the four SVG pictures.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "formats/output_file.h"
#include "runtime/expert_cache.h"
#include "smallthinker/tools.h"
#include "tools/stats_plots.h"

namespace smallthinker {
namespace {

// Every file write_activity_report writes (keep in step with it): checked against the inputs
// before the first one is written.
constexpr const char* kReportFiles[] = {"stats.json",         "expert_frequency.csv", "zero_fraction.csv",
                                        "reuse_distance.csv", "cache_hit_rate.csv",   "routing.trace",
                                        "expert_frequency.svg", "zero_fraction.svg",  "reuse_distance.svg",
                                        "cache_hit_rate.svg"};

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

nlohmann::json to_json(const ActivityLog& log, const ActivityStats& s) {
  using nlohmann::json;
  json j;
  j["model"] = log.model_name;
  j["n_layer"] = log.n_layer;
  j["n_expert"] = log.n_expert;
  j["n_expert_used"] = log.k;
  j["n_ff"] = log.n_ff;
  j["n_tokens"] = log.n_tokens();
  j["expert_slot_bytes"] = log.expert_slot_bytes;
  j["fixed_bytes"] = log.fixed_bytes;
  j["prompt_tokens"] = log.prompt_tokens;
  j["expert_counts"] = s.expert_counts;
  j["expert_frequency"] = s.expert_frequency;
  j["reglu"] = {{"zero", log.reglu_zero}, {"total", log.reglu_total}, {"zero_fraction", s.zero_fraction}};
  json bins = json::array();
  for (const auto& b : s.reuse) bins.push_back({{"lo", b.lo}, {"hi", b.hi}, {"count", b.count}});
  j["reuse_distance"] = {{"bins", bins}, {"first_uses", s.first_uses}, {"mean", s.mean_reuse_distance}};
  json curves = json::array();
  for (const auto& c : s.cache_curves) {
    json pts = json::array();
    for (const auto& p : c.points)
      pts.push_back({{"share", p.share}, {"slots", p.slots}, {"cache_bytes", p.cache_bytes}, {"hit_rate", p.hit_rate}});
    curves.push_back({{"policy", c.policy}, {"points", pts}});
  }
  j["cache_hit_rate"] = curves;
  return j;
}

}  // namespace

std::vector<std::string> write_activity_report(const ActivityLog& log, const ActivityStats& s, const std::string& dir,
                                               const std::vector<std::string>& inputs) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create the output directory " + dir + ": " + ec.message());
  // A refusal leaves the folder as it was.
  for (const char* name : kReportFiles) st::check_output_path((std::filesystem::path(dir) / name).string(), inputs);
  std::vector<std::string> written;
  auto out = [&](const std::string& name, const std::string& text) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    st::write_output_file(path, text);
    written.push_back(path);
  };

  out("stats.json", to_json(log, s).dump(1) + "\n");

  std::string csv = "layer";
  for (int e = 0; e < log.n_expert; ++e) csv += ",expert_" + std::to_string(e);
  csv += "\n";
  for (size_t l = 0; l < s.expert_frequency.size(); ++l) {
    csv += std::to_string(l);
    for (double v : s.expert_frequency[l]) {
      csv += ',';
      csv += fmt(v);
    }
    csv += "\n";
  }
  out("expert_frequency.csv", csv);

  csv = "layer,zero_neurons,neurons,zero_fraction\n";
  for (size_t l = 0; l < s.zero_fraction.size(); ++l)
    csv += std::to_string(l) + "," + std::to_string(log.reglu_zero[l]) + "," + std::to_string(log.reglu_total[l]) + "," +
           fmt(s.zero_fraction[l]) + "\n";
  out("zero_fraction.csv", csv);

  csv = "distance_lo,distance_hi,count\n";
  for (const auto& b : s.reuse) csv += std::to_string(b.lo) + "," + std::to_string(b.hi) + "," + std::to_string(b.count) + "\n";
  out("reuse_distance.csv", csv);

  csv = "policy,share,slots,cache_bytes,hit_rate\n";
  for (const auto& c : s.cache_curves)
    for (const auto& p : c.points)
      csv += c.policy + "," + fmt(p.share) + "," + std::to_string(p.slots) + "," + std::to_string(p.cache_bytes) + "," +
             fmt(p.hit_rate) + "\n";
  out("cache_hit_rate.csv", csv);

  // The routing itself, in the trace format `smallthinker replay` reads.
  st::RoutingTrace trace;
  trace.n_layer = log.n_layer;
  trace.n_expert = log.n_expert;
  trace.k = log.k;
  trace.experts = log.routing;
  const std::string trace_path = (std::filesystem::path(dir) / "routing.trace").string();
  trace.save(trace_path);
  written.push_back(trace_path);

  namespace plots = st::stats_plots;
  auto picture = [&](const std::string& name, const st::svg::Document& d) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    d.save(path);
    written.push_back(path);
  };
  picture("expert_frequency.svg", plots::expert_frequency_heatmap(log, s));
  picture("zero_fraction.svg", plots::zero_fraction_bars(log, s));
  picture("reuse_distance.svg", plots::reuse_distance_histogram(log, s));
  picture("cache_hit_rate.svg", plots::cache_hit_rate_curves(log, s));
  return written;
}

}  // namespace smallthinker
