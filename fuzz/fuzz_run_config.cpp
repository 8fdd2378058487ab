// A run directory's config.json, as later phases read it: RunConfig (phase, options, extras)
// and load_cnn_run (builds the classifier from the options, then loads model.safetensors).
// Uses only the public run-directory API (train/run_dir.h, train/pipeline.h), not the JSON
// parser behind it.
#include <filesystem>
#include <string>

#include "fuzz/fuzz_models.h"
#include "fuzz/fuzz_util.h"
#include "train/pipeline.h"

using namespace gbad;

namespace {

// A run directory holding a valid model.safetensors of the tiny classifier; the fuzzer writes
// its config.json.
const std::string& run_dir() {
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_dir() + "/run";
    std::filesystem::create_directories(d);
    Classifier m(fuzz::kTinyArch, fuzz::tiny_classifier_options());
    m.save(d + "/model.safetensors");
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = run_dir();
  fuzz::write_file("run/config.json", data, size);
  for (const char* phase : {"train-cnn", "train-svm"})
    fuzz::expect_clean([&] {
      RunConfig rc(dir, phase);
      (void)rc.option_or("arch", "none");
      (void)rc.option_or("log-scores", "0");
      fuzz::expect_clean([&] { (void)rc.option("width"); });
      fuzz::expect_clean([&] { (void)rc.extra("written"); });
      if (std::string(phase) == "train-svm") (void)svm_uses_log_scores(rc);
    });
  fuzz::expect_clean([&] {
    CnnRun r = load_cnn_run(dir, Device::CPU);
    if (!r.model || r.image_size <= 0) std::abort();
  });
  return 0;
}
