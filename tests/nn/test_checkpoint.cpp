#include <gtest/gtest.h>

#include <cstring>

#include "common/test_util.h"
#include "io/checkpoint.h"
#include "io/io.h"
#include "st_test_util.h"

namespace gbad {
namespace {

using test::ScratchDir;

template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a gbad::Error";
  return "";
}

#define EXPECT_HAS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << (msg) << "\n  lacks: " << (part)

// A small model: a conv, a BatchNorm (params + running stats + counter) and a linear head.
void build(ParamStore& ps, int64_t conv_in = 3, int64_t fc_out = 5) {
  ps.add_param("conv.weight", {4, conv_in, 3, 3}, InitSpec::kaiming_normal_fan_out(36));
  ps.add_param("bn.weight", {4}, InitSpec::uniform(0.5f, 1.5f));
  ps.add_param("bn.bias", {4}, InitSpec::normal(0.f, 1.f));
  ps.add_buffer("bn.running_mean", {4}, InitSpec::normal(0.f, 1.f));
  ps.add_buffer("bn.running_var", {4}, InitSpec::uniform(0.5f, 2.f));
  ps.add_buffer("bn.num_batches_tracked", {1}, InitSpec::constant(3.f));
  ps.add_param("fc.weight", {fc_out, 4}, InitSpec::xavier_uniform(4, fc_out));
  ps.add_param("fc.bias", {fc_out}, InitSpec::uniform(-1.f, 1.f));
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  auto va = a.to_vector(), vb = b.to_vector();
  return va.size() == vb.size() && std::memcmp(va.data(), vb.data(), va.size() * 4) == 0;
}

TEST(Checkpoint, RoundTripParamsBuffersMetadataExtras) {
  ScratchDir dir;
  std::string p = dir.file("ckpt.safetensors");
  ParamStore a;
  build(a);
  a.finalize(Device::CPU, 1);
  Tensor& st = a.state(2);
  st.set_from(test::random_vector(st.numel(), 9));
  Tensor step = Tensor::from_vector({42.f}, {1});
  save_params(p, a, {{"arch", "resnet18"}, {"rng_seed", "18446744073709551615"}},
              {{"optim.state", st}, {"optim.step", step}});
  EXPECT_EQ(dir.temp_files(), 0);

  ParamStore b;
  build(b);
  b.finalize(Device::CPU, 2);  // different values before loading
  ASSERT_FALSE(bit_equal(a.params(), b.params()));
  load_params(p, b);
  EXPECT_TRUE(bit_equal(a.params(), b.params()));
  EXPECT_TRUE(bit_equal(a.buffers(), b.buffers()));

  auto meta = read_metadata(p);
  EXPECT_EQ(meta.at("format"), "gbad");
  EXPECT_EQ(meta.at("format_version"), "1");
  EXPECT_EQ(meta.at("arch"), "resnet18");
  EXPECT_EQ(meta.at("rng_seed"), "18446744073709551615");

  SafeTensorsFile f = SafeTensorsFile::open(p);
  EXPECT_EQ(extra_tensor_names(f), (std::vector<std::string>{"optim.state", "optim.step"}));
  EXPECT_EQ(f.info("conv.weight").shape, (Shape{4, 3, 3, 3}));
  EXPECT_EQ(f.info("bn.running_var").shape, (Shape{4}));
  EXPECT_TRUE(bit_equal(f.read_tensor("optim.state"), st));
  EXPECT_TRUE(bit_equal(read_extra_tensor(p, "optim.step"), step));
}

TEST(Checkpoint, SaveRejectsReservedKeysAndClashingExtras) {
  ScratchDir dir;
  ParamStore a;
  build(a);
  a.finalize(Device::CPU, 1);
  EXPECT_HAS(error_of([&] { save_params(dir.file("x"), a, {{"format", "mine"}}); }), "reserved");
  EXPECT_HAS(error_of([&] {
               save_params(dir.file("x"), a, {}, {{"fc.bias", Tensor::zeros({5})}});
             }),
             "name of a store entry");
  EXPECT_HAS(error_of([&] {
               save_params(dir.file("x"), a, {}, {{"a,b", Tensor::zeros({5})}});
             }),
             "contains ','");
  ParamStore unfinished;
  build(unfinished);
  EXPECT_HAS(error_of([&] { save_params(dir.file("x"), unfinished, {}); }), "not finalized");
  EXPECT_TRUE(dir.files().empty());
}

TEST(Checkpoint, BadFilesGiveClearErrors) {
  ScratchDir dir;
  ParamStore a;
  build(a);
  a.finalize(Device::CPU, 1);
  std::string good = dir.file("good.safetensors");
  save_params(good, a, {});
  std::string bytes = read_file(good);

  std::string missing = dir.file("missing.safetensors");
  std::string msg = error_of([&] { load_params(missing, a); });
  EXPECT_HAS(msg, missing);
  EXPECT_HAS(msg, "No such file");

  std::string empty = dir.file("empty.safetensors");
  write_file_atomic(empty, std::string());
  msg = error_of([&] { load_params(empty, a); });
  EXPECT_HAS(msg, empty);
  EXPECT_HAS(msg, "only 0 bytes");

  std::vector<float> before = a.params().to_vector();
  std::string trunc = dir.file("trunc.safetensors");
  for (size_t len : {size_t{4}, size_t{8}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    write_file_atomic(trunc, bytes.substr(0, len));
    msg = error_of([&] { load_params(trunc, a); });
    EXPECT_HAS(msg, trunc);
  }
  EXPECT_EQ(a.params().to_vector(), before);

  // Header length beyond the end of the file.
  std::string hlen = dir.file("hlen.safetensors");
  std::string b = bytes;
  uint64_t big = bytes.size();
  std::memcpy(&b[0], &big, 8);
  write_file_atomic(hlen, b);
  EXPECT_HAS(error_of([&] { load_params(hlen, a); }), "runs past the end of the file");

  // Corrupted JSON: break the first '{' of the header.
  std::string bad_json = dir.file("json.safetensors");
  b = bytes;
  b[8] = '#';
  write_file_atomic(bad_json, b);
  msg = error_of([&] { load_params(bad_json, a); });
  EXPECT_HAS(msg, bad_json);
  EXPECT_HAS(msg, "invalid JSON");
}

TEST(Checkpoint, WrongShapeNamesTensorAndBothShapes) {
  ScratchDir dir;
  std::string p = dir.file("c.safetensors");
  ParamStore a;
  build(a, /*conv_in=*/2, /*fc_out=*/7);
  a.finalize(Device::CPU, 1);
  save_params(p, a, {});
  ParamStore b;
  build(b);
  b.finalize(Device::CPU, 2);
  std::vector<float> before = b.params().to_vector();
  std::string msg = error_of([&] { load_params(p, b); });
  EXPECT_HAS(msg, p);
  EXPECT_HAS(msg, "tensor 'conv.weight': expected shape [4, 3, 3, 3], found [4, 2, 3, 3]");
  EXPECT_HAS(msg, "tensor 'fc.weight': expected shape [5, 4], found [7, 4]");
  EXPECT_HAS(msg, "nothing was loaded");
  EXPECT_EQ(b.params().to_vector(), before) << "a failed load must not touch the store";

  // Ignoring the other head and fixing the conv: everything else loads.
  ParamStore c;
  build(c, 2, 5);
  c.finalize(Device::CPU, 3);
  LoadOptions o;
  o.ignore_prefixes = {"fc."};
  load_params(p, c, o);
  EXPECT_TRUE(bit_equal(c.value(c.at("conv.weight")), a.value(a.at("conv.weight"))));
  EXPECT_TRUE(bit_equal(c.buffers(), a.buffers()));
  EXPECT_FALSE(
      bit_equal(c.value(c.at("fc.bias")).slice0(0, 5), a.value(a.at("fc.bias")).slice0(0, 5)));
}

TEST(Checkpoint, MissingAndUnexpectedTensors) {
  ScratchDir dir;
  std::string p = dir.file("small.safetensors");
  ParamStore small;
  small.add_param("conv.weight", {4, 3, 3, 3}, InitSpec::uniform(-1, 1));
  small.add_param("extra.weight", {2}, InitSpec::uniform(-1, 1));
  small.finalize(Device::CPU, 4);
  save_params(p, small, {});

  ParamStore full;
  build(full);
  full.finalize(Device::CPU, 5);
  std::vector<float> bn_before = full.value(full.at("bn.weight")).to_vector();
  std::string msg = error_of([&] { load_params(p, full); });
  EXPECT_HAS(msg, "7 entries missing from the file: 'bn.weight', 'bn.bias'");
  EXPECT_HAS(msg, "(2 more)");
  EXPECT_HAS(msg, "1 unexpected tensors in the file: 'extra.weight'");

  LoadOptions lax;
  lax.strict = false;
  load_params(p, full, lax);
  EXPECT_TRUE(bit_equal(full.value(full.at("conv.weight")), small.value(small.at("conv.weight"))));
  EXPECT_EQ(full.value(full.at("bn.weight")).to_vector(), bn_before) << "absent entries keep";
}

// A foreign file (converted torchvision weights): no gbad metadata, I64 scalar counter.
TEST(Checkpoint, ForeignFileFormatCheckAndI64Scalar) {
  ScratchDir dir;
  std::string p = dir.file("tv.safetensors");
  ParamStore ref;
  build(ref);
  ref.finalize(Device::CPU, 6);
  SafeTensorsWriter w;
  for (const auto& e : ref.entries()) {
    if (e.name == "bn.num_batches_tracked") {
      int64_t v = 123456;
      w.add_raw(e.name, "I64", {}, std::string(reinterpret_cast<char*>(&v), 8));
    } else {
      w.add(e.name, ref.value(ref.at(e.name)));
    }
  }
  w.write(p);

  ParamStore b;
  build(b);
  b.finalize(Device::CPU, 7);
  std::string msg = error_of([&] { load_params(p, b); });
  EXPECT_HAS(msg, p);
  EXPECT_HAS(msg, "not a gbad checkpoint");
  LoadOptions o;
  o.require_gbad_format = false;
  load_params(p, b, o);
  EXPECT_TRUE(bit_equal(b.params(), ref.params()));
  EXPECT_EQ(b.value(b.at("bn.num_batches_tracked")).to_vector(), std::vector<float>{123456.f});

  // A future format version is refused by name.
  SafeTensorsWriter v2;
  v2.set_metadata("format", "gbad");
  v2.set_metadata("format_version", "2");
  v2.write(p);
  EXPECT_HAS(error_of([&] { load_params(p, b); }), "format_version 2");
}

TEST(Checkpoint, FailedSaveKeepsGoodFileAndLeavesNoTemp) {
  ScratchDir dir;
  std::string p = dir.file("ckpt.safetensors");
  ParamStore a;
  build(a);
  a.finalize(Device::CPU, 1);
  save_params(p, a, {{"epoch", "1"}});
  std::string good = read_file(p);

  ParamStore other;
  build(other);
  other.finalize(Device::CPU, 2);
  // An extra tensor that cannot be converted makes the save throw midway.
  EXPECT_THROW(save_params(p, other, {{"epoch", "2"}}, {{"broken", Tensor()}}), Error);
  EXPECT_EQ(read_file(p), good);
  EXPECT_EQ(dir.temp_files(), 0);
  // A path in a directory that does not exist.
  std::string bad = dir.file("nodir/ckpt.safetensors");
  std::string msg = error_of([&] { save_params(bad, other, {}); });
  EXPECT_HAS(msg, bad);
  EXPECT_HAS(msg, "No such file or directory");
  EXPECT_EQ(read_file(p), good);
  EXPECT_EQ(dir.temp_files(), 0);
  EXPECT_EQ(dir.files().size(), 1u);
  load_params(p, other);
  EXPECT_TRUE(bit_equal(other.params(), a.params()));
}

TEST(Checkpoint, CudaStoreRoundTrip) {
  GBAD_REQUIRE_CUDA();
  ScratchDir dir;
  std::string p = dir.file("gpu.safetensors");
  ParamStore a;
  build(a);
  a.finalize(Device::CUDA, 1);
  save_params(p, a, {}, {{"optim.state", a.state(1)}});
  ParamStore b;
  build(b);
  b.finalize(Device::CUDA, 2);
  load_params(p, b);
  EXPECT_TRUE(bit_equal(a.params(), b.params()));
  EXPECT_TRUE(bit_equal(a.buffers(), b.buffers()));
  ParamStore c;  // a CPU store reads the GPU-written file identically
  build(c);
  c.finalize(Device::CPU, 3);
  load_params(p, c);
  EXPECT_TRUE(bit_equal(a.params(), c.params()));
}

}  // namespace
}  // namespace gbad
