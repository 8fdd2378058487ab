// gbad-synth: writes a synthetic SIXray-like dataset in the real release's layout.
#include <cstdio>
#include <exception>
#include <iostream>

#include "data/synth.h"
#include "train/startup.h"

namespace {

int run(int argc, char** argv) {
  gbad::Cli cli("gbad-synth",
                "Writes synthetic SIXray-like X-ray scans: <out>/JPEGImage/<stem>.jpg and\n"
                "<out>/ImageSet/<ratio>/{train,test}.csv. Positives P00001.., negatives\n"
                "N0000001..; each ratio R uses all positives and R negatives per positive;\n"
                "train/test 80/20. The same seed gives the same bytes. The defaults make a\n"
                "small dataset for the CPU demo.");
  cli.option("out", "", "output folder (created)", true)
      .option("positives", "250", "number of positive images (1..99999)")
      .option("ratios", "10,100", "comma-separated negatives-per-positive ratios (subsets)")
      .option("size", "128", "base image side in pixels")
      .option("size-jitter", "0.3", "width and height each vary in size*[1-j, 1+j]")
      .option("difficulty", "0.5",
              "0 easy .. 1 hard: more clutter over the threats, more benign look-alikes "
              "(drills, table knives, tongs, staplers, ...)")
      .option("density", "1",
              "amount of clutter per bag area, (0, 4]; 1 matches real scans, 0.3 is sparse")
      .option("test-fraction", "0.2", "share of positives and negatives in test.csv")
      .option("quality", "90", "JPEG quality 1..100")
      .option("threads", "0", "worker threads (0: all cores)")
      .option("seed", "1", "random seed")
      .flag("quiet", "print only the summary");
  if (!cli.parse(argc, argv)) {
    std::cout << cli.help();
    return 0;
  }
  gbad::SynthConfig cfg;
  cfg.out = cli.get("out");
  cfg.positives = cli.get_int("positives");
  cfg.ratios = cli.get_int_list("ratios");
  cfg.size = static_cast<int>(cli.get_int("size"));
  cfg.size_jitter = cli.get_double("size-jitter");
  cfg.difficulty = cli.get_double("difficulty");
  cfg.density = cli.get_double("density");
  cfg.test_fraction = cli.get_double("test-fraction");
  cfg.quality = static_cast<int>(cli.get_int("quality"));
  cfg.threads = static_cast<int>(cli.get_int("threads"));
  cfg.seed = static_cast<uint64_t>(cli.get_int("seed"));
  const bool quiet = cli.get_flag("quiet");
  auto progress = [quiet](int64_t done, int64_t total) {
    if (!quiet) std::fprintf(stderr, "\r%lld / %lld images", (long long)done, (long long)total);
  };
  gbad::SynthSummary s = gbad::generate_synthetic_dataset(cfg, progress);
  if (!quiet) std::fprintf(stderr, "\n");
  std::printf("wrote %lld positives + %lld negatives (%.1f MB) to %s in %.1f s (%.0f images/s)\n",
              (long long)s.positives, (long long)s.negatives, s.bytes / 1e6, cfg.out.c_str(),
              s.seconds, (s.positives + s.negatives) / std::max(1e-9, s.seconds));
  std::printf("positives per class:");
  for (int c = 0; c < gbad::kNumClasses; ++c)
    std::printf(" %s %lld", gbad::kClassNames[c], (long long)s.class_positives[c]);
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return gbad::run_main(argc, argv, "gbad-synth", [&] { return run(argc, argv); });
}
