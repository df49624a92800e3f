#pragma once
// The mode's requirements, checked before anything runs (exit 2 rather than a failure an hour in).
#include <string>

#include "pipeline/config.h"
#include "pipeline/variables.h"

namespace vdsr::pipeline {

// A missing optional requirement is a warning and applies its else_vars to `vars`. Any other missing one
// throws vdsr::Error: the mode's missing_title, one line per missing item, its missing_hint.
void check_requirements(const Mode& mode, Variables& vars, const std::string& where);

}  // namespace vdsr::pipeline
