// SIXray on disk: the image index (stem -> path over the whole tree), the split CSVs
// (ImageSet/<subset>/{train,test}.csv) and their validation. See facts.md section 1.
//
// Validation never crashes and never silently drops rows: every problem is collected in words
// (file:line where it applies); load_split() stops with one clear error line unless the only
// problem is missing images and the caller asked to skip them (the count is then reported).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/classes.h"

namespace gbad {

// One image of a split: labels are 1 (present), -1 (absent) or 0 (ignore / difficult).
struct Sample {
  std::string stem;
  std::string path;
  std::array<int8_t, kNumClasses> labels{};
  bool positive() const;  // any label == 1
};

// Every <stem>.jpg under a root, in any sub-folder.
struct ImageIndex {
  std::string root;
  std::unordered_map<std::string, std::string> paths;  // stem -> path
  // Stems found more than once: stem -> the other paths (paths keeps the smallest path, so
  // the result does not depend on directory order).
  std::map<std::string, std::vector<std::string>> duplicates;
};
// Throws when root is not a readable directory. Matches *.jpg / *.jpeg (any case) and, for
// convenience, *.png.
ImageIndex index_images(const std::string& root);

// One parsed split CSV. Rows with a malformed line are left out and reported in problems.
struct SplitCsv {
  std::string path;
  std::vector<std::string> stems;
  std::vector<std::array<int8_t, kNumClasses>> labels;
  std::vector<std::string> problems;  // header, malformed rows, duplicate stems (file:line)
};
SplitCsv read_split_csv(const std::string& path);

// Counts and problems of one split, checked against an image index.
struct SplitReport {
  std::string subset, split, csv_path;
  int64_t rows = 0;       // well-formed rows
  int64_t images = 0;     // rows whose image exists
  int64_t positives = 0;  // among `images`
  int64_t negatives = 0;
  std::array<int64_t, kNumClasses> class_positives{};
  std::vector<std::string> missing;   // stems of rows whose image is missing
  std::vector<std::string> problems;  // fatal problems in words, missing images excluded
  bool usable(bool skip_missing) const {
    return problems.empty() && (skip_missing || missing.empty());
  }
  // "12 CSV rows have no image (first: P00001, P00002, ...)"; empty when none missing.
  std::string missing_summary(size_t first_n = 5) const;
};

// Reads and validates <root>/ImageSet/<subset>/<split>.csv against `index`. Never throws for
// problems in the data (they land in the report); `samples` (optional) receives the rows whose
// image exists, in CSV order.
SplitReport check_split(const ImageIndex& index, const std::string& subset,
                        const std::string& split, std::vector<Sample>* samples = nullptr);

// Subset names found under <root>/ImageSet (sorted, numeric names by value).
std::vector<std::string> list_subsets(const std::string& root);

// The samples of one split, validated. Throws gbad::Error with one line naming the first
// problem (and how many more) when the split is unusable; with skip_missing, rows without an
// image are dropped and `skipped` (optional) receives how many.
std::vector<Sample> load_split(const ImageIndex& index, const std::string& subset,
                               const std::string& split, bool skip_missing = false,
                               int64_t* skipped = nullptr);

}  // namespace gbad
