#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "common/test_util.h"
#include "io/io.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "st_test_util.h"

namespace gbad {
namespace {

using test::f32_bytes;
using test::make_st;
using test::ScratchDir;

// Expects `fn` to throw gbad::Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one containing '" << parts.at(0) << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << msg << "\n  lacks: " << p;
  }
}

// ---- JSON -----------------------------------------------------------------------------------

TEST(Json, WriteAndParseRoundTrip) {
  Json j = {
      {"s", "q\"\n\x01"},    {"n", -3}, {"d", 0.1}, {"nan", std::nan("")}, {"a", {true, nullptr}},
      {"e", Json::object()}, {"z", 1}};
  // Keys keep the order they were written in; NaN has no JSON spelling and becomes null.
  EXPECT_EQ(json_text(j),
            R"({"s":"q\"\n\u0001","n":-3,"d":0.1,"nan":null,"a":[true,null],"e":{},"z":1})");
  const Json v = parse_json(json_text(j, 2));
  EXPECT_EQ(v["s"].get<std::string>(), "q\"\n\x01");
  EXPECT_EQ(v["n"].get<int64_t>(), -3);
  EXPECT_EQ(v["d"].get<double>(), 0.1);
  EXPECT_TRUE(v["nan"].is_null());
  EXPECT_TRUE(std::isnan(json_number_or_nan(json_find(v, "nan"))));
  EXPECT_EQ(json_number_or_nan(json_find(v, "z")), 1.0);
  EXPECT_EQ(json_find(v, "missing"), nullptr);
  EXPECT_EQ(json_find(v["a"], "s"), nullptr);  // not an object
  EXPECT_EQ(json_text(Json{{"k", {1, 2}}}, 2), "{\n  \"k\": [\n    1,\n    2\n  ]\n}");
  // Doubles read back bit for bit.
  for (double x : {1.0 / 3.0, 1e-300, 123456789.123456789, -2.5e17}) {
    const Json r = parse_json(json_text(Json{{"x", x}}));
    EXPECT_EQ(r["x"].get<double>(), x);
  }
  // Bytes that are not UTF-8 do not make writing throw.
  EXPECT_NO_THROW(json_text(Json{{"p", std::string("a\xff")}}));
}

