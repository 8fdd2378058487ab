// gbad-summary: layer-by-layer output shapes, parameter counts and forward multiply-adds of a
// classifier architecture, computed from shapes (nothing is allocated, so full-size models
// cost nothing).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "models/classifier.h"
#include "models/ganomaly.h"
#include "train/cli.h"
#include "train/startup.h"

namespace {

const char* kSummary =
    "Layer-by-layer output shapes, parameters and forward multiply-adds of an architecture:\n"
    "resnet{18,34,50,101}-{fpn,plain,chr}, inceptionv3-{fpn,plain}, densenet121-{fpn,plain},\n"
    "ganomaly or skip-ganomaly (see --list; the GANs print generator and discriminator\n"
    "separately). MACs count convolutions and fully connected layers (one multiply-add = 1);\n"
    "InceptionV3's auxiliary classifier (training only) is listed and counted apart.";

std::string group(int64_t v) {
  std::string s = std::to_string(v), out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++n;
  }
  return out;
}

int64_t parse_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  GBAD_CHECK(end && *end == 0 && x > 0, flag, " expects a positive integer, got '", v, "'");
  return x;
}

}  // namespace

namespace {

int run(int argc, char** argv) {
  gbad::Cli cli("gbad-summary", kSummary);
  cli.option("arch", "", "architecture name (see --list)")
      .option("num-classes", "5", "outputs of the last layer (1000 = ImageNet)")
      .option("image-size", "",
              "input S x S, or H x W written HxW (default: the architecture's, 299 for "
              "InceptionV3, else 224)")
      .option("width", "64", "backbone stem width (64 = torchvision's; DenseNet growth = W/2)")
      .option("fpn-channels", "256", "FPN channels")
      .option("head-dim", "256", "GBAD head hidden size")
      .flag("quiet", "totals only")
      .flag("list", "print the architecture names");
  if (!cli.parse(argc, argv)) {
    std::cout << cli.help();
    return 0;
  }
  if (cli.get_flag("list")) {
    for (const auto& n : gbad::Classifier::architectures()) std::cout << n << "\n";
    std::cout << "ganomaly\nskip-ganomaly\n";
    return 0;
  }
  const std::string arch = cli.get("arch");
  gbad::ClassifierOptions opt;
  opt.num_classes = parse_int("--num-classes", cli.get("num-classes"));
  opt.width = parse_int("--width", cli.get("width"));
  opt.fpn_channels = parse_int("--fpn-channels", cli.get("fpn-channels"));
  opt.head_dim = parse_int("--head-dim", cli.get("head-dim"));
  const bool quiet = cli.get_flag("quiet");
  int64_t h = 0, w = 0;  // 0: the architecture's default
  if (const std::string v = cli.get("image-size"); !v.empty()) {
    const auto x = v.find('x');
    if (x == std::string::npos) {
      h = w = parse_int("--image-size", v);
    } else {
      h = parse_int("--image-size", v.substr(0, x));
      w = parse_int("--image-size", v.substr(x + 1));
    }
  }
  GBAD_CHECK(!arch.empty(), "--arch is required (see --list)");
  if (arch == "ganomaly" || arch == "skip-ganomaly") {  // Table 4 baselines
    if (h == 0) h = w = 32;
    GBAD_CHECK(h == w, arch, " takes square images, got ", h, "x", w);
    gbad::GanomalyConfig gc;
    gc.variant = gbad::parse_gan_variant(arch);
    gc.isize = h;
    const gbad::Ganomaly gan(gc, gbad::Device::CPU, /*allocate=*/false);
    std::printf("%s  input 3x%lldx%lld  nz %lld  ngf %lld  ndf %lld\n", arch.c_str(),
                static_cast<long long>(h), static_cast<long long>(w), static_cast<long long>(gc.nz),
                static_cast<long long>(gc.ngf), static_cast<long long>(gc.ndf));
    for (int part = 0; part < 2; ++part) {
      const auto rows = part == 0 ? gan.generator_summary(1) : gan.discriminator_summary(1);
      int64_t params = 0, macs = 0;
      if (!quiet)
        std::printf("%-28s %-16s %-20s %14s %16s\n", "layer", "kind", "output", "params", "MACs");
      for (const auto& r : rows) {
        params += r.params;
        macs += r.macs;
        if (!quiet)
          std::printf("%-28s %-16s %-20s %14s %16s\n", r.name.c_str(), r.kind.c_str(),
                      gbad::shape_str(r.output).c_str(), group(r.params).c_str(),
                      group(r.macs).c_str());
      }
      const int64_t total =
          part == 0 ? gan.generator_param_count() : gan.discriminator_param_count();
      GBAD_CHECK(total == params, "internal: rows sum to ", params, " parameters, model has ",
                 total);
      std::printf("%s parameters: %s\n", part == 0 ? "generator" : "discriminator",
                  group(total).c_str());
      std::printf("%s forward MACs per image: %s\n", part == 0 ? "generator" : "discriminator",
                  group(macs).c_str());
    }
    return 0;
  }
  gbad::Classifier model(arch, opt, gbad::Device::CPU, 0, /*allocate=*/false);
  if (h == 0) h = w = gbad::default_input_size(arch);
  const auto rows = model.summary(1, h, w);
  int64_t params = 0, macs = 0, aux_macs = 0;
  for (const auto& r : rows) {
    params += r.params;
    (r.training_only ? aux_macs : macs) += r.macs;
  }
  std::printf("%s  width %lld  classes %lld  input 3x%lldx%lld\n", arch.c_str(),
              static_cast<long long>(opt.width), static_cast<long long>(opt.num_classes),
              static_cast<long long>(h), static_cast<long long>(w));
  if (!quiet) {
    std::printf("%-28s %-14s %-20s %14s %16s\n", "layer", "kind", "output", "params", "MACs");
    for (const auto& r : rows)
      std::printf("%-28s %-14s %-20s %14s %16s\n", r.name.c_str(), r.kind.c_str(),
                  gbad::shape_str(r.output).c_str(), group(r.params).c_str(),
                  group(r.macs).c_str());
  }
  // The store also counts parameters of no row (none today); report what the model holds.
  const int64_t total = model.param_store().num_params();
  GBAD_CHECK(total == params, "internal: layer rows sum to ", params,
             " parameters but the model "
             "has ",
             total);
  std::printf("total parameters: %s\n", group(total).c_str());
  std::printf("forward MACs per image: %s (%.2f G)\n", group(macs).c_str(), macs / 1e9);
  if (aux_macs)
    std::printf("auxiliary classifier (training only): %s MACs\n", group(aux_macs).c_str());
  std::printf("feature size: %lld\n", static_cast<long long>(model.feature_dim()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return gbad::run_main(argc, argv, "gbad-summary", [&] { return run(argc, argv); });
}
