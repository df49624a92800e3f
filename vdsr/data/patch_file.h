#pragma once
// Reading training patches (`data`/`label`, [N,1,P,P] float32, as vdsr-data and the reference write them)
// in shuffled mini-batches with a background prefetch thread, never holding the whole file in memory.
//
// Shuffle (docs/data.md): the N patches are cut into blocks of `block` consecutive patches; each epoch
// permutes the blocks, groups `window_blocks` of them into a window, and permutes the patches inside each
// window. The order depends only on (seed, epoch), so a resumed run sees the same batches. On a file whose
// order is already uniformly random (vdsr-data's), this keeps it uniformly random per epoch; on an
// unshuffled file, patches mix only within a window.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace vdsr::data {

class PatchFile {
 public:
  // Opens and validates; throws vdsr::Error naming the file, the key and the expected and found shape.
  explicit PatchFile(const std::filesystem::path& path);
  ~PatchFile();
  PatchFile(const PatchFile&) = delete;
  PatchFile& operator=(const PatchFile&) = delete;

  long long size() const { return size_; }
  int patch_size() const { return patch_size_; }
  const std::filesystem::path& path() const { return path_; }

  // Patches [first, first + count) into `data` and `label` (count * P * P floats each, row-major).
  void read(long long first, long long count, float* data, float* label) const;

 private:
  std::filesystem::path path_;
  long long size_ = 0;
  int patch_size_ = 0;
  long long file_ = -1, data_ = -1, label_ = -1;  // hid_t (kept out of this header)
};

struct Batch {
  std::vector<float> data, label;  // count * P * P floats each, patch after patch
  int count = 0;
  long long index = 0;  // batch number within the epoch
};

struct StreamOptions {
  int batch_size = 64;
  std::uint64_t seed = 0;
  int epoch = 0;
  bool drop_last = true;      // drop the last incomplete batch (the reference's DataLoader does not shuffle
                              // partial batches away; training usually drops them)
  long long start_batch = 0;  // resume mid-epoch: skip this many batches without reading them
  int block = 512;            // patches read contiguously
  int window_blocks = 8;      // blocks shuffled together (memory: block * window_blocks * 2 * P * P floats)
  int prefetch = 3;           // batches prepared ahead
};

class BatchStream {
 public:
  // `file` must outlive the stream. Throws vdsr::Error for a batch size < 1 or a start past the end.
  BatchStream(const PatchFile& file, const StreamOptions& options);
  BatchStream(const PatchFile& file, int batch_size, std::uint64_t seed, int epoch, bool drop_last,
              long long start_batch = 0);
  ~BatchStream();
  BatchStream(const BatchStream&) = delete;
  BatchStream& operator=(const BatchStream&) = delete;

  // The next batch of the epoch; false at its end. Rethrows a read error from the prefetch thread.
  bool next(Batch& batch);
  long long batches_per_epoch() const { return batches_; }

  // The epoch's patch order (indices into the file), as the batches deliver it; for tests and tools.
  static std::vector<long long> order(long long size, const StreamOptions& options);

 private:
  void produce();

  const PatchFile& file_;
  StreamOptions options_;
  long long batches_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  bool done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace vdsr::data