TEST(Json, ParserEdgeCases) {
  EXPECT_EQ(parse_json(R"("\u00e9\ud83d\ude00")").get<std::string>(), "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(parse_json("9223372036854775807").get<int64_t>(), std::numeric_limits<int64_t>::max());
  EXPECT_TRUE(parse_json("18446744073709551615").is_number_unsigned());
  EXPECT_TRUE(parse_json("1.5e3").is_number_float());
  EXPECT_EQ(parse_json("1.5e3").get<double>(), 1500.0);
  for (const char* bad :
       {"", "{", "{\"a\":}", "[1,]", "{\"a\":1,\"a\":2}", "01", "-", "1.", "\"\\x\"", "\"\\ud800\"",
        "\"abc", "tru", "[1] 2", "{1:2}", "\"a\nb\"", "\"\xff\"", "{\"o\":{\"k\":1,\"k\":2}}"}) {
    EXPECT_THROW(parse_json(bad), Error) << bad;
  }
  // A repeated key is an error, the same key in two objects is not.
  expect_error([&] { parse_json(R"({"a":{"k":1},"k":{"k":2,"k":3}})", "dup"); },
               {"dup", "duplicate key \"k\""});
  EXPECT_NO_THROW(parse_json(R"({"a":{"k":1},"k":{"k":2}})"));
  expect_error([&] { parse_json("{\"a\": [1,", "cut"); }, {"cut: invalid JSON at byte"});
  std::string deep(100, '[');
  deep += std::string(100, ']');
  expect_error([&] { parse_json(deep, "deep"); }, {"deep", "nesting"});
  std::string ok(60, '[');
  ok += std::string(60, ']');
  EXPECT_NO_THROW(parse_json(ok));
}

// ---- atomic writes --------------------------------------------------------------------------

TEST(AtomicWrite, WritesAndReplaces) {
  ScratchDir dir;
  std::string p = dir.file("a.bin");
  write_file_atomic(p, std::string("first"));
  EXPECT_EQ(read_file(p), "first");
  write_file_atomic(p, [](AtomicFile& f) {
    f.write("sec", 3);
    f.write(std::string("ond"));
  });
  EXPECT_EQ(read_file(p), "second");
  EXPECT_EQ(dir.temp_files(), 0);
  EXPECT_EQ(dir.files().size(), 1u);
}

TEST(AtomicWrite, FailureLeavesOldFileAndNoTemp) {
  ScratchDir dir;
  std::string p = dir.file("keep.bin");
  write_file_atomic(p, std::string("good content"));
  // The writer throws midway, after some bytes reached the temporary file.
  EXPECT_THROW(write_file_atomic(p,
                                 [](AtomicFile& f) {
                                   f.write(std::string(100000, 'x'));
                                   GBAD_FAIL("simulated failure");
                                 }),
               Error);
  EXPECT_EQ(read_file(p), "good content");
  EXPECT_EQ(dir.temp_files(), 0);
  // An AtomicFile destroyed without commit also leaves nothing behind.
  {
    AtomicFile f(p);
    f.write(std::string("partial"));
  }
  EXPECT_EQ(read_file(p), "good content");
  EXPECT_EQ(dir.temp_files(), 0);
  // A directory that does not exist: the message names the path and the errno text.
  std::string bad = dir.file("no/such/dir/x.bin");
  expect_error([&] { write_file_atomic(bad, std::string("x")); },
               {bad, "No such file or directory"});
}

TEST(AtomicWrite, ReadFileErrors) {
  ScratchDir dir;
  std::string p = dir.file("missing.bin");
  expect_error([&] { read_file(p); }, {p, "No such file or directory"});
  EXPECT_FALSE(file_exists(p));
  write_file_atomic(p, std::string());
  EXPECT_TRUE(file_exists(p));
  EXPECT_EQ(read_file(p), "");
}

// ---- safetensors round trip -----------------------------------------------------------------

TEST(SafeTensors, RoundTripDtypesMetadataAndLayout) {
  ScratchDir dir;
  std::string p = dir.file("t.safetensors");
  SafeTensorsWriter w;
  Tensor a = test::random_tensor({2, 3, 4}, 7);
  w.add("zeta", a);  // inserted first, stored last: the layout is sorted by name
  int64_t nbt = 12345;
  w.add_raw("bn.num_batches_tracked", "I64", {}, std::string(reinterpret_cast<char*>(&nbt), 8));
  // F16: 1, -2, 0.5, smallest subnormal, +inf; BF16: 1, -3.
  uint16_t h[5] = {0x3C00, 0xC000, 0x3800, 0x0001, 0x7C00};
  w.add_raw("half", "F16", {5}, std::string(reinterpret_cast<char*>(h), sizeof(h)));
  uint16_t bf[2] = {0x3F80, 0xC040};
  w.add_raw("bf", "BF16", {2, 1}, std::string(reinterpret_cast<char*>(bf), sizeof(bf)));
  double d[2] = {0.25, -1e3};
  w.add_raw("dbl", "F64", {2}, std::string(reinterpret_cast<char*>(d), sizeof(d)));
  int32_t i32[3] = {-7, 0, 1 << 20};
  w.add_raw("i32", "I32", {3}, std::string(reinterpret_cast<char*>(i32), sizeof(i32)));
  w.add_raw("empty", "F32", {0, 4}, "");
  w.set_metadata("arch", "resnet18");
  w.set_metadata("quote\"key", "line\nbreak");
  w.write(p);
  EXPECT_EQ(dir.temp_files(), 0);

  std::string bytes = read_file(p);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  EXPECT_EQ(bytes[8 + n - 1] == ' ' || bytes[8 + n - 1] == '}', true);

  SafeTensorsFile f = SafeTensorsFile::open(p);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"bf", "bn.num_batches_tracked", "dbl", "empty",
                                                 "half", "i32", "zeta"}));
  EXPECT_EQ(f.info("zeta").dtype, "F32");
  EXPECT_EQ(f.info("zeta").shape, (Shape{2, 3, 4}));
  EXPECT_EQ(f.info("zeta").end, bytes.size() - 8 - n) << "last by name is last in the data";
  EXPECT_EQ(f.info("bn.num_batches_tracked").shape, Shape{});
  EXPECT_EQ(f.metadata().at("arch"), "resnet18");
  EXPECT_EQ(f.metadata().at("quote\"key"), "line\nbreak");

  std::vector<float> av = a.to_vector(), got = f.read_f32("zeta");
  ASSERT_EQ(got.size(), av.size());
  EXPECT_EQ(std::memcmp(got.data(), av.data(), av.size() * 4), 0) << "F32 must be bit-identical";
  EXPECT_EQ(f.read_f32("bn.num_batches_tracked"), std::vector<float>{12345.f});
  EXPECT_EQ(f.read_tensor("bn.num_batches_tracked").shape(), Shape{1});
  std::vector<float> hv = f.read_f32("half");
  EXPECT_EQ(hv[0], 1.f);
  EXPECT_EQ(hv[1], -2.f);
  EXPECT_EQ(hv[2], 0.5f);
  EXPECT_EQ(hv[3], std::ldexp(1.f, -24));
  EXPECT_TRUE(std::isinf(hv[4]) && hv[4] > 0);
  EXPECT_EQ(f.read_f32("bf"), (std::vector<float>{1.f, -3.f}));
  EXPECT_EQ(f.read_f32("dbl"), (std::vector<float>{0.25f, -1000.f}));
  EXPECT_EQ(f.read_f32("i32"), (std::vector<float>{-7.f, 0.f, 1048576.f}));
  EXPECT_TRUE(f.read_f32("empty").empty());
  EXPECT_EQ(f.read_raw("i32"), std::string(reinterpret_cast<char*>(i32), sizeof(i32)));
  expect_error([&] { f.info("nope"); }, {p, "nope"});

  // Same content in another insertion order gives the same bytes.
  SafeTensorsWriter w2;
  w2.set_metadata("b", "2");
  w2.set_metadata("a", "1");
  w2.add("y", Tensor::from_vector({1.f}, {1}));
  w2.add("x", Tensor::from_vector({2.f}, {1}));
  SafeTensorsWriter w3;
  w3.add("x", Tensor::from_vector({2.f}, {1}));
  w3.add("y", Tensor::from_vector({1.f}, {1}));
  w3.set_metadata("a", "1");
  w3.set_metadata("b", "2");
  w2.write(dir.file("w2"));
  w3.write(dir.file("w3"));
  EXPECT_EQ(read_file(dir.file("w2")), read_file(dir.file("w3")));
}

