#include "io/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/check.h"

namespace gbad {

// ---- atomic writes -------------------------------------------------------------------------

namespace {

std::string dir_of(const std::string& path) {
  auto pos = path.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path)
    : path_(path), tmp_(path + ".tmp." + std::to_string(static_cast<long>(::getpid()))) {
  GBAD_CHECK(!path.empty(), "cannot write a file with an empty path");
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) fail("cannot create temporary file '" + tmp_ + "'", errno);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (f_) {
    std::fclose(f_);
    f_ = nullptr;
  }
  std::remove(tmp_.c_str());
}

void AtomicFile::fail(const std::string& what, int err) {
  discard();
  committed_ = true;  // nothing left to clean up
  GBAD_FAIL("cannot write '", path_, "': ", what, ": ", std::strerror(err));
}

void AtomicFile::write(const void* data, size_t bytes) {
  GBAD_CHECK(f_ != nullptr, "write to '", path_, "' after commit or failure");
  if (bytes == 0) return;
  if (std::fwrite(data, 1, bytes, f_) != bytes) fail("write failed", errno);
  written_ += bytes;
}

void AtomicFile::commit() {
  GBAD_CHECK(f_ != nullptr, "commit of '", path_, "' after commit or failure");
  if (std::fflush(f_) != 0) fail("flush failed", errno);
  if (::fsync(::fileno(f_)) != 0) fail("fsync failed", errno);
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) fail("close failed", errno);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail("rename from '" + tmp_ + "' failed", errno);
  committed_ = true;
  // Make the rename itself durable; best effort (some filesystems refuse fsync on a directory).
  int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

void write_file_atomic(const std::string& path, const std::function<void(AtomicFile&)>& fill) {
  AtomicFile f(path);
  fill(f);  // on a throw, ~AtomicFile removes the temporary file
  f.commit();
}

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) GBAD_FAIL("cannot open '", path, "': ", std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof(buf), f);
    out.append(buf, n);
    if (n < sizeof(buf)) {
      if (std::ferror(f)) {
        int err = errno;
        std::fclose(f);
        GBAD_FAIL("cannot read '", path, "': ", std::strerror(err));
      }
      break;
    }
  }
  std::fclose(f);
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// ---- JSON writing ---------------------------------------------------------------------------

std::string json_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
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
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::string json_quote(const std::string& s) {
  return "\"" + json_escape(s) + "\"";
}

void JsonWriter::newline() {
  if (!pretty_) return;
  out_ += '\n';
  out_.append(2 * first_.size(), ' ');
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
    newline();
  }
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  GBAD_CHECK(!first_.empty() && !after_key_, "JsonWriter: unbalanced end_object");
  bool empty = first_.back();
  first_.pop_back();
  if (!empty) newline();
  out_ += '}';
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  GBAD_CHECK(!first_.empty() && !after_key_, "JsonWriter: unbalanced end_array");
  bool empty = first_.back();
  first_.pop_back();
  if (!empty) newline();
  out_ += ']';
  return *this;
}

JsonWriter& JsonWriter::key(const std::string& k) {
  GBAD_CHECK(!after_key_, "JsonWriter: key '", k, "' follows another key");
  before_value();
  out_ += json_quote(k);
  out_ += pretty_ ? ": " : ":";
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(const std::string& v) {
  before_value();
  out_ += json_quote(v);
  return *this;
}

JsonWriter& JsonWriter::value(double v) {
  if (!std::isfinite(v)) return null();
  before_value();
  // Shortest of %.15g / %.17g that reads back exactly.
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof(buf), "%.17g", v);
  out_ += buf;
  return *this;
}

JsonWriter& JsonWriter::value(int64_t v) {
  before_value();
  out_ += std::to_string(v);
  return *this;
}

JsonWriter& JsonWriter::value(uint64_t v) {
  before_value();
  out_ += std::to_string(v);
  return *this;
}

JsonWriter& JsonWriter::value(bool v) {
  before_value();
  out_ += v ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_ += "null";
  return *this;
}

// ---- JSON reading ---------------------------------------------------------------------------

