// Writes the valid part of the seed corpus with the project's own writers, so the seeds always
// match the current file formats: `fuzz_make_seeds OUT` fills OUT/<target>/seed-*. The
// committed corpus (fuzz/corpus/) holds these, hand-made known-bad files and every input a
// fuzzer ever crashed on (regressions). scripts/fuzz.sh runs it into a scratch corpus first.
#include <stb_image_write.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/pack.h"
#include "eval/scores_csv.h"
#include "fuzz/fuzz_models.h"
#include "io/checkpoint.h"
#include "io/io.h"
#include "io/safetensors.h"
#include "models/svm.h"
#include "train/pipeline.h"
#include "train/run_dir.h"

using namespace gbad;
namespace fs = std::filesystem;

namespace {

std::string g_out;

std::string dir_of(const std::string& target) {
  const std::string d = g_out + "/" + target;
  fs::create_directories(d);
  return d;
}
void put(const std::string& target, const std::string& name, const std::string& bytes) {
  std::ofstream(dir_of(target) + "/" + name, std::ios::binary) << bytes;
}
void put_file(const std::string& target, const std::string& name, const std::string& src) {
  put(target, name, read_file(src));
}

Image test_image(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t((i * 37) ^ (i >> 3));
  return img;
}

std::string png(const Image& img, int comp) {
  std::vector<uint8_t> px;
  for (size_t i = 0; i < img.pixels.size(); i += 3)
    for (int c = 0; c < comp; ++c) px.push_back(img.pixels[i + size_t(c % 3)]);
  std::string out;
  stbi_write_png_to_func(
      [](void* ctx, void* d, int n) {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(d), size_t(n));
      },
      &out, img.width, img.height, comp, px.data(), img.width * comp);
  return out;
}

void images() {
  const std::vector<uint8_t> j1 = encode_jpeg(test_image(16, 9), 90);
  const std::vector<uint8_t> j2 = encode_jpeg(test_image(3, 40), 50);
  put("fuzz_image", "seed-rgb-16x9.jpg", std::string(j1.begin(), j1.end()));
  put("fuzz_image", "seed-rgb-3x40.jpg", std::string(j2.begin(), j2.end()));
  put("fuzz_image", "seed-rgb-7x5.png", png(test_image(7, 5), 3));
  put("fuzz_image", "seed-gray-5x7.png", png(test_image(5, 7), 1));
  put("fuzz_image", "seed-rgba-4x4.png", png(test_image(4, 4), 4));
  put("fuzz_image", "bad-truncated.jpg", std::string(j1.begin(), j1.begin() + j1.size() / 2));
}

void packs() {
  const std::string dir = dir_of("fuzz_pack");
  const std::array<int8_t, kNumClasses> pos{1, -1, -1, -1, -1}, neg{-1, -1, -1, -1, -1};
  {
    PackWriter w(dir + "/seed-two.pack", 3, "ImageSet/10/train.csv", 42);
    const std::vector<uint8_t> a(27, 7), b(27, 200);
    w.add("P00001", pos, a.data());
    w.add("N00001", neg, b.data());
    w.finish();
  }
  {
    PackWriter w(dir + "/seed-empty.pack", 1, "", 0);
    w.finish();
  }
  const std::string two = read_file(dir + "/seed-two.pack");
  put("fuzz_pack", "bad-truncated.pack", two.substr(0, two.size() - 10));
}

void csvs() {
  const std::string header = "name,Gun,Knife,Wrench,Pliers,Scissors\n";
  put("fuzz_split_csv", "seed-train.csv",
      header + "P00001,1,-1,-1,0,-1\nP00002,-1,1,1,-1,-1\nN00001,-1,-1,-1,-1,-1\n");
  put("fuzz_split_csv", "seed-bom-crlf.csv",
      "\xEF\xBB\xBF" + header.substr(0, header.size() - 1) +
          "\r\nP00001, 1,-1,-1,-1,-1\r\n\r\nN00002,-1,-1,-1,-1,-1\r\n");
  put("fuzz_split_csv", "bad-rows.csv",
      header +
          "P00001,1,-1\nP00002,2,-1,-1,-1,-1\nP00001,1,-1,-1,-1,-1\n,1,1,1,1,1\nX,a,b,c,d,e\n");
  put("fuzz_split_csv", "bad-header.csv", "file,Gun,Knife\nP00001,1,-1,-1,-1,-1\n");

  ScoreTable t;
  t.names = {"P00001", "P00002", "N00001", "N00002"};
  t.scores = {{0.9f, 0.1f, 0.2f, 0.3f, 0.4f},
              {0.2f, 0.8f, 0.7f, 0.1f, 0.05f},
              {0.1f, 0.1f, 0.1f, 0.1f, 0.1f},
              {0.3f, 0.2f, 1e-30f, 0.f, 1.f}};
  const std::string scores = dir_of("fuzz_scores_csv") + "/seed-scores.csv";
  write_scores_csv(scores, t);
  put("fuzz_scores_csv", "seed-labels.csv",
      header + "P00001,1,-1,-1,-1,-1\nP00002,-1,1,+1,0,-1\nN00001,-1,-1,-1,-1,-0\n");
  put("fuzz_scores_csv", "seed-inf-ties.csv",
      header + "a,inf,-inf,1e38,0.5,0.5\nb,0.5,0.5,0.5,0.5,0.5\nc, 1 ,2,3,4,5\r\n");
  put("fuzz_scores_csv", "bad-nan.csv", header + "a,nan,0,0,0,0\n");
}

