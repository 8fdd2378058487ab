// Checkpoints and model files against models: Classifier::load (metadata arch/sizes, then every
// tensor's shape against the model), BiGan::read_config + BiGan::load (sizes from the file's
// metadata, bounded by the file size before a model is allocated), and the phase-2 features
// file (load_features), the three ways a phase reads another phase's safetensors.
#include <string>
#include <vector>

#include "fuzz/fuzz_models.h"
#include "fuzz/fuzz_util.h"
#include "io/checkpoint.h"
#include "train/pipeline.h"

using namespace gbad;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Classifier model(fuzz::kTinyArch, fuzz::tiny_classifier_options());
  const std::string path = fuzz::write_file("checkpoint.safetensors", data, size);
  fuzz::expect_clean([&] { model.load(path); });
  fuzz::expect_clean([&] {
    const BiGanConfig c = BiGan::read_config(path);
    BiGan gan(c, Device::CPU);
    gan.load(path);
  });
  fuzz::expect_clean([&] {
    std::vector<std::string> stems;
    Tensor t = load_features(path, &stems);
    if (t.ndim() < 1 || t.size(0) != int64_t(stems.size())) std::abort();
  });
  return 0;
}
