#include "vdsr/util/files.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

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

// FIPS 180-4 SHA-256.
class Sha256 {
 public:
  void update(const unsigned char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      block_[fill_++] = data[i];
      if (fill_ == 64) {
        compress();
        fill_ = 0;
      }
    }
    length_ += size;
  }
  std::string hex() {
    std::uint64_t bits = length_ * 8;
    unsigned char pad = 0x80;
    update(&pad, 1);
    unsigned char zero = 0;
    while (fill_ != 56) update(&zero, 1);
    for (int i = 7; i >= 0; --i) {
      unsigned char b = static_cast<unsigned char>(bits >> (8 * i));
      update(&b, 1);
    }
    std::ostringstream out;
    char buf[9];
    for (auto h : h_) {
      std::snprintf(buf, sizeof buf, "%08x", h);
      out << buf;
    }
    return out.str();
  }

 private:
  static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void compress() {
    static const std::uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (std::uint32_t(block_[4 * i]) << 24) | (std::uint32_t(block_[4 * i + 1]) << 16) |
             (std::uint32_t(block_[4 * i + 2]) << 8) | std::uint32_t(block_[4 * i + 3]);
    }
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a; h_[1] += b; h_[2] += c; h_[3] += d;
    h_[4] += e; h_[5] += f; h_[6] += g; h_[7] += h;
  }

  std::array<std::uint32_t, 8> h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  unsigned char block_[64] = {};
  std::size_t fill_ = 0;
  std::uint64_t length_ = 0;
};

}  // namespace

std::string sha256_hex(const void* data, std::size_t size) {
  Sha256 h;
  h.update(static_cast<const unsigned char*>(data), size);
  return h.hex();
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open file");
  Sha256 h;
  std::vector<char> buffer(1 << 20);  // streamed: files may be many GB (training patches)
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    h.update(reinterpret_cast<const unsigned char*>(buffer.data()), static_cast<std::size_t>(in.gcount()));
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
