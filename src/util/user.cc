#include "util/user.h"

#include <pwd.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace tracekit {

std::optional<std::string> user_name(uint32_t uid) {
  static std::mutex mu;
  static std::unordered_map<uint32_t, std::optional<std::string>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(uid);
  if (it != cache.end()) return it->second;
  std::optional<std::string> name;
  struct passwd pw {};
  struct passwd* res = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res) name = res->pw_name;
  cache.emplace(uid, name);
  return name;
}

std::optional<uid_t> uid_from_name(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    uint32_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v == 0xffffffffu) return std::nullopt;
    return v;
  }
  struct passwd pw {};
  struct passwd* res = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(text.c_str(), &pw, buf.data(), buf.size(), &res) == 0 && res) return res->pw_uid;
  return std::nullopt;
}

}  // namespace tracekit
