// Quality metrics for evaluation (faceanime eval) — each with its formula.
//
// Images are 8-bit, 1 or 3 channels, same size and channel order for both
// arguments (the order does not matter to these metrics). Values are in grey
// levels 0..255. A region is a pixel rectangle clipped to the image.
#ifndef FACEANIME_PIPELINE_METRICS_H_
#define FACEANIME_PIPELINE_METRICS_H_

#include <span>
#include <vector>

#include <opencv2/core.hpp>

#include "face3d/face_params.h"

namespace faceanime::metrics {

// PSNR of identical images is infinite; we report this cap instead.
inline constexpr double kPsnrCapDb = 100.0;

// L1 = mean over the region's pixels and channels of |a - b|, grey levels.
double L1(const cv::Mat& a, const cv::Mat& b, const cv::Rect& region);

// PSNR = 10 log10(255^2 / MSE), MSE over the region's pixels and channels;
// kPsnrCapDb when MSE == 0.
double Psnr(const cv::Mat& a, const cv::Mat& b, const cv::Rect& region);

// SSIM (Wang et al. 2004) on luma (Y = 0.299 R + 0.587 G + 0.114 B for
// 3-channel input, in whichever order; for SSIM the weights only need to be
// the same for both images): Gaussian window 11x11, sigma 1.5, K1 = 0.01,
// K2 = 0.03, L = 255; the SSIM map is computed on the region padded by 5 px
// where the image allows, and averaged over the region. 1 for identical
// images.
double Ssim(const cv::Mat& a, const cv::Mat& b, const cv::Rect& region);

// Face crop: the bounding box of the 68 landmarks, grown by `margin` of its
// size on each side, clipped to `image_size`.
cv::Rect FaceRegion(const face3d::Landmarks68& landmarks, cv::Size image_size, double margin = 0.1);
// Mouth region: the bounding box of landmarks 48..67 grown by `margin` of its
// size on each side (default 25%), clipped to `image_size`.
cv::Rect MouthRegion(const face3d::Landmarks68& landmarks, cv::Size image_size, double margin = 0.25);

// AKD (average keypoint distance) = mean over the 68 points of ||p_i - q_i||
// in pixels. With `align`, q is first mapped onto p by the least-squares
// similarity transform (rotation, uniform scale, translation; Umeyama), so
// only the non-rigid difference counts.
double Akd(const face3d::Landmarks68& p, const face3d::Landmarks68& q, bool align);

// AED (average expression distance) = mean over shapes of |a_j - b_j|.
double Aed(std::span<const double> a, std::span<const double> b);

// Temporal jitter = sqrt(mean over t = 1..T-2 and the 68 points of
// ||x_{t+1} - 2 x_t + x_{t-1}||^2), pixels per frame^2 (landmark
// acceleration RMS). 0 for fewer than 3 frames.
double LandmarkJitter(const std::vector<face3d::Landmarks68>& frames);

// Identity distance between two 128-D face embeddings: Euclidean distance
// (face-api.js treats < 0.6 as the same person).
double EmbeddingDistance(std::span<const float> a, std::span<const float> b);

}  // namespace faceanime::metrics

#endif  // FACEANIME_PIPELINE_METRICS_H_
