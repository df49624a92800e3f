// Patch generation against an independent computation of the MATLAB steps (generate_train.m).
#include <gtest/gtest.h>

#include <fstream>

#include "data_test_util.h"
#include "vdsr/data/patch_file.h"
#include "vdsr/data/patches.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using namespace vdsr::test;
namespace fs = std::filesystem;

namespace {

// --- the spec, written out again without the module's helpers ----------------------------------------

Image flip_by_hand(const Image& in, data::Flip flip) {
  Image out = in;
  for (int c = 0; c < in.channels; ++c)
    for (int y = 0; y < in.height; ++y)
      for (int x = 0; x < in.width; ++x) {
        if (flip == data::Flip::Vertical) out.at(c, y, x) = in.at(c, in.height - 1 - y, x);
        if (flip == data::Flip::Horizontal) out.at(c, y, x) = in.at(c, y, in.width - 1 - x);
      }
  return out;
}

// One counter-clockwise quarter turn: the top row becomes the left column, read bottom-up.
Image quarter_turn(const Image& in) {
  Image out(in.width, in.height, in.channels);
  for (int c = 0; c < in.channels; ++c)
    for (int y = 0; y < in.height; ++y)
      for (int x = 0; x < in.width; ++x) out.at(c, in.width - 1 - x, y) = in.at(c, y, x);
  return out;
}

Image rotate_by_hand(Image im, int degrees) {
  for (int i = 0; i < degrees / 90; ++i) im = quarter_turn(im);
  return im;
}

Image round_uint8(Image im) {
  for (double& v : im.data) v = std::clamp(std::round(v), 0.0, 255.0);
  return im;
}

// MATLAB imresize on uint8 with a scalar scale: rows, round to uint8, columns, round. Each pass is the
// project's verified double imresize with the other dimension at scale 1 (the identity); sizes are chosen
// so that ceil(n * d) / n == d exactly.
Image downsize_by_hand(const Image& rgb, double d) {
  if (d == 1.0) return rgb;
  const int h = static_cast<int>(std::ceil(rgb.height * d - 1e-9)), w = static_cast<int>(std::ceil(rgb.width * d - 1e-9));
  const Image rows = round_uint8(imresize(rgb, h, rgb.width));
  return round_uint8(imresize(rows, h, w));
}

// rgb2ycbcr on uint8 (coefficients times 1/255, imlincomb summation order, rounded), then im2double.
Image luma_by_hand(const Image& rgb) {
  Image y(rgb.height, rgb.width, 1);
  const double k[3] = {65.481, 128.553, 24.966};
  for (int r = 0; r < rgb.height; ++r)
    for (int c = 0; c < rgb.width; ++c) {
      double v = 0.0;
      for (int ch = 0; ch < 3; ++ch) v += (1.0 / 255.0) * k[ch] * rgb.at(ch, r, c);
      y.at(0, r, c) = std::round(v + 16.0) / 255.0;
    }
  return y;
}

void patches_by_hand(const Image& rgb, data::Flip flip, int rotation, double downsize, int scale, int p, int stride,
                     std::vector<float>& input, std::vector<float>& label) {
  const Image y = luma_by_hand(downsize_by_hand(rotate_by_hand(flip_by_hand(rgb, flip), rotation), downsize));
  const int h = y.height - y.height % scale, w = y.width - y.width % scale;
  if (h < p || w < p) return;
  const Image gt = y.crop(0, 0, h, w);
  const Image lr = imresize(gt, h / scale, w / scale);
  const Image bic = imresize(lr, h, w);
  for (int top = 0; top <= h - p; top += stride)
    for (int left = 0; left <= w - p; left += stride)
      for (int r = 0; r < p; ++r)
        for (int c = 0; c < p; ++c) {
          input.push_back(static_cast<float>(bic.at(0, top + r, left + c)));
          label.push_back(static_cast<float>(gt.at(0, top + r, left + c)));
        }
}

// Every patch of the file, as (input, label) vectors.
void read_all(const fs::path& path, std::vector<float>& input, std::vector<float>& label, int* patch_size) {
  data::PatchFile file(path);
  *patch_size = file.patch_size();
  const std::size_t per = static_cast<std::size_t>(file.patch_size()) * file.patch_size();
  input.resize(per * file.size());
  label.resize(per * file.size());
  file.read(0, file.size(), input.data(), label.data());
}

// Two images whose sides are multiples of 10 (exact 0.7 and 0.5 downsizing sizes for the hand version).
struct Images {
  TempFolder folder;
  std::vector<Image> rgb;
  Images() {
    rgb.push_back(synthetic_image(60, 90, 1));
    rgb.push_back(synthetic_image(80, 50, 2));
    write_image(folder.path() / "a.png", rgb[0]);
    write_image(folder.path() / "b.png", rgb[1]);
  }
};

}  // namespace

