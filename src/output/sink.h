// One output layer for every tool: records, and the sinks that render them.
//
// A tool never prints. It hands Records to the runner's Sink: each record renders
// itself as text (the tool's own style of line) and as JSON fields; the sink picks
// one. Everything the user sees goes through here (events, reports, notices, the
// summary), so text and JSON can never disagree on what happened.
//
//   TextSink  stdout gets each record's text; notices go to stderr as warning lines.
//   JsonSink  stdout gets one object per line: {"tool":..,"type":..,"ts":..,<fields>}
//             (docs/json.md); notices are JSON lines too.
//   FileTee   wraps a sink and also writes the records of some types, rendered the
//             same way, to a file flushed per record (tcp_duration's statistics.dat).
//
// Sinks buffer; flush() writes the batch (the runner calls it after every event batch
// and every report). A failed write to a tee'd file is kept in error() and stops the
// run; stdout write failures (a closed pipe) stop it too.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "output/json.h"

namespace tracekit {

class Record {
 public:
  virtual ~Record() = default;
  // "event", "report", "flow", "connection", "summary", ... (docs/json.md).
  virtual const char* type() const = 0;
  // The time the record is about ("ts"): by default the time it is written.
  virtual std::chrono::system_clock::time_point ts() const { return std::chrono::system_clock::now(); }
  // Text mode: complete lines, each ending in '\n' (nothing: not shown in text mode).
  virtual void text(std::string& out) const = 0;
  // JSON mode: the fields after "tool", "type" and "ts".
  virtual void json(JsonLine& j) const = 0;
  // False for what exists only in text mode (a column header).
  virtual bool in_json() const { return true; }
};

enum class NoticeLevel { Info, Warning };

// Something the operator must know about the run (lost events, evictions, packets
// not counted): a warning line on stderr in text mode, a {"type":"notice"} line in
// JSON mode. `kind` names it for machines ("events_lost", "evicted", ...), `count` is
// the number it is about (0 when none).
struct Notice {
  NoticeLevel level = NoticeLevel::Warning;
  std::string kind;
  std::string message;
  uint64_t count = 0;
  uint64_t total = 0;  // running total of `count` (0: not a counter)
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const Record& r) = 0;
  virtual void notice(const Notice& n) = 0;
  // Renders r exactly as write() would put it on stdout ("" when this sink shows
  // nothing for it).
  virtual void render(const Record& r, std::string& out) = 0;
  virtual void flush() = 0;
  // A write failure ("" when none).
  virtual const std::string& error() const = 0;
};

// Writes rendered lines to a FILE in batches (flush()).
class StreamSink : public Sink {
 public:
  explicit StreamSink(FILE* out) : out_(out) {}
  void write(const Record& r) override { render(r, buffer_); }
  void flush() override;
  const std::string& error() const override { return error_; }

 protected:
  FILE* out_;
  std::string buffer_;
  std::string error_;
};

class TextSink : public StreamSink {
 public:
  explicit TextSink(FILE* out = stdout) : StreamSink(out) {}
  void notice(const Notice& n) override;
  void render(const Record& r, std::string& out) override { r.text(out); }
};

class JsonSink : public StreamSink {
 public:
  explicit JsonSink(std::string tool, FILE* out = stdout) : StreamSink(out), tool_(std::move(tool)) {}
  void notice(const Notice& n) override;
  void render(const Record& r, std::string& out) override;

 private:
  std::string tool_;
};

class FileTee : public Sink {
 public:
  // `file` stays owned by the caller; records of `types` go there too.
  FileTee(Sink& inner, FILE* file, std::string path, std::set<std::string, std::less<>> types)
      : inner_(inner), file_(file), path_(std::move(path)), types_(std::move(types)) {}
  void write(const Record& r) override;
  void notice(const Notice& n) override { inner_.notice(n); }
  void render(const Record& r, std::string& out) override { inner_.render(r, out); }
  void flush() override { inner_.flush(); }
  const std::string& error() const override { return error_.empty() ? inner_.error() : error_; }

 private:
  Sink& inner_;
  FILE* file_;
  std::string path_;
  std::set<std::string, std::less<>> types_;
  std::string line_;
  std::string error_;
};

// --quiet: nothing on stdout; notices still go to stderr, and render() still gives the
// text or JSON form (for FileTee: statistics.dat is written as before).
class QuietSink : public Sink {
 public:
  explicit QuietSink(std::unique_ptr<Sink> form) : form_(std::move(form)) {}
  void write(const Record&) override {}
  void notice(const Notice& n) override;
  void render(const Record& r, std::string& out) override { form_->render(r, out); }
  void flush() override {}
  const std::string& error() const override { return none_; }

 private:
  std::unique_ptr<Sink> form_;
  std::string none_;
};

std::unique_ptr<Sink> make_sink(bool json, const std::string& tool, bool quiet = false);

// The last record of every run ("summary"): the numbers every tool reports, plus the
// tool's own. Text: one line "Traced 5.0 s: 23 execve calls, 0 lost, 0 evicted, 0 not counted".
class SummaryRecord : public Record {
 public:
  double duration_s = 0;
  uint64_t events = 0;                 // what the tool counts (execs, packets, connections)
  std::string events_name = "events";  // text: "execve calls", "packets", ...
  uint64_t lost = 0;                   // events the kernel could not deliver
  uint64_t evicted = 0;                // entries an LRU table dropped
  uint64_t not_counted = 0;            // packets/events seen but not counted (see the tool's doc)
  // The tool's own numbers (optional): JSON fields and text lines shown before the
  // summary line.
  std::function<void(JsonLine&)> extra_json;
  std::string extra_text;

  const char* type() const override { return "summary"; }
  void text(std::string& out) const override;
  void json(JsonLine& j) const override;
};

}  // namespace tracekit
