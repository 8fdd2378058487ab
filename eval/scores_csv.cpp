#include "eval/scores_csv.h"

#include "io/io.h"
#include "io/lines.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "core/check.h"

namespace gbad {
namespace {

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    out.push_back(
        line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
  return s.substr(a, b - a);
}

const std::string& expected_header() {
  static const std::string h = [] {
    std::string s = "name";
    for (const char* c : kClassNames) s += std::string(",") + c;
    return s;
  }();
  return h;
}

// Reads `path` as header + rows of name + 5 fields; parse(field, file_line) converts one field.
template <typename Row, typename Parse>
void read_table(const std::string& path, const char* what, std::vector<std::string>& names,
                std::vector<Row>& rows, Parse parse) {
  std::ifstream in(path);
  GBAD_CHECK(in.good(), "cannot open ", what, " file ", path, ": ", std::strerror(errno));
  std::string line;
  int64_t line_no = 0;
  bool have_header = false;
  std::unordered_map<std::string, int64_t> seen;
  for (;;) {
    const LineStatus st = read_line(in, line);
    if (st == LineStatus::End) break;
    ++line_no;
    GBAD_CHECK(st == LineStatus::Ok, path, ":", line_no, ": line longer than ", kMaxCsvLineBytes,
               " bytes (not a ", what, " CSV?)");
    const std::string t = trim(line);
    if (t.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    if (!have_header) {
      std::string h;
      for (const auto& f : split_commas(t)) h += (h.empty() ? "" : ",") + trim(f);
      GBAD_CHECK(h == expected_header(), where, ": ", what, " header is '", t, "', expected '",
                 expected_header(), "'");
      have_header = true;
      continue;
    }
    const auto fields = split_commas(t);
    GBAD_CHECK(fields.size() == size_t(kNumClasses) + 1, where, ": expected ", kNumClasses + 1,
               " comma-separated fields (name + 5 classes), found ", fields.size());
    std::string name = trim(fields[0]);
    GBAD_CHECK(!name.empty(), where, ": empty image name");
    auto [it, fresh] = seen.emplace(name, line_no);
    GBAD_CHECK(fresh, where, ": image '", name, "' appears twice (first at line ", it->second, ")");
    Row row{};
    for (int c = 0; c < kNumClasses; ++c) row[c] = parse(trim(fields[c + 1]), where, c);
    names.push_back(std::move(name));
    rows.push_back(row);
  }
  GBAD_CHECK(!in.bad(), "error reading ", what, " file ", path);
  GBAD_CHECK(have_header, path, ": ", what, " file is empty (expected header '", expected_header(),
             "')");
}

}  // namespace

ScoreTable read_scores_csv(const std::string& path) {
  ScoreTable t;
  read_table(path, "scores", t.names, t.scores,
             [](const std::string& f, const std::string& where, int c) {
               char* end = nullptr;
               errno = 0;
               const float v = std::strtof(f.c_str(), &end);
               GBAD_CHECK(!f.empty() && end == f.c_str() + f.size(), where, ": score for ",
                          kClassNames[c], " is '", f, "', not a number");
               GBAD_CHECK(!std::isnan(v), where, ": score for ", kClassNames[c], " is NaN");
               return v;
             });
  return t;
}

LabelTable read_label_csv(const std::string& path) {
  LabelTable t;
  read_table(path, "labels", t.names, t.labels,
             [](const std::string& f, const std::string& where, int c) -> int8_t {
               if (f == "1" || f == "+1") return 1;
               if (f == "-1") return -1;
               if (f == "0" || f == "-0") return 0;
               GBAD_FAIL(where, ": label for ", kClassNames[c], " is '", f,
                         "', expected 1, 0 or -1");
             });
  return t;
}

void write_scores_csv(const std::string& path, const ScoreTable& table) {
  GBAD_CHECK(table.names.size() == table.scores.size(), "write_scores_csv: ", table.names.size(),
             " names but ", table.scores.size(), " score rows");
  std::string out = expected_header() + "\n";
  char buf[32];
  for (size_t i = 0; i < table.names.size(); ++i) {
    GBAD_CHECK(table.names[i].find_first_of(",\n\r") == std::string::npos,
               "write_scores_csv: image name '", table.names[i], "' contains a comma or newline");
    out += table.names[i];
    for (float v : table.scores[i]) {
      std::snprintf(buf, sizeof buf, ",%.9g", double(v));
      out += buf;
    }
    out += '\n';
  }
  write_file_atomic(path, out);
}

std::vector<ClassLabels> match_labels(const ScoreTable& scores, const LabelTable& labels) {
  std::unordered_map<std::string, size_t> by_name;
  by_name.reserve(labels.names.size());
  for (size_t i = 0; i < labels.names.size(); ++i) by_name.emplace(labels.names[i], i);

  std::vector<ClassLabels> out(scores.names.size());
  std::vector<std::string> no_label;
  std::unordered_map<std::string, bool> in_scores;
  in_scores.reserve(scores.names.size());
  for (size_t i = 0; i < scores.names.size(); ++i) {
    in_scores.emplace(scores.names[i], true);
    auto it = by_name.find(scores.names[i]);
    if (it == by_name.end())
      no_label.push_back(scores.names[i]);
    else
      out[i] = labels.labels[it->second];
  }
  std::vector<std::string> no_score;
  for (const auto& n : labels.names)
    if (!in_scores.count(n)) no_score.push_back(n);

  if (no_label.empty() && no_score.empty()) return out;
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > 5) s += ", ...";
    return s;
  };
  std::string msg = "scores and labels do not cover the same images:";
  if (!no_label.empty())
    msg += " " + std::to_string(no_label.size()) + " scored image(s) have no label (" +
           list(no_label) + ");";
  if (!no_score.empty())
    msg += " " + std::to_string(no_score.size()) + " labelled image(s) have no score (" +
           list(no_score) + ");";
  GBAD_FAIL(msg);
}

