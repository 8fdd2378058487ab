// gbad-verify-checkpoint KIND PATH...: loads each checkpoint (or final model file) the way a
// resumed run or a later phase does, into a model built from the file's own metadata, and
// prints "ok PATH" or "error: ..." (exit 1). KIND: cnn (gbad-train-cnn's checkpoint or
// model.safetensors) or bigan (gbad-train-bigan's checkpoint or bigan.safetensors).
// Used by scripts/soak.sh to check every checkpoint left on disk between kills.
#include <cstdio>
#include <string>

#include "io/checkpoint.h"
#include "models/bigan.h"
#include "models/classifier.h"

using namespace gbad;

namespace {

void verify_cnn(const std::string& path) {
  const SafeTensorsFile f = SafeTensorsFile::open(path);
  const auto& meta = f.metadata();
  auto arch = meta.find("arch");
  GBAD_CHECK(arch != meta.end(), path, ": no 'arch' in the metadata");
  ClassifierOptions o;
  o.width = metadata_int(meta, "width", path, 1, 4096);
  o.num_classes = metadata_int(meta, "num_classes", path, 1, 100000);
  const bool fpn = parse_arch(arch->second).fpn;
  o.fpn_channels = fpn ? metadata_int(meta, "fpn_channels", path, 1, 65536) : 1;
  o.head_dim = fpn ? metadata_int(meta, "head_dim", path, 1, 65536) : 1;
  Classifier model(arch->second, o);
  model.load(path);
  if (f.has("optim.state")) {
    GBAD_CHECK(f.info("optim.state").numel() == model.param_store().num_params(), path,
               ": optim.state has ", f.info("optim.state").numel(), " values for ",
               model.param_store().num_params(), " parameters");
    (void)metadata_int(meta, "epoch", path, 0, 1 << 30);
    (void)metadata_int(meta, "global_step", path, 0, INT64_MAX);
  }
}

void verify_bigan(const std::string& path) {
  BiGan gan(BiGan::read_config(path), Device::CPU);
  gan.load(path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s cnn|bigan PATH...\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  int bad = 0;
  for (int i = 2; i < argc; ++i) {
    try {
      if (kind == "cnn")
        verify_cnn(argv[i]);
      else if (kind == "bigan")
        verify_bigan(argv[i]);
      else
        GBAD_FAIL("unknown kind '", kind, "' (cnn or bigan)");
      std::printf("ok %s\n", argv[i]);
    } catch (const std::exception& e) {
      std::printf("error: %s\n", e.what());
      ++bad;
    }
  }
  return bad ? 1 : 0;
}
