// Class activation maps: where in the scan the network finds a class.
//   Grad-CAM (Selvaraju et al.): for a feature map A (C, h, w) and the gradient dA of one class
//     logit with respect to it, weights alpha_c = mean over h, w of dA_c, and the map is
//     ReLU(sum_c alpha_c A_c). Used on each FPN level of the GBAD head.
//   Classic CAM (Zhou et al.): for a GAP + linear head, the map is sum_c W[k, c] A_c of the last
//     stage (identical to Grad-CAM there up to the 1/(h w) factor, computed directly).
// The combined map of several levels is the mean of their maps, each resized to the image and
// normalised to [0, 1] first. Overlays blend a colour map over the scan.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gbad {

// One map of h x w values (row-major).
struct CamMap {
  int h = 0, w = 0;
  std::vector<float> v;
};

// A and dA are (C, h, w) for one image.
CamMap grad_cam(const float* a, const float* da, int64_t c, int h, int w);
// A (C, h, w) and the class's row of the linear layer's weight (C values).
CamMap classic_cam(const float* a, const float* weight_row, int64_t c, int h, int w);
// Bilinear resize (align_corners = false, as PyTorch's default) to H x W.
CamMap resize_cam(const CamMap& m, int H, int W);
// Scales to [0, 1] (min to 0, max to 1); a constant map becomes all zeros.
void normalise_cam(CamMap& m);
// Mean of maps resized to H x W and normalised, then normalised again.
CamMap combine_cams(const std::vector<CamMap>& maps, int H, int W);

// The "turbo" colour map (Google's polynomial approximation) of t in [0, 1], as 8-bit RGB.
void turbo_rgb(float t, uint8_t rgb[3]);
// Blends the colour-mapped `cam` (same size as the image) over an RGB8 image:
// out = (1 - alpha * t) * image + alpha * t * colour(t), so cold regions keep the scan visible.
std::vector<uint8_t> overlay_cam(const uint8_t* rgb, int width, int height, const CamMap& cam,
                                 float alpha = 0.6f);

// index.csv of a `gbad-predict --cam` directory (read by gbad-report --cams): a header
// "image,class,confidence,overlay", then one row per overlay, the overlay's path relative to
// the directory. Fields hold no comma, quote or line break (the writer refuses them by name).
struct CamIndexRow {
  std::string image, cls, confidence, overlay;
};
std::string cam_index_csv(const std::vector<CamIndexRow>& rows);
// Reads DIR/index.csv; throws naming file:line for a bad header or row.
std::vector<CamIndexRow> read_cam_index(const std::string& dir);

}  // namespace gbad
