#include "vdsr/data/patch_file.h"

#include <algorithm>
#include <sstream>
#include <string>

#include "vdsr/data/h5.h"
#include "vdsr/util/error.h"
#include "vdsr/util/random.h"

namespace vdsr::data {

namespace {

std::string shape_string(const std::vector<hsize_t>& dims) {
  std::ostringstream s;
  s << "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s << (i ? "," : "") << dims[i];
  s << "]";
  return s.str();
}

// Opens `key` and returns its shape; errors name the file, the key and what was expected.
std::vector<hsize_t> open_dataset(const std::filesystem::path& path, hid_t file, const char* key, hid_t* out) {
  const std::string expected = "float32 [N,1,P,P] (N patches of P x P, as vdsr-data writes)";
  if (H5Lexists(file, key, H5P_DEFAULT) <= 0) {
    throw Error(path.string() + ": missing dataset '" + key + "' (expected " + expected + ")");
  }
  h5::Handle dset = h5::check(H5Dopen2(file, key, H5P_DEFAULT), H5Dclose,
                              path.string() + ": '" + key + "' is not a dataset (expected " + expected + ")");
  h5::Handle type = h5::check(H5Dget_type(dset.get()), H5Tclose, path.string() + ": '" + key + "': no type");
  h5::Handle space = h5::check(H5Dget_space(dset.get()), H5Sclose, path.string() + ": '" + key + "': no shape");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(rank > 0 ? static_cast<std::size_t>(rank) : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  if (H5Tget_class(type.get()) != H5T_FLOAT) {
    throw Error(path.string() + ": dataset '" + key + "' is not floating point (expected " + expected + ")");
  }
  if (rank != 4 || dims[1] != 1 || dims[2] != dims[3] || dims[0] == 0 || dims[2] == 0) {
    throw Error(path.string() + ": dataset '" + key + "' has shape " + shape_string(dims) + ", expected [N,1,P,P]" +
                " with N >= 1 and P >= 1");
  }
  *out = dset.release();
  return dims;
}

// The epoch's block permutation and windows: everything the order needs except reading.
struct Layout {
  long long size = 0;
  int block = 1;
  std::vector<long long> blocks;        // permuted block ids
  std::vector<long long> window_start;  // first stream position of each window, plus the end

  long long block_length(long long b) const { return std::min<long long>(block, size - b * block); }
  std::size_t windows() const { return window_start.size() - 1; }
};

Layout make_layout(long long size, const StreamOptions& o) {
  Layout l;
  l.size = size;
  l.block = std::max(1, o.block);
  const long long nblocks = (size + l.block - 1) / l.block;
  l.blocks.resize(static_cast<std::size_t>(nblocks));
  for (long long b = 0; b < nblocks; ++b) l.blocks[static_cast<std::size_t>(b)] = b;
  const std::uint64_t epoch_seed = mix64(o.seed, static_cast<std::uint64_t>(o.epoch));
  Rng(mix64(epoch_seed, 0)).shuffle(l.blocks);
  const std::size_t per_window = static_cast<std::size_t>(std::max(1, o.window_blocks));
  long long position = 0;
  for (std::size_t i = 0; i < l.blocks.size(); ++i) {
    if (i % per_window == 0) l.window_start.push_back(position);
    position += l.block_length(l.blocks[i]);
  }
  l.window_start.push_back(position);
  return l;
}

// Local order of window w: indices into the window's buffer (its blocks concatenated in permuted order).
std::vector<std::uint32_t> window_order(const Layout& l, std::size_t w, const StreamOptions& o) {
  const long long n = l.window_start[w + 1] - l.window_start[w];
  std::vector<std::uint32_t> order(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  const std::uint64_t epoch_seed = mix64(o.seed, static_cast<std::uint64_t>(o.epoch));
  Rng(mix64(epoch_seed, w + 1)).shuffle(order);
  return order;
}

// Blocks of window w as (file start, length), in buffer order.
std::vector<std::pair<long long, long long>> window_blocks(const Layout& l, std::size_t w, const StreamOptions& o) {
  const std::size_t per_window = static_cast<std::size_t>(std::max(1, o.window_blocks));
  std::vector<std::pair<long long, long long>> out;
  for (std::size_t i = w * per_window; i < std::min(l.blocks.size(), (w + 1) * per_window); ++i) {
    out.emplace_back(l.blocks[i] * l.block, l.block_length(l.blocks[i]));
  }
  return out;
}

StreamOptions checked(StreamOptions o) {
  if (o.batch_size < 1) throw Error("batch size must be at least 1, got " + std::to_string(o.batch_size));
  if (o.start_batch < 0) throw Error("start batch must be >= 0");
  if (o.epoch < 0) throw Error("epoch must be >= 0");
  o.prefetch = std::max(1, o.prefetch);
  return o;
}

}  // namespace

PatchFile::PatchFile(const std::filesystem::path& path) : path_(path) {
  h5::silence_errors();
  if (!std::filesystem::exists(path)) throw Error(path.string() + ": patch file does not exist");
  h5::Handle file = h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                              path.string() + ": cannot open as HDF5");
  hid_t data = -1, label = -1;
  const std::vector<hsize_t> d = open_dataset(path, file.get(), "data", &data);
  h5::Handle data_handle(data, H5Dclose);
  const std::vector<hsize_t> l = open_dataset(path, file.get(), "label", &label);
  h5::Handle label_handle(label, H5Dclose);
  if (d != l) {
    throw Error(path.string() + ": dataset 'label' has shape " + shape_string(l) + ", expected " + shape_string(d) +
                " like 'data'");
  }
  size_ = static_cast<long long>(d[0]);
  patch_size_ = static_cast<int>(d[2]);
  data_ = data_handle.release();
  label_ = label_handle.release();
  file_ = file.release();
}

PatchFile::~PatchFile() {
  if (data_ >= 0) H5Dclose(data_);
  if (label_ >= 0) H5Dclose(label_);
  if (file_ >= 0) H5Fclose(file_);
}

void PatchFile::read(long long first, long long count, float* data, float* label) const {
  if (first < 0 || count < 0 || first + count > size_) throw std::out_of_range("PatchFile::read past the end");
  if (count == 0) return;
  const hsize_t p = static_cast<hsize_t>(patch_size_);
  const hsize_t start[4] = {static_cast<hsize_t>(first), 0, 0, 0};
  const hsize_t size[4] = {static_cast<hsize_t>(count), 1, p, p};
  h5::Handle memspace = h5::check(H5Screate_simple(4, size, nullptr), H5Sclose, "memory dataspace");
  const std::pair<hid_t, float*> targets[2] = {{data_, data}, {label_, label}};
  for (const auto& [dset, buffer] : targets) {
    h5::Handle space = h5::check(H5Dget_space(dset), H5Sclose, path_.string() + ": dataspace");
    h5::check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, size, nullptr), "hyperslab");
    h5::check(H5Dread(dset, H5T_NATIVE_FLOAT, memspace.get(), space.get(), H5P_DEFAULT, buffer),
              path_.string() + ": cannot read patches " + std::to_string(first) + ".." +
                  std::to_string(first + count - 1));
  }
}