const JsonValue* JsonValue::find(const std::string& key) const {
  if (kind != Kind::Object) return nullptr;
  for (const auto& kv : obj)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

namespace {

class JsonParser {
 public:
  JsonParser(const std::string& text, const std::string& what) : t_(text), what_(what) {}

  JsonValue parse_document() {
    JsonValue v = parse_value(0);
    skip_ws();
    if (p_ != t_.size()) fail("unexpected trailing characters");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void fail(const std::string& why) const {
    GBAD_FAIL(what_, ": invalid JSON at byte ", p_, ": ", why);
  }
  bool at_end() const { return p_ >= t_.size(); }
  char peek() const { return at_end() ? '\0' : t_[p_]; }
  void skip_ws() {
    while (!at_end() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\n' || t_[p_] == '\r')) ++p_;
  }
  void expect(char c) {
    if (peek() != c || at_end()) fail(std::string("expected '") + c + "'");
    ++p_;
  }
  void literal(const char* word) {
    size_t n = std::strlen(word);
    if (t_.compare(p_, n, word) != 0) fail("unknown literal");
    p_ += n;
  }

  JsonValue parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64 levels");
    skip_ws();
    if (at_end()) fail("unexpected end of input");
    JsonValue v;
    char c = t_[p_];
    if (c == '{') {
      v.kind = JsonValue::Kind::Object;
      ++p_;
      skip_ws();
      if (peek() == '}' && !at_end()) {
        ++p_;
        return v;
      }
      for (;;) {
        skip_ws();
        if (peek() != '"' || at_end()) fail("expected a string key");
        std::string k = parse_string();
        for (const auto& kv : v.obj)
          if (kv.first == k) fail("duplicate key \"" + json_escape(k) + "\"");
        skip_ws();
        expect(':');
        JsonValue child = parse_value(depth + 1);
        v.obj.emplace_back(std::move(k), std::move(child));
        skip_ws();
        if (peek() == ',' && !at_end()) {
          ++p_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = JsonValue::Kind::Array;
      ++p_;
      skip_ws();
      if (peek() == ']' && !at_end()) {
        ++p_;
        return v;
      }
      for (;;) {
        v.arr.push_back(parse_value(depth + 1));
        skip_ws();
        if (peek() == ',' && !at_end()) {
          ++p_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.s = parse_string();
      return v;
    }
    if (c == 't') {
      literal("true");
      v.kind = JsonValue::Kind::Bool;
      v.b = true;
      return v;
    }
    if (c == 'f') {
      literal("false");
      v.kind = JsonValue::Kind::Bool;
      return v;
    }
    if (c == 'n') {
      literal("null");
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    fail(std::string("unexpected character '") + c + "'");
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  JsonValue parse_number() {
    size_t start = p_;
    bool neg = false;
    if (peek() == '-') {
      neg = true;
      ++p_;
    }
    if (at_end() || !is_digit(t_[p_])) fail("expected a digit");
    bool integral = true;
    if (t_[p_] == '0') {
      ++p_;
    } else {
      while (!at_end() && is_digit(t_[p_])) ++p_;
    }
    if (!at_end() && t_[p_] == '.') {
      integral = false;
      ++p_;
      if (at_end() || !is_digit(t_[p_])) fail("expected a digit after '.'");
      while (!at_end() && is_digit(t_[p_])) ++p_;
    }
    if (!at_end() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      integral = false;
      ++p_;
      if (!at_end() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
      if (at_end() || !is_digit(t_[p_])) fail("expected a digit in the exponent");
      while (!at_end() && is_digit(t_[p_])) ++p_;
    }
    JsonValue v;
    v.kind = JsonValue::Kind::Number;
    std::string tok = t_.substr(start, p_ - start);
    v.d = std::strtod(tok.c_str(), nullptr);
    if (integral) {
      // Exact int64 when it fits (magnitude accumulated as unsigned to catch overflow).
      uint64_t mag = 0;
      bool overflow = false;
      for (size_t k = neg ? 1 : 0; k < tok.size(); ++k) {
        uint64_t digit = static_cast<uint64_t>(tok[k] - '0');
        if (mag > (UINT64_MAX - digit) / 10) {
          overflow = true;
          break;
        }
        mag = mag * 10 + digit;
      }
      uint64_t limit =
          neg ? static_cast<uint64_t>(INT64_MAX) + 1 : static_cast<uint64_t>(INT64_MAX);
      if (!overflow && mag <= limit) {
        v.is_int = true;
        v.i = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
      }
    }
    return v;
  }

  unsigned parse_hex4() {
    if (p_ + 4 > t_.size()) fail("truncated \\u escape");
    unsigned cp = 0;
    for (int k = 0; k < 4; ++k) {
      char h = t_[p_++];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= static_cast<unsigned>(h - 'A' + 10);
      else
        fail("bad hex digit in \\u escape");
    }
    return cp;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      char c = t_[p_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail("unterminated escape");
      char e = t_[p_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = parse_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (t_.compare(p_, 2, "\\u") != 0) fail("unpaired surrogate in \\u escape");
            p_ += 2;
            unsigned lo = parse_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  const std::string& t_;
  const std::string& what_;
  size_t p_ = 0;
};

}  // namespace

JsonValue parse_json(const std::string& text, const std::string& what) {
  return JsonParser(text, what).parse_document();
}

}  // namespace gbad
