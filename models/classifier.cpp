#include "models/classifier.h"

#include <algorithm>

#include "core/nvtx.h"
#include "io/checkpoint.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/nhwc.h"
#include "models/densenet.h"
#include "models/inception.h"

namespace gbad {

namespace {

const std::vector<std::string>& arch_names() {
  static const std::vector<std::string> names = {
      "resnet18-fpn", "resnet34-fpn", "resnet50-fpn", "resnet101-fpn", "resnet18-plain",
      "resnet34-plain", "resnet50-plain", "resnet101-plain",
      // issue 13: InceptionV3 and DenseNet-121 backbones
      "inceptionv3-fpn", "inceptionv3-plain", "densenet121-fpn", "densenet121-plain",
      // issue 14: the CHR baseline (models/chr.h)
      "resnet18-chr", "resnet34-chr", "resnet50-chr", "resnet101-chr", "inceptionv3-chr",
      "densenet121-chr"};
  return names;
}

std::string join_names() {
  std::string s;
  for (const auto& n : arch_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

ArchSpec parse_arch(const std::string& name) {
  ArchSpec a;
  const auto dash = name.find('-');
  if (name.rfind("resnet", 0) == 0 && dash != std::string::npos) {
    const std::string depth = name.substr(6, dash - 6), head = name.substr(dash + 1);
    if ((head == "fpn" || head == "plain" || head == "chr") &&
        (depth == "18" || depth == "34" || depth == "50" || depth == "101")) {
      a.depth = std::stoi(depth);
      a.fpn = head == "fpn";
      a.chr = head == "chr";
      return a;
    }
  }
  for (const char* family : {"inceptionv3", "densenet121"})
    for (const char* head : {"fpn", "plain", "chr"})
      if (name == std::string(family) + "-" + head) {
        a.family = family;
        a.depth = 0;
        a.fpn = std::string(head) == "fpn";
        a.chr = std::string(head) == "chr";
        return a;
      }
  GBAD_FAIL("unknown architecture '", name, "' (known: ", join_names(), ")");
}

int default_input_size(const std::string& arch) {
  return parse_arch(arch).family == "inceptionv3" ? 299 : 224;
}

// ---- heads -----------------------------------------------------------------------------------

struct Classifier::Head {
  // GBAD head (fpn) or plain head; unused members stay default-constructed.
  bool fpn = true;
  std::array<GlobalAvgPool, 4> gap;
  std::array<Linear, 4> fc;
  std::array<ReLU, 4> relu;
  Linear out;  // head.fc5 or fc
  Tensor f, dh;
  std::array<Tensor, 4> dp;

  // p: P2..P5 (fpn) or {-, -, -, C5} (plain) -> logits
  const Tensor& forward(Context& ctx, const std::array<Tensor, 4>& p) {
    if (!fpn) {
      f = gap[3].forward(ctx, p[3]);
      return out.forward(ctx, f);
    }
    for (int i = 0; i < 4; ++i) {
      const Tensor& h = relu[i].forward(ctx, fc[i].forward(ctx, gap[i].forward(ctx, p[i])));
      if (i == 0) {
        f.resize(h.shape(), h.device());
        f.copy_from(h);
      } else {
        add_inplace(ctx, f, h);
      }
    }
    scale_inplace(ctx, f, 0.25f);
    return out.forward(ctx, f);
  }

  const std::array<Tensor, 4>& backward(Context& ctx, const Tensor& dlogits) {
    const Tensor& df = out.backward(ctx, dlogits);
    if (!fpn) {
      dp[3] = gap[3].backward(ctx, df);
      return dp;
    }
    dh.resize(df.shape(), df.device());
    dh.copy_from(df);
    scale_inplace(ctx, dh, 0.25f);
    for (int i = 0; i < 4; ++i)
      dp[i] = gap[i].backward(ctx, fc[i].backward(ctx, relu[i].backward(ctx, dh)));
    return dp;
  }

  void set_training(bool t) {
    for (int i = 0; i < 4; ++i) {
      gap[i].set_training(t);
      fc[i].set_training(t);
      relu[i].set_training(t);
    }
    out.set_training(t);
  }
};

// ---- Classifier ------------------------------------------------------------------------------

Classifier::Classifier(const std::string& arch, const ClassifierOptions& opt, Device device,
                       uint64_t seed, bool allocate)
    : arch_(arch), spec_(parse_arch(arch)), opt_(opt) {
  GBAD_CHECK(opt.num_classes > 0, "num_classes must be positive, got ", opt.num_classes);
  if (spec_.family == "inceptionv3") {
    InceptionConfig ic;
    ic.width = opt.width;
    ic.num_classes = opt.num_classes;
    ic.transform_input = opt.transform_input;
    ic.input_grad = opt.input_grad;
    auto inc = std::make_unique<InceptionV3>(ps_, ic);
    inception_ = inc.get();
    backbone_ = std::move(inc);
  } else if (spec_.family == "densenet121") {
    GBAD_CHECK(opt.width >= 2, "DenseNet width (stem channels, growth = width/2) must be >= 2");
    DenseNetConfig dc;
    dc.init_features = opt.width;
    dc.growth = opt.width / 2;
    dc.blocks = opt.dense_blocks;
    dc.input_grad = opt.input_grad;
    backbone_ = std::make_unique<DenseNet>(ps_, dc);
  } else {
    ResNetConfig rc;
    rc.depth = spec_.depth;
    rc.width = opt.width;
    rc.input_grad = opt.input_grad;
    backbone_ = std::make_unique<ResNet>(ps_, rc);
  }
  head_ = std::make_unique<Head>();
  head_->fpn = spec_.fpn;
  if (spec_.fpn) {
    GBAD_CHECK(opt.fpn_channels > 0 && opt.head_dim > 0,
               "fpn_channels and head_dim must be "
               "positive, got ",
               opt.fpn_channels, " and ", opt.head_dim);
    fpn_ = std::make_unique<Fpn>(ps_, "fpn", backbone_->channels(), opt.fpn_channels);
    for (int i = 0; i < 4; ++i)
      head_->fc[i] = Linear(ps_, "head.fc" + std::to_string(i + 1), opt.fpn_channels, opt.head_dim);
    head_->out = Linear(ps_, "head.fc5", opt.head_dim, opt.num_classes);
  } else if (spec_.chr) {
    const auto ch = backbone_->channels();
    chr_ = std::make_unique<ChrHead>(ps_, std::array<int64_t, 3>{ch[1], ch[2], ch[3]},
                                     opt.num_classes);
  } else {
    head_->out = Linear(ps_, plain_head_name(), backbone_->channels()[3], opt.num_classes);
  }
  if (allocate) ps_.finalize(device, seed);
}

Classifier::~Classifier() = default;

std::string Classifier::plain_head_name() const {
  return spec_.family == "densenet121" ? "classifier" : "fc";
}

void Classifier::set_aux_enabled(bool on) {
  if (inception_) inception_->set_aux_enabled(on);
}

bool Classifier::has_aux() const {
  return inception_ != nullptr;
}

const Tensor& Classifier::aux_logits() const {
  if (inception_ && inception_->aux_active()) return inception_->aux_logits();
  return empty_;
}

const std::vector<std::string>& Classifier::architectures() {
  return arch_names();
}

void Classifier::set_training(bool t) {
  training_ = t;
  backbone_->set_training(t);
  if (fpn_) fpn_->set_training(t);
  if (chr_) chr_->set_training(t);
  head_->set_training(t);
}

const Tensor& Classifier::forward(Context& ctx, const Tensor& x, bool training) {
  GBAD_CHECK(ps_.finalized(), "Classifier '", arch_, "' was built without parameters");
  GBAD_CHECK(x.device() == ps_.device(), "Classifier on ", device_name(ps_.device()),
             " got input on ", device_name(x.device()));
  if (training != training_) set_training(training);
  // NVTX ranges (core/nvtx.h): the model's parts in a profile.
  std::array<Tensor, 4> c;
  {
    GBAD_NVTX_RANGE("backbone forward");
    c = backbone_->forward(ctx, x);
  }
  if (fpn_) {
    GBAD_NVTX_RANGE("fpn forward");
    levels_ = fpn_->forward(ctx, c);
  } else {
    levels_ = c;
  }
  GBAD_NVTX_RANGE("head forward");
  if (chr_) {  // the CHR head reads f32 NCHW: half NHWC stages (kernels/nhwc.h) converted
    for (int i = 0; i < 3; ++i)
      if (c[size_t(i + 1)].is_nhwc()) {
        from_half_nhwc(ctx, chr_in_[size_t(i)], c[size_t(i + 1)]);
        c[size_t(i + 1)] = chr_in_[size_t(i)];
      }
    return logits_ = chr_->forward(ctx, c[1], c[2], c[3]);
  }
  return logits_ = head_->forward(ctx, levels_);
}

namespace {
// t itself, or an f32 NCHW copy of a half NHWC tensor (kernels/nhwc.h).
Tensor as_nchw(Context& ctx, const Tensor& t) {
  if (!t.is_nhwc()) return t;
  Tensor f;
  from_half_nhwc(ctx, f, t);
  return f;
}
}  // namespace

std::vector<Tensor> Classifier::cam_levels(Context& ctx) const {
  GBAD_CHECK(logits_.defined(), "Classifier::cam_levels called before forward");
  if (fpn_) {
    std::vector<Tensor> v;
    for (const Tensor& t : levels_) v.push_back(as_nchw(ctx, t));
    return v;
  }
  return {as_nchw(ctx, levels_[3])};
}

std::vector<std::string> Classifier::cam_level_names() const {
  if (fpn_) return {"P2", "P3", "P4", "P5"};
  return {"C5"};
}

std::vector<Tensor> Classifier::cam_gradients(Context& ctx, const Tensor& dlogits) {
  GBAD_CHECK(logits_.defined(), "Classifier::cam_gradients called before forward");
  GBAD_CHECK(dlogits.shape() == logits_.shape(), "Classifier::cam_gradients: dlogits ",
             dlogits.str(), " does not match the logits ", logits_.str());
  if (chr_) return {chr_->backward(ctx, dlogits)[2]};
  const std::array<Tensor, 4>& dp = head_->backward(ctx, dlogits);
  if (fpn_) {
    std::vector<Tensor> v;
    for (const Tensor& t : dp) v.push_back(as_nchw(ctx, t));
    return v;
  }
  return {as_nchw(ctx, dp[3])};
}

const Tensor* Classifier::cam_linear_weight() {
  if (fpn_ || chr_) return nullptr;
  return &ps_.value(ps_.at(plain_head_name() + ".weight"));
}

const Tensor& Classifier::backward(Context& ctx, const Tensor& dlogits, const Tensor* daux) {
  if (daux && daux->defined() && !daux->empty()) {
    GBAD_CHECK(inception_ && inception_->aux_active(),
               "Classifier::backward: an auxiliary "
               "gradient, but the last forward ran no auxiliary classifier");
    inception_->set_aux_grad(*daux);
  }
  if (chr_) {
    NvtxRange head("head backward");
    std::array<Tensor, 3> d = chr_->backward(ctx, dlogits);
    head.end();
    GBAD_NVTX_RANGE("backbone backward");
    return backbone_->backward(ctx, {Tensor(), d[0], d[1], d[2]});
  }
  NvtxRange head("head backward");
  const std::array<Tensor, 4>& dp = head_->backward(ctx, dlogits);
  head.end();
  if (fpn_) {
    NvtxRange fpn("fpn backward");
    const std::array<Tensor, 4>& dc = fpn_->backward(ctx, dp);
    fpn.end();
    GBAD_NVTX_RANGE("backbone backward");
    return backbone_->backward(ctx, dc);
  }
  GBAD_NVTX_RANGE("backbone backward");
  return backbone_->backward(ctx, dp);
}

void Classifier::training_loss(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& targets,
                               const Tensor* mask) {
  GBAD_CHECK(logits_.defined(), "Classifier::training_loss called before forward");
  dlogits.resize(logits_.shape(), logits_.device());
  if (chr_) {
    chr_->loss(ctx, loss, dlogits, targets, mask);
    return;
  }
  bce_with_logits(ctx, loss, dlogits, logits_, targets, mask);
}

int64_t Classifier::feature_dim() const {
  return (spec_.fpn ? opt_.head_dim : backbone_->channels()[3]) + opt_.num_classes;
}

const Tensor& Classifier::features(Context& ctx, const Tensor& x) {
  const Tensor& logits = forward(ctx, x, false);
  sig_.resize(logits.shape(), logits.device());
  sigmoid_forward(ctx, sig_, logits);
  const Tensor& f = chr_ ? chr_->pooled() : head_->f;
  features_.resize({f.size(0), f.size(1) + logits.size(1)}, logits.device());
  concat1(ctx, features_, f, sig_);
  return features_;
}

std::map<std::string, std::string> Classifier::metadata() const {
  std::map<std::string, std::string> m = {
      {"arch", arch_},
      {"width", std::to_string(opt_.width)},
      {"num_classes", std::to_string(opt_.num_classes)},
      {"fpn_channels", std::to_string(spec_.fpn ? opt_.fpn_channels : 0)},
      {"head_dim", std::to_string(spec_.fpn ? opt_.head_dim : 0)}};
  if (spec_.family == "inceptionv3") m["transform_input"] = opt_.transform_input ? "1" : "0";
  if (spec_.family == "densenet121") {
    std::string b;
    for (int v : opt_.dense_blocks) b += (b.empty() ? "" : ",") + std::to_string(v);
    m["dense_blocks"] = b;
  }
  return m;
}

std::vector<LayerSummary> Classifier::summary(int64_t n, int64_t h, int64_t w) const {
  std::vector<LayerSummary> rows;
  std::array<Shape, 4> c = backbone_->summarize({n, 3, h, w}, ps_, rows);
  if (spec_.fpn) {
    std::array<Shape, 4> p = fpn_->summarize(c, ps_, rows);
    for (int i = 0; i < 4; ++i) {
      rows.push_back({"head.gap" + std::to_string(i + 1), "GlobalAvgPool", {n, p[i][1]}, 0, 0});
      const std::string name = "head.fc" + std::to_string(i + 1);
      rows.push_back({name,
                      "Linear",
                      {n, opt_.head_dim},
                      count_params(ps_, name),
                      n * opt_.fpn_channels * opt_.head_dim});
    }
    rows.push_back({"head.mean", "Mean", {n, opt_.head_dim}, 0, 0});
    rows.push_back({"head.fc5",
                    "Linear",
                    {n, opt_.num_classes},
                    count_params(ps_, "head.fc5"),
                    n * opt_.head_dim * opt_.num_classes});
  } else if (chr_) {
    chr_->summarize({c[1], c[2], c[3]}, ps_, rows);
  } else {
    rows.push_back({"avgpool", "GlobalAvgPool", {n, c[3][1]}, 0, 0});
    rows.push_back({plain_head_name(),
                    "Linear",
                    {n, opt_.num_classes},
                    count_params(ps_, plain_head_name()),
                    n * c[3][1] * opt_.num_classes});
  }
  return rows;
}

}  // namespace gbad

// ---- checkpoints -----------------------------------------------------------------------------

namespace gbad {

void Classifier::save(const std::string& path, const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> meta = extra;
  for (const auto& [k, v] : metadata()) meta[k] = v;
  meta["model"] = "gbad-classifier";
  save_params(path, ps_, meta);
}

void Classifier::load(const std::string& path) {
  const auto meta = read_metadata(path);
  auto it = meta.find("arch");
  GBAD_CHECK(it != meta.end(), path,
             ": not a classifier checkpoint (no 'arch' in its metadata); "
             "torchvision weights load with --pretrained");
  GBAD_CHECK(it->second == arch_, path, ": checkpoint is a '", it->second,
             "' model but this model is a '", arch_, "'");
  for (const auto& [k, v] : metadata()) {
    auto m = meta.find(k);
    GBAD_CHECK(m != meta.end() && m->second == v, path, ": checkpoint has ", k, " = ",
               (m == meta.end() ? std::string("(absent)") : m->second), " but this model has ", k,
               " = ", v);
  }
  load_params(path, ps_);
}

PretrainedReport Classifier::load_pretrained(const std::string& path) {
  SafeTensorsFile f = SafeTensorsFile::open(path);
  // Class-count-sized layers: ignored when the file's class count differs.
  const std::vector<std::string> out_layers = {plain_head_name() + ".", "AuxLogits.fc."};
  auto is_out = [&](const std::string& n) {
    for (const auto& p : out_layers)
      if (n.rfind(p, 0) == 0) return true;
    return false;
  };
  auto is_backbone = [&](const std::string& n) {
    // CHR's head: fc1..fc3 and its 1x1 convolutions "cov*".
    return !is_out(n) && n.rfind("fpn.", 0) != 0 && n.rfind("head.", 0) != 0 &&
           n.rfind("fc", 0) != 0 && n.rfind("cov", 0) != 0;
  };
  std::vector<std::string> missing_backbone;
  PretrainedReport rep;
  LoadOptions lo;
  lo.strict = false;
  lo.require_gbad_format = false;
  bool fc_ok = true;
  for (const auto& e : ps_.entries()) {
    if (!f.has(e.name)) {
      if (is_backbone(e.name)) missing_backbone.push_back(e.name);
      continue;
    }
    if (is_out(e.name) && shape_numel(f.info(e.name).shape) != e.numel) fc_ok = false;
  }
  if (!missing_backbone.empty()) {
    std::string list;
    for (size_t i = 0; i < missing_backbone.size() && i < 5; ++i)
      list += (i ? ", " : "") + missing_backbone[i];
    GBAD_FAIL(path, ": not ", arch_, " backbone weights: ", missing_backbone.size(),
              " backbone tensors missing (", list, missing_backbone.size() > 5 ? ", ..." : "", ")");
  }
  if (!fc_ok)
    for (const auto& p : out_layers) lo.ignore_prefixes.push_back(p);
  load_params(f, ps_, lo);
  for (const auto& e : ps_.entries()) {
    const bool ignored = !fc_ok && is_out(e.name);
    if (f.has(e.name) && !ignored)
      ++rep.loaded;
    else
      ++rep.missing;
  }
  rep.skipped = static_cast<int>(f.names().size()) - rep.loaded;
  return rep;
}

}  // namespace gbad
