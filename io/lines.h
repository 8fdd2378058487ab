// Reading text files of outside origin line by line with a bound on the line length, so a file
// without newlines (a binary file given by mistake, or a hostile one) cannot make a reader
// buffer gigabytes.
#pragma once

#include <cstddef>
#include <istream>
#include <string>

namespace gbad {

// The longest line a CSV reader accepts (split CSVs, scores CSVs). Real lines are ~40 bytes.
inline constexpr size_t kMaxCsvLineBytes = 64 * 1024;

enum class LineStatus { Ok, End, TooLong };

// Reads the next line into `line` (without its '\n'; a '\r' before it is kept). Returns End
// when nothing is left, TooLong (with `line` holding the first max_bytes bytes) when the line
// has more than max_bytes bytes. Same line splitting as std::getline.
LineStatus read_line(std::istream& in, std::string& line, size_t max_bytes = kMaxCsvLineBytes);

}  // namespace gbad
