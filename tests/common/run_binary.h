// Shared by the tests that run the project's binaries (the phase binaries, gbad-synth, ...)
// through the shell: capture of their output, a scratch folder per test process, and the
// bit-for-bit comparison of two checkpoints. Header only; GBAD_BINARY_DIR comes from
// gbad_add_test (tests/CMakeLists.txt).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/test_util.h"
#include "io/io.h"
#include "io/safetensors.h"

namespace gbad::test {

// The build's bin/ folder, with a trailing slash: kBin + "gbad-synth ...".
inline const std::string kBin = std::string(GBAD_BINARY_DIR) + "/bin/";

struct CommandResult {
  int code = -1;    // the exit status; -1 when the command did not exit normally
  std::string out;  // stdout and stderr together
};

// Runs `cmd` through /bin/sh with stdout and stderr captured into a file of this process
// (tests run in parallel processes), which is read back and removed.
inline CommandResult run_command(const std::string& cmd) {
  static int counter = 0;
  const std::filesystem::path log =
      std::filesystem::temp_directory_path() /
      ("gbad_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".log");
  const int status = std::system((cmd + " > " + log.string() + " 2>&1").c_str());
  CommandResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = file_exists(log.string()) ? read_file(log.string()) : "";
  std::filesystem::remove(log);
  return r;
}

// A fresh, empty folder <build>/tests/tmp_<name>_<pid> (ctest runs tests in parallel processes).
inline std::filesystem::path scratch_dir(const std::string& name) {
  const std::filesystem::path p = std::filesystem::path(GBAD_BINARY_DIR) / "tests" /
                                  ("tmp_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// The two safetensors files hold the same tensors with the same values, bit for bit.
inline void expect_same_weights(const std::string& a_path, const std::string& b_path,
                                const std::string& what) {
  SafeTensorsFile a = SafeTensorsFile::open(a_path), b = SafeTensorsFile::open(b_path);
  ASSERT_EQ(a.names(), b.names()) << what;
  for (const std::string& n : a.names())
    expect_bitwise_equal(a.read_f32(n), b.read_f32(n), what + ": tensor " + n);
}

}  // namespace gbad::test
