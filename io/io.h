// File I/O helpers: atomic writes (temp file in the same directory, fsync, rename over the
// target, so a crash or an error never leaves a half-written file where a good one was), whole
// file reads with clear errors, and a small JSON writer and reader (enough for safetensors
// headers, run directories and metrics files; no external dependency).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace gbad {

// Writes `<path>.tmp.<pid>` next to `path`, then fflush + fsync + rename over `path`. Until
// commit() succeeds, `path` is untouched; if the object is destroyed before commit() (an
// exception while writing), the temporary file is removed. Every failure throws gbad::Error
// naming the path and the errno text.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  size_t bytes_written() const { return written_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  void discard() noexcept;
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  size_t written_ = 0;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, const std::string& bytes);
// Streaming variant: `fill` writes the content; if it throws, the temp file is removed, `path`
// is left as it was, and the exception propagates.
void write_file_atomic(const std::string& path, const std::function<void(AtomicFile&)>& fill);

// The whole file; throws naming the path and the errno text when it cannot be read.
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);

// JSON string escaping (quotes, backslash, control characters as \uXXXX); no surrounding
// quotes. json_quote adds them.
std::string json_escape(const std::string& s);
std::string json_quote(const std::string& s);

// Minimal streaming JSON writer; commas are inserted automatically.
//   JsonWriter j; j.begin_object().key("map").value(0.5).key("tags").begin_array()
//     .value("a").end_array().end_object(); j.str()
// Non-finite doubles are written as null (JSON has no NaN/Inf).
class JsonWriter {
 public:
  explicit JsonWriter(bool pretty = false) : pretty_(pretty) {}
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(const std::string& k);
  JsonWriter& value(const std::string& v);
  JsonWriter& value(const char* v) { return value(std::string(v)); }
  JsonWriter& value(double v);
  JsonWriter& value(float v) { return value(static_cast<double>(v)); }
  JsonWriter& value(int64_t v);
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(uint64_t v);
  JsonWriter& value(bool v);
  JsonWriter& null();
  const std::string& str() const { return out_; }

 private:
  void before_value();
  void newline();
  std::string out_;
  std::vector<bool> first_;  // one per open container: no element written yet
  bool after_key_ = false;
  bool pretty_;
};

// Parsed JSON value. Numbers that are written as integers (no '.', 'e') and fit in int64 are
// kept exactly (is_int); others are doubles.
struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool b = false;
  bool is_int = false;
  int64_t i = 0;
  double d = 0.0;
  std::string s;
  std::vector<JsonValue> arr;
  std::vector<std::pair<std::string, JsonValue>> obj;  // in file order; keys are unique

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  const JsonValue* find(const std::string& key) const;  // nullptr when absent / not an object
};

// Parses a complete JSON text (RFC 8259; nesting limited to 64 levels; duplicate object keys
// rejected). Throws gbad::Error "<what>: invalid JSON at byte N: reason".
JsonValue parse_json(const std::string& text, const std::string& what = "JSON");

}  // namespace gbad
