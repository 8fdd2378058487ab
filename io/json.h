// JSON through nlohmann-json (Debian nlohmann-json3-dev): the one type every gbad file uses
// (run directories' config.json, versions.json, summary.json, metrics.json, metrics.jsonl and
// the safetensors headers), plus parsing and writing with gbad's error style.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gbad {

// Objects keep their keys in the order they were written (config.json lists the options in
// --help order), so files read like the ones the earlier hand-written writer produced.
using Json = nlohmann::ordered_json;

// Parses one complete JSON text. Throws gbad::Error "<what>: invalid JSON at byte N: reason" on
// a syntax error (including invalid UTF-8), and "<what>: invalid JSON: ..." on nesting deeper
// than 64 levels or on a key repeated within one object (which nlohmann would silently
// collapse into one).
Json parse_json(const std::string& text, const std::string& what = "JSON");
// read_file + parse_json; errors name the path.
Json read_json_file(const std::string& path);

// The text of j: one line when indent < 0 (metrics.jsonl, safetensors headers), else pretty
// with `indent` spaces. NaN and infinities are written as null (JSON has neither); bytes that
// are not UTF-8 are replaced by U+FFFD instead of throwing.
std::string json_text(const Json& j, int indent = -1);
// json_text(j, 2) + "\n", written atomically (io.h).
void write_json_file(const std::string& path, const Json& j);

// j[key] when j is an object holding key, else nullptr.
const Json* json_find(const Json& j, const std::string& key);
// The number at v as a double; NaN when v is null, absent or not a number.
double json_number_or_nan(const Json* v);

}  // namespace gbad
