#include <gtest/gtest.h>

#include <fstream>

#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha256_hex(two_blocks.data(), two_blocks.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, FileStreamedInChunksMatchesBuffer) {
  fs::path dir = fs::temp_directory_path() / "vdsr_test_sha256";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string million_a(1000000, 'a');  // FIPS 180-2's long test vector
  write_file_atomically(dir / "a.bin", million_a);
  EXPECT_EQ(sha256_file(dir / "a.bin"), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  std::string bytes((3 << 20) + 7, '\0');  // spans several 1 MiB reads
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 % 251);
  write_file_atomically(dir / "b.bin", bytes);
  EXPECT_EQ(sha256_file(dir / "b.bin"), sha256_hex(bytes.data(), bytes.size()));
  EXPECT_THROW(sha256_file(dir / "missing.bin"), Error);
  fs::remove_all(dir);
}

TEST(WriteAtomically, ReplacesFileAndLeavesNoTempOnFailure) {
  fs::path dir = fs::temp_directory_path() / "vdsr_test_files";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::path target = dir / "out.txt";
  write_file_atomically(target, "first");
  write_file_atomically(target, "second");
  std::vector<char> bytes = read_file(target);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "second");

  EXPECT_THROW(write_atomically(dir / "broken.txt",
                                [](const fs::path&) { throw Error("writer failed"); }),
               Error);
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1) << "a failed write must leave no file behind";
  EXPECT_THROW(write_file_atomically(dir / "missing" / "x.txt", "x"), Error);
  fs::remove_all(dir);
}

TEST(ReadFile, MissingFileNamesThePath) {
  try {
    read_file("/nonexistent/file.bin");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/file.bin"), std::string::npos);
  }
}

TEST(ReadFile, AFolderIsNamedAsSuch) {
  const fs::path dir = fs::temp_directory_path() / "vdsr_test_read_folder";
  fs::create_directories(dir);
  try {
    read_file(dir);
    ADD_FAILURE() << "a folder was read as a file";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir.string() + ": is a folder, expected a file");
  }
  fs::remove_all(dir);
}

TEST(CheckOutputFolder, RefusesFilesAndFoldersThatTakeNoFiles) {
  const fs::path dir = fs::temp_directory_path() / "vdsr_test_check_output";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "file") << "x";
  EXPECT_NO_THROW(check_output_folder(dir, "--out"));
  EXPECT_NO_THROW(check_output_folder(dir / "new" / "deeper", "--out"));  // made later, in a writable folder
  auto message = [](const fs::path& p) {
    try {
      check_output_folder(p, "--out " + p.string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(dir / "file"), "--out " + (dir / "file").string() + ": exists and is not a folder");
  EXPECT_EQ(message(dir / "file" / "sub"), "--out " + (dir / "file" / "sub").string() + ": " +
                                               (dir / "file").string() + " is not a folder");
  // /proc takes no new files, even from root (permission bits would not tell).
  EXPECT_EQ(message("/proc/vdsr-never").rfind("--out /proc/vdsr-never: cannot write in /proc (", 0), 0u)
      << message("/proc/vdsr-never");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no probe file left
  fs::remove_all(dir);
}

// A run's output folder: created on demand, and removed with the parents it created while still empty.
TEST(OutputFolder, RemovesTheFoldersItCreatedWhileTheyAreEmpty) {
  const fs::path dir = fs::temp_directory_path() / "vdsr_test_output_folder";
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    OutputFolder out(dir / "a" / "b");
    EXPECT_FALSE(fs::exists(dir / "a"));  // nothing before create()
    out.create();
    EXPECT_TRUE(fs::is_directory(dir / "a" / "b"));
  }
  EXPECT_FALSE(fs::exists(dir / "a"));  // a failed run: nothing written, nothing left
  {
    OutputFolder out(dir / "a" / "b");
    out.create();
    std::ofstream(dir / "a" / "b" / "result") << "kept";
  }
  EXPECT_TRUE(fs::exists(dir / "a" / "b" / "result"));
  {
    OutputFolder out(dir / "a" / "b");  // exists already: never removed
    out.create();
    fs::remove(dir / "a" / "b" / "result");
  }
  EXPECT_TRUE(fs::is_directory(dir / "a" / "b"));
  fs::remove_all(dir);
}
