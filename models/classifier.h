// The image classifier: a backbone plus one of two heads, chosen by name
// "resnet{18,34,50,101}-{fpn,plain,chr}", "inceptionv3-{fpn,plain,chr}",
// "densenet121-{fpn,plain,chr}".
//   fpn:   FPN over C2..C5 -> P2..P5; h_i = ReLU(FC_i(GAP(P_i))) (head.fc1..fc4, fpn_channels ->
//          head_dim), f = mean_i h_i, logits = FC5(f) (head.fc5). features = [f, sigmoid(logits)].
//   plain: logits = fc(GAP(C5)) ("fc", torchvision's name; "classifier" for DenseNet).
//          features = [pooled, sigmoid(logits)].
//   chr:   the CHR head (models/chr.h) on C3, C4, C5 ("resnet{18,34,50,101}-chr",
//          "inceptionv3-chr", "densenet121-chr": the same three upper levels the FPN takes, as
//          the SIXray authors' head is defined on any backbone's last three stages); logits = its
//          o1 (the test-time score), training loss over its three outputs (training_loss).
//          features = [GAP(a4), sigmoid(logits)].
// InceptionV3 also carries torchvision's auxiliary classifier (AuxLogits, training only).
// All parameters live in one ParamStore; backward is by hand; save/load use nn/checkpoint.h
// with metadata {arch, width, num_classes, fpn_channels, head_dim}.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/backbone.h"
#include "models/chr.h"
#include "models/fpn.h"
#include "models/resnet.h"

namespace gbad {

class InceptionV3;

struct ClassifierOptions {
  int64_t width = 64;          // backbone base width (64 = torchvision)
  int64_t num_classes = 5;     // K
  int64_t fpn_channels = 256;  // FPN output channels
  int64_t head_dim = 256;      // size of h_i and f (GBAD head)
  bool input_grad = false;     // backward() also returns dL/dx (gradient checks)
  // InceptionV3 / DenseNet (width = stem channels for them too: 64 = torchvision; DenseNet's
  // growth rate is width / 2).
  bool transform_input = false;                       // InceptionV3 with torchvision's weights
  std::array<int, 4> dense_blocks = {6, 12, 24, 16};  // DenseNet layers per block
};

struct ArchSpec {
  std::string family = "resnet";  // resnet | inceptionv3 | densenet121
  int depth = 18;                 // ResNet only
  bool fpn = true;
  bool chr = false;  // CHR head (fpn false)
};
// The input size the binaries use for an architecture unless told otherwise: 299 for
// InceptionV3, 224 otherwise.
int default_input_size(const std::string& arch);
// Parses "resnet34-fpn" etc; throws listing the known names.
ArchSpec parse_arch(const std::string& name);

struct PretrainedReport {
  int loaded = 0;   // tensors copied
  int skipped = 0;  // tensors in the file that were ignored (e.g. fc.* of another class count)
  int missing = 0;  // model tensors not in the file (the head), left at their initial values
};

class Classifier {
 public:
  // Builds the model; with `allocate` the ParamStore is finalised on `device` (initialised from
  // `seed`), without it only shapes exist (summaries of full-size models cost nothing).
  Classifier(const std::string& arch, const ClassifierOptions& opt, Device device = Device::CPU,
             uint64_t seed = 0, bool allocate = true);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  static const std::vector<std::string>& architectures();

