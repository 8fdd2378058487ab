// DataParallel.* through the binaries: `mpirun -np 2 gbad-train-cnn` on a tiny synthetic set
// and the demo-size model (resnet18-fpn, width 4, 32x32 crops, global batch 8).
//   * with --sync-bn its weights equal one process's with the same global batch (the
//     summation order differs: tolerance below);
//   * interrupted (--stop-after) and resumed under -np 2 it ends exactly where an uninterrupted
//     -np 2 run ends;
//   * rank 1 killed with SIGKILL: the job ends within a bounded time, non-zero, the launcher's
//     message names rank 1, and the last checkpoint loads.
// (The per-rank BatchNorm reference is test_dist_mpi's: one process normalising each half.)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "common/run_binary.h"
#include "io/io.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace gbad {
namespace {

using test::kBin;
const std::string kMpirun = GBAD_MPIRUN_CMD;

// Runs `cmd`; its output (stdout + stderr) in *out, its exit status returned.
int run(const std::string& cmd, std::string* out) {
  const test::CommandResult r = test::run_command(cmd);
  *out = r.out;
  return r.code;
}

class DataParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(GBAD_BINARY_DIR) / "tests" /
            ("tmp_dp_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    data_ = (root_ / "data").string();
    std::string out;
    ASSERT_EQ(run(kBin + "gbad-synth --out " + data_ +
                      " --positives 24 --ratios 10 --size 48 --quiet --seed 3",
                  &out),
              0)
        << out;
    model_ =
        " --arch resnet18-fpn --width 4 --fpn-channels 8 --head-dim 8 --resize 40 --crop 32"
        " --batch 8 --workers 1 --threads 1 --device cpu --seed 5 --data " +
        data_ + " --subset 10";
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(root_);
  }
  std::string dir(const std::string& name) const { return (root_ / name).string(); }
  fs::path root_;
  std::string data_, model_;
};

// Largest |a - b| over the weights and buffers of two model files, relative to the largest |a|
// (num_batches_tracked counts batches, the same in both).
double rel_diff(const std::string& a, const std::string& b) {
  const SafeTensorsFile fa = SafeTensorsFile::open(a), fb = SafeTensorsFile::open(b);
  double d = 0, m = 0;
  EXPECT_EQ(fa.names(), fb.names());
  for (const std::string& n : fa.names()) {
    const std::vector<float> x = fa.read_f32(n), y = fb.read_f32(n);
    EXPECT_EQ(x.size(), y.size()) << n;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      d = std::max(d, std::fabs(double(x[i]) - y[i]));
      m = std::max(m, std::fabs(double(x[i])));
    }
  }
  return d / m;
}

TEST_F(DataParallel, TrainCnnTwoProcessesSyncBnMatchesOneProcess) {
  std::string out;
  const std::string args = model_ + " --epochs 2";
  ASSERT_EQ(run(kBin + "gbad-train-cnn --out " + dir("one") + args, &out), 0) << out;
  ASSERT_EQ(
      run(kMpirun + " -np 2 " + kBin + "gbad-train-cnn --sync-bn --out " + dir("two") + args, &out),
      0)
      << out;
  EXPECT_NE(out.find("data parallel: 2 processes (mpi)"), std::string::npos) << out;
  // 8 steps; the batch sums and BatchNorm statistics are added in another order (two halves,
  // then across processes in double): measured 2e-6 of the largest weight.
  const double d = rel_diff(dir("one") + "/model.safetensors", dir("two") + "/model.safetensors");
  EXPECT_LT(d, 1e-4);
  // Per-process BatchNorm is another model: the test can tell them apart.
  ASSERT_EQ(run(kMpirun + " -np 2 " + kBin + "gbad-train-cnn --out " + dir("perrank") + args, &out),
            0)
      << out;
  EXPECT_GT(rel_diff(dir("one") + "/model.safetensors", dir("perrank") + "/model.safetensors"),
            1e-3);
  // Rank 0 alone wrote the run directory, and a global batch that does not divide is refused.
  EXPECT_TRUE(file_exists(dir("two") + "/metrics.jsonl"));
  EXPECT_NE(run(kMpirun + " -np 3 " + kBin + "gbad-train-cnn --out " + dir("three") + args, &out),
            0);
  EXPECT_NE(out.find("must be a multiple of the number of processes (3)"), std::string::npos)
      << out;
}

