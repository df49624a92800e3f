// The harnesses of the LibTorch side and of imaging: torch.save files and images.
#include <caffe2/serialize/inline_container.h>

#include "fuzz/harnesses.h"
#include "fuzz/support.h"
#include "vdsr/image.h"
#include "vdsr/int8_scales.h"
#include "vdsr/torch_file.h"

namespace vdsr::fuzz {

void torch_file(const std::uint8_t* data, std::size_t size) {
  refused_or_read([&] { read_torch_bytes(data, size, "fuzz.pt"); });
}

void torch_pickle(const std::uint8_t* data, std::size_t size) {
  // Mutating a whole archive mostly breaks a record's CRC; this one wraps the bytes as data.pkl of a valid
  // archive, with storages "0" (four floats) and "1" (empty) beside it, so the unpickler itself is explored.
  std::string archive;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, std::size_t n) {
      archive.append(static_cast<const char*>(bytes), n);
      return n;
    });
    writer.writeRecord("data.pkl", data, size);
    const float storage[4] = {0, 1, 2, 3};
    writer.writeRecord("data/0", storage, sizeof storage);
    writer.writeRecord("data/1", storage, 0);
    writer.writeEndOfFile();
  }
  refused_or_read([&] { read_torch_bytes(archive.data(), archive.size(), "fuzz.pt"); });
}

void image(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path path = scratch().write("image", data, size);
  refused_or_read([&] { read_image(path); });
}

void int8_scales(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path path = scratch().write("scales.json", data, size);
  refused_or_read([&] { read_int8_scales(path.string()); });
}

}  // namespace vdsr::fuzz
