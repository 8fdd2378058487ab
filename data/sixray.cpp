#include "data/sixray.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/check.h"
#include "io/lines.h"

namespace fs = std::filesystem;

namespace gbad {

bool Sample::positive() const {
  for (int8_t l : labels)
    if (l == 1) return true;
  return false;
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ',') {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(trim(cur));
  return out;
}

bool parse_int(const std::string& s, long* v) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long x = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *v = x;
  return true;
}

}  // namespace

ImageIndex index_images(const std::string& root) {
  std::error_code ec;
  GBAD_CHECK(fs::is_directory(root, ec), "dataset root '", root, "' is not a directory");
  ImageIndex index;
  index.root = root;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  GBAD_CHECK(!ec, "cannot read dataset root '", root, "': ", ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) GBAD_FAIL("error while indexing '", root, "': ", ec.message());
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    std::string ext = lower(p.extension().string());
    if (ext != ".jpg" && ext != ".jpeg" && ext != ".png") continue;
    std::string stem = p.stem().string();
    std::string path = p.string();
    auto [pos, inserted] = index.paths.emplace(stem, path);
    if (!inserted) {
      // Keep the smallest path so the index does not depend on directory order.
      std::string other = path;
      if (path < pos->second) std::swap(other, pos->second);
      index.duplicates[stem].push_back(other);
    }
  }
  for (auto& [stem, others] : index.duplicates) std::sort(others.begin(), others.end());
  return index;
}

SplitCsv read_split_csv(const std::string& path) {
  SplitCsv csv;
  csv.path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    csv.problems.push_back("cannot open split file " + path);
    return csv;
  }
  std::unordered_map<std::string, int> first_line;  // stem -> line
  std::string line;
  int lineno = 0;
  bool header_seen = false;
  const size_t expected = 1 + kNumClasses;
  for (;;) {
    const LineStatus st = read_line(in, line);
    if (st == LineStatus::End) break;
    ++lineno;
    if (st == LineStatus::TooLong) {
      csv.problems.push_back(path + ":" + std::to_string(lineno) + ": line longer than " +
                             std::to_string(kMaxCsvLineBytes) +
                             " bytes (not a split CSV?); stopped reading");
      return csv;
    }
    if (lineno == 1 && line.size() >= 3 && static_cast<unsigned char>(line[0]) == 0xEF &&
        static_cast<unsigned char>(line[1]) == 0xBB && static_cast<unsigned char>(line[2]) == 0xBF)
      line = line.substr(3);  // UTF-8 byte-order mark
    if (trim(line).empty()) continue;
    std::vector<std::string> f = split_fields(line);
    const std::string where = path + ":" + std::to_string(lineno) + ": ";
    if (!header_seen) {
      header_seen = true;
      bool is_header = !f.empty() && lower(f[0]) == "name";
      if (!is_header) {
        csv.problems.push_back(where + "header missing: the first line must be 'name," +
                               "Gun,Knife,Wrench,Pliers,Scissors', found '" + trim(line) + "'");
        // fall through: parse the line as a data row so the counts stay meaningful
      } else {
        bool ok = f.size() == expected;
        for (size_t c = 1; ok && c < expected; ++c) ok = lower(f[c]) == lower(kClassNames[c - 1]);
        if (!ok) {
          csv.problems.push_back(where + "header has other columns: expected 'name,Gun,Knife," +
                                 "Wrench,Pliers,Scissors', found '" + trim(line) + "'");
          return csv;  // the meaning of the columns is unknown: read no rows
        }
        continue;
      }
    }
    if (f.size() != expected) {
      csv.problems.push_back(where + "expected " + std::to_string(expected) + " fields, found " +
                             std::to_string(f.size()));
      continue;
    }
    if (f[0].empty()) {
      csv.problems.push_back(where + "empty image name");
      continue;
    }
    std::array<int8_t, kNumClasses> labels{};
    bool ok = true;
    for (int c = 0; c < kNumClasses && ok; ++c) {
      long v = 0;
      if (!parse_int(f[c + 1], &v)) {
        csv.problems.push_back(where + "label " + kClassNames[c] + " '" + f[c + 1] +
                               "' is not an integer");
        ok = false;
      } else if (v != 1 && v != -1 && v != 0) {
        csv.problems.push_back(where + "label " + kClassNames[c] + " is " + std::to_string(v) +
                               ", expected 1, -1 or 0");
        ok = false;
      } else {
        labels[c] = static_cast<int8_t>(v);
      }
    }
    if (!ok) continue;
    auto [pos, inserted] = first_line.emplace(f[0], lineno);
    if (!inserted) {
      csv.problems.push_back(where + "duplicate stem " + f[0] + " (first at line " +
                             std::to_string(pos->second) + ")");
      continue;
    }
    csv.stems.push_back(f[0]);
    csv.labels.push_back(labels);
  }
  if (!header_seen) csv.problems.push_back(path + ": file is empty (no header, no rows)");
  return csv;
}

