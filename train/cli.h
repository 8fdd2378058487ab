// A tiny command-line parser for the gbad executables: --name value, --flag, required and
// optional options with defaults, generated --help text, unknown options rejected by name.
// Every command-line mistake throws UsageError (the binaries exit with status 2 on it).
// Every binary also takes --config FILE, a JSON file of options under the command line (see
// read_config_options); a run directory's config.json is such a file.
#pragma once

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "io/io.h"
#include "io/json.h"

namespace gbad {

// A bad command line: unknown, missing or malformed option.
class UsageError : public Error {
 public:
  using Error::Error;
};

// The options of a --config FILE for `program`, as (name, value) strings. FILE holds a JSON
// object, either {"name": value, ...} or a run directory's config.json ({"phase": ..,
// "options": {...}, ...}: its "options" are read, its "phase" must be this program's, and its
// other top-level entries, records of the run, are ignored). Values are strings, numbers or
// booleans (a flag: true/false or "1"/"0"). Throws UsageError naming the file and what is
// wrong; option names are checked by Cli::parse.
inline std::vector<std::pair<std::string, std::string>> read_config_options(
    const std::string& file, const std::string& program) {
  if (!file_exists(file)) throw UsageError("--config " + file + ": no such file");
  Json j;
  try {
    j = read_json_file(file);
  } catch (const std::exception& e) {
    throw UsageError(std::string("--config: ") + e.what());
  }
  if (!j.is_object()) throw UsageError(file + ": a config file holds a JSON object of options");
  const Json* opts = &j;
  if (j.contains("options")) {  // a run directory's config.json
    const Json& ph = j.contains("phase") ? j["phase"] : Json();
    if (ph.is_string() && "gbad-" + ph.get<std::string>() != program)
      throw UsageError(file + " is the config.json of a '" + ph.get<std::string>() +
                       "' run, not of " + program);
    opts = &j["options"];
    if (!opts->is_object()) throw UsageError(file + ": \"options\" is not a JSON object");
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, v] : opts->items()) {
    if (v.is_string())
      out.emplace_back(name, v.get<std::string>());
    else if (v.is_boolean())
      out.emplace_back(name, v.get<bool>() ? "1" : "0");
    else if (v.is_number())
      out.emplace_back(name, v.dump());
    else
      throw UsageError(file + ": option '" + name +
                       "' must be a string, a number or a boolean, got " + v.dump());
  }
  return out;
}

class Cli {
 public:
  Cli(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)) {}

  // An option taking a value. An empty default with required=true must be given.
  Cli& option(const std::string& name, const std::string& def, const std::string& help,
              bool required = false) {
    opts_.push_back({name, def, help, false, required});
    return *this;
  }
  Cli& flag(const std::string& name, const std::string& help) {
    opts_.push_back({name, "", help, true, false});
    return *this;
  }

  // Returns false when --help was asked for (the help text is then in help()).
  // A --config FILE sets options first (unknown names are an error naming the file); the
  // command line overrides them.
  bool parse(int argc, char** argv) {
    if (!find("config"))
      option("config", "",
             "JSON file of options, e.g. a run's config.json (the command line overrides it)");
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      std::string file;
      if (a == "--config" && i + 1 < argc)
        file = argv[i + 1];
      else if (a.rfind("--config=", 0) == 0)
        file = a.substr(9);
      else
        continue;
      for (const auto& [name, value] : read_config_options(file, program_)) {
        const Opt* o = find(name);
        usage_check(o != nullptr && name != "config", file, ": unknown option '", name, "' for ",
                    program_, " (see --help)");
        if (!o->is_flag) {
          values_[name] = value;
          continue;
        }
        usage_check(value == "1" || value == "0", file, ": flag '", name,
                    "' must be true, false, \"1\" or \"0\", got '", value, "'");
        if (value == "1")
          values_[name] = "1";
        else
          values_.erase(name);
      }
    }
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") return false;
      usage_check(a.rfind("--", 0) == 0, "unexpected argument '", a,
                  "' (options start with --; see --help)");
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      const Opt* o = find(name);
      usage_check(o != nullptr, "unknown option --", name, " (see --help)");
      if (o->is_flag) {
        usage_check(!has_value, "option --", name, " takes no value");
        values_[name] = "1";
        continue;
      }
      if (!has_value) {
        usage_check(i + 1 < argc, "option --", name, " needs a value");
        value = argv[++i];
      }
      values_[name] = value;
    }
    for (const Opt& o : opts_)
      usage_check(!o.required || values_.count(o.name), "missing required option --", o.name,
                  " (see --help)");
    return true;
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  // Replaces an option's value after parsing (resolving "auto" defaults), so config.json
  // records what was used.
  void set(const std::string& name, const std::string& value) {
    GBAD_CHECK(find(name), "Cli: option --", name, " was never declared");
    values_[name] = value;
  }
  bool get_flag(const std::string& name) const { return has(name); }
  std::string get(const std::string& name) const {
    auto it = values_.find(name);
    if (it != values_.end()) return it->second;
    const Opt* o = find(name);
    GBAD_CHECK(o, "Cli: option --", name, " was never declared");
    return o->def;
  }
  long long get_int(const std::string& name) const {
    std::string s = get(name);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    usage_check(!s.empty() && *end == '\0', "option --", name, ": '", s, "' is not an integer");
    return v;
  }
  double get_double(const std::string& name) const {
    std::string s = get(name);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    usage_check(!s.empty() && *end == '\0', "option --", name, ": '", s, "' is not a number");
    return v;
  }
  // Comma-separated integers: "10,100".
  std::vector<int> get_int_list(const std::string& name) const {
    std::vector<int> out;
    std::stringstream ss(get(name));
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      long v = std::strtol(item.c_str(), &end, 10);
      usage_check(!item.empty() && *end == '\0', "option --", name, ": '", item,
                  "' is not an integer");
      out.push_back(static_cast<int>(v));
    }
    return out;
  }

  // Every declared option with its value as given or its default (flags: "1" or "0"), in
  // declaration order: what a run directory's config.json records. Not --config itself: its
  // options are recorded, so a rerun from the file records the same.
  std::vector<std::pair<std::string, std::string>> resolved() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Opt& o : opts_)
      if (o.name != "config")
        out.emplace_back(o.name, o.is_flag ? (has(o.name) ? "1" : "0") : get(o.name));
    return out;
  }

  std::string help() const {
    std::ostringstream os;
    os << "usage: " << program_ << " [options]\n" << summary_ << "\n\noptions:\n";
    for (const Opt& o : opts_) {
      std::string head = "  --" + o.name + (o.is_flag ? "" : " VALUE");
      os << head << std::string(head.size() < 24 ? 24 - head.size() : 1, ' ') << o.help;
      if (o.required)
        os << " (required)";
      else if (!o.is_flag && !o.def.empty())
        os << " (default: " << o.def << ")";
      os << "\n";
    }
    os << "  --help                print this help\n";
    return os.str();
  }

 private:
  template <typename... Args>
  static void usage_check(bool ok, const Args&... args) {
    if (!ok) throw UsageError(detail::concat(args...));
  }
  struct Opt {
    std::string name, def, help;
    bool is_flag, required;
  };
  const Opt* find(const std::string& name) const {
    for (const Opt& o : opts_)
      if (o.name == name) return &o;
    return nullptr;
  }
  std::string program_, summary_;
  std::vector<Opt> opts_;
  std::map<std::string, std::string> values_;
};

}  // namespace gbad
