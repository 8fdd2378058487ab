#include "train/cli.h"

#include "io/io.h"
#include "io/json.h"

namespace gbad {

std::vector<std::pair<std::string, std::string>> read_config_options(const std::string& file,
                                                                     const std::string& program) {
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

}  // namespace gbad
