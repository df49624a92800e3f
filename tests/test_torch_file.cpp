// The torch.save reader on crafted files: it reads what Python writes (views, shared storages), and refuses
// with vdsr::Error what a hostile file could use to crash it or make it allocate without bound.
#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cstdint>
#include <cstring>

#include "tests/test_paths.h"
#include "test_util.h"
#include "vdsr/torch_file.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using test::error_of;
using namespace std::string_literals;  // pickles hold NUL bytes
namespace fs = std::filesystem;

namespace {

// Pickle pieces (protocol 2, as torch.save writes them).
std::string text(const std::string& s) {  // BINUNICODE
  std::string out = "X";
  for (int i = 0; i < 4; ++i) out += static_cast<char>((s.size() >> (8 * i)) & 0xff);
  return out + s;
}
std::string integer(int64_t v) {  // LONG1 with 8 bytes
  std::string out = "\x8a\x08";
  for (int i = 0; i < 8; ++i) out += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  return out;
}
std::string tuple(const std::vector<int64_t>& values) {
  std::string out = "(";
  for (int64_t v : values) out += integer(v);
  return out + "t";
}

// torch._utils._rebuild_tensor_v2 over a FloatStorage of `numel` elements in record data/0.
std::string tensor_pickle(int64_t numel, int64_t offset, const std::vector<int64_t>& sizes,
                          const std::vector<int64_t>& strides) {
  return std::string("\x80\x02") + "ctorch._utils\n_rebuild_tensor_v2\n(" +
         "(" + text("storage") + "ctorch\nFloatStorage\n" + text("0") + text("cpu") + integer(numel) + "tQ" +
         integer(offset) + tuple(sizes) + tuple(strides) + "\x89" + "ccollections\nOrderedDict\n)Rt" + "R.";
}

// A zip archive as torch.save writes it, holding data.pkl and data/0 (four floats 0, 1, 2, 3).
std::string archive(const std::string& pickle) {
  std::string bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  const float storage[4] = {0, 1, 2, 3};
  writer.writeRecord("data/0", storage, sizeof storage);
  writer.writeEndOfFile();
  return bytes;
}

PyRef read(const std::string& bytes) { return read_torch_bytes(bytes.data(), bytes.size(), "crafted.pt"); }
std::string error_reading(const std::string& bytes) { return error_of([&] { read(bytes); }); }

}  // namespace

TEST(TorchFile, RebuildsViewsAndSharedStoragesAsPythonWroteThem) {
  const fs::path corpus = fs::path(test::source_dir()) / "fuzz" / "corpus" / "torch_file";
  // [base[2:8].reshape(2, 3).t(), base[::3], base[5]] with base = arange(12) (fuzz/make_seeds.py)
  PyRef views = read_torch_file(corpus / "views.pt");
  ASSERT_EQ(views->kind, PyValue::Kind::List);
  ASSERT_EQ(views->items.size(), 3u);
  const at::Tensor base = at::arange(12, at::kDouble);
  EXPECT_TRUE(at::equal(views->items[0]->tensor, base.slice(0, 2, 8).reshape({2, 3}).t()));
  EXPECT_TRUE(at::equal(views->items[1]->tensor, base.slice(0, 0, 12, 3)));
  EXPECT_EQ(views->items[2]->tensor.dim(), 0);
  EXPECT_EQ(views->items[2]->tensor.item<double>(), 5.0);
  // An empty tensor's record has no bytes at all.
  PyRef checkpoint = read_torch_file(corpus / "checkpoint.pt");
  EXPECT_EQ(checkpoint->get("weights")->get("b")->tensor.numel(), 0);
  EXPECT_TRUE(at::equal(checkpoint->get("weights")->get("a")->tensor, at::ones({1})));
  PyRef shared = read_torch_file(corpus / "shared.pt");
  EXPECT_TRUE(at::equal(shared->get("b")->tensor, at::ones({4})));
  EXPECT_TRUE(at::equal(shared->get("c")->tensor, at::ones({3})));
}

