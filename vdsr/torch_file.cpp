#include "vdsr/torch_file.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>

#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

namespace vdsr {

PyRef PyValue::get(const std::string& key) const {
  for (const auto& [k, v] : dict) {
    if (k->kind == Kind::String && k->text == key) return v;
  }
  return nullptr;
}

namespace {

PyRef make(PyValue::Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  return v;
}

at::ScalarType storage_dtype(const std::string& global, const std::string& where) {
  static const std::map<std::string, at::ScalarType> types = {
      {"torch.FloatStorage", at::kFloat},   {"torch.DoubleStorage", at::kDouble},
      {"torch.HalfStorage", at::kHalf},     {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},     {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},   {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},     {"torch.BoolStorage", at::kBool}};
  auto it = types.find(global);
  if (it == types.end()) throw Error(where + ": unsupported tensor storage type " + global);
  return it->second;
}

// Containers nest at most this deep (a checkpoint nests 4 levels); deeper is a crafted file.
constexpr int kMaxDepth = 64;
// The tensors rebuilt from a file may share storages, but together they must stay within this many times
// the file's size: a few bytes of pickle must not ask for gigabytes.
constexpr size_t kMaxTensorBytesPerFileByte = 4;

uint64_t little_endian(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// torch.save stores its records uncompressed, so together they fit in the archive. PyTorchStreamReader
// allocates the size each zip directory entry declares (the constructor already reads one record), so
// the directory is checked first, read the way miniz reads it: the last end-of-directory record, its
// zip64 form when a locator precedes it, and each entry's zip64 size.
void check_declared_sizes(const unsigned char* data, size_t size, const std::string& where) {
  auto corrupted = [&](const std::string& what) {
    throw Error(where + ": corrupted PyTorch file (" + what + ")");
  };
  constexpr size_t kEnd = 22, kLocator = 20, kEnd64 = 56, kEntry = 46;
  if (size < kEnd) corrupted("no zip directory");
  size_t end_record = size;
  for (size_t i = size - kEnd + 1; i-- > 0;) {
    if (little_endian(data + i, 4) == 0x06054b50) {
      end_record = i;
      break;
    }
  }
  if (end_record == size) corrupted("no zip directory");
  const unsigned char* e = data + end_record;
  uint64_t entries = little_endian(e + 10, 2), dir_size = little_endian(e + 12, 4), dir_at = little_endian(e + 16, 4);
  if (end_record >= kLocator + kEnd64 && little_endian(e - kLocator, 4) == 0x07064b50) {
    const uint64_t at = little_endian(e - kLocator + 8, 8);
    if (at > size - kEnd64) corrupted("zip64 directory outside the file");
    if (little_endian(data + at, 4) == 0x06064b50) {
      entries = little_endian(data + at + 32, 8);
      dir_size = little_endian(data + at + 40, 8);
      dir_at = little_endian(data + at + 48, 8);
    }
  }
  if (dir_at > size || dir_size > size - dir_at || entries > dir_size / kEntry) {
    corrupted("zip directory outside the file");
  }
  const unsigned char* p = data + dir_at;
  const unsigned char* const dir_end = p + dir_size;
  uint64_t declared = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    if (static_cast<size_t>(dir_end - p) < kEntry || little_endian(p, 4) != 0x02014b50) corrupted("bad zip entry");
    uint64_t bytes = little_endian(p + 24, 4);
    const size_t name = little_endian(p + 28, 2), extra = little_endian(p + 30, 2), comment = little_endian(p + 32, 2);
    if (static_cast<size_t>(dir_end - p) - kEntry < name + extra + comment) corrupted("bad zip entry");
    if (bytes == 0xFFFFFFFF) {  // the size is in the zip64 extra field, when there is one
      for (const unsigned char *f = p + kEntry + name, *f_end = f + extra; f_end - f >= 4;) {
        const size_t id = little_endian(f, 2), length = little_endian(f + 2, 2);
        if (id == 1) {
          if (length >= 8 && static_cast<size_t>(f_end - f) >= 12) bytes = little_endian(f + 4, 8);
          break;
        }
        if (static_cast<size_t>(f_end - f) - 4 < length) break;
        f += 4 + length;
      }
    }
    declared += std::min<uint64_t>(bytes, size + 1);
    if (declared > size) {
      corrupted("its records declare more bytes than the file holds; torch.save stores them uncompressed");
    }
    p += kEntry + name + extra + comment;
  }
}

// The archive reader over bytes in memory.
class MemoryReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  MemoryReader(const char* data, size_t size) : data_(data), size_(size) {}
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= size_) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos));
    if (n) std::memcpy(buf, data_ + pos, n);  // miniz reads 0 bytes into a null buffer for an empty record
    return n;
  }

 private:
  const char* data_;
  size_t size_;
};

