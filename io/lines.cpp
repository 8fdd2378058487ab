#include "io/lines.h"

namespace gbad {

LineStatus read_line(std::istream& in, std::string& line, size_t max_bytes) {
  line.clear();
  std::streambuf* sb = in.rdbuf();
  if (!sb || !in.good()) return LineStatus::End;
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return line.empty() ? LineStatus::End : LineStatus::Ok;
    }
    if (c == '\n') return LineStatus::Ok;
    if (line.size() >= max_bytes) return LineStatus::TooLong;
    line.push_back(static_cast<char>(c));
  }
}

}  // namespace gbad
