// gbad-pack: decodes a split's images once, resizes them to the training resolution and writes
// them as uint8 into one pack file (data/pack.h) that the loader memory-maps with no decode
// (gbad-train-cnn --pack FILE). One pack per split and size: training reads images resized to
// --resize (then crops), evaluation resizes straight to the input size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "core/check.h"
#include "data/pack.h"
#include "data/sixray.h"
#include "train/startup.h"

namespace {

int run(int argc, char** argv) {
  gbad::Cli cli("gbad-pack",
                "Writes the images of one split, resized to --size x --size (the loader's\n"
                "antialiased bilinear resize, rounded to uint8), into one file the loader reads\n"
                "without decoding: gbad-train-cnn --pack FILE. Size: the training --resize\n"
                "(256 by default) for the training split.");
  cli.option("data", "", "dataset root (holds JPEGImage/ and ImageSet/)", true)
      .option("subset", "10", "subset (10, 100, 1000, ...)")
      .option("split", "train", "train or test")
      .option("size", "256", "side of the stored images, pixels (training: --resize)")
      .option("out", "", "pack file to write", true)
      .option("threads", "0", "decoding threads (0: all cores)")
      .flag("skip-missing", "leave out CSV rows whose image is missing (as training does)");
  if (!cli.parse(argc, argv)) {
    std::cout << cli.help();
    return 0;
  }
  const long long size = cli.get_int("size");
  if (size < 1 || size > 4096) throw gbad::UsageError("--size must be in 1..4096");
  long long threads = cli.get_int("threads");
  if (threads < 0) throw gbad::UsageError("--threads must be >= 0");
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const gbad::ImageIndex index = gbad::index_images(cli.get("data"));
  int64_t skipped = 0;
  const std::vector<gbad::Sample> samples = gbad::load_split(
      index, cli.get("subset"), cli.get("split"), cli.get_flag("skip-missing"), &skipped);
  if (skipped) std::printf("skipped %lld CSV rows without an image\n", (long long)skipped);
  const std::string csv =
      index.root + "/ImageSet/" + cli.get("subset") + "/" + cli.get("split") + ".csv";
  const auto t0 = std::chrono::steady_clock::now();
  gbad::write_pack(cli.get("out"), samples, static_cast<int>(size), csv, static_cast<int>(threads),
                   true);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s: %zu images of %lldx%lld in %.1f s (%.0f images/s)\n",
              cli.get("out").c_str(), samples.size(), size, size, s, samples.size() / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return gbad::run_main(argc, argv, "gbad-pack", [&] { return run(argc, argv); });
}
