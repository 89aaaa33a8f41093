// The PNG histogram of connection durations, drawn with PLplot (device "pngcairo").
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tcp_duration {

struct PlotOptions {
  std::string path;  // where the PNG goes
  int width = 800;   // pixels
  int height = 600;
  int bins = 20;         // equal-width bins (on the log10 axis with log_x)
  bool log_x = false;    // logarithmic duration axis, for wide ranges
  std::string subtitle;  // second title line, e.g. "29 connections on veth0"
};

// "WxH" (each 100..10000) -> {W, H}; anything else -> UsageError.
std::pair<int, int> parse_size(const std::string& text);

// Draws a histogram of `seconds` (white background, filled bars, labelled axes with the
// unit picked from the largest value, the median and p90 marked) and writes it to
// options.path through a temporary file in the same directory, renamed when complete.
// An empty `seconds` gives a picture with empty axes and a "no connections" note.
// Throws tracekit::Error when the file cannot be written.
void plot_histogram(const std::vector<double>& seconds, const PlotOptions& options);

}  // namespace tcp_duration
