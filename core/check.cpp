#include "core/check.h"

namespace gbad {

void throw_error(const char* file, int line, const std::string& what) {
  std::string f = file;
  // Keep paths short and relative to the source tree.
  for (const char* top :
       {"/nn/", "/kernels/", "/models/", "/data/", "/train/", "/tests/", "/bench/"}) {
    auto pos = f.rfind(top);
    if (pos != std::string::npos) {
      f = f.substr(pos + 1);
      break;
    }
  }
  throw Error(f + ":" + std::to_string(line) + ": " + what);
}

}  // namespace gbad
