// The one start-up path of the phase binaries (gbad-train-cnn, gbad-train-bigan,
// gbad-train-svm, gbad-eval's model mode, gbad-predict, and any later phase):
//
//   int run(Phase& p) {
//     p.cli().option("out", "", "run directory to write", true) ...;  // the binary's own options
//     if (!p.parse()) return 0;               // --help printed
//     ... p.ctx(), p.device(), p.seed(), p.cli().get("...") ...
//     RunDir& dir = p.open_run_dir(p.cli().get("out"), "train-x", extra);
//   }
//   int main(int argc, char** argv) { return phase_main(argc, argv, "gbad-train-x", "...", run); }
//
// phase_main: CPU runtime tuning (tune_cpu_runtime), then the body inside the one try/catch of
// the program: "<program>: error: <what>" on stderr and exit status 2 for a usage error (bad or
// missing option), 1 for anything else.
// Phase::parse: command line -> options; --threads applied; --device chosen (select_device);
// the Context made with --seed; --precision resolved (select_precision) and set on it.
// --config FILE (options under the command line; a run's config.json reruns the run) is read
// by Cli::parse, for every binary.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/context.h"
#include "train/cli.h"
#include "train/run_dir.h"

namespace gbad {

// Call first in main() (phase_main does). Two runtime settings that libgomp and OpenBLAS read
// only when they load, so the program re-executes itself once when it changes either (set them
// yourself to skip this; GBAD_NO_REEXEC=1 disables it):
//  * OpenMP's waiting, when neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set: on a machine
//    with cores to spare (1-minute load average below the core count), GOMP_SPINCOUNT=
//    kOmpSpinCount: an idle OpenMP thread spins that many rounds (tens of microseconds) for
//    the next parallel region, then sleeps, which saves the wake-up of back-to-back regions;
//    on a busy machine OMP_WAIT_POLICY=PASSIVE (no spinning). Spinning collapses when other
//    processes share the cores: every region's barrier waits for a descheduled thread while
//    its partner burns the core (libgomp's default spin and ACTIVE: 4-7x slower steps at load
//    8 on 2 cores; even the short spin lost 10-20% at load 15; bench/RESULTS.md, issue 20);
//  * OPENBLAS_CORETYPE when unset: OpenBLAS 0.3.21 does not know recent Xeons and falls back to
//    its slowest (Prescott) kernels. SkylakeX (AVX-512) when the CPU has AVX-512 F/BW/DQ/VL,
//    else Haswell when it has AVX2 and FMA (measured 2.4x for Haswell over Prescott, and 1.7x
//    GEMM, 1.3-1.6x resnet34-fpn training for SkylakeX over Haswell: bench/RESULTS.md).
void tune_cpu_runtime(char** argv);
// The spin on a machine with cores to spare: libgomp's own count for a process with more
// threads than cores.
inline constexpr const char* kOmpSpinCount = "1000";

// The device for a --device value, decided here and nowhere else: "auto" (CUDA when a GPU is
// usable, else the CPU), "cpu", or "cuda" (an error with the reason when no GPU is usable).
Device select_device(const std::string& opt);

// The precision for a --precision value on `ctx`'s device (core/precision.h resolve_precision):
// fp32, tf32, fp16, bf16, or auto (bf16 on compute capability >= 8.0, fp16 on 7.x, else fp32).
// A bad value is a usage error. Says the choice once on stderr.
Precision select_precision(const std::string& opt, const Context& ctx);

class Phase {
 public:
  Phase(std::string program, std::string summary, int argc, char** argv);
  Cli& cli() { return cli_; }
  const std::string& program() const { return program_; }

  // Declares --device, --seed, --threads and --precision after the binary's options, parses
  // the command line, and returns false after printing --help. Otherwise applies --threads,
  // chooses the device, makes the Context and sets its precision (config.json then records
  // the resolved precision, not "auto").
  bool parse();

  Device device() const { return device_; }
  Precision precision() const { return ctx_ ? ctx_->precision() : Precision::Fp32; }
  // A phase whose models do not run in reduced precision: sets `p` on the context and in the
  // options (before open_run_dir, so config.json says what ran) and says why on stderr.
  void force_precision(Precision p, const std::string& why);
  uint64_t seed() const { return seed_; }
  Context& ctx();

  // Creates the run directory `out` of `phase` and writes command.txt, config.json (every option
  // as resolved, plus `extra` entries at the top level) and versions.json.
  RunDir& open_run_dir(const std::string& out, const std::string& phase,
                       const ConfigList& extra = {});
  RunDir& dir();

 private:
  std::string program_;
  int argc_;
  char** argv_;
  Cli cli_;
  Device device_ = Device::CPU;
  uint64_t seed_ = 0;
  std::unique_ptr<Context> ctx_;
  std::unique_ptr<RunDir> dir_;
};

// main() of a phase binary: tune_cpu_runtime, then body(phase) inside the program's try/catch.
int phase_main(int argc, char** argv, const char* program, const std::string& summary,
               const std::function<int(Phase&)>& body);

// main() of the other binaries: tune_cpu_runtime, then body() inside the same try/catch.
int run_main(int argc, char** argv, const char* program, const std::function<int()>& body);

}  // namespace gbad
