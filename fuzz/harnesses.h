#pragma once
// One function per parser of outside input. Each takes arbitrary bytes and returns normally when the
// parser accepted them or refused them with vdsr::Error; anything else (another exception, a crash, a
// sanitizer report) is a finding. libFuzzer drives them through fuzz/entry.cpp, and
// tests/fuzz/test_fuzz_inputs.cpp replays their seeds and the inputs fuzzing once broke them with.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vdsr::fuzz {

using HarnessFn = void (*)(const std::uint8_t* data, std::size_t size);

struct Harness {
  std::string name;  // fuzz_<name> is its libFuzzer binary; fuzz/corpus/<name>/ and fuzz/regressions/<name>/
  HarnessFn run;
  std::string what;  // the parser it feeds
};

const std::vector<Harness>& harnesses();

void torch_file(const std::uint8_t* data, std::size_t size);
void torch_pickle(const std::uint8_t* data, std::size_t size);
void config_list(const std::uint8_t* data, std::size_t size);
void prune_config(const std::uint8_t* data, std::size_t size);
void search_space(const std::uint8_t* data, std::size_t size);
void experiment_config(const std::uint8_t* data, std::size_t size);
void pipeline_config(const std::uint8_t* data, std::size_t size);
void report(const std::uint8_t* data, std::size_t size);
void metrics_line(const std::uint8_t* data, std::size_t size);
void image(const std::uint8_t* data, std::size_t size);
void int8_scales(const std::uint8_t* data, std::size_t size);

}  // namespace vdsr::fuzz
