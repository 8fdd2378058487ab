// gbad-check-data: indexes and validates a SIXray(-like) dataset root; the first thing to run on
// a freshly extracted release. Exit status 0 only when the data is usable.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <iostream>
#include <mutex>
#include <thread>

#include "data/image.h"
#include "data/sixray.h"
#include "train/startup.h"

namespace {

int run(int argc, char** argv) {
  gbad::Cli cli("gbad-check-data",
                "Indexes every <stem>.jpg under --data (any sub-folder), reads\n"
                "ImageSet/<subset>/{train,test}.csv and prints, per subset and split, the\n"
                "number of images, positives, negatives and positives per class, then every\n"
                "problem found. Exit status 0 only when the data is usable.");
  cli.option("data", "", "dataset root (holds JPEGImage/ and ImageSet/)", true)
      .option("subset", "", "check only this subset (10, 100, 1000, ...; default: all found)")
      .flag("decode", "also decode every image of the subset(s) and report corrupt ones")
      .option("threads", "0", "decoding threads (0: all cores)")
      .flag("skip-missing", "CSV rows without an image are a warning, not an error");
  if (!cli.parse(argc, argv)) {
    std::cout << cli.help();
    return 0;
  }
  const std::string root = cli.get("data");
  const bool skip_missing = cli.get_flag("skip-missing");
  gbad::ImageIndex index = gbad::index_images(root);
  std::printf("%s: %zu images indexed\n", root.c_str(), index.paths.size());
  std::vector<std::string> problems;
  for (const auto& [stem, others] : index.duplicates)
    problems.push_back("duplicate image " + stem + ": " + index.paths.at(stem) + " and " +
                       others.front() +
                       (others.size() > 1 ? " (+" + std::to_string(others.size() - 1) + ")" : ""));
  std::vector<std::string> subsets;
  if (cli.has("subset"))
    subsets.push_back(cli.get("subset"));
  else
    subsets = gbad::list_subsets(root);
  if (subsets.empty()) problems.push_back("no subsets: " + root + "/ImageSet/<subset>/ not found");
  std::vector<gbad::Sample> to_decode;
  std::vector<std::string> warnings;
  for (const std::string& sub : subsets) {
    for (const char* split : {"train", "test"}) {
      std::vector<gbad::Sample> samples;
      gbad::SplitReport r = gbad::check_split(index, sub, split, &samples);
      std::printf("subset %-5s %-5s images %7lld  positives %6lld  negatives %8lld  |", sub.c_str(),
                  split, (long long)r.images, (long long)r.positives, (long long)r.negatives);
      for (int c = 0; c < gbad::kNumClasses; ++c)
        std::printf(" %s %lld", gbad::kClassNames[c], (long long)r.class_positives[c]);
      std::printf("\n");
      problems.insert(problems.end(), r.problems.begin(), r.problems.end());
      if (!r.missing.empty())
        (skip_missing ? warnings : problems).push_back(r.csv_path + ": " + r.missing_summary());
      to_decode.insert(to_decode.end(), samples.begin(), samples.end());
    }
  }
  if (cli.get_flag("decode")) {
    std::sort(to_decode.begin(), to_decode.end(),
              [](const gbad::Sample& a, const gbad::Sample& b) { return a.path < b.path; });
    to_decode.erase(
        std::unique(to_decode.begin(), to_decode.end(),
                    [](const gbad::Sample& a, const gbad::Sample& b) { return a.path == b.path; }),
        to_decode.end());
    int threads = static_cast<int>(cli.get_int("threads"));
    if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
    std::atomic<size_t> next{0};
    std::mutex mu;
    std::vector<std::string> bad;
    auto work = [&] {
      for (size_t i; (i = next++) < to_decode.size();) {
        try {
          gbad::decode_image(to_decode[i].path);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mu);
          bad.push_back(to_decode[i].stem + ": " + e.what());
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    std::sort(bad.begin(), bad.end());
    std::printf("decoded %zu images: %zu corrupt or truncated\n", to_decode.size(), bad.size());
    for (auto& b : bad) problems.push_back("corrupt image " + b);
  }
  for (const auto& w : warnings) std::printf("warning: %s\n", w.c_str());
  for (const auto& p : problems) std::printf("problem: %s\n", p.c_str());
  if (!problems.empty()) {
    std::fprintf(stderr, "error: %zu problem%s found in %s; the data is not usable as is\n",
                 problems.size(), problems.size() == 1 ? "" : "s", root.c_str());
    return 1;
  }
  std::printf("ok: the data is usable\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return gbad::run_main(argc, argv, "gbad-check-data", [&] { return run(argc, argv); });
}
