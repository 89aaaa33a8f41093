#include "output/sink.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "util/format.h"
#include "util/log.h"

namespace tracekit {

void StreamSink::flush() {
  if (!buffer_.empty()) {
    if (error_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), out_) != buffer_.size())
      error_ = std::string("cannot write the output: ") + std::strerror(errno);
    buffer_.clear();
  }
  if (std::fflush(out_) != 0 && error_.empty())
    error_ = std::string("cannot write the output: ") + std::strerror(errno);
}

void TextSink::notice(const Notice& n) {
  flush();  // what came before the notice is on stdout first
  if (n.level == NoticeLevel::Warning)
    spdlog::warn("{}", n.message);
  else
    spdlog::info("{}", n.message);
}

void JsonSink::render(const Record& r, std::string& out) {
  if (!r.in_json()) return;
  JsonLine j(out);
  j.field("tool", tool_).field("type", r.type()).field("ts", iso8601(r.ts()));
  r.json(j);
  j.finish();
  out += '\n';
}

void JsonSink::notice(const Notice& n) {
  JsonLine j(buffer_);
  j.field("tool", tool_).field("type", "notice").field("ts", iso8601(std::chrono::system_clock::now()));
  j.field("level", n.level == NoticeLevel::Warning ? "warning" : "info").field("kind", n.kind);
  j.field("message", n.message).field("count", static_cast<unsigned long long>(n.count));
  if (n.total) j.field("total", static_cast<unsigned long long>(n.total));
  j.finish();
  buffer_ += '\n';
  flush();
}

void FileTee::write(const Record& r) {
  inner_.write(r);
  if (!types_.count(std::string_view(r.type())) || !error_.empty()) return;
  line_.clear();
  inner_.render(r, line_);
  if (std::fwrite(line_.data(), 1, line_.size(), file_) != line_.size() || std::fflush(file_) != 0)
    error_ = "cannot write " + path_ + ": " + std::strerror(errno);
}

std::unique_ptr<Sink> make_sink(bool json, const std::string& tool, bool quiet) {
  std::unique_ptr<Sink> s;
  if (json)
    s = std::make_unique<JsonSink>(tool);
  else
    s = std::make_unique<TextSink>();
  if (quiet) return std::make_unique<QuietSink>(std::move(s));
  return s;
}

void QuietSink::notice(const Notice& n) {
  if (n.level == NoticeLevel::Warning)
    spdlog::warn("{}", n.message);
  else
    spdlog::info("{}", n.message);
}

void SummaryRecord::text(std::string& out) const {
  out += extra_text;
  out += fmt::format("Traced {:.1f} s: {} {}, {} lost", duration_s, events, events_name, lost);
  out += fmt::format(", {} evicted, {} not counted\n", evicted, not_counted);
}

void SummaryRecord::json(JsonLine& j) const {
  j.field("duration_s", std::round(duration_s * 1000) / 1000).field("events", static_cast<unsigned long long>(events));
  j.field("lost", static_cast<unsigned long long>(lost)).field("evicted", static_cast<unsigned long long>(evicted));
  j.field("not_counted", static_cast<unsigned long long>(not_counted));
  if (extra_json) extra_json(j);
}

}  // namespace tracekit