TEST(SafeTensors, WriterRejectsBadInput) {
  SafeTensorsWriter w;
  w.add("a", Tensor::zeros({2}));
  EXPECT_THROW(w.add("a", Tensor::zeros({2})), Error);
  EXPECT_THROW(w.add("__metadata__", Tensor::zeros({2})), Error);
  EXPECT_THROW(w.add("", Tensor::zeros({2})), Error);
  expect_error([&] { w.add("u", Tensor()); }, {"'u'", "undefined"});
  expect_error([&] { w.add_raw("r", "F32", {3}, std::string(8, '\0')); }, {"'r'", "8 bytes"});
  expect_error([&] { w.add_raw("q", "F8_E4M3", {1}, "x"); }, {"'q'", "unknown dtype"});
}

// ---- safetensors validation -----------------------------------------------------------------

TEST(SafeTensors, BadFilesGiveClearErrors) {
  ScratchDir dir;
  auto check = [&](const std::string& name, const std::string& bytes,
                   std::vector<std::string> parts) {
    std::string p = dir.file(name);
    write_file_atomic(p, bytes);
    parts.push_back(p);
    SCOPED_TRACE(name);
    expect_error([&] { SafeTensorsFile::open(p); }, parts);
  };
  const std::string d8 = f32_bytes({1.f, 2.f});
  expect_error([&] { SafeTensorsFile::open(dir.file("absent")); }, {"absent", "No such file"});
  check("empty", "", {"only 0 bytes"});
  check("short", "abc", {"only 3 bytes"});
  check("hlen", make_st("{}", "").substr(0, 8) + "{", {"header length 2", "past the end"});
  check("notjson", make_st("{\"a\": [1,", d8), {"invalid JSON"});
  check("notobj", make_st("[1, 2]", ""), {"not a JSON object"});
  check("nodtype", make_st(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", d8),
        {"'w'", "missing \"dtype\""});
  check("noshape", make_st(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", d8),
        {"'w'", "missing \"shape\""});
  check("nooff", make_st(R"({"w":{"dtype":"F32","shape":[2]}})", d8),
        {"'w'", "missing \"data_offsets\""});
  check("dtype", make_st(R"({"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", d8),
        {"'w'", "unknown dtype 'Q7'"});
  check("negshape", make_st(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8),
        {"'w'", "non-negative integer"});
  check("size", make_st(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8),
        {"'w'", "hold 8 bytes", "needs 12"});
  check("range", make_st(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", d8),
        {"'w'", "past the end of the data"});
  check("overlap",
        make_st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                d8),
        {"'b'", "overlaps tensor 'a'"});
  check("gap", make_st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8),
        {"'a'", "4 unused bytes"});
  check("trailing", make_st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d8),
        {"tensors end at 4"});
  check("meta", make_st(R"({"__metadata__":{"k":3}})", ""), {"__metadata__", "'k'"});
  check("huge",
        make_st(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],)"
                R"("data_offsets":[0,8]}})",
                d8),
        {"'a'", "too large"});
  // A valid hand-built file still loads.
  SafeTensorsFile ok = SafeTensorsFile::parse(
      make_st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8), "mem");
  EXPECT_EQ(ok.read_f32("a"), (std::vector<float>{1.f, 2.f}));
}

