#include "train/run_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "gbad_build_info.h"
#include "core/check.h"

#ifdef GBAD_WITH_CUDA
#include <cuda_runtime.h>
#include <cudnn.h>
#endif

namespace gbad {

void make_dirs(const std::string& path) {
  GBAD_CHECK(!path.empty(), "empty directory path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0775) != 0 && errno != EEXIST)
      GBAD_FAIL("cannot create directory ", cur, ": ", std::strerror(errno));
  }
  struct stat st {};
  GBAD_CHECK(::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode), path,
             " exists and is not a directory");
}

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

RunDir::RunDir(const std::string& path, const std::string& phase) : path_(path), phase_(phase) {
  make_dirs(path);
}

bool RunDir::has(const std::string& name) const {
  return file_exists(file(name));
}

void RunDir::write_command(int argc, char** argv) const {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool quote = a.find_first_of(" \t\"'$") != std::string::npos || a.empty();
    s += (i ? " " : "") + (quote ? "'" + a + "'" : a);
  }
  write_file_atomic(file("command.txt"), s + "\n");
}

void RunDir::write_config(const ConfigList& options, const ConfigList& extra) const {
  JsonWriter j(true);
  j.begin_object().key("phase").value(phase_).key("written").value(now_iso8601());
  j.key("options").begin_object();
  for (const auto& [k, v] : options) j.key(k).value(v);
  j.end_object();
  for (const auto& [k, v] : extra) j.key(k).value(v);
  j.end_object();
  write_file_atomic(file("config.json"), j.str() + "\n");
}

void RunDir::write_versions(Context& ctx) const {
  JsonWriter j(true);
  j.begin_object()
      .key("gbad_version")
      .value(GBAD_VERSION_STRING)
      .key("git_commit")
      .value(GBAD_GIT_COMMIT)
      .key("build_type")
      .value(GBAD_BUILD_TYPE)
      .key("device")
      .value(device_name(ctx.device()))
      .key("device_name")
      .value(ctx.device_description());
#ifdef GBAD_WITH_CUDA
  j.key("cuda_compiled").value(true).key("cuda_archs").value(GBAD_CUDA_ARCHS);
  if (ctx.is_cuda()) {
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    j.key("cuda_runtime").value(static_cast<int64_t>(rt));
    j.key("cuda_driver").value(static_cast<int64_t>(drv));
    j.key("cudnn").value(static_cast<int64_t>(cudnnGetVersion()));
  }
#else
  j.key("cuda_compiled").value(false);
#endif
  j.end_object();
  write_file_atomic(file("versions.json"), j.str() + "\n");
}

RunConfig::RunConfig(const std::string& dir, const std::string& expected_phase)
    : dir_(dir), phase_(expected_phase) {
  struct stat st {};
  GBAD_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "run directory ", dir,
             " does not exist");
  std::string cfg = dir + "/config.json";
  GBAD_CHECK(file_exists(cfg), dir, " is not a gbad run directory (no config.json)");
  json_ = parse_json(read_file(cfg), cfg);
  const JsonValue* ph = json_.find("phase");
  GBAD_CHECK(ph && ph->is_string(), cfg, " has no \"phase\"");
  GBAD_CHECK(ph->s == expected_phase, dir, " was written by phase '", ph->s, "', expected a '",
             expected_phase, "' run directory");
}

std::string RunConfig::file(const std::string& name) const {
  std::string p = dir_ + "/" + name;
  GBAD_CHECK(file_exists(p), "run directory ", dir_, " has no ", name, " (did that phase finish?)");
  return p;
}

std::string RunConfig::option_or(const std::string& name, const std::string& def) const {
  const JsonValue* o = json_.find("options");
  const JsonValue* v = o ? o->find(name) : nullptr;
  return v && v->is_string() ? v->s : def;
}

std::string RunConfig::option(const std::string& name) const {
  const JsonValue* o = json_.find("options");
  const JsonValue* v = o ? o->find(name) : nullptr;
  GBAD_CHECK(v && v->is_string(), dir_, "/config.json has no option '", name, "'");
  return v->s;
}

std::string RunConfig::extra(const std::string& name) const {
  const JsonValue* v = json_.find(name);
  GBAD_CHECK(v && v->is_string(), dir_, "/config.json has no entry '", name, "'");
  return v->s;
}

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  f_ = std::fopen(path.c_str(), append ? "a" : "w");
  GBAD_CHECK(f_, "cannot open ", path, ": ", std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const std::string& json_object) {
  if (!f_) return;
  std::fputs(json_object.c_str(), f_);
  std::fputc('\n', f_);
  std::fflush(f_);
}

}  // namespace gbad