namespace {
constexpr const char* kSvmScoresHeader = "stem,label,R,FM,decision";
}  // namespace

SvmScoreTable read_svm_scores_csv(const std::string& path) {
  std::ifstream in(path);
  GBAD_CHECK(in.good(), "cannot open SVM scores file ", path, ": ", std::strerror(errno));
  SvmScoreTable t;
  std::string line;
  int64_t line_no = 0;
  bool have_header = false;
  for (;;) {
    const LineStatus st = read_line(in, line);
    if (st == LineStatus::End) break;
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no);
    GBAD_CHECK(st == LineStatus::Ok, where, ": line longer than ", kMaxCsvLineBytes,
               " bytes (not an SVM scores CSV?)");
    const std::string row = trim(line);
    if (row.empty()) continue;
    if (!have_header) {
      GBAD_CHECK(row == kSvmScoresHeader, where, ": header is '", row, "', expected '",
                 kSvmScoresHeader, "'");
      have_header = true;
      continue;
    }
    const auto f = split_commas(row);
    GBAD_CHECK(f.size() == 5, where, ": expected 5 comma-separated fields (", kSvmScoresHeader,
               "), found ", f.size());
    const std::string label = trim(f[1]);
    GBAD_CHECK(label == "1" || label == "-1", where, ": label is '", label, "', expected 1 or -1");
    auto number = [&](const std::string& field, const char* what) {
      const std::string v = trim(field);
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      GBAD_CHECK(!v.empty() && end == v.c_str() + v.size() && !std::isnan(x), where, ": ", what,
                 " is '", v, "', not a number");
      return x;
    };
    t.stems.push_back(trim(f[0]));
    t.label.push_back(label == "1" ? 1 : -1);
    t.r.push_back(number(f[2], "R"));
    t.fm.push_back(number(f[3], "FM"));
    t.decision.push_back(number(f[4], "decision"));
  }
  GBAD_CHECK(!in.bad(), "error reading SVM scores file ", path);
  GBAD_CHECK(have_header, path, ": SVM scores file is empty (expected header '", kSvmScoresHeader,
             "')");
  return t;
}

void write_svm_scores_csv(const std::string& path, const SvmScoreTable& t) {
  const size_t n = t.stems.size();
  GBAD_CHECK(t.label.size() == n && t.r.size() == n && t.fm.size() == n && t.decision.size() == n,
             "write_svm_scores_csv: columns of different lengths");
  std::string out = std::string(kSvmScoresHeader) + "\n";
  char buf[128];
  for (size_t i = 0; i < n; ++i) {
    GBAD_CHECK(t.stems[i].find_first_of(",\n\r") == std::string::npos,
               "write_svm_scores_csv: image stem '", t.stems[i], "' contains a comma or newline");
    std::snprintf(buf, sizeof buf, ",%d,%.6g,%.6g,%.6g\n", t.label[i], t.r[i], t.fm[i],
                  t.decision[i]);
    out += t.stems[i] + buf;
  }
  write_file_atomic(path, out);
}

}  // namespace gbad
