#include "train/progress.h"

#include <unistd.h>

#include <cmath>

namespace gbad {

Progress::Progress(std::string label, int64_t total, std::string unit, FILE* out, double interval_s)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      out_(out),
      tty_(out && isatty(fileno(out))),
      interval_s_(interval_s),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() {
  if (!finished_ && tty_ && done_ > 0) std::fputc('\n', out_);
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate() const {
  double e = elapsed_s();
  return e > 0 ? static_cast<double>(done_) / e : 0.0;
}

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

std::string Progress::format(const std::string& label, int64_t done, int64_t total,
                             const std::string& unit, double elapsed, const std::string& extra) {
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  char buf[256];
  double pct = total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 0.0;
  std::string eta = rate > 0 && total >= done
                        ? format_duration(static_cast<double>(total - done) / rate)
                        : std::string("?");
  std::snprintf(buf, sizeof buf, "%s %lld/%lld (%.0f%%) %.1f %s/s elapsed %s eta %s", label.c_str(),
                static_cast<long long>(done), static_cast<long long>(total), pct, rate,
                unit.c_str(), format_duration(elapsed).c_str(), eta.c_str());
  std::string s = buf;
  if (!extra.empty()) s += " | " + extra;
  return s;
}

void Progress::update(int64_t done, const std::string& extra) {
  done_ = done;
  extra_ = extra;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_).count();
  if (since >= (tty_ ? 0.1 : interval_s_)) {
    last_ = now;
    emit(false);
  }
}

void Progress::finish(const std::string& extra) {
  if (finished_) return;
  if (!extra.empty()) extra_ = extra;
  emit(true);
  finished_ = true;
}

void Progress::emit(bool final) {
  if (!out_) return;
  std::string s = format(label_, done_, total_, unit_, elapsed_s(), extra_);
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s%s", s.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", s.c_str());
  }
  std::fflush(out_);
}

}  // namespace gbad