std::string SplitReport::missing_summary(size_t first_n) const {
  if (missing.empty()) return "";
  std::ostringstream os;
  os << missing.size() << " CSV row" << (missing.size() == 1 ? " has" : "s have")
     << " no image under the dataset root (first: ";
  for (size_t i = 0; i < missing.size() && i < first_n; ++i) os << (i ? ", " : "") << missing[i];
  os << (missing.size() > first_n ? ", ...)" : ")");
  return os.str();
}

SplitReport check_split(const ImageIndex& index, const std::string& subset,
                        const std::string& split, std::vector<Sample>* samples) {
  SplitReport r;
  r.subset = subset;
  r.split = split;
  r.csv_path = (fs::path(index.root) / "ImageSet" / subset / (split + ".csv")).string();
  if (samples) samples->clear();
  std::error_code ec;
  if (!fs::is_regular_file(r.csv_path, ec)) {
    r.problems.push_back("split file " + r.csv_path + " not found");
    return r;
  }
  SplitCsv csv = read_split_csv(r.csv_path);
  r.problems = csv.problems;
  r.rows = static_cast<int64_t>(csv.stems.size());
  for (size_t i = 0; i < csv.stems.size(); ++i) {
    auto it = index.paths.find(csv.stems[i]);
    if (it == index.paths.end()) {
      r.missing.push_back(csv.stems[i]);
      continue;
    }
    auto dup = index.duplicates.find(csv.stems[i]);
    if (dup != index.duplicates.end())
      r.problems.push_back("image " + csv.stems[i] + " is ambiguous: found at " + it->second +
                           " and " + dup->second.front());
    Sample s;
    s.stem = csv.stems[i];
    s.path = it->second;
    s.labels = csv.labels[i];
    ++r.images;
    if (s.positive()) {
      ++r.positives;
      for (int c = 0; c < kNumClasses; ++c) r.class_positives[c] += s.labels[c] == 1;
    } else {
      ++r.negatives;
    }
    if (samples) samples->push_back(std::move(s));
  }
  if (r.rows == 0)
    r.problems.push_back("split " + subset + "/" + split + " is empty (" + r.csv_path +
                         " has no rows)");
  else if (r.images == 0)
    r.problems.push_back("split " + subset + "/" + split + " has no image present");
  else if (r.positives == 0)
    r.problems.push_back("split " + subset + "/" + split + " has no positives (" +
                         std::to_string(r.images) + " images, all negative)");
  return r;
}

std::vector<std::string> list_subsets(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::path dir = fs::path(root) / "ImageSet";
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    long x = 0, y = 0;
    bool na = parse_int(a, &x), nb = parse_int(b, &y);
    if (na && nb) return x < y;
    if (na != nb) return na;
    return a < b;
  });
  return out;
}

std::vector<Sample> load_split(const ImageIndex& index, const std::string& subset,
                               const std::string& split, bool skip_missing, int64_t* skipped) {
  std::vector<Sample> samples;
  SplitReport r = check_split(index, subset, split, &samples);
  if (!r.problems.empty()) {
    std::string more = r.problems.size() > 1 ? " (and " + std::to_string(r.problems.size() - 1) +
                                                   " more problems; run gbad-check-data)"
                                             : "";
    GBAD_FAIL(r.problems.front(), more);
  }
  if (!r.missing.empty() && !skip_missing)
    GBAD_FAIL(r.csv_path, ": ", r.missing_summary(), "; pass --skip-missing to train without them");
  if (skipped) *skipped = static_cast<int64_t>(r.missing.size());
  return samples;
}

}  // namespace gbad