std::vector<long long> BatchStream::order(long long size, const StreamOptions& options) {
  const StreamOptions o = checked(options);
  const Layout l = make_layout(size, o);
  std::vector<long long> out;
  out.reserve(static_cast<std::size_t>(size));
  for (std::size_t w = 0; w < l.windows(); ++w) {
    std::vector<long long> file_index;
    for (const auto& [start, length] : window_blocks(l, w, o))
      for (long long i = 0; i < length; ++i) file_index.push_back(start + i);
    for (std::uint32_t j : window_order(l, w, o)) out.push_back(file_index[j]);
  }
  return out;
}

BatchStream::BatchStream(const PatchFile& file, int batch_size, std::uint64_t seed, int epoch, bool drop_last,
                         long long start_batch)
    : BatchStream(file, [&] {
        StreamOptions o;
        o.batch_size = batch_size;
        o.seed = seed;
        o.epoch = epoch;
        o.drop_last = drop_last;
        o.start_batch = start_batch;
        return o;
      }()) {}

BatchStream::BatchStream(const PatchFile& file, const StreamOptions& options)
    : file_(file), options_(checked(options)) {
  const long long n = file.size(), b = options_.batch_size;
  batches_ = options_.drop_last ? n / b : (n + b - 1) / b;
  if (options_.start_batch > batches_) {
    throw Error("cannot start at batch " + std::to_string(options_.start_batch) + ": the epoch has " +
                std::to_string(batches_) + " batches");
  }
  worker_ = std::thread([this] { produce(); });
}

BatchStream::~BatchStream() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void BatchStream::produce() {
  try {
    const StreamOptions& o = options_;
    const Layout l = make_layout(file_.size(), o);
    const std::size_t per_patch = static_cast<std::size_t>(file_.patch_size()) * file_.patch_size();
    long long position = o.start_batch * o.batch_size;
    const long long end = std::min(file_.size(), batches_ * o.batch_size);
    long long index = o.start_batch;
    std::vector<float> data, label;
    Batch batch;
    // Windows before the start are skipped without reading: their layout needs no data.
    std::size_t w = static_cast<std::size_t>(
        std::upper_bound(l.window_start.begin(), l.window_start.end(), position) - l.window_start.begin() - 1);
    for (; position < end && w < l.windows(); ++w) {
      const long long window_size = l.window_start[w + 1] - l.window_start[w];
      data.resize(static_cast<std::size_t>(window_size) * per_patch);
      label.resize(data.size());
      long long offset = 0;
      for (const auto& [start, length] : window_blocks(l, w, o)) {
        file_.read(start, length, data.data() + offset * per_patch, label.data() + offset * per_patch);
        offset += length;
      }
      const std::vector<std::uint32_t> local = window_order(l, w, o);
      for (long long j = position - l.window_start[w]; j < window_size && position < end; ++j, ++position) {
        if (batch.count == 0) {
          batch.data.resize(static_cast<std::size_t>(o.batch_size) * per_patch);
          batch.label.resize(batch.data.size());
          batch.index = index;
        }
        const std::size_t src = static_cast<std::size_t>(local[static_cast<std::size_t>(j)]) * per_patch;
        const std::size_t dst = static_cast<std::size_t>(batch.count) * per_patch;
        std::copy_n(data.data() + src, per_patch, batch.data.data() + dst);
        std::copy_n(label.data() + src, per_patch, batch.label.data() + dst);
        ++batch.count;
        if (batch.count == o.batch_size || position + 1 == end) {
          batch.data.resize(static_cast<std::size_t>(batch.count) * per_patch);
          batch.label.resize(batch.data.size());
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [&] { return stop_ || queue_.size() < static_cast<std::size_t>(o.prefetch); });
          if (stop_) return;
          queue_.push_back(std::move(batch));
          batch = Batch();
          ++index;
          lock.unlock();
          changed_.notify_all();
        }
      }
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  changed_.notify_all();
}

bool BatchStream::next(Batch& batch) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !queue_.empty() || done_; });
  if (!queue_.empty()) {
    batch = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    changed_.notify_all();
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

}  // namespace vdsr::data
