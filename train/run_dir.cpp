#include "train/run_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/check.h"
#include "gbad_build_info.h"

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
  Json j = {{"phase", phase_}, {"written", now_iso8601()}, {"options", Json::object()}};
  for (const auto& [k, v] : options) j["options"][k] = v;
  for (const auto& [k, v] : extra) j[k] = v;
  write_json_file(file("config.json"), j);
}

void RunDir::write_versions(Context& ctx) const {
  Json j = {
      {"gbad_version", GBAD_VERSION_STRING},     {"git_commit", GBAD_GIT_COMMIT},
      {"build_type", GBAD_BUILD_TYPE},           {"device", device_name(ctx.device())},
      {"device_name", ctx.device_description()}, {"precision", precision_name(ctx.precision())}};
  // Where half activations live (core/context.h HalfLayout): "nhwc", "boundary", or "none".
  j["half_layout"] = !stores_half(ctx.precision()) ? "none" : ctx.half_nhwc() ? "nhwc" : "boundary";
#ifdef GBAD_WITH_CUDA
  j["cuda_compiled"] = true;
  j["cuda_archs"] = GBAD_CUDA_ARCHS;
  if (ctx.is_cuda()) {
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    j["cuda_runtime"] = rt;
    j["cuda_driver"] = drv;
    j["cudnn"] = static_cast<int64_t>(cudnnGetVersion());
  }
#else
  j["cuda_compiled"] = false;
#endif
  write_json_file(file("versions.json"), j);
}

RunConfig::RunConfig(const std::string& dir, const std::string& expected_phase)
    : dir_(dir), phase_(expected_phase) {
  struct stat st {};
  GBAD_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "run directory ", dir,
             " does not exist");
  std::string cfg = dir + "/config.json";
  GBAD_CHECK(file_exists(cfg), dir, " is not a gbad run directory (no config.json)");
  json_ = read_json_file(cfg);
  const Json* ph = json_find(json_, "phase");
  GBAD_CHECK(ph && ph->is_string(), cfg, " has no \"phase\"");
  const std::string phase = ph->get<std::string>();
  GBAD_CHECK(phase == expected_phase, dir, " was written by phase '", phase, "', expected a '",
             expected_phase, "' run directory");
}

std::string RunConfig::file(const std::string& name) const {
  std::string p = dir_ + "/" + name;
  GBAD_CHECK(file_exists(p), "run directory ", dir_, " has no ", name, " (did that phase finish?)");
  return p;
}

std::string RunConfig::option_or(const std::string& name, const std::string& def) const {
  const Json* o = json_find(json_, "options");
  const Json* v = o ? json_find(*o, name) : nullptr;
  return v && v->is_string() ? v->get<std::string>() : def;
}

std::string RunConfig::option(const std::string& name) const {
  const Json* o = json_find(json_, "options");
  const Json* v = o ? json_find(*o, name) : nullptr;
  GBAD_CHECK(v && v->is_string(), dir_, "/config.json has no option '", name, "'");
  return v->get<std::string>();
}

std::string RunConfig::extra(const std::string& name) const {
  const Json* v = json_find(json_, name);
  GBAD_CHECK(v && v->is_string(), dir_, "/config.json has no entry '", name, "'");
  return v->get<std::string>();
}

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  f_ = std::fopen(path.c_str(), append ? "a" : "w");
  GBAD_CHECK(f_, "cannot open ", path, ": ", std::strerror(errno));
  const auto slash = path.find_last_of('/');
  tb_ = std::make_unique<TfEventsWriter>(slash == std::string::npos ? "." : path.substr(0, slash));
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const Json& object) {
  if (!f_) return;
  std::fputs(json_text(object).c_str(), f_);
  std::fputc('\n', f_);
  std::fflush(f_);
  const Json* step = json_find(object, "step");
  if (!tb_ || !step || !step->is_number() || !object.is_object()) return;
  std::vector<std::pair<std::string, float>> scalars;
  for (auto it = object.begin(); it != object.end(); ++it)
    if (it.key() != "step" && it.value().is_number() && !it.value().is_boolean())
      scalars.emplace_back(it.key(), it.value().get<float>());
  tb_->add(step->get<int64_t>(), scalars);
}

}  // namespace gbad