TEST(DataSteps, RotationIsCounterClockwiseAndFlipsAreMatlabs) {
  Image im(2, 3, 1);
  for (int i = 0; i < 6; ++i) im.data[i] = i + 1;  // [1 2 3; 4 5 6]
  const Image r = data::rotate_ccw(im, 90);          // MATLAB rot90: [3 6; 2 5; 1 4]
  ASSERT_EQ(r.height, 3);
  ASSERT_EQ(r.width, 2);
  EXPECT_EQ(r.data, (std::vector<double>{3, 6, 2, 5, 1, 4}));
  EXPECT_EQ(data::rotate_ccw(im, 180).data, (std::vector<double>{6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(data::rotate_ccw(im, 270).data, (std::vector<double>{4, 1, 5, 2, 6, 3}));
  EXPECT_EQ(data::flip_image(im, data::Flip::Vertical).data, (std::vector<double>{4, 5, 6, 1, 2, 3}));
  EXPECT_EQ(data::flip_image(im, data::Flip::Horizontal).data, (std::vector<double>{3, 2, 1, 6, 5, 4}));
}

TEST(DataSteps, Uint8ResizeRoundsAfterEachPass) {
  const Image rgb = synthetic_image(40, 30, 7);
  for (double d : {0.7, 0.5}) {
    const Image ours = imresize_uint8(rgb, d);
    const Image hand = downsize_by_hand(rgb, d);
    ASSERT_EQ(ours.height, hand.height);
    ASSERT_EQ(ours.width, hand.width);
    EXPECT_EQ(ours.data, hand.data) << "downsize " << d;
    // Rounding only at the end differs somewhere (else this test could not tell the two apart).
    const Image once = round_uint8(imresize(rgb, d));
    EXPECT_NE(ours.data, once.data);
  }
  EXPECT_EQ(imresize_uint8(rgb, 1.0).data, rgb.data);
}

TEST(DataSteps, LumaIsRoundedRgb2ycbcr) {
  const Image rgb = synthetic_image(30, 30, 3);
  const Image y = data::luma_uint8_to_double(rgb);
  const Image ycc = rgb2ycbcr(rgb);  // the verified double formula
  for (std::size_t i = 0; i < y.data.size(); ++i) {
    EXPECT_EQ(y.data[i] * 255.0, std::round(y.data[i] * 255.0));
    EXPECT_LE(std::abs(y.data[i] * 255.0 - ycc.data[i]), 0.5 + 1e-9);
  }
  EXPECT_EQ(y.data, luma_by_hand(rgb).data);
}

TEST(DataGenerate, OneAugmentationMatchesTheHandComputation) {
  Images images;
  data::GenerateOptions o;
  o.images = images.folder.path();
  o.out = images.folder.path() / "one.h5";
  o.flips = {data::Flip::Horizontal};
  o.rotations = {90};
  o.downsizes = {0.7};
  o.scales = {3};
  o.patch_size = 13;
  o.stride = 9;
  const data::GenerateResult result = data::generate(o);

  std::vector<float> in, lab;
  for (const Image& rgb : images.rgb) patches_by_hand(rgb, data::Flip::Horizontal, 90, 0.7, 3, 13, 9, in, lab);
  const std::size_t per = 13 * 13;
  ASSERT_GT(in.size(), 0u);
  EXPECT_EQ(result.patches, static_cast<long long>(in.size() / per));

  std::vector<float> file_in, file_lab;
  int p = 0;
  read_all(o.out, file_in, file_lab, &p);
  ASSERT_EQ(p, 13);
  EXPECT_EQ(count_patches(file_in, file_lab, per), count_patches(in, lab, per));
  EXPECT_NE(file_in, in) << "the file should be shuffled";
}

TEST(DataGenerate, AllAugmentationsAreAPermutationOfTheHandComputation) {
  Images images;
  data::GenerateOptions o;
  o.images = images.folder.path();
  o.out = images.folder.path() / "all.h5";
  o.patch_size = 12;
  o.stride = 10;
  o.bucket_patches = 7;  // hundreds of tiny buckets: the bounded-memory path with real bucket traffic
  o.threads = 2;
  const data::GenerateResult result = data::generate(o);
  EXPECT_GT(result.buckets, 50);

  std::vector<float> in, lab;
  for (const Image& rgb : images.rgb)
    for (data::Flip flip : {data::Flip::Vertical, data::Flip::Horizontal, data::Flip::None})
      for (int rotation : {0, 90, 180, 270})
        for (int s : {2, 3, 4})
          for (double d : {1.0, 0.7, 0.5}) patches_by_hand(rgb, flip, rotation, d, s, 12, 10, in, lab);
  const std::size_t per = 12 * 12;
  std::vector<float> file_in, file_lab;
  int p = 0;
  read_all(o.out, file_in, file_lab, &p);
  ASSERT_EQ(file_in.size(), in.size());
  EXPECT_EQ(count_patches(file_in, file_lab, per), count_patches(in, lab, per));
  for (float v : file_in) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);

  // Temporaries are gone: only the inputs and the output remain.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(images.folder.path())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a.png", "all.h5", "b.png"}));
}

TEST(DataGenerate, CountMatchesTheFormula) {
  Images images;
  data::GenerateOptions o;
  o.images = images.folder.path();
  o.out = images.folder.path() / "count.h5";
  o.patch_size = 11;
  o.stride = 7;
  // N = sum over images, flips, rotations, scales, downsizes of nx * ny, with
  // n = floor((L' - P) / stride) + 1 for L' = modcrop(ceil(L * d), s) >= P, else 0 (L, W swapped at 90/270).
  long long expected = 0;
  for (const Image& rgb : images.rgb)
    for (int flip = 0; flip < 3; ++flip)
      for (int rotation : {0, 90, 180, 270})
        for (int s : {2, 3, 4})
          for (double d : {1.0, 0.7, 0.5}) {
            int h = rotation % 180 ? rgb.width : rgb.height, w = rotation % 180 ? rgb.height : rgb.width;
            h = static_cast<int>(std::ceil(h * d - 1e-9));
            w = static_cast<int>(std::ceil(w * d - 1e-9));
            h -= h % s;
            w -= w % s;
            if (h >= 11 && w >= 11) expected += ((h - 11) / 7 + 1) * ((w - 11) / 7 + 1);
          }
  const data::GenerateResult result = data::generate(o);
  EXPECT_EQ(result.patches, expected);
  EXPECT_EQ(data::PatchFile(o.out).size(), expected);
  EXPECT_EQ(data::patches_for_image(60, 90, o) + data::patches_for_image(80, 50, o), expected);
}

TEST(DataGenerate, SeedDecidesTheOrderAndLimitCaps) {
  Images images;
  data::GenerateOptions o;
  o.images = images.folder.path();
  o.patch_size = 16;
  o.stride = 16;
  o.scales = {2};
  o.bucket_patches = 20;
  auto read = [](const fs::path& p) {
    std::vector<float> in, lab;
    int ps = 0;
    read_all(p, in, lab, &ps);
    return in;
  };
  o.out = images.folder.path() / "s1.h5";
  data::generate(o);
  o.out = images.folder.path() / "s1b.h5";
  data::generate(o);
  o.seed = 2;
  o.out = images.folder.path() / "s2.h5";
  data::generate(o);
  EXPECT_EQ(read(images.folder.path() / "s1.h5"), read(images.folder.path() / "s1b.h5"));
  EXPECT_NE(read(images.folder.path() / "s1.h5"), read(images.folder.path() / "s2.h5"));
  o.limit = 10;
  o.out = images.folder.path() / "limit.h5";
  EXPECT_EQ(data::generate(o).patches, 10);
  EXPECT_EQ(data::PatchFile(o.out).size(), 10);
}

TEST(DataGenerate, BadInputThrowsAndLeavesNothing) {
  TempFolder folder;
  data::GenerateOptions o;
  o.images = folder.path();
  o.out = folder.path() / "x.h5";
  EXPECT_THROW(data::generate(o), Error);  // empty folder
  {
    std::ofstream(folder.path() / "broken.png") << "not a png";
  }
  EXPECT_THROW(data::generate(o), Error);
  o.patch_size = 0;
  EXPECT_THROW(data::generate(o), Error);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(folder.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"broken.png"}));
}

TEST(DataGenerate, CancelRemovesTemporaries) {
  Images images;
  std::atomic<bool> cancel{true};
  data::GenerateOptions o;
  o.images = images.folder.path();
  o.out = images.folder.path() / "c.h5";
  o.cancel = &cancel;
  EXPECT_THROW(data::generate(o), std::runtime_error);
  EXPECT_FALSE(fs::exists(o.out));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(images.folder.path())) ++entries;
  EXPECT_EQ(entries, 2);
}
