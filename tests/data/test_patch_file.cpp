// The HDF5 patch reader: validation messages and shuffled, deterministic, resumable batches.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <fstream>
#include <set>

#include "data_test_util.h"
#include "vdsr/data/patch_file.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using namespace vdsr::test;
namespace fs = std::filesystem;

namespace {

struct DatasetSpec {
  std::string name;
  std::vector<hsize_t> dims;
  hid_t type = H5T_IEEE_F32LE;
};

// Writes datasets with the HDF5 C API directly; each element of dataset k holds its flat index times
// (k == 0 ? 1 : -1), so patch i of a [N,1,P,P] file is recognisable in both `data` and `label`.
void write_h5(const fs::path& path, const std::vector<DatasetSpec>& specs) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  for (const auto& spec : specs) {
    const hid_t space = H5Screate_simple(static_cast<int>(spec.dims.size()), spec.dims.data(), nullptr);
    const hid_t dset = H5Dcreate2(file, spec.name.c_str(), spec.type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = 1;
    for (hsize_t d : spec.dims) n *= d;
    std::vector<float> values(n);
    for (hsize_t i = 0; i < n; ++i) values[i] = static_cast<float>(spec.name == "label" ? -double(i) : double(i));
    H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(dset);
    H5Sclose(space);
  }
  H5Fclose(file);
}

std::string error_of(const fs::path& path) {
  try {
    data::PatchFile file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// N patches of 2x2: patch i holds 4i..4i+3 in `data` and the negatives in `label`.
fs::path numbered_file(const TempFolder& folder, hsize_t n) {
  const fs::path path = folder.path() / ("n" + std::to_string(n) + ".h5");
  write_h5(path, {{"data", {n, 1, 2, 2}}, {"label", {n, 1, 2, 2}}});
  return path;
}

// Patch ids of an epoch, batch by batch, checking that label matches data.
std::vector<std::vector<long long>> epoch(const data::PatchFile& file, const data::StreamOptions& o) {
  data::BatchStream stream(file, o);
  std::vector<std::vector<long long>> out;
  data::Batch batch;
  while (stream.next(batch)) {
    EXPECT_EQ(batch.index, o.start_batch + static_cast<long long>(out.size()));
    std::vector<long long> ids;
    for (int i = 0; i < batch.count; ++i) {
      const long long id = static_cast<long long>(batch.data[4 * i]) / 4;
      EXPECT_EQ(batch.data[4 * i + 3], 4 * id + 3);
      EXPECT_EQ(batch.label[4 * i], -batch.data[4 * i]);
      ids.push_back(id);
    }
    EXPECT_EQ(batch.data.size(), 4u * batch.count);
    out.push_back(ids);
  }
  return out;
}

}  // namespace

TEST(PatchFile, ReportsMissingKeysAndWrongShapes) {
  TempFolder folder;
  const fs::path missing = folder.path() / "missing.h5";
  write_h5(missing, {{"data", {5, 1, 41, 41}}});
  std::string message = error_of(missing);
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  EXPECT_NE(message.find("'label'"), std::string::npos) << message;
  EXPECT_NE(message.find("[N,1,P,P]"), std::string::npos) << message;

  const fs::path rank3 = folder.path() / "rank3.h5";
  write_h5(rank3, {{"data", {5, 41, 41}}, {"label", {5, 1, 41, 41}}});
  message = error_of(rank3);
  EXPECT_NE(message.find("'data' has shape [5,41,41], expected [N,1,P,P]"), std::string::npos) << message;

  const fs::path channels = folder.path() / "channels.h5";
  write_h5(channels, {{"data", {5, 3, 41, 41}}, {"label", {5, 3, 41, 41}}});
  EXPECT_NE(error_of(channels).find("[5,3,41,41]"), std::string::npos);

  const fs::path mismatch = folder.path() / "mismatch.h5";
  write_h5(mismatch, {{"data", {5, 1, 41, 41}}, {"label", {4, 1, 41, 41}}});
  message = error_of(mismatch);
  EXPECT_NE(message.find("'label' has shape [4,1,41,41], expected [5,1,41,41]"), std::string::npos) << message;

  const fs::path ints = folder.path() / "ints.h5";
  write_h5(ints, {{"data", {5, 1, 4, 4}, H5T_STD_I32LE}, {"label", {5, 1, 4, 4}}});
  EXPECT_NE(error_of(ints).find("not floating point"), std::string::npos);

  const fs::path text = folder.path() / "text.h5";
  std::ofstream(text) << "not hdf5";
  EXPECT_NE(error_of(text).find("cannot open as HDF5"), std::string::npos);
  EXPECT_NE(error_of(folder.path() / "absent.h5").find("does not exist"), std::string::npos);
}

TEST(PatchFile, ReadsDoublePrecisionFilesAsFloat) {
  TempFolder folder;
  const fs::path path = folder.path() / "f64.h5";
  write_h5(path, {{"data", {3, 1, 2, 2}, H5T_IEEE_F64LE}, {"label", {3, 1, 2, 2}, H5T_IEEE_F64LE}});
  data::PatchFile file(path);
  EXPECT_EQ(file.size(), 3);
  EXPECT_EQ(file.patch_size(), 2);
  std::vector<float> d(8), l(8);
  file.read(1, 2, d.data(), l.data());
  EXPECT_EQ(d[0], 4.0f);
  EXPECT_EQ(l[7], -11.0f);
}

TEST(BatchStream, EveryPatchOncePerEpoch) {
  TempFolder folder;
  data::PatchFile file(numbered_file(folder, 1000));
  data::StreamOptions o;
  o.batch_size = 64;
  o.block = 50;
  o.window_blocks = 3;
  o.drop_last = false;
  const auto batches = epoch(file, o);
  ASSERT_EQ(batches.size(), 16u);
  EXPECT_EQ(batches.back().size(), 1000u - 15 * 64);
  std::multiset<long long> seen;
  for (const auto& b : batches) seen.insert(b.begin(), b.end());
  std::multiset<long long> all;
  for (long long i = 0; i < 1000; ++i) all.insert(i);
  EXPECT_EQ(seen, all);

  o.drop_last = true;
  const auto dropped = epoch(file, o);
  ASSERT_EQ(dropped.size(), 15u);
  std::set<long long> distinct;
  for (const auto& b : dropped) {
    EXPECT_EQ(b.size(), 64u);
    distinct.insert(b.begin(), b.end());
  }
  EXPECT_EQ(distinct.size(), 960u);
}

TEST(BatchStream, DeterministicPerSeedAndEpochAndMatchesOrder) {
  TempFolder folder;
  data::PatchFile file(numbered_file(folder, 700));
  data::StreamOptions o;
  o.batch_size = 32;
  o.block = 40;
  o.window_blocks = 4;
  o.seed = 7;
  o.epoch = 3;
  o.drop_last = false;
  const auto a = epoch(file, o), b = epoch(file, o);
  EXPECT_EQ(a, b);
  std::vector<long long> flat;
  for (const auto& batch : a) flat.insert(flat.end(), batch.begin(), batch.end());
  EXPECT_EQ(flat, data::BatchStream::order(700, o));

  data::StreamOptions other = o;
  other.epoch = 4;
  EXPECT_NE(epoch(file, other), a);
  other = o;
  other.seed = 8;
  EXPECT_NE(epoch(file, other), a);

  // Shuffled well beyond blocks: few neighbours in the stream are neighbours in the file.
  int adjacent = 0;
  for (std::size_t i = 1; i < flat.size(); ++i) adjacent += std::abs(flat[i] - flat[i - 1]) == 1;
  EXPECT_LT(adjacent, 30);
}

TEST(BatchStream, ResumesMidEpoch) {
  TempFolder folder;
  data::PatchFile file(numbered_file(folder, 500));
  data::StreamOptions o;
  o.batch_size = 24;
  o.block = 30;
  o.window_blocks = 2;
  o.seed = 11;
  o.epoch = 1;
  const auto full = epoch(file, o);
  for (long long k : {0, 1, 5, 13, 20}) {
    data::StreamOptions resumed = o;
    resumed.start_batch = k;
    const auto rest = epoch(file, resumed);
    ASSERT_EQ(rest.size(), full.size() - k);
    EXPECT_TRUE(std::equal(rest.begin(), rest.end(), full.begin() + k)) << "start at batch " << k;
  }
  data::StreamOptions beyond = o;
  beyond.start_batch = static_cast<long long>(full.size()) + 1;
  EXPECT_THROW(data::BatchStream(file, beyond), Error);
  EXPECT_THROW(data::BatchStream(file, 0, 1, 0, true), Error);
}

TEST(BatchStream, StopsEarlyWithoutHanging) {
  TempFolder folder;
  data::PatchFile file(numbered_file(folder, 2000));
  data::BatchStream stream(file, 8, 1, 0, true);
  data::Batch batch;
  ASSERT_TRUE(stream.next(batch));
  EXPECT_EQ(batch.count, 8);
  EXPECT_EQ(stream.batches_per_epoch(), 250);
}  // the destructor stops the prefetch thread while it waits on a full queue
