#include "train/cam_maps.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/check.h"
#include "data/image.h"
#include "io/io.h"
#include "train/run_dir.h"

namespace gbad {

std::vector<std::vector<ClassCams>> class_activation_maps(Context& ctx, Classifier& model,
                                                          const Tensor& x,
                                                          const CamChooser& choose) {
  GBAD_CHECK(x.ndim() == 4 && x.n() > 0, "class_activation_maps: input ", x.str(),
             " is not a batch of images");
  const int64_t n = x.n();
  const Tensor& logits_dev = model.forward(ctx, x, false);
  const int64_t k_count = logits_dev.size(1);
  const std::vector<float> logits = logits_dev.to_vector();
  std::vector<std::vector<int>> classes;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> conf(static_cast<size_t>(k_count));
    for (int64_t k = 0; k < k_count; ++k)
      conf[size_t(k)] = 1.f / (1.f + std::exp(-logits[size_t(i * k_count + k)]));
    classes.push_back(choose(i, conf));
    for (int k : classes.back())
      GBAD_CHECK(k >= 0 && k < k_count, "class_activation_maps: class ", k, " of ", k_count);
  }

  // Host copies of the levels (the handles die with the next forward, not with a backward).
  const std::vector<Tensor> levels = model.cam_levels(ctx);
  std::vector<std::vector<float>> a;
  for (const Tensor& t : levels) a.push_back(t.to_vector());
  std::vector<std::vector<ClassCams>> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int k : classes[size_t(i)]) {
      ClassCams c;
      c.cls = k;
      c.confidence = 1.f / (1.f + std::exp(-logits[size_t(i * k_count + k)]));
      out[size_t(i)].push_back(std::move(c));
    }
  auto level_ptr = [&](const std::vector<float>& v, const Tensor& t, int64_t i) {
    return v.data() + i * t.c() * t.h() * t.w();
  };

  if (const Tensor* w = model.cam_linear_weight()) {  // plain head: classic CAM
    const std::vector<float> wt = w->to_vector();
    const Tensor& c5 = levels[0];
    GBAD_CHECK(w->size(1) == c5.c(), "classic CAM: fc weight ", w->str(), " vs C5 ", c5.str());
    for (int64_t i = 0; i < n; ++i)
      for (ClassCams& c : out[size_t(i)])
        c.levels.push_back(classic_cam(level_ptr(a[0], c5, i), wt.data() + c.cls * c5.c(), c5.c(),
                                       int(c5.h()), int(c5.w())));
    return out;
  }

  // Grad-CAM: one head backward per distinct class, a column of ones selecting it for every
  // image at once.
  std::set<int> wanted;
  for (const auto& cl : classes) wanted.insert(cl.begin(), cl.end());
  for (int k : wanted) {
    std::vector<float> onehot(size_t(n * k_count), 0.f);
    for (int64_t i = 0; i < n; ++i) onehot[size_t(i * k_count + k)] = 1.f;
    const Tensor dlogits = Tensor::from_vector(onehot, {n, k_count}, x.device());
    const std::vector<Tensor> grads = model.cam_gradients(ctx, dlogits);
    std::vector<std::vector<float>> da;
    for (const Tensor& g : grads) da.push_back(g.to_vector());
    for (int64_t i = 0; i < n; ++i)
      for (ClassCams& c : out[size_t(i)]) {
        if (c.cls != k) continue;
        for (size_t l = 0; l < levels.size(); ++l) {
          const Tensor& t = levels[l];
          c.levels.push_back(grad_cam(level_ptr(a[l], t, i), level_ptr(da[l], t, i), t.c(),
                                      int(t.h()), int(t.w())));
        }
      }
  }
  return out;
}

std::vector<int> cam_classes(const std::array<float, kNumClasses>& confidence, float threshold,
                             const std::array<int8_t, kNumClasses>* labels) {
  std::vector<int> out;
  for (int k = 0; k < kNumClasses; ++k)
    if (confidence[size_t(k)] >= threshold || (labels && (*labels)[size_t(k)] == 1))
      out.push_back(k);
  return out;
}

