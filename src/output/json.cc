#include "output/json.h"

#include <charconv>
#include <cmath>

#include "output/strings.h"

namespace tracekit {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_json_escaped(std::string& out, std::string_view s) {
  size_t run = 0;  // start of the bytes that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
  out.append(s.data() + run, s.size() - run);
}

template <class T>
void append_number(std::string& out, T v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  out.append(buf, r.ptr);
}

}  // namespace

bool append_json_string(std::string& out, std::string_view s) {
  out += '"';
  const bool valid = is_valid_utf8(s);
  if (valid) {
    append_json_escaped(out, s);
  } else {
    std::string escaped;
    append_escaped_form(escaped, s);
    append_json_escaped(out, escaped);
  }
  out += '"';
  return valid;
}

JsonLine::JsonLine(std::string& out) : out_(out) {
  out_ += '{';
  stack_.push_back({false, true, {}, 0});
}

void JsonLine::comma() {
  Level& l = stack_.back();
  if (!l.first) out_ += ',';
  l.first = false;
}

void JsonLine::key(std::string_view k) {
  comma();
  current_key_ = k;
  append_json_escaped((out_ += '"'), k);
  out_ += "\":";
}

void JsonLine::path_of_current(std::string& path) const {
  for (size_t i = 1; i < stack_.size(); ++i) {
    if (!stack_[i].key.empty()) {
      if (!path.empty()) path += '.';
      path += stack_[i].key;
    }
    if (i + 1 < stack_.size() && stack_[i].array) path += "." + std::to_string(stack_[i].index - 1);
  }
  const Level& top = stack_.back();
  if (top.array) {
    if (!path.empty()) path += '.';
    path += std::to_string(top.index);
  } else {
    if (!path.empty()) path += '.';
    path += current_key_;
  }
}

void JsonLine::string_value(std::string_view v) {
  if (append_json_string(out_, v)) return;
  std::string path;
  path_of_current(path);
  invalid_.push_back(std::move(path));
}

JsonLine& JsonLine::field(std::string_view k, std::string_view v) {
  key(k);
  string_value(v);
  return *this;
}
JsonLine& JsonLine::field(std::string_view k, bool v) {
  key(k);
  out_ += v ? "true" : "false";
  return *this;
}
JsonLine& JsonLine::field(std::string_view k, double v) {
  key(k);
  append_double(out_, v);
  return *this;
}
JsonLine& JsonLine::field(std::string_view k, long long v) {
  key(k);
  append_number(out_, v);
  return *this;
}
JsonLine& JsonLine::field(std::string_view k, unsigned long long v) {
  key(k);
  append_number(out_, v);
  return *this;
}
JsonLine& JsonLine::null(std::string_view k) {
  key(k);
  out_ += "null";
  return *this;
}

JsonLine& JsonLine::raw(std::string_view k, std::string_view json) {
  key(k);
  out_ += json;
  return *this;
}

JsonLine& JsonLine::begin_array(std::string_view k) {
  key(k);
  out_ += '[';
  stack_.push_back({true, true, k, 0});
  return *this;
}
JsonLine& JsonLine::begin_object(std::string_view k) {
  key(k);
  out_ += '{';
  stack_.push_back({false, true, k, 0});
  return *this;
}
JsonLine& JsonLine::begin_array() {
  comma();
  ++stack_.back().index;
  out_ += '[';
  stack_.push_back({true, true, {}, 0});
  return *this;
}
JsonLine& JsonLine::begin_object() {
  comma();
  ++stack_.back().index;
  out_ += '{';
  stack_.push_back({false, true, {}, 0});
  return *this;
}
JsonLine& JsonLine::end() {
  if (stack_.size() <= 1) return *this;
  out_ += stack_.back().array ? ']' : '}';
  stack_.pop_back();
  return *this;
}

JsonLine& JsonLine::element(std::string_view v) {
  comma();
  string_value(v);
  ++stack_.back().index;
  return *this;
}
JsonLine& JsonLine::element(long long v) {
  comma();
  append_number(out_, v);
  ++stack_.back().index;
  return *this;
}
JsonLine& JsonLine::element(unsigned long long v) {
  comma();
  append_number(out_, v);
  ++stack_.back().index;
  return *this;
}
JsonLine& JsonLine::element(double v) {
  comma();
  append_double(out_, v);
  ++stack_.back().index;
  return *this;
}

void JsonLine::finish() {
  while (stack_.size() > 1) end();
  if (!invalid_.empty()) {
    std::vector<std::string> names = std::move(invalid_);
    begin_array("invalid_utf8");
    for (const auto& n : names) element(n);
    end();
  }
  out_ += '}';
  stack_.clear();
}

}  // namespace tracekit