TEST(TorchFile, RefusesTensorsOutsideTheirStorageOrBeyondTheBudget) {
  PyRef ok = read(archive(tensor_pickle(4, 1, {3}, {1})));
  ASSERT_EQ(ok->kind, PyValue::Kind::Tensor);
  EXPECT_TRUE(at::equal(ok->tensor, at::arange(1, 4, at::kFloat)));
  EXPECT_NE(error_reading(archive(tensor_pickle(4, 1, {2, 2}, {2, 1}))).find("outside its storage"), std::string::npos);
  EXPECT_NE(error_reading(archive(tensor_pickle(4, 4, {}, {}))).find("outside its storage"), std::string::npos);
  EXPECT_NE(error_reading(archive(tensor_pickle(4, 0, {2}, {-1}))).find("negative"), std::string::npos);
  EXPECT_NE(error_reading(archive(tensor_pickle(4, -1, {1}, {1}))).find("negative"), std::string::npos);
  // Stride 0 repeats one element: a few bytes asking for 2^62 elements (and overflowing their product).
  EXPECT_NE(error_reading(archive(tensor_pickle(4, 0, {int64_t(1) << 31, int64_t(1) << 31}, {0, 0})))
                .find("larger than the file allows"), std::string::npos);
  EXPECT_NE(error_reading(archive(tensor_pickle(4, 0, {int64_t(1) << 62, int64_t(1) << 62}, {0, 0})))
                .find("larger than the file allows"), std::string::npos);
  // A storage of 2^62 + 4 floats is 16 bytes after the multiplication wraps.
  EXPECT_NE(error_reading(archive(tensor_pickle((int64_t(1) << 62) + 4, 0, {1}, {1}))).find("has 16 bytes"),
            std::string::npos);
}

TEST(TorchFile, RefusesCyclesDeepNestingAndMisusedOpcodes) {
  EXPECT_NE(error_reading(archive("\x80\x02]q\x00h\x00" "a."s)).find("inside itself"), std::string::npos);
  // A = [], B = []; B.append(A); A.append(B) would close a cycle.
  EXPECT_NE(error_reading(archive("\x80\x02]q\x00]q\x01h\x00" "aa."s)).find("already inside another"),
            std::string::npos);
  const std::string deep = "\x80\x02" + std::string(100, ']') + std::string(99, 'a') + ".";
  EXPECT_NE(error_reading(archive(deep)).find("nested more than"), std::string::npos);
  const std::string fine = "\x80\x02" + std::string(60, ']') + std::string(59, 'a') + ".";
  EXPECT_EQ(read(archive(fine))->kind, PyValue::Kind::List);
  EXPECT_NE(error_reading(archive("\x80\x02)K\x01" "a.")).find("wrong type"), std::string::npos);
  EXPECT_NE(error_reading(archive("\x80\x02K\x01" "K\x02" "s.")).find("stack underflow"), std::string::npos);
  EXPECT_NE(error_reading(archive("\x80\x02\x93.")).find("unsupported pickle opcode 0x93"), std::string::npos);
  // BUILD popping below a MARK, then SETITEMS: found by fuzz_torch_pickle (std::length_error before).
  EXPECT_NE(error_reading(archive("\x80\x02}q\x00(bu."s)).find("stack underflow"), std::string::npos);
  EXPECT_NE(error_reading(archive("\x80\x02K\x01(a."s)).find("stack underflow"), std::string::npos);
  EXPECT_NE(error_reading(archive("\x80\x02" "cos\nsystem\n" + text("true") + "\x85R.")).find("os.system"),
            std::string::npos);
}

TEST(TorchFile, RefusesRecordsDeclaringMoreBytesThanTheFile) {
  std::string bytes = archive(tensor_pickle(4, 0, {4}, {1}));
  ASSERT_EQ(read(bytes)->kind, PyValue::Kind::Tensor);
  // Mark a directory entry deflated with a 4 GB uncompressed size: LibTorch would allocate that much.
  const size_t entry = bytes.rfind("PK\x01\x02");
  ASSERT_NE(entry, std::string::npos);
  bytes[entry + 10] = 8;
  std::memset(&bytes[entry + 24], 0xf0, 4);
  EXPECT_NE(error_reading(bytes).find("declare more bytes than the file holds"), std::string::npos);
  EXPECT_NE(error_reading(bytes.substr(0, 30)).find("no zip directory"), std::string::npos);
  EXPECT_NE(error_reading("").find("empty or truncated"), std::string::npos);
}
