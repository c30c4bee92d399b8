#include "tools/svg.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "formats/output_file.h"

namespace st::svg {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  // Trim trailing zeros: shorter files, same picture.
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string attrs_text(const Attrs& extra) {
  std::string s;
  for (const auto& [name, value] : extra) s += " " + name + "=\"" + escape(value) + "\"";
  return s;
}

std::string hex(int r, int g, int b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0 (except tab, newline, return).
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') out += ' ';
        else out += c;
    }
  }
  return out;
}

std::string sequential_colour(double t) {
  // Five anchors of the viridis scale (a published, colour-blind-safe sequential map),
  // interpolated linearly in RGB.
  static constexpr std::array<std::array<int, 3>, 5> anchors{{
      {0x44, 0x01, 0x54}, {0x3b, 0x52, 0x8b}, {0x21, 0x91, 0x8c}, {0x5e, 0xc9, 0x62}, {0xfd, 0xe7, 0x25}}};
  if (!(t >= 0)) t = 0;  // also catches NaN
  t = std::min(t, 1.0);
  const double pos = t * (anchors.size() - 1);
  const size_t i = std::min(static_cast<size_t>(pos), anchors.size() - 2);
  const double f = pos - static_cast<double>(i);
  auto mix = [&](int c) {
    return static_cast<int>(std::lround(anchors[i][static_cast<size_t>(c)] * (1 - f) + anchors[i + 1][static_cast<size_t>(c)] * f));
  };
  return hex(mix(0), mix(1), mix(2));
}

std::string series_colour(int i) {
  static constexpr std::array<const char*, 8> colours{"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                                      "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};
  return colours[static_cast<size_t>(i) % colours.size()];
}

Document::Document(double width, double height) : width_(width), height_(height) {
  rect(0, 0, width, height, "#ffffff");
}

void Document::rect(double x, double y, double w, double h, const std::string& fill, const Attrs& extra,
                    const std::string& tooltip) {
  body_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(std::max(0.0, w)) + "\" height=\"" +
           num(std::max(0.0, h)) + "\" fill=\"" + escape(fill) + "\"" + attrs_text(extra);
  body_ += tooltip.empty() ? "/>\n" : "><title>" + escape(tooltip) + "</title></rect>\n";
}

void Document::line(double x1, double y1, double x2, double y2, const std::string& stroke, double stroke_width,
                    const Attrs& extra) {
  body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
           "\" stroke=\"" + escape(stroke) + "\" stroke-width=\"" + num(stroke_width) + "\"" + attrs_text(extra) + "/>\n";
}

void Document::polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke,
                        double stroke_width, const Attrs& extra) {
  std::string pts;
  for (const auto& [x, y] : points) {
    if (!pts.empty()) pts += ' ';
    pts += num(x);
    pts += ',';
    pts += num(y);
  }
  body_ += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + escape(stroke) + "\" stroke-width=\"" +
           num(stroke_width) + "\"" + attrs_text(extra) + "/>\n";
}

void Document::circle(double cx, double cy, double r, const std::string& fill, const Attrs& extra) {
  body_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r) + "\" fill=\"" + escape(fill) + "\"" +
           attrs_text(extra) + "/>\n";
}

void Document::text(double x, double y, const std::string& content, double size, const std::string& anchor,
                    const Attrs& extra, double rotate) {
  std::string transform;
  if (rotate != 0) transform = " transform=\"rotate(" + num(rotate) + " " + num(x) + " " + num(y) + ")\"";
  body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\" text-anchor=\"" +
           escape(anchor) + "\"" + transform + attrs_text(extra) + ">" + escape(content) + "</text>\n";
}

void Document::begin_group(const Attrs& attrs) {
  body_ += "<g" + attrs_text(attrs) + ">\n";
  ++open_groups_;
}

void Document::end_group() {
  if (open_groups_ == 0) throw std::logic_error("svg: end_group without begin_group");
  body_ += "</g>\n";
  --open_groups_;
}

void Document::horizontal_gradient(const std::string& id, const std::vector<std::pair<double, std::string>>& stops) {
  defs_ += "<linearGradient id=\"" + escape(id) + "\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"0\">\n";
  for (const auto& [offset, colour] : stops)
    defs_ += "<stop offset=\"" + num(offset) + "\" stop-color=\"" + escape(colour) + "\"/>\n";
  defs_ += "</linearGradient>\n";
}

std::string Document::str() const {
  if (open_groups_ != 0) throw std::logic_error("svg: a group was left open");
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width_) + "\" height=\"" + num(height_) +
       "\" viewBox=\"0 0 " + num(width_) + " " + num(height_) + "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n";
  if (!defs_.empty()) s += "<defs>\n" + defs_ + "</defs>\n";
  s += body_;
  s += "</svg>\n";
  return s;
}

void Document::save(const std::string& path) const { write_output_file(path, str()); }

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  if (!(hi > lo) || max_ticks < 2) return {lo};
  const double raw = (hi - lo) / (max_ticks - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  // Multiples of the step (not a running sum, which would drift: 0.6000000000000001).
  std::vector<double> ticks;
  for (double i = std::ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i += 1) ticks.push_back(i * step);
  return ticks;
}

std::string format_number(double v, int max_decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", max_decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

}  // namespace st::svg
