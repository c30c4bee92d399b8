// A small SVG writer for the statistics pictures: plain SVG 1.1 text, no library. Elements are
// appended in drawing order; numbers are written with two decimals (pixels), text is escaped.
// Charts add class / data-* attributes so tests and scripts can find rows, bars and series.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace st::svg {

// XML character escaping for text and attribute values.
std::string escape(const std::string& text);

// "#rrggbb" of a point of a sequential colour scale (t in [0, 1], clamped): dark blue through
// teal and green to yellow, perceptually ordered so a heatmap reads without its legend.
std::string sequential_colour(double t);

// Distinct colours for up to 8 series (then they repeat).
std::string series_colour(int i);

// Extra attributes as name="value" pairs, written after the element's own ones.
using Attrs = std::vector<std::pair<std::string, std::string>>;

class Document {
 public:
  Document(double width, double height);
  double width() const { return width_; }
  double height() const { return height_; }

  // A non-empty tooltip becomes the rect's <title> (browsers show it on hover).
  void rect(double x, double y, double w, double h, const std::string& fill, const Attrs& extra = {},
            const std::string& tooltip = "");
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double stroke_width = 1,
            const Attrs& extra = {});
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke, double stroke_width,
                const Attrs& extra = {});
  void circle(double cx, double cy, double r, const std::string& fill, const Attrs& extra = {});
  // anchor: "start" | "middle" | "end"; rotate: degrees about (x, y).
  void text(double x, double y, const std::string& content, double size = 12, const std::string& anchor = "start",
            const Attrs& extra = {}, double rotate = 0);
  void begin_group(const Attrs& attrs);
  void end_group();
  // A horizontal linear gradient (for colour-scale legends), referenced as url(#id).
  void horizontal_gradient(const std::string& id, const std::vector<std::pair<double, std::string>>& stops);

  std::string str() const;
  void save(const std::string& path) const;  // throws naming the path

 private:
  double width_, height_;
  std::string defs_;
  std::string body_;
  int open_groups_ = 0;
};

// Axis helpers: "nice" tick values (1, 2, 2.5, 5 x 10^n steps) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int max_ticks);
// A number with as few decimals as it needs (up to `max_decimals`).
std::string format_number(double v, int max_decimals = 3);

}  // namespace st::svg