TEST_F(DataParallel, ResumeUnderTwoProcessesEndsWhereAnUninterruptedRunEnds) {
  std::string out;
  const std::string args = model_ + " --epochs 2 --checkpoint-every 1";
  const std::string mpi = kMpirun + " -np 2 " + kBin + "gbad-train-cnn --out ";
  ASSERT_EQ(run(mpi + dir("full") + args, &out), 0) << out;
  ASSERT_EQ(run(mpi + dir("cut") + args + " --stop-after 3", &out), 3) << out;
  ASSERT_FALSE(file_exists(dir("cut") + "/model.safetensors"));
  // Another process count is refused: the epoch order is split by rank.
  EXPECT_NE(run(kBin + "gbad-train-cnn --resume --out " + dir("cut") + args, &out), 0);
  EXPECT_NE(out.find("written by a run of 2 processes"), std::string::npos) << out;
  ASSERT_EQ(run(mpi + dir("cut") + args + " --resume", &out), 0) << out;
  EXPECT_EQ(rel_diff(dir("full") + "/model.safetensors", dir("cut") + "/model.safetensors"), 0.0);
}

TEST_F(DataParallel, TrainBiganTwoProcessesShareTheFeatureExtraction) {
  std::string out;
  ASSERT_EQ(run(kBin + "gbad-train-cnn --out " + dir("cnn") + model_ + " --epochs 1", &out), 0)
      << out;
  const std::string args = " --cnn " + dir("cnn") +
                           " --negatives 60 --epochs 2 --batch 10 --lr 1e-4 --workers 1"
                           " --threads 1 --device cpu --seed 5 --out ";
  ASSERT_EQ(run(kBin + "gbad-train-bigan" + args + dir("gan1"), &out), 0) << out;
  ASSERT_EQ(run(kMpirun + " -np 2 " + kBin + "gbad-train-bigan" + args + dir("gan2"), &out), 0)
      << out;
  // Each process extracted half of the negatives' features; gathered, they are one process's
  // (eval mode: per image, up to the batch composition of the convolutions).
  EXPECT_LT(
      rel_diff(dir("gan1") + "/negatives.safetensors", dir("gan2") + "/negatives.safetensors"),
      1e-5);
  // The Bi-GAN trained (each process draws its own z and dropout masks, so its weights are not
  // one process's: no equality to test there).
  EXPECT_TRUE(file_exists(dir("gan2") + "/bigan.safetensors"));
  EXPECT_NE(out.find("data parallel: 2 processes"), std::string::npos) << out;
}

// The pid of the process whose environment says OpenMPI rank `rank` and whose command line
// mentions `tag`, or -1.
pid_t find_rank(int rank, const std::string& tag) {
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmd(e.path() / "cmdline"), env(e.path() / "environ");
    std::stringstream c, v;
    c << cmd.rdbuf();
    v << env.rdbuf();
    std::string cs = c.str(), vs = v.str();
    if (cs.find("gbad-train-cnn") == std::string::npos || cs.find(tag) == std::string::npos)
      continue;
    std::stringstream vars(vs);
    std::string var;
    while (std::getline(vars, var, '\0'))
      if (var == want) return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

TEST_F(DataParallel, RankKilledEndsTheJobNamingTheRank) {
  const std::string out_dir = dir("killed");
  const std::string log = dir("killed.log");
  const std::string cmd = kMpirun + " -np 2 " + kBin + "gbad-train-cnn --out " + out_dir + model_ +
                          " --epochs 1000 --checkpoint-every 1 > " + log + " 2>&1";
  const pid_t job = ::fork();
  ASSERT_GE(job, 0);
  if (job == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto stop_job = [&] { ::kill(-job, SIGKILL); };
  using clock = std::chrono::steady_clock;
  // Wait for the first checkpoint (the job is training), then kill rank 1.
  const auto t_start = clock::now();
  while (!file_exists(out_dir + "/checkpoint.safetensors") &&
         clock::now() - t_start < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(file_exists(out_dir + "/checkpoint.safetensors")) << (stop_job(), read_file(log));
  const pid_t victim = find_rank(1, out_dir);
  ASSERT_GT(victim, 0) << (stop_job(), "rank 1 not found");
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto t_kill = clock::now();
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(job, &status, WNOHANG)) == 0 &&
         clock::now() - t_kill < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (done == 0) {
    stop_job();
    ::waitpid(job, &status, 0);
    FAIL() << "the job was still running 60 s after rank 1 was killed";
  }
  const double seconds = std::chrono::duration<double>(clock::now() - t_kill).count();
  EXPECT_LT(seconds, 60.0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  const std::string text = read_file(log);
  EXPECT_NE(text.find("rank 1"), std::string::npos) << text;
  // The last checkpoint is whole: it loads as a resumed run would load it.
  std::string out;
  EXPECT_EQ(run(kBin + "gbad-verify-checkpoint cnn " + out_dir + "/checkpoint.safetensors", &out),
            0)
      << out;
  std::printf("job ended %.2f s after rank 1 was killed\n", seconds);
}

}  // namespace
}  // namespace gbad
