#pragma once
// Internal: RAII for HDF5 C handles and the few calls the data module needs.
#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "vdsr/util/error.h"

namespace vdsr::data::h5 {

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      close_ = o.close_;
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  hid_t release() { return std::exchange(id_, -1); }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

// HDF5 prints its own error stack by default; our messages say what went wrong instead.
inline void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

inline Handle check(hid_t id, Handle::Closer close, const std::string& what) {
  if (id < 0) throw Error(what);
  return Handle(id, close);
}

inline void check(herr_t status, const std::string& what) {
  if (status < 0) throw Error(what);
}

inline void write_attribute(hid_t where, const char* name, hid_t mem_type, hid_t file_type, const void* values,
                            hsize_t count) {
  Handle space = check(count == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr), H5Sclose,
                       std::string("attribute ") + name + ": cannot create dataspace");
  Handle attr = check(H5Acreate2(where, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                      std::string("attribute ") + name + ": cannot create");
  check(H5Awrite(attr.get(), mem_type, values), std::string("attribute ") + name + ": cannot write");
}

inline void write_attribute(hid_t where, const char* name, const std::vector<int>& v) {
  write_attribute(where, name, H5T_NATIVE_INT, H5T_STD_I32LE, v.data(), v.size());
}
inline void write_attribute(hid_t where, const char* name, const std::vector<double>& v) {
  write_attribute(where, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, v.data(), v.size());
}
inline void write_attribute(hid_t where, const char* name, long long v) {
  write_attribute(where, name, H5T_NATIVE_LLONG, H5T_STD_I64LE, &v, 0);
}
inline void write_attribute(hid_t where, const char* name, unsigned long long v) {
  write_attribute(where, name, H5T_NATIVE_ULLONG, H5T_STD_U64LE, &v, 0);
}
// Variable-length UTF-8 string: what h5py returns as a Python str.
inline void write_attribute(hid_t where, const char* name, const std::string& v) {
  Handle type = check(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  check(H5Tset_size(type.get(), H5T_VARIABLE), "string type size");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string type charset");
  const char* p = v.c_str();
  write_attribute(where, name, type.get(), type.get(), &p, 0);
}

}  // namespace vdsr::data::h5
