#pragma once
// Reading files written by Python's torch.save (zip format, PyTorch >= 1.6) without Python.
// LibTorch's own torch::pickle_load rejects common cases (the OrderedDict of model.state_dict(), a
// one-entry dict pickled with SETITEM), so this is a small pickle machine for the subset torch.save
// uses for tensors in (nested) dicts, lists and tuples.
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vdsr {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Tensor, Global, Storage };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;                            // String; "module.name" for Global
  std::vector<PyRef> items;                    // Tuple, List
  std::vector<std::pair<PyRef, PyRef>> dict;   // Dict (insertion order kept)
  at::Tensor tensor;                           // Tensor; a 1-D tensor holding the bytes for Storage
  // Kept by the reader: how deep containers nest below this value, and whether it already sits inside another
  // value (it can then no longer change, so what a file describes is always a tree or a DAG, never a cycle).
  int depth = 0;
  bool contained = false;

  // The entry of a Dict with a string key, or nullptr.
  PyRef get(const std::string& key) const;
};

// Decodes a torch.save zip file. Throws vdsr::Error naming the file for a legacy (pre-zip) or
// corrupted file, or an object it cannot rebuild without Python (such as a whole nn.Module).
PyRef read_torch_file(const std::filesystem::path& path);

// The same for the bytes of such a file; `where` names them in errors. The file is untrusted input: every
// size it declares is checked against `size` before anything is allocated, and only the opcodes and the
// globals above are interpreted.
PyRef read_torch_bytes(const void* data, std::size_t size, const std::string& where);

// Writes name -> tensor pairs as a dict that Python's torch.load reads back (atomically).
void write_torch_state_dict(const std::filesystem::path& path,
                            const std::vector<std::pair<std::string, at::Tensor>>& tensors);

}  // namespace vdsr
