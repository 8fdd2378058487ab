// InceptionV3 and DenseNet against torchvision's own model classes, on committed fixtures
// (tools/make_backbone_fixtures.py): reduced versions with random weights (BN statistics
// too), training-mode logits (and InceptionV3's auxiliary logits at 299 with transform_input),
// the BCE-with-logits loss, dL/dx and dL/dparam of every parameter, and the eval-mode logits
// after that forward (the running-statistics update).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "io/checkpoint.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "model_test_util.h"
#include "models/classifier.h"
#include "nn/optim.h"

namespace gbad {
namespace {

using test::ModelTol;

// The fixtures hold float64 references and, per tensor, the relative error of PyTorch's own
// float32 run against them ("noise.<name>"); these small networks are ill-conditioned (a
// float32 rounding difference moves some gradients by several %), so ours must be as close to
// the reference as PyTorch's float32 is, within a factor, plus a floor relative to the largest
// gradient norm (for tensors whose gradient is analytically about zero).
struct Agreement {
  const SafeTensorsFile& f;
  double floor = 0;  // absolute, set from the largest gradient norm
  double worst_ratio = 0;
  std::string worst_name;
  static constexpr double kFactor = 10, kRel = 2e-4;

  static double norm(const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += double(x) * x;
    return std::sqrt(s);
  }
  void check(const std::vector<float>& ours, const std::string& name) {
    const std::vector<float> ref = f.read_f32(name);
    ASSERT_EQ(ours.size(), ref.size()) << name;
    double d = 0;
    for (size_t i = 0; i < ref.size(); ++i)
      d += (double(ours[i]) - ref[i]) * (double(ours[i]) - ref[i]);
    d = std::sqrt(d);
    const double rn = norm(ref), noise = f.read_f32("noise." + name)[0] * rn;
    const double bound = kFactor * noise + kRel * rn + floor;
    EXPECT_LE(d, bound) << name << ": |ours - ref| = " << d << ", |ref| = " << rn
                        << ", PyTorch float32's error " << noise;
    if (noise + kRel * rn > 0) {
      const double r = d / (noise + kRel * rn);
      if (r > worst_ratio) worst_name = name;
      if (std::getenv("GBAD_AGREEMENT_VERBOSE") && r > 3)
        std::printf("  %s: ratio %.1f (|d| %.3g, |ref| %.3g)\n", name.c_str(), r, d, rn);
      worst_ratio = std::max(worst_ratio, r);
    }
  }
};

Shape parse_shape(const std::string& s) {
  Shape out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, 'x')) out.push_back(std::stoll(item));
  return out;
}

// The fixture script's formula input: x[i] = 0.5 sin(0.37 i) + 0.3 cos(0.011 i).
Tensor formula_input(const Shape& shape) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(0.5 * std::sin(0.37 * double(i)) + 0.3 * std::cos(0.011 * double(i)));
  return Tensor::from_vector(v, shape);
}

void check_fixture(const std::string& file) {
  const std::string path = std::string(GBAD_MODEL_FIXTURES) + "/" + file;
  SafeTensorsFile f = SafeTensorsFile::open(path);
  const auto& meta = f.metadata();
  ClassifierOptions o;
  o.width = std::stoll(meta.at("width"));
  o.num_classes = std::stoll(meta.at("num_classes"));
  o.input_grad = true;
  if (meta.count("transform_input")) o.transform_input = meta.at("transform_input") == "1";
  if (meta.count("dense_blocks")) {
    std::stringstream ss(meta.at("dense_blocks"));
    std::string item;
    for (int i = 0; i < 4 && std::getline(ss, item, ','); ++i)
      o.dense_blocks[size_t(i)] = std::stoi(item);
  }
  const float aux_weight = std::stof(meta.at("aux_weight"));
  const int64_t stride = std::stoll(meta.at("grad_input_stride"));
  Classifier m(meta.at("arch"), o, Device::CPU, 0);
  ParamStore& ps = m.param_store();
  for (const auto& e : ps.entries()) ASSERT_TRUE(f.has(e.name)) << e.name << " not in " << file;
  LoadOptions lo;
  lo.strict = false;  // the file also holds inputs and reference outputs
  lo.require_gbad_format = false;
  load_params(f, ps, lo);
  m.set_aux_enabled(aux_weight > 0);

  Context ctx(Device::CPU, 0);
  Tensor x =
      f.has("input") ? f.read_tensor("input") : formula_input(parse_shape(meta.at("input_shape")));
  Tensor t = f.read_tensor("target");
  Agreement ag{f, 0, 0, {}};
  const Tensor& logits = m.forward(ctx, x, true);
  ag.check(logits.to_vector(), "logits");
  Tensor loss({1}), dlogits(logits.shape()), aux_loss({1}), daux;
  bce_with_logits(ctx, loss, dlogits, logits, t);
  float total = read_scalar(loss);
  if (aux_weight > 0) {
    const Tensor& aux = m.aux_logits();
    ASSERT_FALSE(aux.empty()) << "the auxiliary classifier did not run";
    ag.check(aux.to_vector(), "aux_logits");
    daux.resize(aux.shape());
    bce_with_logits(ctx, aux_loss, daux, aux, t);
    scale_inplace(ctx, daux, aux_weight);
    total += aux_weight * read_scalar(aux_loss);
  } else {
    EXPECT_TRUE(m.aux_logits().empty());
  }
  ag.check({total}, "loss");
  ps.zero_grad();
  const Tensor& dx = m.backward(ctx, dlogits, aux_weight > 0 ? &daux : nullptr);
  std::vector<float> dxv = dx.to_vector(), sampled;
  for (size_t i = 0; i < dxv.size(); i += size_t(stride)) sampled.push_back(dxv[i]);
  std::vector<float> grads = ps.grads().to_vector();
  for (const auto& e : ps.entries())
    if (e.trainable)
      ag.floor = std::max(ag.floor, 1e-5 * Agreement::norm(f.read_f32("grad." + e.name)));
  ag.check(sampled, "grad.input");
  int checked = 0;
  for (const auto& e : ps.entries()) {
    if (!e.trainable) continue;
    ag.check(std::vector<float>(grads.begin() + e.offset, grads.begin() + e.offset + e.numel),
             "grad." + e.name);
    ++checked;
  }
  EXPECT_GT(checked, 20);
  ag.check(m.forward(ctx, x, false).to_vector(), "logits_eval");
  std::printf("%s: worst |ours - float64| / (PyTorch float32's + %.0e |ref|) = %.2f (%s)\n",
              file.c_str(), Agreement::kRel, ag.worst_ratio, ag.worst_name.c_str());
}

TEST(TorchAgreement, DenseNetGrowth4Blocks2322) {
  check_fixture("densenet_g4.safetensors");
}

TEST(TorchAgreement, InceptionV3Width4At75) {
  check_fixture("inception_w4_75.safetensors");
}

TEST(TorchAgreement, InceptionV3Width2At299WithAuxAndTransformInput) {
  check_fixture("inception_w2_299_aux.safetensors");
}

}  // namespace
}  // namespace gbad
