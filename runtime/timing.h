#pragma once
// The one way a latency is measured and reported: wall-clock milliseconds per forward pass, taken in
// turns across runners so that noise from the rest of the machine falls on each alike, and summarised as
// {input, threads, latency_ms {median, min, max}, runs}.
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "runtime/runners.h"

namespace vdsr::runtime {

// Milliseconds one call takes.
double time_ms(const std::function<void()>& call);

// `runs` timed forward passes of `x` in each runner, in turns: pass k of every runner comes before pass
// k+1 of any. Result i holds runner i's times. No warm-up: the caller does it, once per runner.
std::vector<std::vector<double>> time_in_turns(const std::vector<Runner*>& runners, const Batch& x, int runs);

// One warm-up pass (allocations, kernel selection), then `runs` timed passes; as latency_json.
nlohmann::json time_forward(Runner& runner, const Batch& x, int runs, int threads);

// {input: [h, w], threads, latency_ms {median, min, max}, runs}.
nlohmann::json latency_json(std::vector<double> ms, int h, int w, int threads);
double median_ms(const nlohmann::json& latency);

}  // namespace vdsr::runtime
