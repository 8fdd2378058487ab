// Error checking: every failure throws gbad::Error naming the expression, file:line and, for
// library calls, the library's own message. Each main catches it and prints one line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace gbad {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_error(const char* file, int line, const std::string& what);

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace gbad

// GBAD_CHECK(cond, parts...): throws "file:line: check failed: cond: parts..." when false.
#define GBAD_CHECK(cond, ...)                                                                \
  do {                                                                                       \
    if (!(cond))                                                                             \
      ::gbad::throw_error(__FILE__, __LINE__,                                                \
                          ::gbad::detail::concat("check failed: " #cond ": ", __VA_ARGS__)); \
  } while (0)

// GBAD_FAIL(parts...): unconditional error with a message.
#define GBAD_FAIL(...) ::gbad::throw_error(__FILE__, __LINE__, ::gbad::detail::concat(__VA_ARGS__))
