// See plot.h. PLplot keeps its state in a global stream: draw from one thread at a time.
#include "plot.h"

#include <fmt/format.h>

#include <plplot.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "output/histogram.h"
#include "util/error.h"

namespace tcp_duration {

namespace {

// cmap0 slots we set (0 is the background).
enum Colour : PLINT { kInk = 1, kBar = 2, kBarEdge = 3, kGrid = 4, kMedian = 5, kP90 = 6, kNote = 7 };

struct Unit {
  const char* name;
  double per_second;
};

// The unit that keeps the largest value readable.
Unit pick_unit(double max_seconds) {
  if (max_seconds < 1e-3) return {"µs", 1e6};
  if (max_seconds < 1.0) return {"ms", 1e3};
  return {"s", 1.0};
}

std::string number(double v) { return fmt::format("{:.4g}", v); }

// A duration with its own unit, 3 digits: "32.1 µs", "405 ms", "1.00 s".
std::string human_duration(double seconds) {
  const Unit u = pick_unit(seconds);
  const double v = seconds * u.per_second;
  return fmt::format("{:.{}f} {}", v, v >= 100 ? 0 : v >= 10 ? 1 : 2, u.name);
}

// 1-2-5 ticks (or decades, or every 1..9) between 10^lo and 10^hi.
std::vector<double> log_ticks(double lo, double hi, bool minor) {
  std::vector<std::vector<int>> mantissas = {{1, 2, 5}, {1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  auto collect = [&](const std::vector<int>& ms) {
    std::vector<double> out;
    for (int k = static_cast<int>(std::floor(lo)) - 1; k <= static_cast<int>(std::ceil(hi)) + 1; ++k)
      for (int m : ms) {
        double x = std::log10(m) + k;
        if (x >= lo - 1e-9 && x <= hi + 1e-9) out.push_back(x);
      }
    return out;
  };
  if (minor) return collect(mantissas[2]);
  std::vector<double> t = collect(mantissas[0]);
  if (t.size() > 10) t = collect(mantissas[1]);
  if (t.size() < 3) t = collect(mantissas[2]);
  return t;
}

void vline(double x, double y0, double y1) {
  PLFLT xs[2] = {x, x}, ys[2] = {y0, y1};
  plline(2, xs, ys);
}

}  // namespace

std::pair<int, int> parse_size(const std::string& text) {
  int w = 0, h = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%dx%d%c", &w, &h, &extra) != 2 || w < 100 || h < 100 || w > 10000 || h > 10000)
    throw tracekit::UsageError("bad value for --size: '" + text + "' (expected WIDTHxHEIGHT, 100 to 10000 each)");
  return {w, h};
}

void plot_histogram(const std::vector<double>& seconds, const PlotOptions& o) {
  // Check that we can write next to the target first: PLplot exit()s on errors.
  const std::string tmp = o.path + ".tmp" + std::to_string(::getpid());
  if (FILE* f = std::fopen(tmp.c_str(), "wb")) {
    std::fclose(f);
  } else {
    throw tracekit::Error("cannot write the picture " + o.path + ": " + std::strerror(errno));
  }

  tracekit::Summary s = tracekit::summarize(seconds);
  const Unit unit = pick_unit(s.count ? s.max : 1.0);
  std::vector<double> values;
  values.reserve(seconds.size());
  for (double v : seconds) values.push_back(v * unit.per_second);
  const tracekit::Bins bins = tracekit::make_bins(values, o.bins, o.log_x);

  // Axis coordinates: the value in `unit`, or its log10.
  auto ax = [&](double v) { return o.log_x ? std::log10(v) : v; };
  const double x0 = ax(bins.edges.front()), x1 = ax(bins.edges.back());
  const double pad = (x1 - x0) * 0.02;
  std::uint64_t top = 0;
  for (auto c : bins.counts) top = std::max(top, c);

  plsdev("pngcairo");
  plsfnam(tmp.c_str());
  plspage(0, 0, o.width, o.height, 0, 0);
  plscolbg(255, 255, 255);
  plscol0(kInk, 30, 30, 30);
  plscol0(kBar, 91, 141, 196);
  plscol0(kBarEdge, 36, 74, 122);
  plscol0(kGrid, 220, 220, 220);
  plscol0(kMedian, 200, 50, 40);
  plscol0(kP90, 225, 130, 0);
  plscol0(kNote, 90, 90, 90);
  plsfont(PL_FCI_SANS, PL_FCI_UPRIGHT, PL_FCI_MEDIUM);
  plinit();
  pladv(0);
  // pngcairo scales text with the page: sizes are relative to the default.
  const double scale = std::clamp(std::min(o.width / 800.0, o.height / 600.0), 0.5, 3.0);
  // Room above the tallest bar for the legend (7.4 lines of the 0.85 size).
  constexpr double kVpBottom = 0.12, kVpTop = 0.86, kLegendLines = 7.4;
  PLFLT def_ht = 0, legend_ht = 0, sx0 = 0, sx1 = 0, sy0 = 0, sy1 = 0;
  plschr(0, 0.85);
  plgchr(&def_ht, &legend_ht);
  plgspa(&sx0, &sx1, &sy0, &sy1);
  const double line_frac = legend_ht / ((kVpTop - kVpBottom) * (sy1 - sy0));  // of the y range
  const double ymax = top == 0
                          ? 1.0
                          : std::max(static_cast<double>(top) * 1.12,
                                     static_cast<double>(top) / std::max(0.3, 1 - line_frac * kLegendLines - 0.03));
  plschr(0, 0.9);
  plvpor(0.10, 0.96, kVpBottom, kVpTop);
  plwind(x0 - pad, x1 + pad, 0, ymax);

  // Horizontal grid lines under the bars.
  const double ytick = top <= 10 ? 1 : 0;
  plcol0(kGrid);
  plwidth(1);
  plbox("", 0, 0, "g", ytick, 0);

  // Bars.
  for (std::size_t i = 0; i < bins.counts.size(); ++i) {
    if (bins.counts[i] == 0) continue;
    const double a = ax(bins.edges[i]), b = ax(bins.edges[i + 1]);
    const double c = static_cast<double>(bins.counts[i]);
    PLFLT xs[4] = {a, a, b, b}, ys[4] = {0, c, c, 0};
    plcol0(kBar);
    plfill(4, xs, ys);
    PLFLT ex[5] = {a, a, b, b, a}, ey[5] = {0, c, c, 0, 0};
    plcol0(kBarEdge);
    plwidth(1.2 * scale);
    plline(5, ex, ey);
  }

  // Frame and axes.
  plcol0(kInk);
  plwidth(1.2 * scale);
  if (o.log_x) {
    plbox("bc", 0, 0, "bcnstv", ytick, top <= 10 ? 1 : 0);
    const double minor = ymax * 0.012, major = ymax * 0.025;
    for (double x : log_ticks(x0, x1, true)) {
      vline(x, 0, minor);
      vline(x, ymax - minor, ymax);
    }
    for (double x : log_ticks(x0, x1, false)) {
      vline(x, 0, major);
      vline(x, ymax - major, ymax);
      const double pos = (x - (x0 - pad)) / ((x1 + pad) - (x0 - pad));
      plmtex("b", 1.6, pos, 0.5, number(std::pow(10.0, x)).c_str());
    }
  } else {
    plbox("bcnst", 0, 0, "bcnstv", ytick, top <= 10 ? 1 : 0);
  }

  const std::string xlabel = std::string("Connection duration (") + unit.name + (o.log_x ? ", log scale)" : ")");
  pllab(xlabel.c_str(), "Connections", "");
  plschr(0, 1.25);
  plmtex("t", 2.2, 0.5, 0.5, "TCP connection durations");
  plschr(0, 0.85);
  if (!o.subtitle.empty()) {
    plcol0(kNote);
    plmtex("t", 1.0, 0.5, 0.5, o.subtitle.c_str());
  }

  // Median and p90 markers, with a small legend in the top-right corner.
  if (s.count) {
    pllsty(2);
    plwidth(1.6 * scale);
    plcol0(kMedian);
    vline(ax(s.p50 * unit.per_second), 0, ymax);
    plcol0(kP90);
    vline(ax(s.p90 * unit.per_second), 0, ymax);
    pllsty(1);
    // A white box with a thin frame behind the legend, so lines never cross the text.
    const double line_h = line_frac * ymax;  // one legend line in y units
    const double wx0 = x0 - pad, wx1 = x1 + pad;
    const double bx0 = wx1 - (wx1 - wx0) * 0.34, bx1 = wx1 - (wx1 - wx0) * 0.008;
    const double by0 = ymax - line_h * kLegendLines, by1 = ymax - line_h * 0.4;
    PLFLT bxs[4] = {bx0, bx0, bx1, bx1}, bys[4] = {by0, by1, by1, by0};
    plcol0(0);
    plfill(4, bxs, bys);
    PLFLT fxs[5] = {bx0, bx0, bx1, bx1, bx0}, fys[5] = {by0, by1, by1, by0, by0};
    plcol0(kGrid);
    plwidth(1);
    plline(5, fxs, fys);
    plcol0(kInk);
    plmtex("t", -1.6, 0.975, 1.0, ("n = " + std::to_string(s.count) + ", " + std::to_string(o.bins) + " bins").c_str());
    plcol0(kMedian);
    plmtex("t", -3.1, 0.975, 1.0, ("median " + human_duration(s.p50)).c_str());
    plcol0(kP90);
    plmtex("t", -4.6, 0.975, 1.0, ("p90 " + human_duration(s.p90)).c_str());
    plcol0(kNote);
    plmtex("t", -6.1, 0.975, 1.0, ("min " + human_duration(s.min) + ", max " + human_duration(s.max)).c_str());
  } else {
    plcol0(kNote);
    plmtex("t", -3.0, 0.5, 0.5, "no connections");
  }
  plend();

  if (std::rename(tmp.c_str(), o.path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw tracekit::Error("cannot write the picture " + o.path + ": " + std::strerror(err));
  }
}

}  // namespace tcp_duration