class Unpickler {
 public:
  Unpickler(caffe2::serialize::PyTorchStreamReader& archive, size_t archive_size, const char* data, size_t size,
            std::string where)
      : archive_(archive), archive_size_(archive_size), data_(data), size_(size), where_(std::move(where)) {
    records_bytes_ = size;
  }

  PyRef run() {
    while (true) {
      const unsigned char op = byte();
      switch (op) {
        case 0x80: byte(); break;                             // PROTO
        case 0x95: skip(8); break;                            // FRAME
        case '.': return pop();                               // STOP
        case '(': marks_.push_back(stack_.size()); break;     // MARK
        case '}': push(make(PyValue::Kind::Dict)); break;     // EMPTY_DICT
        case ']': push(make(PyValue::Kind::List)); break;     // EMPTY_LIST
        case ')': push(make(PyValue::Kind::Tuple)); break;    // EMPTY_TUPLE
        case 'N': push(make(PyValue::Kind::None)); break;     // NONE
        case 0x88: case 0x89: {                               // NEWTRUE / NEWFALSE
          auto v = make(PyValue::Kind::Bool);
          v->boolean = op == 0x88;
          push(v);
          break;
        }
        case 'K': push_int(byte()); break;                    // BININT1
        case 'M': push_int(uint(2)); break;                   // BININT2
        case 'J': push_int(static_cast<int32_t>(uint(4))); break;  // BININT
        case 0x8a: {                                          // LONG1
          const int n = byte();
          if (n > 8) fail("integer too large");
          int64_t v = 0;
          for (int i = 0; i < n; ++i) v |= static_cast<int64_t>(byte()) << (8 * i);
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v -= int64_t(1) << (8 * n);  // sign
          push_int(v);
          break;
        }
        case 'G': {                                           // BINFLOAT, big-endian
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | byte();
          auto v = make(PyValue::Kind::Float);
          std::memcpy(&v->real, &bits, 8);
          push(v);
          break;
        }
        case 'X': push_string(uint(4)); break;                // BINUNICODE
        case 0x8c: case 'U': push_string(byte()); break;      // SHORT_BINUNICODE / SHORT_BINSTRING
        case 'T': push_string(uint(4)); break;                // BINSTRING
        case 'c': {                                           // GLOBAL
          std::string module = line(), name = line();
          auto v = make(PyValue::Kind::Global);
          v->text = module + "." + name;
          push(v);
          break;
        }
        case 'q': memo_[byte()] = top(); break;               // BINPUT
        case 'r': memo_[uint(4)] = top(); break;              // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;        // MEMOIZE
        case 'h': push(memo(byte())); break;                  // BINGET
        case 'j': push(memo(uint(4))); break;                 // LONG_BINGET
        case 't': push(tuple(pop_mark())); break;             // TUPLE
        case 0x85: case 0x86: case 0x87: {                    // TUPLE1..3
          std::vector<PyRef> items(op - 0x84);
          for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
          push(tuple(std::move(items)));
          break;
        }
        case 'a': {                                           // APPEND
          PyRef v = pop();
          append(top(), v);
          break;
        }
        case 'e': {                                           // APPENDS
          auto items = pop_mark();
          const PyRef list = top();
          for (const auto& v : items) append(list, v);
          break;
        }
        case 's': {                                           // SETITEM
          PyRef value = pop(), key = pop();
          set_item(top(), key, value);
          break;
        }
        case 'u': {                                           // SETITEMS
          auto items = pop_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of items");
          for (size_t i = 0; i < items.size(); i += 2) set_item(top(), items[i], items[i + 1]);
          break;
        }
        case 'Q': push(persistent_load(pop())); break;        // BINPERSID
        case 'R': {                                           // REDUCE
          PyRef args = pop(), callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 'b': pop(); break;  // BUILD: only OrderedDict's _metadata reaches here; not needed
        default: fail("unsupported pickle opcode 0x" + hex(op));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(where_ + ": cannot read PyTorch data (" + what + ")");
  }
  static std::string hex(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02x", v);
    return buf;
  }
  unsigned char byte() {
    if (pos_ >= size_) fail("unexpected end of pickle");
    return static_cast<unsigned char>(data_[pos_++]);
  }
  void skip(size_t n) {
    if (pos_ + n > size_) fail("unexpected end of pickle");
    pos_ += n;
  }
  uint64_t uint(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(byte()) << (8 * i);
    return v;
  }
  std::string line() {
    std::string s;
    for (char c; (c = static_cast<char>(byte())) != '\n';) s += c;
    return s;
  }
  void push(PyRef v) { stack_.push_back(std::move(v)); }
  void push_int(int64_t i) {
    auto v = make(PyValue::Kind::Int);
    v->integer = i;
    push(v);
  }
  void push_string(uint64_t n) {
    if (pos_ + n > size_) fail("unexpected end of pickle");
    auto v = make(PyValue::Kind::String);
    v->text.assign(data_ + pos_, n);
    pos_ += n;
    push(v);
  }
  // The values above the last MARK only, as CPython's unpickler: reaching below it is an underflow (and
  // would leave the MARK pointing past the end of the stack).
  PyRef top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("stack underflow");
    return stack_.back();
  }
  PyRef pop() {
    PyRef v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<PyRef> pop_mark() {
    if (marks_.empty()) fail("no MARK");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  PyRef memo(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo entry missing");
    return it->second;
  }
  // `child` goes inside `container`: it can no longer change, and `container` is deeper. A container
  // that sits inside another cannot change either, so no value ever reaches itself.
  void adopt(PyValue& container, PyValue& child) {
    if (&container == &child) fail("a container inside itself");
    child.contained = true;
    container.depth = std::max(container.depth, child.depth + 1);
    if (container.depth > kMaxDepth) fail("containers nested more than " + std::to_string(kMaxDepth) + " deep");
  }
  void check_mutable(const PyValue& container, PyValue::Kind kind, const char* op) {
    if (container.kind != kind) fail(std::string(op) + " on a value of the wrong type");
    if (container.contained) fail(std::string(op) + " on a container already inside another (a cycle?)");
  }
  PyRef tuple(std::vector<PyRef> items) {
    auto v = make(PyValue::Kind::Tuple);
    for (const auto& item : items) adopt(*v, *item);
    v->items = std::move(items);
    return v;
  }
  void append(const PyRef& list, const PyRef& value) {
    check_mutable(*list, PyValue::Kind::List, "APPEND");
    adopt(*list, *value);
    list->items.push_back(value);
  }
  void set_item(const PyRef& dict, PyRef key, PyRef value) {
    check_mutable(*dict, PyValue::Kind::Dict, "SETITEM");
    adopt(*dict, *key);
    adopt(*dict, *value);
    dict->dict.emplace_back(std::move(key), std::move(value));
  }
  static int64_t as_int(const PyRef& v) { return v->kind == PyValue::Kind::Int ? v->integer : -1; }
  static bool is_string(const PyRef& v) { return v->kind == PyValue::Kind::String; }

  // A record's bytes, counted against the archive: together the records read cannot exceed its size
  // (a storage key could name one record twice in another spelling).
  std::tuple<at::DataPtr, size_t> record(const std::string& name) {
    auto result = archive_.getRecord(name);
    records_bytes_ += std::get<1>(result);
    if (records_bytes_ > archive_size_) fail("its records add up to more than the file's size");
    return result;
  }

  // The tensor `sizes`/`strides`/`offset` describe in `storage`, copied out, after checking that it lies
  // inside the storage and fits the budget (both computed without overflow).
  at::Tensor rebuild(const at::Tensor& storage, const std::vector<int64_t>& sizes,
                     const std::vector<int64_t>& strides, int64_t offset) {
    if (sizes.size() != strides.size()) fail("malformed tensor (sizes and strides differ in length)");
    if (offset < 0) fail("malformed tensor (negative storage offset)");
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] < 0 || strides[d] < 0) fail("malformed tensor (negative size or stride)");
    }
    if (std::find(sizes.begin(), sizes.end(), 0) != sizes.end()) return at::empty(sizes, storage.options());
    const uint64_t limit = static_cast<uint64_t>(storage.numel());
    uint64_t numel = 1, last = static_cast<uint64_t>(offset);  // last: the highest element it reads
    if (last >= limit) fail("tensor reaches outside its storage");
    for (size_t d = 0; d < sizes.size(); ++d) {
      const uint64_t n = static_cast<uint64_t>(sizes[d]), stride = static_cast<uint64_t>(strides[d]);
      if (numel > limit_elements_ / n) fail("tensor larger than the file allows");
      numel *= n;
      if (stride != 0 && n - 1 > (limit - 1 - last) / stride) fail("tensor reaches outside its storage");
      last += (n - 1) * stride;
    }
    const uint64_t bytes = numel * static_cast<uint64_t>(storage.element_size());
    tensor_bytes_ += bytes;
    if (tensor_bytes_ > kMaxTensorBytesPerFileByte * archive_size_) {
      fail("its tensors need more than " + std::to_string(kMaxTensorBytesPerFileByte) + " times the file's size");
    }
    return storage.as_strided(sizes, strides, offset).clone();
  }

  // ('storage', <storage type>, key, location, numel): the bytes live in the record data/<key>.
  PyRef persistent_load(const PyRef& pid) {
    if (pid->kind != PyValue::Kind::Tuple || pid->items.size() < 5 || !is_string(pid->items[0]) ||
        pid->items[0]->text != "storage" || !is_string(pid->items[2])) {
      fail("unknown persistent id");
    }
    const at::ScalarType dtype = storage_dtype(pid->items[1]->text, where_);
    const std::string key = pid->items[2]->text;
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    const std::string record = "data/" + key;
    if (!archive_.hasRecord(record)) fail("missing record " + record);
    auto [ptr, bytes] = this->record(record);
    const int64_t numel = as_int(pid->items[4]);
    const size_t element = at::elementSize(dtype);
    if (numel < 0 || bytes % element != 0 || static_cast<uint64_t>(numel) != bytes / element) {
      fail("record " + record + " has " + std::to_string(bytes) + " bytes, expected " +
           std::to_string(numel) + " elements of " + std::string(at::toString(dtype)));
    }
    at::Tensor t = at::empty({numel}, at::TensorOptions().dtype(dtype));
    if (bytes) std::memcpy(t.data_ptr(), ptr.get(), bytes);  // an empty record has no data pointer
    auto v = make(PyValue::Kind::Storage);
    v->tensor = t;
    storages_[key] = v;
    return v;
  }

  PyRef reduce(const PyRef& callable, const PyRef& args) {
    const std::string name = callable->kind == PyValue::Kind::Global ? callable->text : "?";
    if (name == "collections.OrderedDict") return make(PyValue::Kind::Dict);
    // LibTorch's pickler wraps typed containers as restore_type_tag(value, "Dict[str, Tensor]").
    if (name == "torch.jit._pickle.restore_type_tag" && !args->items.empty()) return args->items[0];
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, ...)
      const auto& a = args->items;
      if (a.size() < 4 || a[0]->kind != PyValue::Kind::Storage) fail("malformed tensor");
      std::vector<int64_t> sizes, strides;
      for (const auto& s : a[2]->items) sizes.push_back(as_int(s));
      for (const auto& s : a[3]->items) strides.push_back(as_int(s));
      auto v = make(PyValue::Kind::Tensor);
      v->tensor = rebuild(a[0]->tensor, sizes, strides, as_int(a[1]));
      return v;
    }
    if (name == "torch._utils._rebuild_parameter") {  // (data, requires_grad, backward_hooks)
      if (args->items.empty() || args->items[0]->kind != PyValue::Kind::Tensor) fail("malformed parameter");
      return args->items[0];
    }
    fail("the file holds a Python object of type " + name +
         ", not a state dict; a whole pickled model needs Python: convert it with scripts/import_pth.py");
  }

  caffe2::serialize::PyTorchStreamReader& archive_;
  const size_t archive_size_;
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t records_bytes_ = 0;  // data.pkl and the storages read so far
  uint64_t tensor_bytes_ = 0;
  // No tensor has more elements than the file has bytes times the budget: keeps the products small.
  const uint64_t limit_elements_ = kMaxTensorBytesPerFileByte * archive_size_ + 1;
  std::string where_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, PyRef> memo_;
  std::map<std::string, PyRef> storages_;
};

}  // namespace