  // x (N,3,H,W) -> logits (N,K), owned by the model. training: BN batch statistics.
  const Tensor& forward(Context& ctx, const Tensor& x, bool training);
  // Accumulates parameter gradients of the last forward; returns dL/dx when
  // options.input_grad, else an empty tensor.
  // daux: gradient of the auxiliary logits (InceptionV3 in training), or null.
  const Tensor& backward(Context& ctx, const Tensor& dlogits, const Tensor* daux = nullptr);
  // The training loss of the last forward into loss (1) and its gradient wrt the logits into
  // dlogits (resized to the logits' shape), for backward(): BCE with logits over the K labels
  // (mask: SIXray's "difficult" labels) for the fpn and plain heads; for CHR the sum over its
  // three outputs of the easy-negative-masked BCE (kernels/chr_loss.h), whose o2/o3 gradients
  // the head keeps for backward().
  void training_loss(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& targets,
                     const Tensor* mask);
  // InceptionV3's auxiliary classifier: enabled, it runs in training-mode forwards and
  // aux_logits() (N,K) is then non-empty. Other architectures have none (a no-op).
  void set_aux_enabled(bool on);
  bool has_aux() const;
  const Tensor& aux_logits() const;
  // Eval-mode forward, then x = [f or pooled, sigmoid(logits)] (N, feature_dim()).
  const Tensor& features(Context& ctx, const Tensor& x);
  int64_t feature_dim() const;
  void set_training(bool t);
  bool training() const { return training_; }

  ParamStore& param_store() { return ps_; }
  const ParamStore& param_store() const { return ps_; }
  const std::string& arch() const { return arch_; }
  const ChrHead* chr_head() const { return chr_.get(); }  // null unless a CHR architecture
  const ClassifierOptions& options() const { return opt_; }
  std::map<std::string, std::string> metadata() const;

  // Checkpoints: everything in the ParamStore plus `extra` metadata (strings).
  void save(const std::string& path, const std::map<std::string, std::string>& extra = {});
  // Loads a checkpoint of this architecture and these options; a file of another architecture
  // is an error naming both.
  void load(const std::string& path);
  // Converted torchvision weights (tools/convert_torchvision.py): every backbone tensor is
  // required; "fc.*" is ignored when its shape differs (another class count); heads not in the
  // file keep their initial values.
  PretrainedReport load_pretrained(const std::string& path);

  // Class activation maps (gbad-predict --cam). After a forward, the feature maps a map is
  // made of, (N, C, h, w) handles valid until the next forward: P2..P5 for the GBAD head, C5
  // (the last stage) for the plain and CHR heads; cam_level_names() says which. Always f32
  // NCHW (half NHWC levels, kernels/nhwc.h, are converted into new tensors).
  std::vector<Tensor> cam_levels(Context& ctx) const;
  std::vector<std::string> cam_level_names() const;
  // The gradients of sum(dlogits * logits) of the last forward with respect to cam_levels(),
  // by the head's backward alone (the backbone is not run; the head's parameter gradients
  // accumulate). dlogits (N,K) with one column of ones: each image's gradient of that class's
  // logit (images are independent in eval mode).
  std::vector<Tensor> cam_gradients(Context& ctx, const Tensor& dlogits);
  // The plain head's linear layer weight (K, C5 channels), for the classic CAM; null for the
  // other heads.
  const Tensor* cam_linear_weight();

  // Layer-by-layer summary for a batch of n images of h x w (no allocation needed).
  std::vector<LayerSummary> summary(int64_t n, int64_t h, int64_t w) const;

 private:
  struct Head;
  std::string plain_head_name() const;  // "fc", or "classifier" for DenseNet (torchvision)
  std::string arch_;
  ArchSpec spec_;
  ClassifierOptions opt_;
  ParamStore ps_;
  std::unique_ptr<Backbone> backbone_;
  InceptionV3* inception_ = nullptr;  // backbone_ when it is one (auxiliary head)
  std::unique_ptr<Fpn> fpn_;
  std::unique_ptr<Head> head_;
  std::unique_ptr<ChrHead> chr_;
  bool training_ = true;
  Tensor features_, sig_, empty_, logits_;
  std::array<Tensor, 4> levels_;  // of the last forward: P2..P5, or C2..C5 (cam_levels)
  std::array<Tensor, 3> chr_in_;  // f32 NCHW copies of half NHWC C3..C5 for the CHR head
};

}  // namespace gbad