void safetensors_files() {
  SafeTensorsWriter w;
  w.add("a", Tensor::from_vector({1.f, -2.f, 3.5f, 0.f, 1e-40f, 7.f}, {2, 3}));
  w.add_raw("b16", "F16", {2}, std::string("\x00\x3c\x01\x80", 4));
  w.add_raw("bf", "BF16", {1}, std::string("\x80\x3f", 2));
  w.add_raw("i64", "I64", {1}, std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8));
  w.add_raw("u8", "U8", {3}, std::string("\x01\x02\xff", 3));
  w.add_raw("scalar", "F64", {}, std::string(8, '\0'));
  w.add_raw("empty", "F32", {0, 4}, std::string());
  w.set_metadata("format", "gbad");
  w.set_metadata("extra_tensors", "a,b16");
  const std::string p = dir_of("fuzz_safetensors") + "/seed-dtypes.safetensors";
  w.write(p);
  const std::string bytes = read_file(p);
  put("fuzz_safetensors", "bad-truncated.safetensors", bytes.substr(0, bytes.size() - 5));
  std::string overlap = bytes;
  const size_t at = overlap.find("[0,24]");
  if (at != std::string::npos) overlap.replace(at, 6, "[0,16]");
  put("fuzz_safetensors", "bad-offsets.safetensors", overlap);
}

void checkpoints() {
  Classifier fpn(fuzz::kTinyArch, fuzz::tiny_classifier_options());
  const std::string c = dir_of("fuzz_checkpoint") + "/seed-classifier.safetensors";
  fpn.save(c, {{"epoch", "1"}, {"global_step", "12"}});
  put_file("fuzz_safetensors", "seed-classifier.safetensors", c);

  BiGanConfig bc = fuzz::tiny_bigan_config();
  BiGan gan(bc, Device::CPU);
  gan.save(dir_of("fuzz_checkpoint") + "/seed-bigan.safetensors");
  bc.ema_decay = 0.9f;
  BiGan ema(bc, Device::CPU);
  ema.set_standardization(std::vector<float>(9, 0.5f), std::vector<float>(9, 2.f));
  ema.save(dir_of("fuzz_checkpoint") + "/seed-bigan-ema.safetensors");

  save_features(dir_of("fuzz_checkpoint") + "/seed-features.safetensors",
                Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}), {"N00001", "N00002", "N00003"});

  // Converted torchvision weights: the backbone (and fc) without gbad metadata, in F32 and F16.
  Classifier plain(fuzz::kTinyPlainArch, fuzz::tiny_classifier_options());
  SafeTensorsWriter w32;
  for (const auto& e : plain.param_store().entries())
    w32.add(e.name, plain.param_store().value(plain.param_store().at(e.name)));
  w32.write(dir_of("fuzz_pretrained") + "/seed-plain-f32.safetensors");
  SafeTensorsWriter w16;
  for (const auto& e : plain.param_store().entries())
    if (e.name.rfind("fc.", 0) != 0)
      w16.add_raw(e.name, "F16", e.shape, std::string(size_t(e.numel) * 2, '\0'));
  w16.add_raw("fc.weight", "F16", {1000, 4}, std::string(8000, '\0'));
  w16.write(dir_of("fuzz_pretrained") + "/seed-plain-f16-fc1000.safetensors");
}

void run_configs() {
  const std::string tmp = g_out + "/.tmp-run";
  RunDir cnn(tmp, "train-cnn");
  const ClassifierOptions o = fuzz::tiny_classifier_options();
  cnn.write_config({{"arch", fuzz::kTinyArch},
                    {"width", std::to_string(o.width)},
                    {"fpn-channels", std::to_string(o.fpn_channels)},
                    {"head-dim", std::to_string(o.head_dim)},
                    {"data", "data"},
                    {"subset", "10"},
                    {"test-size", "32"}},
                   {{"note", "x\"y\\u00e9\n"}});
  put_file("fuzz_run_config", "seed-train-cnn.json", cnn.file("config.json"));
  RunDir svm(tmp, "train-svm");
  svm.write_config({{"log-scores", "1"}, {"kernel", "rbf"}});
  put_file("fuzz_run_config", "seed-train-svm.json", svm.file("config.json"));
  put("fuzz_run_config", "bad-width.json",
      "{\"phase\": \"train-cnn\", \"options\": {\"arch\": \"resnet18-fpn\", \"width\": \"1e9\", "
      "\"fpn-channels\": \"4\", \"head-dim\": \"4\", \"test-size\": \"32\"}}");
  put("fuzz_run_config", "bad-nesting.json", std::string(200, '[') + std::string(200, ']'));
  fs::remove_all(tmp);
}

void svms() {
  std::vector<std::array<float, 2>> x;
  std::vector<int> y;
  for (int i = 0; i < 20; ++i) {
    x.push_back({float(i % 7) * 0.3f + (i < 10 ? 2.f : 0.f), float(i % 3)});
    y.push_back(i < 10 ? 1 : -1);
  }
  SvmConfig c;
  c.class_weight = SvmClassWeight::Balanced;
  Svm rbf(c);
  rbf.train(x, y);
  rbf.save(dir_of("fuzz_svm_model") + "/seed-rbf.model");
  c.kernel = SvmKernel::Linear;
  c.probability = true;
  c.standardize = false;
  Svm lin(c);
  lin.train(x, y);
  lin.save(dir_of("fuzz_svm_model") + "/seed-linear-prob.model");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  try {
    images();
    csvs();
    packs();
    safetensors_files();
    checkpoints();
    run_configs();
    svms();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