PyRef read_torch_file(const std::filesystem::path& path) {
  const std::vector<char> bytes = read_file(path);
  return read_torch_bytes(bytes.data(), bytes.size(), path.string());
}

PyRef read_torch_bytes(const void* data, std::size_t size, const std::string& where) {
  const auto* bytes = static_cast<const char*>(data);
  if (size < 4) throw Error(where + ": file is empty or truncated");
  if (std::memcmp(bytes, "PK\x03\x04", 4) != 0) {
    if (static_cast<unsigned char>(bytes[0]) == 0x80) {
      throw Error(where + ": legacy PyTorch format (torch.save before 1.6, or a pickled whole model); "
                          "convert it with scripts/import_pth.py");
    }
    throw Error(where + ": not a PyTorch file (expected a torch.save zip archive)");
  }
  check_declared_sizes(reinterpret_cast<const unsigned char*>(bytes), size, where);
  try {
    caffe2::serialize::PyTorchStreamReader archive(std::make_shared<MemoryReader>(bytes, size));
    if (!archive.hasRecord("data.pkl")) throw Error(where + ": no data.pkl record (not a torch.save file)");
    auto [ptr, pickle_size] = archive.getRecord("data.pkl");
    Unpickler unpickler(archive, size, static_cast<const char*>(ptr.get()), pickle_size, where);
    return unpickler.run();
  } catch (const c10::Error& e) {
    throw Error(where + ": corrupted PyTorch file (" + e.what_without_backtrace() + ")");
  } catch (const std::invalid_argument& e) {  // LibTorch parses the version record with std::stoull
    throw Error(where + ": corrupted PyTorch file (" + e.what() + ")");
  } catch (const std::out_of_range& e) {
    throw Error(where + ": corrupted PyTorch file (" + e.what() + ")");
  }
}

void write_torch_state_dict(const std::filesystem::path& path,
                            const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().cpu().contiguous());
  const std::vector<char> bytes = torch::pickle_save(dict);
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace vdsr
