// The output layer: exact strings in JSON and text, the JSON writer, the sinks.
// nlohmann-json is the judge: every line the writer makes must parse with it, to the
// same values.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

#include "output/json.h"
#include "output/sink.h"
#include "output/strings.h"
#include "render.h"

using namespace tracekit;
using nlohmann::json;

namespace {

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// A record with fixed fields, for the sinks.
class Fixed : public Record {
 public:
  explicit Fixed(std::string value, const char* type = "event") : value_(std::move(value)), type_(type) {}
  const char* type() const override { return type_; }
  std::chrono::system_clock::time_point ts() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1764074944123LL));
  }
  void text(std::string& out) const override { out += "value " + text_safe(value_) + "\n"; }
  void json(JsonLine& j) const override { j.field("value", value_).field("n", 23); }

 private:
  std::string value_;
  const char* type_;
};

}  // namespace

TEST_CASE("UTF-8 validation", "[strings]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("é 日本語 😀"));
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\xc3"));              // cut sequence
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  CHECK_FALSE(is_valid_utf8("\x80"));              // stray continuation
}

TEST_CASE("JSON strings: valid UTF-8 unchanged, invalid bytes in the escaped form", "[json]") {
  for (const char* s : {"ünï", "日本語", "😀", "é", "plain"}) {
    INFO(s);
    CHECK(json_string(s) == std::string("\"") + s + "\"");
    CHECK(json::parse(json_string(s)).get<std::string>() == s);
  }
  CHECK(json_string("a\"b\\c\n\x01\x7f") == "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
  CHECK(json::parse(json_string("a\nb\x1b[31m")).get<std::string>() == "a\nb\x1b[31m");
  // Invalid: \xHH for each invalid byte, backslashes doubled, valid parts kept.
  CHECK(json::parse(json_string("\xff\xfe")).get<std::string>() == "\\xff\\xfe");
  CHECK(json::parse(json_string("é\xff\\x")).get<std::string>() == "é\\xff\\\\x");
  std::string out;
  CHECK_FALSE(append_json_string(out, "\xff"));
  CHECK(append_json_string(out, "ok"));
}

TEST_CASE("escaped form decodes back to the original bytes", "[json]") {
  auto decode = [](const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\') {
        out += s[i];
      } else if (s[i + 1] == '\\') {
        out += '\\';
        ++i;
      } else {  // \xHH
        out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
        i += 3;
      }
    }
    return out;
  };
  for (std::string original :
       {std::string("\xff\xfe"), std::string("a\\xff\xff"), std::string("é\x80\\\\"), std::string("\xc3(\xe2\x82")}) {
    std::string escaped;
    append_escaped_form(escaped, original);
    CHECK(decode(escaped) == original);
  }
}

TEST_CASE("JsonLine: fields, nesting, numbers, and the invalid_utf8 list", "[json]") {
  std::string line = json_of([](JsonLine& j) {
    j.field("s", "ünï").field("i", -5).field("u", 18446744073709551615ULL).field("d", 0.1).field("b", true);
    j.null("n").field("inf", 1.0 / 0.0).raw("exact", "0.244123127");
    j.begin_array("args").element("a").element("\xff").element(std::string_view("日本語")).end();
    j.begin_object("o").field("bad", "x\xfe").begin_array("deep").element(1LL).end().end();
    j.begin_array("rows").begin_object().field("k", "\xfa").end().end();
  });
  INFO(line);
  json v = json::parse(line);
  CHECK(v["s"] == "ünï");
  CHECK(v["i"] == -5);
  CHECK(v["u"] == 18446744073709551615ULL);
  CHECK(v["d"] == 0.1);
  CHECK(v["b"] == true);
  CHECK(v["n"].is_null());
  CHECK(v["inf"].is_null());
  CHECK(v["exact"] == 0.244123127);
  CHECK(v["args"] == json::array({"a", "\\xff", "日本語"}));
  CHECK(v["o"]["bad"] == "x\\xfe");
  CHECK(v["invalid_utf8"] == json::array({"args.1", "o.bad", "rows.0.k"}));
  CHECK(json::parse(json_of([](JsonLine& j) { j.field("a", "b"); })).count("invalid_utf8") == 0);
}

