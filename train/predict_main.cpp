// gbad-predict: per-image multi-label confidences (the paper's Table 5), with the anomaly
// decision and both anomaly scores when a Bi-GAN and an SVM run are given.
#include <cstdio>
#include <map>
#include <sstream>

#include "data/image.h"
#include "train/cam_maps.h"
#include "train/pipeline.h"

using namespace gbad;

namespace {

const char* kSummary =
    "Confidences of the 5 threat classes for image files (JPEG or PNG). With --bigan and\n"
    "--svm also the anomaly scores R and FM, the SVM decision and the gated confidences\n"
    "(normal images multiplied by --epsilon). Images are given with --images a,b,c or\n"
    "--list FILE (one path per line).\n"
    "\n"
    "With --cam DIR, class activation maps overlaid on each scan (PNG at the image's size,\n"
    "<stem>_<class>_<confidence>.png, plus DIR/index.csv for gbad-report --cams), for every\n"
    "class whose confidence (the classifier's, before the gate) is >= --cam-threshold and for\n"
    "the classes labelled present in --labels:\n"
    "  GBAD head (*-fpn): Grad-CAM on each FPN level P2..P5 (gradient of the class logit by the\n"
    "    head's backward); the overlay shows their combination, each level's map resized to the\n"
    "    image, normalised to [0,1] and averaged (--cam-levels also writes each level's own);\n"
    "  plain head: the classic CAM of the last stage (fc weights x C5);\n"
    "  CHR head: Grad-CAM on C5 through its test-time output o1.";

int run(Phase& p) {
  Cli& cli = p.cli();
  cli.option("cnn", "", "phase-1 run directory", true)
      .option("bigan", "", "phase-2 run directory (optional, enables the gate)")
      .option("svm", "", "phase-3 run directory (optional, enables the gate)")
      .option("epsilon", "1e-4", "factor applied to the confidences of normal images")
      .option("images", "", "comma-separated image paths")
      .option("list", "", "file with one image path per line")
      .option("csv", "", "also write the results to this CSV file")
      .option("cam", "", "write class activation map overlays and index.csv into this folder")
      .option("cam-threshold", "0.5", "map the classes predicted with at least this confidence")
      .flag("cam-levels", "with --cam and the GBAD head, also one overlay per FPN level")
      .option("labels", "",
              "split CSV (SIXray format: stem,5 labels) whose present classes also get maps");
  if (!p.parse()) return 0;
  std::vector<std::string> paths;
  {
    std::stringstream ss(cli.get("images"));
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) paths.push_back(item);
    if (!cli.get("list").empty()) {
      std::stringstream ls(read_file(cli.get("list")));
      while (std::getline(ls, item))
        if (!item.empty()) paths.push_back(item);
    }
  }
  GBAD_CHECK(!paths.empty(), "no images given (use --images or --list)");
  const bool gate = !cli.get("bigan").empty() || !cli.get("svm").empty();
  GBAD_CHECK(!gate || (!cli.get("bigan").empty() && !cli.get("svm").empty()),
             "the gate needs both --bigan and --svm");
  const Device device = p.device();
  Context& ctx = p.ctx();
  CnnRun cnn = load_cnn_run(cli.get("cnn"), device);
  cnn.model->set_training(false);

  std::vector<Sample> samples;
  for (const std::string& p : paths) {
    Sample s;
    s.path = p;
    auto slash = p.find_last_of('/');
    std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
    s.stem = base.substr(0, base.find_last_of('.'));
    s.labels.fill(-1);
    samples.push_back(s);
  }
  Tensor feats = extract_features(ctx, *cnn.model, samples,
                                  eval_loader_config(cnn.image_size, 16, 2), "predict");
  auto conf = confidences(feats);
  AnomalyScores sc;
  std::vector<double> dv;
  std::vector<int> anomalous;
  const float eps = static_cast<float>(cli.get_double("epsilon"));
  if (gate) {
    RunConfig gan_run(cli.get("bigan"), "train-bigan");
    RunConfig svm_run(cli.get("svm"), "train-svm");
    BiGan bigan(BiGan::read_config(gan_run.file("bigan.safetensors")), device);
    bigan.load(gan_run.file("bigan.safetensors"));
    Svm svm = load_svm_run(svm_run);
    sc = anomaly_scores(ctx, bigan, feats);
    std::vector<float> rows = svm_rows(sc, svm_uses_log_scores(svm_run));
    dv = svm.decision_values(rows, 2);
    for (double v : dv) anomalous.push_back(v > 0 ? 1 : -1);
  }
  if (!cli.get("cam").empty()) {
    std::map<std::string, std::array<int8_t, kNumClasses>> labels;
    if (!cli.get("labels").empty()) {
      SplitCsv csv = read_split_csv(cli.get("labels"));
      GBAD_CHECK(csv.problems.empty(), cli.get("labels"), ": ", csv.problems.front());
      for (size_t i = 0; i < csv.stems.size(); ++i) labels[csv.stems[i]] = csv.labels[i];
    }
    std::vector<CamImage> images;
    for (const Sample& s : samples) {
      CamImage im;
      im.path = s.path;
      im.stem = s.stem;
      auto it = labels.find(s.stem);
      if (it != labels.end()) {
        im.labelled = true;
        im.labels = it->second;
      }
      images.push_back(im);
    }
    CamWriteOptions co;
    co.image_size = cnn.image_size;
    co.threshold = static_cast<float>(cli.get_double("cam-threshold"));
    co.levels = cli.get_flag("cam-levels");
    const auto rows = write_cam_overlays(ctx, *cnn.model, images, co, cli.get("cam"));
    std::fprintf(stderr, "cam: %zu overlays of %zu images (%s) in %s\n", rows.size(), images.size(),
                 cnn.model->cam_level_names().size() > 1
                     ? "Grad-CAM, P2..P5"
                     : (cnn.model->cam_linear_weight() ? "classic CAM, C5" : "Grad-CAM, C5"),
                 cli.get("cam").c_str());
  }
  auto gated = conf;
  if (gate) apply_gate(gated, anomalous, eps);

  std::string csv = "image";
  for (const char* c : kClassNames) csv += std::string(",") + c;
  if (gate) csv += ",R,FM,svm_decision,anomalous";
  csv += "\n";
  std::printf("%-24s", "image");
  for (const char* c : kClassNames) std::printf(" %11s", c);
  if (gate) std::printf(" %9s %9s %9s %s", "R", "FM", "decision", "verdict");
  std::printf("\n");
  char buf[64];
  for (size_t i = 0; i < samples.size(); ++i) {
    std::printf("%-24s", samples[i].stem.c_str());
    csv += paths[i];
    for (int k = 0; k < kNumClasses; ++k) {
      std::printf(" %11.4e", double(gated[i][k]));
      std::snprintf(buf, sizeof buf, ",%.6e", double(gated[i][k]));
      csv += buf;
    }
    if (gate) {
      std::printf(" %9.4f %9.4f %9.4f %s", double(sc.r[i]), double(sc.fm[i]), dv[i],
                  anomalous[i] > 0 ? "anomalous (kept)" : "normal (suppressed)");
      std::snprintf(buf, sizeof buf, ",%.6g,%.6g,%.6g,%d", double(sc.r[i]), double(sc.fm[i]), dv[i],
                    anomalous[i] > 0 ? 1 : 0);
      csv += buf;
    }
    std::printf("\n");
    csv += "\n";
  }
  if (!cli.get("csv").empty()) write_file_atomic(cli.get("csv"), csv);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return phase_main(argc, argv, "gbad-predict", kSummary, run);
}
