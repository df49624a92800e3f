// The evaluation protocol checked against the reference fixtures (an independent MATLAB-exact
// implementation): shapes, Y sums and sums of squares, sample pixels, bicubic PSNR and SSIM.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_assets.h"
#include "vdsr/image.h"
#include "vdsr/metrics.h"
#include "vdsr/util/error.h"

using namespace vdsr;
using nlohmann::json;

namespace {

double sum(const Image& im) {
  double s = 0;
  for (double v : im.data) s += v;
  return s;
}
double sumsq(const Image& im) {
  double s = 0;
  for (double v : im.data) s += v * v;
  return s;
}

void check_dataset(const std::string& dataset, const std::string& fixture) {
  const auto images_dir = test::assets_path() / dataset;
  const auto fixture_file = test::fixtures_path() / fixture;
  ASSERT_TRUE(std::filesystem::exists(fixture_file)) << fixture_file;
  json ref = json::parse(std::ifstream(fixture_file));
  int checked = 0;
  for (auto& [name, scales] : ref["images"].items()) {
    const Image y_full = rgb2ycbcr(read_image(images_dir / (name + ".png"))).channel(0);
    for (auto& [key, r] : scales.items()) {
      SCOPED_TRACE(dataset + "/" + name + " " + key);
      const int s = std::stoi(key.substr(1));
      const Image gt = modcrop(y_full, s);
      ASSERT_EQ(gt.height, r["gt_shape"][0].get<int>());
      ASSERT_EQ(gt.width, r["gt_shape"][1].get<int>());
      const Image lr = imresize(gt, 1.0 / s);
      ASSERT_EQ(lr.height, r["lr_shape"][0].get<int>());
      ASSERT_EQ(lr.width, r["lr_shape"][1].get<int>());
      const Image bic = imresize(lr, gt.height, gt.width);

      auto near_rel = [](double got, double want) { return std::abs(got - want) <= 1e-6 * std::abs(want); };
      EXPECT_TRUE(near_rel(sum(gt), r["gt_y_sum"])) << sum(gt) << " vs " << r["gt_y_sum"];
      EXPECT_TRUE(near_rel(sum(lr), r["lr_y_sum"])) << sum(lr) << " vs " << r["lr_y_sum"];
      EXPECT_TRUE(near_rel(sumsq(lr), r["lr_y_sumsq"])) << sumsq(lr) << " vs " << r["lr_y_sumsq"];
      EXPECT_TRUE(near_rel(sum(bic), r["bicubic_y_sum"])) << sum(bic) << " vs " << r["bicubic_y_sum"];
      EXPECT_TRUE(near_rel(sumsq(bic), r["bicubic_y_sumsq"])) << sumsq(bic) << " vs " << r["bicubic_y_sumsq"];
      for (auto& p : r["lr_y_samples"]) {
        const double want = p[2];
        EXPECT_NEAR(lr.at(0, p[0], p[1]), want, 1e-6 * std::abs(want)) << "lr sample " << p;
      }
      for (auto& p : r["bicubic_y_samples"]) {
        const double want = p[2];
        EXPECT_NEAR(bic.at(0, p[0], p[1]), want, 1e-6 * std::abs(want)) << "bicubic sample " << p;
      }
      EXPECT_NEAR(psnr(bic, gt, s), r["bicubic_psnr"].get<double>(), 1e-4);
      EXPECT_NEAR(ssim(bic, gt, s), r["bicubic_ssim"].get<double>(), 1e-6);
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

}  // namespace

TEST(Fixtures, Set5MatchesReferenceProtocol) {
  VDSR_REQUIRE_PATH(test::assets_path() / "Set5");
  check_dataset("Set5", "set5_reference.json");
}

TEST(Fixtures, Set14MatchesReferenceProtocol) {
  VDSR_REQUIRE_PATH(test::assets_path() / "Set14");
  check_dataset("Set14", "set14_reference.json");
}

TEST(Imresize, ConstantImageStaysConstantAndSizesFollowMatlab) {
  Image im(7, 10, 1, 42.0);
  Image small = imresize(im, 0.5);
  EXPECT_EQ(small.height, 4);  // ceil(7 * 0.5)
  EXPECT_EQ(small.width, 5);
  for (double v : small.data) EXPECT_NEAR(v, 42.0, 1e-12);
  Image big = imresize(im, 13, 3);
  EXPECT_EQ(big.height, 13);
  EXPECT_EQ(big.width, 3);
  for (double v : big.data) EXPECT_NEAR(v, 42.0, 1e-12);
}

TEST(Imresize, UpscaleByTwoOfARampMatchesHandComputedTaps) {
  // For x2 upscaling the taps at u = x/2 + 1/4 give weights of the cubic kernel at distances
  // 1.75, 0.75, 0.25, 1.25: -0.0234375, 0.2265625, 0.8671875, -0.0703125.
  Image ramp(1, 6, 1);
  for (int x = 0; x < 6; ++x) ramp.at(0, 0, x) = 10.0 * x;
  Image up = imresize(ramp, 1, 12);
  // Output pixel 5 (1-based) has u = 2.75: taps at 1..4 with the weights above.
  const double expect = -0.0234375 * 0 + 0.2265625 * 10 + 0.8671875 * 20 - 0.0703125 * 30;
  EXPECT_NEAR(up.at(0, 0, 4), expect, 1e-12);
}

TEST(Color, YcbcrRoundTripAndMatlabY) {
  Image rgb(1, 3, 3);
  const double px[3][3] = {{255, 0, 0}, {0, 255, 0}, {12, 200, 99}};
  for (int x = 0; x < 3; ++x)
    for (int c = 0; c < 3; ++c) rgb.at(c, 0, x) = px[x][c];
  Image ycc = rgb2ycbcr(rgb);
  EXPECT_NEAR(ycc.at(0, 0, 0), 16 + 65.481, 1e-12);  // pure red: Y = 16 + 65.481
  EXPECT_NEAR(ycc.at(0, 0, 1), 16 + 128.553, 1e-12);
  Image back = ycbcr2rgb(ycc);
  for (std::size_t i = 0; i < rgb.data.size(); ++i) EXPECT_NEAR(back.data[i], rgb.data[i], 1e-9);
}

TEST(Metrics, PsnrAndSsimBasics) {
  Image a(20, 20, 1, 100.0), b = a;
  b.at(0, 10, 10) = 110.0;  // one differing pixel inside the shaved region
  const double mse = 100.0 / (16.0 * 16.0);
  EXPECT_NEAR(psnr(a, b, 2), 10 * std::log10(255.0 * 255.0 / mse), 1e-12);
  b.at(0, 10, 10) = 100.0;
  b.at(0, 0, 0) = 0.0;  // only in the shaved border: no effect
  EXPECT_TRUE(std::isinf(psnr(a, b, 2)));
  EXPECT_NEAR(ssim(a, a, 2), 1.0, 1e-12);
  EXPECT_THROW(psnr(a, Image(19, 20, 1), 2), Error);
  EXPECT_THROW(ssim(a, b, 5), Error);  // 10x10 left: smaller than the 11x11 window
}

TEST(ReadImage, MissingAndUndecodableFilesAreUserErrors) {
  EXPECT_THROW(read_image("/nonexistent.png"), Error);
  const auto junk = std::filesystem::temp_directory_path() / "vdsr_junk.png";
  std::ofstream(junk) << "not an image";
  try {
    read_image(junk);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vdsr_junk.png"), std::string::npos);
  }
  std::filesystem::remove(junk);
}

TEST(WriteImage, PngRoundTripIsExactForIntegers) {
  Image rgb(4, 5, 3);
  for (std::size_t i = 0; i < rgb.data.size(); ++i) rgb.data[i] = static_cast<double>((i * 37) % 256);
  const auto path = std::filesystem::temp_directory_path() / "vdsr_roundtrip.png";
  write_image(path, rgb);
  Image back = read_image(path);
  EXPECT_EQ(back.data, rgb.data);
  std::filesystem::remove(path);
}

// The header check read_image runs before decoding: the sizes PNG, BMP and JPEG headers declare.
TEST(ImageSize, HeadersOfPngBmpAndJpegGiveWidthAndHeight) {
  const auto dir = std::filesystem::temp_directory_path() / ("vdsr_image_size_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  Image im(37, 53, 3, 90.0);
  for (const char* ext : {".png", ".bmp", ".jpg"}) {
    const auto path = dir / (std::string("im") + ext);
    write_image(path, im);
    const auto size = read_image_size(path);
    ASSERT_TRUE(size.has_value()) << ext;
    EXPECT_EQ(size->width, 53) << ext;
    EXPECT_EQ(size->height, 37) << ext;
  }
  std::ofstream(dir / "text.png") << "not an image";
  EXPECT_FALSE(read_image_size(dir / "text.png").has_value());
  std::filesystem::remove_all(dir);
}

// A tiny PNG whose IHDR declares 20000 x 20000 (its one IDAT holds almost nothing): refused from the
// header, at once, naming the file, instead of decoding 1.2 GB and more.
TEST(ImageSize, HugeDeclaredImageIsRefusedBeforeDecoding) {
  const auto dir = std::filesystem::temp_directory_path() / ("vdsr_huge_png_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "huge.png";
  {
    const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n',
                                 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20, 8, 2, 0, 0, 0,
                                 0x00, 0x00, 0x00, 0x00,  // CRC (not checked before the size)
                                 0, 0, 0, 2, 'I', 'D', 'A', 'T', 0x78, 0x9C, 0, 0, 0, 0,
                                 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(png), sizeof(png));
  }
  const auto size = read_image_size(path);
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(size->width, 20000);
  EXPECT_EQ(size->height, 20000);
  try {
    read_image(path);
    ADD_FAILURE() << "a 400-megapixel image was decoded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ": image is 20000x20000, more than the limit of 100000000"),
              std::string::npos)
        << e.what();
  }
  // The limit is configurable: a 53 x 37 image is over a limit of 1000 pixels.
  write_image(dir / "small.png", Image(37, 53, 3, 10.0));
  setenv("VDSR_MAX_IMAGE_PIXELS", "1000", 1);
  EXPECT_THROW(read_image(dir / "small.png"), Error);
  setenv("VDSR_MAX_IMAGE_PIXELS", "2000", 1);
  EXPECT_EQ(read_image(dir / "small.png").width, 53);
  setenv("VDSR_MAX_IMAGE_PIXELS", "lots", 1);
  EXPECT_THROW(read_image(dir / "small.png"), Error);
  unsetenv("VDSR_MAX_IMAGE_PIXELS");
  std::filesystem::remove_all(dir);
}
