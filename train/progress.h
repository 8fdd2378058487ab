// One-line progress report for long work: done/total, rate, ETA and a caller's extra text
// (e.g. the loss). On a terminal the line redraws in place (at most 10 times a second); when
// the output is a file or a pipe it prints plain lines every `interval_s` seconds instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace gbad {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "img", FILE* out = stderr,
           double interval_s = 10.0);
  ~Progress();
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  double elapsed_s() const;
  double rate() const;  // units per second so far

  // The text of one report, exposed for tests.
  static std::string format(const std::string& label, int64_t done, int64_t total,
                            const std::string& unit, double elapsed_s, const std::string& extra);
  static std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

 private:
  void emit(bool final);
  std::string label_, unit_, extra_;
  int64_t total_, done_ = 0;
  FILE* out_;
  bool tty_;
  bool finished_ = false;
  double interval_s_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace gbad
