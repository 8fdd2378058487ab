// Run directories: every phase writes into --out DIR its resolved configuration
// (config.json), the command line (command.txt), versions (versions.json: gbad version and git
// commit, CUDA runtime/driver and cuDNN versions when used, device name), a metrics log
// (metrics.jsonl, one JSON object per line, flushed as it goes), checkpoints and its outputs.
// Later phases open earlier run directories by path and read their config.json.
#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/context.h"
#include "io/io.h"
#include "io/json.h"
#include "io/tfevents.h"

namespace gbad {

using ConfigList = std::vector<std::pair<std::string, std::string>>;

class RunDir {
 public:
  RunDir() = default;
  // Creates `path` (and parents). `phase` names what writes it ("train-cnn", ...).
  RunDir(const std::string& path, const std::string& phase);
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  bool has(const std::string& name) const;

  void write_command(int argc, char** argv) const;
  // config.json: {"phase": .., "options": {name: value, ...}, extra...}; values as given.
  void write_config(const ConfigList& options, const ConfigList& extra = {}) const;
  void write_versions(Context& ctx) const;

 private:
  std::string path_, phase_;
};

// A run directory written by an earlier phase, opened for reading. Throws naming the
// directory and the missing file when it is not one, or when it was written by another phase.
class RunConfig {
 public:
  RunConfig(const std::string& dir, const std::string& expected_phase);
  const std::string& dir() const { return dir_; }
  std::string file(const std::string& name) const;    // throws when missing
  std::string option(const std::string& name) const;  // throws naming the option and file
  std::string option_or(const std::string& name, const std::string& def) const;
  std::string extra(const std::string& name) const;

 private:
  std::string dir_, phase_;
  Json json_;
};

// metrics.jsonl: one object per line, appended and flushed, so a killed run keeps its log.
class MetricsLog {
 public:
  MetricsLog() = default;
  MetricsLog(const std::string& path, bool append);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  // One object, written as one line; its numeric fields (but "step") also go to TensorBoard
  // event files in the same directory (events.out.tfevents.*, one file per process) at the
  // object's "step".
  void write(const Json& object);

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
  std::unique_ptr<TfEventsWriter> tb_;
};

void make_dirs(const std::string& path);  // mkdir -p; throws naming the path
std::string now_iso8601();

}  // namespace gbad
