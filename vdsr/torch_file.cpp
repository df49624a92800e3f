#include "vdsr/torch_file.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>

#include <cstring>
#include <fstream>
#include <map>

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

class Unpickler {
 public:
  Unpickler(caffe2::serialize::PyTorchStreamReader& archive, const char* data, size_t size, std::string where)
      : archive_(archive), data_(data), size_(size), where_(std::move(where)) {}

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
        case 'N': push(make(PyValue::Kind::None)); break;
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
          top()->items.push_back(v);
          break;
        }
        case 'e': {                                           // APPENDS
          auto items = pop_mark();
          auto& list = top()->items;
          list.insert(list.end(), items.begin(), items.end());
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
  PyRef top() {
    if (stack_.empty()) fail("stack underflow");
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
  static PyRef tuple(std::vector<PyRef> items) {
    auto v = make(PyValue::Kind::Tuple);
    v->items = std::move(items);
    return v;
  }
  void set_item(const PyRef& dict, PyRef key, PyRef value) {
    if (dict->kind != PyValue::Kind::Dict) fail("SETITEM on a non-dict");
    dict->dict.emplace_back(std::move(key), std::move(value));
  }
  static int64_t as_int(const PyRef& v) { return v->kind == PyValue::Kind::Int ? v->integer : -1; }

  // ('storage', <storage type>, key, location, numel): the bytes live in the record data/<key>.
  PyRef persistent_load(const PyRef& pid) {
    if (pid->kind != PyValue::Kind::Tuple || pid->items.size() < 5 || pid->items[0]->text != "storage") {
      fail("unknown persistent id");
    }
    const at::ScalarType dtype = storage_dtype(pid->items[1]->text, where_);
    const std::string key = pid->items[2]->text;
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    const std::string record = "data/" + key;
    if (!archive_.hasRecord(record)) fail("missing record " + record);
    auto [ptr, bytes] = archive_.getRecord(record);
    const int64_t numel = as_int(pid->items[4]);
    if (numel < 0 || static_cast<size_t>(numel) * at::elementSize(dtype) != bytes) {
      fail("record " + record + " has " + std::to_string(bytes) + " bytes, expected " +
           std::to_string(numel) + " elements of " + std::string(at::toString(dtype)));
    }
    at::Tensor t = at::empty({numel}, at::TensorOptions().dtype(dtype));
    std::memcpy(t.data_ptr(), ptr.get(), bytes);
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
      v->tensor = a[0]->tensor.as_strided(sizes, strides, as_int(a[1])).clone();
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
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string where_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, PyRef> memo_;
  std::map<std::string, PyRef> storages_;
};

}  // namespace

PyRef read_torch_file(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::vector<char> head(4);
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(where + ": cannot open file" + (std::filesystem::exists(path) ? "" : " (it does not exist)"));
    in.read(head.data(), 4);
    if (in.gcount() < 4) throw Error(where + ": file is empty or truncated");
  }
  if (std::memcmp(head.data(), "PK\x03\x04", 4) != 0) {
    if (static_cast<unsigned char>(head[0]) == 0x80) {
      throw Error(where + ": legacy PyTorch format (torch.save before 1.6, or a pickled whole model); "
                          "convert it with scripts/import_pth.py");
    }
    throw Error(where + ": not a PyTorch file (expected a torch.save zip archive)");
  }
  try {
    caffe2::serialize::PyTorchStreamReader archive(where);
    if (!archive.hasRecord("data.pkl")) throw Error(where + ": no data.pkl record (not a torch.save file)");
    auto [ptr, size] = archive.getRecord("data.pkl");
    Unpickler unpickler(archive, static_cast<const char*>(ptr.get()), size, where);
    return unpickler.run();
  } catch (const c10::Error& e) {
    throw Error(where + ": corrupted PyTorch file (" + e.what_without_backtrace() + ")");
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
