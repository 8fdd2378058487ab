// SIXray split CSV (ImageSet/<subset>/<split>.csv): read_split_csv, then check_split and
// load_split against a small image index, as gbad-check-data and every training phase do.
#include <filesystem>
#include <fstream>

#include "data/sixray.h"
#include "fuzz/fuzz_util.h"

using namespace gbad;

namespace {

const ImageIndex& index() {
  static const ImageIndex idx = [] {
    namespace fs = std::filesystem;
    const std::string root = fuzz::scratch_dir() + "/sixray";
    fs::create_directories(root + "/ImageSet/10");
    fs::create_directories(root + "/JPEGImage");
    for (const char* stem : {"P00001", "P00002", "N00001", "N00002", "N00003"})
      std::ofstream(root + "/JPEGImage/" + stem + ".jpg") << "x";
    return index_images(root);
  }();
  return idx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ImageIndex& idx = index();
  const std::string path = fuzz::write_file("sixray/ImageSet/10/train.csv", data, size);
  fuzz::expect_clean([&] {
    SplitCsv csv = read_split_csv(path);
    if (csv.stems.size() != csv.labels.size()) std::abort();
    for (const auto& l : csv.labels)
      for (int8_t v : l)
        if (v != 1 && v != 0 && v != -1) std::abort();
  });
  fuzz::expect_clean([&] {
    std::vector<Sample> samples;
    SplitReport r = check_split(idx, "10", "train", &samples);
    if (int64_t(samples.size()) != r.images || r.positives + r.negatives != r.images) std::abort();
    (void)r.missing_summary();
  });
  fuzz::expect_clean([&] {
    int64_t skipped = 0;
    std::vector<Sample> s = load_split(idx, "10", "train", true, &skipped);
    if (s.empty()) std::abort();  // load_split never returns an empty split
  });
  return 0;
}
