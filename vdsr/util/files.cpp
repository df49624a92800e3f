#include "vdsr/util/files.h"

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "vdsr/util/error.h"

namespace vdsr {

std::vector<char> read_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(path.string() + ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(path.string() + ": cannot open file" + (fs::exists(path) ? "" : " (it does not exist)"));
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path.string() + ": read error");
  return bytes;
}

void write_atomically(const fs::path& path, const std::function<void(const fs::path&)>& write_to) {
  fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!fs::is_directory(folder)) {
    throw Error(path.string() + ": output folder " + folder.string() + " does not exist");
  }
  // A unique temp name in the same folder keeps the rename atomic and lets parallel writers coexist.
  std::random_device rd;
  fs::path temp = folder / ("." + path.filename().string() + ".tmp" + std::to_string(rd()));
  try {
    write_to(temp);
    if (!fs::exists(temp)) throw Error(path.string() + ": nothing was written");
    std::error_code ec;
    fs::rename(temp, path, ec);
    if (ec) throw Error(path.string() + ": cannot write (" + ec.message() + ")");
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
}

void write_file_atomically(const fs::path& path, const std::string& bytes) {
  write_atomically(path, [&](const fs::path& temp) {
    std::ofstream out(temp, std::ios::binary);
    if (!out) throw Error(path.string() + ": cannot write (folder not writable?)");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw Error(path.string() + ": write failed (disk full?)");
  });
}

namespace {

// SHA-256 through OpenSSL's EVP interface: integrity checks come from a well-kept library.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) fail("init");
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size) {
    if (size && EVP_DigestUpdate(ctx_, data, size) != 1) fail("update");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_, digest, &length) != 1) fail("final");
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
      out += digits[digest[i] >> 4];
      out += digits[digest[i] & 15];
    }
    return out;
  }

 private:
  [[noreturn]] static void fail(const char* step) {
    throw std::runtime_error(std::string("OpenSSL SHA-256 ") + step + " failed");
  }
  EVP_MD_CTX* ctx_;
};

}  // namespace

std::string sha256_hex(const void* data, std::size_t size) {
  Sha256 h;
  h.update(data, size);
  return h.hex();
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open file");
  Sha256 h;
  std::vector<char> buffer(1 << 20);  // streamed: files may be many GB (training patches)
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    h.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(path.string() + ": read error");
  return h.hex();
}

void check_output_folder(const fs::path& folder, const std::string& what) {
  std::error_code ec;
  const fs::path target = fs::absolute(folder.empty() ? fs::path(".") : folder, ec);
  if (ec) throw Error(what + ": " + ec.message());
  fs::path existing = target;
  while (!fs::exists(existing, ec) && existing.has_relative_path()) existing = existing.parent_path();
  if (!fs::is_directory(existing, ec)) {
    throw Error(what + ": " + (existing == target ? "exists and is not a folder" : existing.string() + " is not a folder"));
  }
  std::random_device rd;
  const fs::path probe = existing / (".vdsr-write-check" + std::to_string(rd()));
  std::ofstream out(probe);
  const int err = errno;
  if (!out) throw Error(what + ": cannot write in " + existing.string() + " (" + std::strerror(err) + ")");
  out.close();
  fs::remove(probe, ec);
}

const fs::path& OutputFolder::create() {
  if (!created_.empty() || folder_.empty()) return folder_;
  for (fs::path p = folder_; !p.empty() && !fs::exists(p); p = p.parent_path()) created_.push_back(p);
  std::error_code ec;
  fs::create_directories(folder_, ec);
  if (ec) throw Error(folder_.string() + ": cannot create the output folder (" + ec.message() + ")");
  return folder_;
}

OutputFolder::~OutputFolder() {
  std::error_code ec;
  for (const fs::path& p : created_) {
    if (!fs::is_empty(p, ec) || ec || !fs::remove(p, ec)) break;
  }
}

fs::path assets_dir() {
  const char* env = std::getenv("VDSR_ASSETS");
  if (env && *env) return fs::path(env);
  return fs::path("..") / "shared" / "assets";
}

}  // namespace vdsr