TEST_CASE("JsonSink: the envelope on every line, notices as JSON lines", "[json][sink]") {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  REQUIRE(f);
  {
    JsonSink sink("tool_x", f);
    sink.write(Fixed("日本語 \xff"));
    sink.notice({NoticeLevel::Warning, "events_lost", "lost 3 events", 3, 7});
    SummaryRecord s;
    s.duration_s = 1.23456;
    s.events = 23;
    sink.write(s);
    sink.flush();
    CHECK(sink.error().empty());
  }
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  std::vector<json> lines;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    REQUIRE(nl != std::string::npos);
    lines.push_back(json::parse(out.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  REQUIRE(lines.size() == 3);
  for (const auto& l : lines) {
    CHECK(l["tool"] == "tool_x");
    CHECK(l["ts"].get<std::string>().size() == 24);
  }
  // The record's fields follow the envelope, in order.
  CHECK(out.rfind(R"({"tool":"tool_x","type":"event","ts":"2025-11-25T12:49:04.123Z","value":"日本語 \\xff","n":23,)",
                  0) == 0);
  CHECK(lines[0]["invalid_utf8"] == json::array({"value"}));
  CHECK(lines[1]["type"] == "notice");
  CHECK(lines[1]["kind"] == "events_lost");
  CHECK(lines[1]["count"] == 3);
  CHECK(lines[1]["total"] == 7);
  CHECK(lines[2]["type"] == "summary");
  CHECK(lines[2]["events"] == 23);
  CHECK(lines[2]["duration_s"] == 1.235);
  for (const char* k : {"lost", "evicted", "not_counted"}) CHECK(lines[2][k] == 0);
}

TEST_CASE("TextSink: the record's text; FileTee: the same rendering in the file", "[sink]") {
  char *obuf = nullptr, *fbuf = nullptr;
  size_t olen = 0, flen = 0;
  FILE* out = open_memstream(&obuf, &olen);
  FILE* file = open_memstream(&fbuf, &flen);
  {
    TextSink text(out);
    FileTee tee(text, file, "mem", {"connection"});
    tee.write(Fixed("a\nb\x1b[31m", "connection"));
    tee.write(Fixed("other"));
    SummaryRecord s;
    s.events = 29;
    s.events_name = "connections";
    s.extra_text = "extra\n";
    tee.write(s);
    tee.flush();
  }
  std::fclose(out);
  std::fclose(file);
  std::string o(obuf, olen), f(fbuf, flen);
  std::free(obuf);
  std::free(fbuf);
  CHECK(o ==
        "value a\\nb\\x1b[31m\nvalue other\nextra\nTraced 0.0 s: 29 connections, 0 lost, 0 evicted, 0 not counted\n");
  CHECK(f == "value a\\nb\\x1b[31m\n");
}

TEST_CASE("text_safe: UTF-8 as is, controls and invalid bytes escaped", "[strings]") {
  CHECK(text_safe("ünï 日本語 😀") == "ünï 日本語 😀");
  CHECK(text_safe("a\nb\tc") == "a\\nb\\tc");
  CHECK(text_safe("\x1b[31mred") == "\\x1b[31mred");
  CHECK(text_safe("\xff\xfe") == "\\xff\\xfe");
  CHECK(text_safe("back\\slash") == "back\\\\slash");
  CHECK(text_safe("\xc2\x85") == "\\u{0085}");            // C1 control (NEL)
  CHECK(text_safe("abc\xe2\x80\xae") == "abc\\u{202e}");  // right-to-left override
  CHECK(text_safe("\x7f") == "\\x7f");
}
