// The visual comparison (vdsr/comparison.h) and vdsr-report table --pictures: crops of the declared size
// whose PSNR labels are vdsr-eval's per-image figures for the crop saved as a file; the automatic crop
// covers where the models differ; bad crops are clear errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "tool_test.h"
#include "vdsr/comparison.h"
#include "vdsr/image.h"

using namespace vdsr;
using test::run_command;
using test::tool;
namespace fs = std::filesystem;

namespace {

class Comparison : public test::ToolTest {
 protected:
  void SetUp() override {
    make_scratch("vdsr_comparison");
    write_images(2, 120, 100, 8);
    save_model(dir_ / "a.ckpt", Architecture::uniform(4, 8), {2}, 3);
    save_model(dir_ / "b.ckpt", Architecture::uniform(4, 6), {2}, 5);
  }
  std::vector<ComparedModel> models() const { return {{"a", dir_ / "a.ckpt"}, {"b", dir_ / "b.ckpt"}}; }

  // vdsr-eval's report for `model` on the images of `folder`.
  nlohmann::json eval(const fs::path& model, const fs::path& folder, const std::string& out) {
    const auto r = run_command(tool("vdsr-eval") + " --threads 1 --scale 2 --model " + model.string() + " --dataset " +
                               folder.string() + " --report " + (dir_ / out).string());
    EXPECT_EQ(r.code, 0) << r.output;
    return nlohmann::json::parse(std::ifstream(dir_ / out));
  }
};

}  // namespace

TEST(BusiestWindow, CoversTheHighScores) {
  Image score(64, 80, 1, 0.01);
  for (int y = 30; y < 40; ++y)
    for (int x = 50; x < 60; ++x) score.at(0, y, x) = 5;
  const auto [left, top] = busiest_window(score, 16, 2);
  EXPECT_EQ(left % 2, 0);
  EXPECT_EQ(top % 2, 0);
  EXPECT_LE(left, 50);
  EXPECT_GE(left + 16, 60);
  EXPECT_LE(top, 30);
  EXPECT_GE(top + 16, 40);
}

TEST_F(Comparison, CropsHaveTheDeclaredSizeAndVdsrEvalsPsnr) {
  CropOptions o;
  o.scale = 2;
  o.size = 48;
  o.left = 22, o.top = 10;
  const CropComparison c = compare_crop(dir_ / "images" / "img1.png", models(), o);
  EXPECT_EQ(c.image, "img1.png");
  EXPECT_FALSE(c.automatic);
  ASSERT_EQ(c.pictures.size(), 4u);  // ground truth, bicubic, a, b
  const std::vector<std::string> labels = {"ground truth", "bicubic", "a", "b"};
  for (size_t i = 0; i < c.pictures.size(); ++i) {
    const auto& p = c.pictures[i];
    EXPECT_EQ(p.label, labels[i]);
    EXPECT_EQ(p.rgb.width, 48);
    EXPECT_EQ(p.rgb.height, 48);
    EXPECT_EQ(p.rgb.channels, 3);
    EXPECT_EQ(p.psnr.has_value(), i > 0);
    // The PNG the page embeds decodes to the same size.
    write_image(dir_ / ("p" + std::to_string(i) + ".png"), p.rgb);
    const Image back = read_image(dir_ / ("p" + std::to_string(i) + ".png"));
    EXPECT_EQ(back.width, 48);
    EXPECT_EQ(back.height, 48);
  }
  // The ground-truth crop is the image's pixels there.
  const Image full = read_image(dir_ / "images" / "img1.png");
  EXPECT_EQ(c.pictures[0].rgb.data, full.crop(10, 22, 48, 48).data);

  // vdsr-eval on the crop saved as a file reports the same PSNRs.
  fs::create_directories(dir_ / "crop");
  write_image(dir_ / "crop" / "img1.png", c.pictures[0].rgb);
  for (size_t m = 0; m < 2; ++m) {
    const auto report = eval(models()[m].checkpoint, dir_ / "crop", "eval" + std::to_string(m) + ".json");
    const auto& entry = report["quality"]["crop"]["x2"]["images"]["img1"];
    ASSERT_TRUE(entry.is_object()) << report.dump(1);
    EXPECT_NEAR(*c.pictures[2 + m].psnr, entry["psnr"].get<double>(), 1e-4);  // kernels may differ by thread count
    EXPECT_NEAR(*c.pictures[1].psnr, entry["bicubic_psnr"].get<double>(), 1e-9);
  }
}

TEST_F(Comparison, AutomaticCropFitsAndIsAlignedToTheScale) {
  CropOptions o;
  o.scale = 2;
  o.size = 32;
  const CropComparison c = compare_crop(dir_ / "images" / "img0.png", models(), o);
  EXPECT_TRUE(c.automatic);
  EXPECT_EQ(c.left % 2, 0);
  EXPECT_EQ(c.top % 2, 0);
  EXPECT_LE(c.left + 32, 120);
  EXPECT_LE(c.top + 32, 100);
  for (const auto& p : c.pictures) EXPECT_EQ(p.rgb.width, 32);
}

TEST_F(Comparison, BadCropsAreClearErrors) {
  CropOptions o;
  o.size = 33;  // not a multiple of 2
  EXPECT_NE(test::error_of([&] { compare_crop(dir_ / "images" / "img0.png", models(), o); }).find("--crop-size"),
            std::string::npos);
  o.size = 48;
  o.left = 100, o.top = 0;  // 100 + 48 > 120
  const std::string e = test::error_of([&] { compare_crop(dir_ / "images" / "img0.png", models(), o); });
  EXPECT_NE(e.find("does not fit"), std::string::npos) << e;
  EXPECT_NE(e.find("img0.png"), std::string::npos) << e;
}

TEST_F(Comparison, ReportTableEmbedsTheCropsWithTheirPsnr) {
  // Reports as the pipeline has them: vdsr-eval of each model on the dataset, paths relative to the cwd.
  const std::string cd = "cd '" + dir_.string() + "' && ";
  for (const char* m : {"a", "b"}) {
    const auto r = run_command(cd + tool("vdsr-eval") + " --threads 1 --scale 2 --model " + m + ".ckpt --dataset images" +
                               " --report " + m + ".json");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  const auto r = run_command(cd + tool("vdsr-report") +
                             " table original=a.json small=b.json --format html --pictures --images img1 --crop 22,10"
                             " --crop-size 48 --out t.html");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string html = test::read_text(dir_ / "t.html");
  size_t uris = 0;
  for (size_t at = html.find("src=\"data:image/png;base64,"); at != std::string::npos;
       at = html.find("src=\"data:image/png;base64,", at + 1))
    ++uris;
  EXPECT_EQ(uris, 4u);
  EXPECT_NE(html.find("img1.png x2, crop 48\u00d748 at (22, 10)"), std::string::npos);
  // The labels are compare_crop's figures, as shown (two decimals).
  CropOptions o;
  o.size = 48;
  o.left = 22, o.top = 10;
  const CropComparison c = compare_crop(dir_ / "images" / "img1.png", {{"original", dir_ / "a.ckpt"}}, o);
  char label[32];
  std::snprintf(label, sizeof label, "%.2f dB", *c.pictures[2].psnr);
  EXPECT_NE(html.find(label), std::string::npos) << label;
  // A crop that does not fit: exit 2 and no page.
  const auto bad = run_command(cd + tool("vdsr-report") +
                               " table a.json --format html --pictures --images img1 --crop 500,0 --out bad.html");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("does not fit"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir_ / "bad.html"));
}
