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

// Lower-case hex SHA-256 of a byte buffer or of a file's content.
std::string sha256_hex(const void* data, std::size_t size);
std::string sha256_file(const fs::path& path);

// Where the shared data lives: $VDSR_ASSETS, else ../shared/assets relative to the working directory.
fs::path assets_dir();

}  // namespace vdsr
