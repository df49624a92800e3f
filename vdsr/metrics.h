#pragma once
// PSNR and SSIM as SR papers compute them: on the first channel (Y, 0..255 scale), `shave` pixels
// removed from every border, peak 255.
#include "vdsr/image.h"

namespace vdsr {

double psnr(const Image& a, const Image& b, int shave);

// SSIM of Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5) over valid positions only,
// C1 = (0.01*255)^2, C2 = (0.03*255)^2, the mean of the map.
double ssim(const Image& a, const Image& b, int shave);

}  // namespace vdsr