namespace {

// File names keep letters, digits, '-', '_' and '.'; anything else becomes '_'.
std::string safe_name(const std::string& s) {
  std::string o = s;
  for (char& c : o)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return o;
}

void write_png(const std::string& path, const Image& img, const CamMap& map, float alpha) {
  Image o{img.width, img.height, overlay_cam(img.pixels.data(), img.width, img.height, map, alpha)};
  const std::vector<uint8_t> png = encode_png(o);
  write_file_atomic(path, std::string(png.begin(), png.end()));
}

}  // namespace

std::vector<CamIndexRow> write_cam_overlays(Context& ctx, Classifier& model,
                                            const std::vector<CamImage>& images,
                                            const CamWriteOptions& opt, const std::string& dir) {
  GBAD_CHECK(opt.batch > 0 && opt.image_size > 0, "CAM: bad batch ", opt.batch, " or size ",
             opt.image_size);
  make_dirs(dir);
  const std::vector<std::string> level_names = model.cam_level_names();
  Preprocess pre;
  pre.resize = pre.crop = opt.image_size;
  pre.train = false;
  const int64_t s = opt.image_size, per = 3 * s * s;
  std::vector<CamIndexRow> rows;
  std::set<std::string> used;
  auto unique_name = [&](const std::string& base) {
    std::string name = base + ".png";
    for (int k = 2; !used.insert(name).second; ++k) name = base + "-" + std::to_string(k) + ".png";
    return name;
  };
  for (size_t b0 = 0; b0 < images.size(); b0 += size_t(opt.batch)) {
    const size_t b1 = std::min(images.size(), b0 + size_t(opt.batch));
    const int64_t n = int64_t(b1 - b0);
    std::vector<Image> decoded;
    Tensor host({n, 3, s, s});
    for (size_t i = b0; i < b1; ++i) {
      decoded.push_back(decode_image(images[i].path));
      preprocess_image(host.f32() + int64_t(i - b0) * per, decoded.back(), pre, Augment{});
    }
    const Tensor x = host.to(model.param_store().device());
    const auto cams =
        class_activation_maps(ctx, model, x, [&](int64_t i, const std::vector<float>& c) {
          GBAD_CHECK(c.size() == size_t(kNumClasses), "CAM: the model has ", c.size(),
                     " classes, expected ", kNumClasses);
          std::array<float, kNumClasses> conf{};
          std::copy(c.begin(), c.end(), conf.begin());
          const CamImage& im = images[b0 + size_t(i)];
          return cam_classes(conf, opt.threshold, im.labelled ? &im.labels : nullptr);
        });
    for (int64_t i = 0; i < n; ++i) {
      const CamImage& im = images[b0 + size_t(i)];
      const Image& img = decoded[size_t(i)];
      for (const ClassCams& c : cams[size_t(i)]) {
        char conf[32];
        std::snprintf(conf, sizeof conf, "%.3f", double(c.confidence));
        const std::string cls = kClassNames[size_t(c.cls)];
        const std::string base = safe_name(im.stem) + "_" + cls + "_" + conf;
        const std::string name = unique_name(base);
        write_png(dir + "/" + name, img, combine_cams(c.levels, img.height, img.width), opt.alpha);
        rows.push_back({im.stem, cls, conf, name});
        if (opt.levels && c.levels.size() > 1)
          for (size_t l = 0; l < c.levels.size(); ++l)
            write_png(dir + "/" + unique_name(base + "_" + level_names[l]), img,
                      combine_cams({c.levels[l]}, img.height, img.width), opt.alpha);
      }
    }
  }
  write_file_atomic(dir + "/index.csv", cam_index_csv(rows));
  return rows;
}

}  // namespace gbad
