// vdsr-data end to end: exit codes, no partial files, the report, and h5py reading the result.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"
#include "tests/test_paths.h"
#include "data_test_util.h"
#include "tests/test_assets.h"
#include "vdsr/data/patch_file.h"

using namespace vdsr;
using namespace vdsr::test;
namespace fs = std::filesystem;

namespace {

const std::string kTool = std::string(vdsr::test::bin_dir()) + "/vdsr-data";

std::vector<std::string> entries(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(folder)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

struct CliFixture {
  TempFolder temp;
  fs::path images, out;
  CliFixture() : images(temp.path() / "images"), out(temp.path() / "out") {
    fs::create_directories(images);
    fs::create_directories(out);
    write_image(images / "one.png", synthetic_image(64, 72, 5));
    write_image(images / "two.bmp", synthetic_image(50, 90, 6));
  }
  int run(const std::string& args) { return run_command(kTool + " " + args, temp.path() / "log.txt"); }
  // As run(), with no file allowed past 32 blocks of 512 bytes.
  int run_on_a_full_disk(const std::string& args) {
    return run_command(on_a_full_disk(kTool + " " + args, 32), temp.path() / "log.txt");
  }
  std::string log() const {
    std::ifstream in(temp.path() / "log.txt");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

}  // namespace

TEST(DataCli, WritesFileAndReport) {
  CliFixture s;
  const fs::path out = s.out / "train.h5", report = s.out / "report.json";
  ASSERT_EQ(s.run("--images " + s.images.string() + " --out " + out.string() + " --patch-size 20 --stride 15" +
                  " --scales 2,3 --report " + report.string()),
            0)
      << s.log();
  data::PatchFile file(out);
  EXPECT_EQ(file.patch_size(), 20);
  EXPECT_GT(file.size(), 0);
  std::ifstream in(report);
  const nlohmann::json r = nlohmann::json::parse(in);
  EXPECT_EQ(r["schema"], "vdsr-report/1");
  EXPECT_EQ(r["stage"], "data");
  EXPECT_EQ(r["data"]["patches"], file.size());
  EXPECT_EQ(r["config"]["scales"], nlohmann::json({2, 3}));
  EXPECT_EQ(r["files"]["data"]["bytes"], fs::file_size(out));
  EXPECT_EQ(entries(s.out), (std::vector<std::string>{"report.json", "train.h5"}));
}

TEST(DataCli, BadInputExitsTwoWithoutOutput) {
  CliFixture s;
  const fs::path out = s.out / "train.h5";
  const fs::path empty = s.temp.path() / "empty";
  fs::create_directories(empty);
  const fs::path broken = s.temp.path() / "broken";
  fs::create_directories(broken);
  std::ofstream(broken / "bad.jpg") << "not a jpeg";
  const std::string images = " --images " + s.images.string();
  const std::vector<std::string> cases = {
      "--out " + out.string(),  // --images missing
      "--images " + empty.string() + " --out " + out.string(),
      "--images " + broken.string() + " --out " + out.string(),
      "--images " + (s.temp.path() / "absent").string() + " --out " + out.string(),
      images + " --out " + out.string() + " --scales 0",
      images + " --out " + out.string() + " --scales two",
      images + " --out " + out.string() + " --downsizes 1.5",
      images + " --out " + out.string() + " --downsizes 0",
      images + " --out " + out.string() + " --flips diagonal",
      images + " --out " + out.string() + " --rotations 45",
      images + " --out " + out.string() + " --patch-size 0",
      images + " --out " + out.string() + " --stride -3",
      images + " --out " + out.string() + " --limit -1",
      images + " --out " + out.string() + " --patch-size 500",  // no patch fits
      images + " --out " + (s.temp.path() / "nofolder" / "x.h5").string(),
  };
  for (const auto& args : cases) {
    EXPECT_EQ(s.run(args), 2) << args << "\n" << s.log();
    EXPECT_NE(s.log().find("error: "), std::string::npos) << args;
    EXPECT_TRUE(entries(s.out).empty()) << args;
  }
  EXPECT_TRUE(entries(s.images).size() == 2u);
}

// The output is checked before any image is decoded (here a folder whose one image would fail to decode,
// so the error names the output only if it came first); bad counts name their flag.
TEST(DataCli, OutputAndCountsAreCheckedBeforeDecoding) {
  CliFixture s;
  std::ofstream(s.images / "zz-broken.png") << "not a png";
  std::ofstream(s.temp.path() / "file") << "a file";
  const std::string images = " --images " + s.images.string();
  const std::pair<std::string, std::string> cases[] = {
      {images + " --out /proc/vdsr-never.h5", "/proc/vdsr-never.h5: cannot write in /proc"},
      {images + " --out " + s.out.string(), s.out.string() + ": is a folder, expected the output file's path"},
      {images + " --out " + (s.temp.path() / "file" / "x.h5").string(), "output folder"},
      {images + " --out " + (s.out / "x.h5").string() + " --limit -1", "--limit: expected an integer >= 0, got '-1'"},
      {images + " --out " + (s.out / "x.h5").string() + " --threads 0", "--threads: expected an integer >= 1"},
      {images + " --out " + (s.out / "x.h5").string() + " --threads -3", "--threads: expected an integer >= 1"},
  };
  for (const auto& [args, needle] : cases) {
    EXPECT_EQ(s.run(args), 2) << args << "\n" << s.log();
    EXPECT_NE(s.log().find("error: "), std::string::npos) << args;
    EXPECT_NE(s.log().find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << s.log();
    EXPECT_EQ(s.log().find("zz-broken.png"), std::string::npos) << "decoded before checking: " << args;
    EXPECT_TRUE(entries(s.out).empty()) << args;
  }
}

// A disk that fills up while the patches are written (here: no file may grow past 16 KiB): a clear
// error, and neither the .h5 nor its report is left behind.
TEST(DataCli, AFullDiskLeavesNoOutput) {
  CliFixture s;
  const std::string args = "--images " + s.images.string() + " --out " + (s.out / "train.h5").string() +
                           " --patch-size 20 --stride 15 --report " + (s.out / "report.json").string();
  EXPECT_NE(s.run_on_a_full_disk(args), 0) << s.log();
  EXPECT_NE(s.log().find("error: "), std::string::npos) << s.log();
  EXPECT_NE(s.log().find("train.h5"), std::string::npos) << s.log();
  EXPECT_TRUE(entries(s.out).empty());
  EXPECT_EQ(s.run(args), 0) << s.log();  // with room to write it succeeds
  EXPECT_GT(fs::file_size(s.out / "train.h5"), 16u * 1024);
}

TEST(DataCli, HelpExitsZero) {
  CliFixture s;
  EXPECT_EQ(s.run("--help"), 0);
  EXPECT_NE(s.log().find("--downsizes"), std::string::npos);
}

// Python's h5py (Debian python3-h5py via /usr/bin/python3: the pyenv python3 on PATH lacks Debian packages)
// sees float32 [N,1,41,41] for both datasets.
TEST(DataCli, H5pyReadsTheFile) {
  CliFixture s;
  if (run_command("/usr/bin/python3 -c 'import h5py'", s.temp.path() / "probe.txt") != 0) {
    if (running_in_ci()) FAIL() << "h5py is missing (apt install python3-h5py); CI=true requires it";
    GTEST_SKIP() << "h5py not installed for /usr/bin/python3 (apt install python3-h5py)";
  }
  const fs::path out = s.out / "train.h5";
  ASSERT_EQ(s.run("--images " + s.images.string() + " --out " + out.string() + " --scales 2"), 0) << s.log();
  const long long n = data::PatchFile(out).size();
  ASSERT_GT(n, 0);
  const fs::path script = s.temp.path() / "check.py";
  std::ofstream(script) << "import sys, h5py\n"
                           "f = h5py.File(sys.argv[1], 'r')\n"
                           "for k in ('data', 'label'):\n"
                           "    d = f[k]\n"
                           "    print(k, d.dtype, list(d.shape), float(d[...].min()), float(d[...].max()))\n"
                           "print('patch_size', int(f.attrs['patch_size']), 'scales', list(f.attrs['scales']))\n";
  const fs::path log = s.temp.path() / "py.txt";
  ASSERT_EQ(run_command("/usr/bin/python3 " + script.string() + " " + out.string(), log), 0);
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string shape = "[" + std::to_string(n) + ", 1, 41, 41]";
  EXPECT_NE(text.find("data float32 " + shape), std::string::npos) << text;
  EXPECT_NE(text.find("label float32 " + shape), std::string::npos) << text;
  EXPECT_NE(text.find("patch_size 41 scales [2]"), std::string::npos) << text;
}

namespace {

PatchCounts patches_in(const fs::path& h5) {
  data::PatchFile file(h5);
  const int per = file.patch_size() * file.patch_size();
  std::vector<float> input(static_cast<std::size_t>(per) * file.size()), label(input.size());
  file.read(0, file.size(), input.data(), label.data());
  return count_patches(input, label, per);
}

}  // namespace

// The pipeline's split stage (scripts/stages/split_images.sh) then vdsr-data on its train part: the
// held-out images are absent from the report's list of used images, and not one of their patches is in
// the file, while every patch of the training images is.
TEST(DataCli, HeldOutImagesNeverBecomePatches) {
  CliFixture s;
  write_image(s.images / "held1.png", synthetic_image(64, 72, 7));
  write_image(s.images / "held2.png", synthetic_image(56, 80, 8));
  const std::string split = std::string(vdsr::test::source_dir()) + "/scripts/stages/split_images.sh";
  ASSERT_EQ(run_command("sh " + split + " held1.png,held2.png " + s.images.string() + " " + (s.out / "split").string(),
                        s.temp.path() / "log.txt"),
            0)
      << s.log();
  const std::string flags = " --patch-size 20 --stride 10 --scales 2 --flips none --rotations 0 --downsizes 1";
  const fs::path train = s.out / "train.h5", report = s.out / "report.json";
  ASSERT_EQ(s.run("--images " + (s.out / "split" / "train").string() + " --out " + train.string() + flags +
                  " --report " + report.string()), 0) << s.log();
  std::ifstream in(report);
  const nlohmann::json used = nlohmann::json::parse(in)["data"]["used_images"];
  EXPECT_EQ(used, nlohmann::json({"one.png", "two.bmp"}));

  // The held-out images' own patches, with the same settings: all in a file made from every image (so
  // the check below would see a leak), none in the training file.
  const fs::path held_file = s.out / "held.h5", all_file = s.out / "all.h5";
  ASSERT_EQ(s.run("--images " + (s.out / "split" / "val").string() + " --out " + held_file.string() + flags), 0) << s.log();
  ASSERT_EQ(s.run("--images " + s.images.string() + " --out " + all_file.string() + flags), 0) << s.log();
  const PatchCounts file = patches_in(train), held = patches_in(held_file), all = patches_in(all_file);
  ASSERT_FALSE(held.empty());
  ASSERT_FALSE(file.empty());
  for (const auto& [patch, n] : held) {
    EXPECT_EQ(all.count(patch), 1u);
    EXPECT_EQ(file.count(patch), 0u) << "a patch of a held-out image was used for training";
  }
}

TEST(DataCli, PathsThatAreNotUtf8AreWrittenToTheReport) {
  // Linux paths are bytes: "caf\xe9" (Latin-1) made the report writer throw type_error.316 after the
  // work, leaving the .h5 behind without a report.
  CliFixture s;
  const fs::path folder = s.out / "caf\xe9";
  fs::create_directories(folder);
  const fs::path out = folder / "train.h5", report = folder / "report.json";
  ASSERT_EQ(s.run("--images " + s.images.string() + " --out '" + out.string() + "' --patch-size 20 --stride 15" +
                  " --scales 2 --report '" + report.string() + "'"),
            0)
      << s.log();
  EXPECT_EQ(entries(folder), (std::vector<std::string>{"report.json", "train.h5"}));
  std::ifstream in(report);
  const nlohmann::json r = nlohmann::json::parse(in);  // valid UTF-8: the byte became U+FFFD
  EXPECT_NE(r["config"]["out"].get<std::string>().find("caf\xef\xbf\xbd/train.h5"), std::string::npos) << r["config"];
}
