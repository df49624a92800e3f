#pragma once
// File helpers shared by every stage: whole-file reads, atomic writes, hashing, asset lookup.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace vdsr {

namespace fs = std::filesystem;

// Reads a whole file; throws vdsr::Error naming the file when it cannot be read.
std::vector<char> read_file(const fs::path& path);

// Writes through `write_to(temp_path)` and renames the temp file onto `path`, so a reader never sees a
// half-written file and a failure leaves nothing behind. Throws vdsr::Error when the folder is missing
// or not writable.
void write_atomically(const fs::path& path, const std::function<void(const fs::path&)>& write_to);
void write_file_atomically(const fs::path& path, const std::string& bytes);

// Before any work: fails with a vdsr::Error starting with `what` (e.g. "--out x") when `folder` exists but
// is not a folder, or when new files cannot be made in it (or, while it does not exist yet, in its nearest
// existing parent). Tries a file, as permission bits do not tell (root, read-only mounts).
void check_output_folder(const fs::path& folder, const std::string& what);

// A run's output folder, created with its missing parents when the run has something to write; the folders
// it created that are still empty when it goes out of scope are removed, so a run that fails (a full disk,
// a later error) leaves no empty folder behind.
class OutputFolder {
 public:
  explicit OutputFolder(fs::path folder) : folder_(std::move(folder)) {}
  ~OutputFolder();
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

  const fs::path& create();  // idempotent; returns the folder
  const fs::path& path() const { return folder_; }

 private:
  fs::path folder_;
  std::vector<fs::path> created_;  // innermost first
};

// Lower-case hex SHA-256 of a byte buffer or of a file's content.
std::string sha256_hex(const void* data, std::size_t size);
std::string sha256_file(const fs::path& path);

// Where the shared data lives: $VDSR_ASSETS, else ../shared/assets relative to the working directory.
fs::path assets_dir();

}  // namespace vdsr