// Truncations and byte flips of a valid file either load or throw gbad::Error; never crash.
TEST(SafeTensors, FuzzTruncateAndFlip) {
  SafeTensorsWriter w;
  w.add("layer.weight", test::random_tensor({3, 4}, 1));
  w.add("layer.bias", test::random_tensor({3}, 2));
  int64_t nbt = 5;
  w.add_raw("bn.num_batches_tracked", "I64", {}, std::string(reinterpret_cast<char*>(&nbt), 8));
  w.set_metadata("format", "gbad");
  ScratchDir dir;
  std::string p = dir.file("f.safetensors");
  w.write(p);
  std::string full = read_file(p);
  ASSERT_NO_THROW(SafeTensorsFile::parse(full, "full"));

  int loaded = 0, rejected = 0;
  auto attempt = [&](const std::string& bytes) {
    try {
      SafeTensorsFile f = SafeTensorsFile::parse(bytes, "fuzz");
      for (const auto& n : f.names()) (void)f.read_f32(n);
      ++loaded;
    } catch (const Error&) {
      ++rejected;
    }
  };
  for (size_t len = 0; len < full.size(); ++len) attempt(full.substr(0, len));
  EXPECT_EQ(loaded, 0) << "every truncation must be detected";
  uint64_t n;
  std::memcpy(&n, full.data(), 8);
  for (size_t pos = 0; pos < 8 + n; ++pos) {
    for (unsigned char x : {0x01, 0x20, 0x80, 0xFF}) {
      std::string b = full;
      b[pos] = static_cast<char>(b[pos] ^ x);
      attempt(b);
    }
  }
  EXPECT_GT(rejected, static_cast<int>(full.size()));
  EXPECT_GT(loaded, 0) << "some flips (inside padding, digits of equal meaning) still load";
}

}  // namespace
}  // namespace gbad
