#include "io/json.h"

#include <cmath>
#include <set>
#include <vector>

#include "core/check.h"
#include "io/io.h"

namespace gbad {

namespace {

constexpr int kMaxDepth = 64;

// nlohmann's messages start with "[json.exception.parse_error.101] "; keep the reason only.
std::string reason(const std::exception& e) {
  std::string s = e.what();
  const auto p = s.find("] ");
  return p == std::string::npos ? s : s.substr(p + 2);
}

}  // namespace

Json parse_json(const std::string& text, const std::string& what) {
  // One entry per open container: the keys seen so far (arrays keep an empty set).
  std::vector<std::set<std::string>> open;
  auto check = [&](int /*depth*/, Json::parse_event_t ev, Json& parsed) {
    switch (ev) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        open.emplace_back();
        if (static_cast<int>(open.size()) > kMaxDepth)
          GBAD_FAIL(what, ": invalid JSON: nesting deeper than ", kMaxDepth, " levels");
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open.empty() && !open.back().insert(parsed.get<std::string>()).second)
          GBAD_FAIL(what, ": invalid JSON: duplicate key \"", parsed.get<std::string>(), "\"");
        break;
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text, check);
  } catch (const Json::parse_error& e) {
    GBAD_FAIL(what, ": invalid JSON at byte ", e.byte, ": ", reason(e));
  } catch (const Json::exception& e) {  // e.g. a number out of range ('1e400', found by fuzzing)
    GBAD_FAIL(what, ": invalid JSON: ", e.what());
  }
}

Json read_json_file(const std::string& path) {
  return parse_json(read_file(path), path);
}

std::string json_text(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

void write_json_file(const std::string& path, const Json& j) {
  write_file_atomic(path, json_text(j, 2) + "\n");
}

const Json* json_find(const Json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

double json_number_or_nan(const Json* v) {
  return v && v->is_number() ? v->get<double>() : std::nan("");
}

}  // namespace gbad
