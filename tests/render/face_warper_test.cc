#include "render/face_warper.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "render/rasterizer.h"
#include "tests/render/synthetic_scene.h"
#include "tests/test_support.h"

namespace faceanime::render {
namespace {

using face3d::Camera;
using face3d::FaceParams;
using face3d::Part;

const face3d::MorphableModel& Model() { return faceanime::testing::TestModel(); }

constexpr Part kHeadParts[] = {Part::kFace,        Part::kHeadAndNeck,   Part::kEyeSocketLeft,
                               Part::kEyeSocketRight, Part::kEyeballLeft, Part::kEyeballRight,
                               Part::kMouthSocket,  Part::kGumsAndTongue, Part::kTeeth};

// Mean absolute difference (over channels) of two RGB images where mask != 0.
double MaskedMae(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  double total = 0;
  int count = 0;
  for (int y = 0; y < a.rows; ++y) {
    for (int x = 0; x < a.cols; ++x) {
      if (!mask.at<uint8_t>(y, x)) continue;
      const cv::Vec3b d = diff.at<cv::Vec3b>(y, x);
      total += d[0] + d[1] + d[2];
      ++count;
    }
  }
  return count ? total / (3.0 * count) : 0.0;
}

// The full-resolution pixel nearest the centre of crop pixel (x, y).
cv::Point FullPixelOfCrop(const WarpDebug& debug, const Camera& camera, int x, int y) {
  const double scale = debug.crop_camera.focal / camera.focal;
  return {static_cast<int>(std::lround(debug.crop_rect.x - 0.5 + (x + 0.5) / scale)),
          static_cast<int>(std::lround(debug.crop_rect.y - 0.5 + (y + 0.5) / scale))};
}

// A crop-resolution mask of `debug` (WarpDebug's) in image pixels of `size`:
// each crop pixel spread over the image pixels it covers, shifted right and
// down by `offset` image pixels; 0 outside the crop.
cv::Mat CropMaskInImage(const cv::Mat& crop_mask, const WarpDebug& debug, cv::Size size, int offset = 0) {
  cv::Mat up, out(size, CV_8U, cv::Scalar(0));
  cv::resize(crop_mask, up, debug.crop_rect.size(), 0, 0, cv::INTER_NEAREST);
  const cv::Rect image(0, 0, size.width, size.height);
  const cv::Rect shifted = ((debug.crop_rect & image) + cv::Point(offset, offset)) & image;
  up(shifted - debug.crop_rect.tl() - cv::Point(offset, offset)).copyTo(out(shifted));
  return out;
}

cv::Mat FaceMask(const FaceParams& params, const Camera& camera) {
  const Part parts[] = {Part::kFace};
  const PartMesh mesh = PartMesh::Create(Model(), parts);
  RasterBuffers buffers;
  Rasterizer::Create({}).Render(mesh, params, camera, &buffers);
  return buffers.mask;
}

TEST(FaceWarperTest, IdentityWarpReproducesTheSource) {
  const cv::Mat source = faceanime::testing::AstronautRgb();
  const Camera camera = Camera::ForImage(source.cols, source.rows);
  const FaceParams params = faceanime::testing::AstronautParams();
  const FaceWarper warper = FaceWarper::Create(Model(), {});
  WarpDebug debug;
  const cv::Mat out = warper.Warp(ViewOf(source, PixelFormat::kRgb), params, params, camera, &debug);
  ASSERT_EQ(out.size(), source.size());
  ASSERT_EQ(out.type(), CV_8UC3);
  const cv::Mat face = FaceMask(params, camera);
  ASSERT_GT(cv::countNonZero(face), 10000);
  const double face_mae = MaskedMae(out, source, face);
  std::printf("identity warp: face-region MAE %.3f grey levels\n", face_mae);
  EXPECT_LT(face_mae, 1.0);
  EXPECT_LT(MaskedMae(out, source, cv::Mat(source.size(), CV_8U, cv::Scalar(255))), 1.0);
  EXPECT_EQ(cv::countNonZero(debug.hidden_mask), 0);
  double max_disp;
  max_disp = cv::norm(debug.displacement, cv::NORM_INF);
  // Vertices snap to 1/16 pixel in the rasteriser, so surface points (and
  // with them the displacement) are exact to a fraction of a pixel.
  EXPECT_LT(max_disp, 0.25);
}

TEST(FaceWarperTest, AnyPixelFormatGivesTheSameRgbOutput) {
  const cv::Mat rgb = faceanime::testing::AstronautRgb();
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const Camera camera = Camera::ForImage(rgb.cols, rgb.rows);
  const FaceParams source = faceanime::testing::AstronautParams();
  FaceParams target = source;
  target.pose.rotation = face3d::RotationFromEuler({10, 0, 0});
  const FaceWarper warper = FaceWarper::Create(Model(), {});
  const cv::Mat a = warper.Warp(ViewOf(rgb, PixelFormat::kRgb), source, target, camera);
  const cv::Mat b = warper.Warp(ViewOf(bgr, PixelFormat::kBgr), source, target, camera);
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(a, rgb, cv::NORM_L1) / a.total(), 0.5);  // Something moved.
}

// Warp keeps per-thread working memory and the source's mesh between calls:
// interleaved calls with other sources, targets, crop sizes and warpers give
// the same images as fresh ones, and the debug intermediates a call returns
// are not overwritten by the next call.
TEST(FaceWarperTest, RepeatedAndInterleavedWarpsGiveTheSameOutput) {
  const cv::Mat rgb = faceanime::testing::AstronautRgb();
  const Camera camera = Camera::ForImage(rgb.cols, rgb.rows);
  const FaceParams source = faceanime::testing::AstronautParams();
  FaceParams target = source;
  target.pose.rotation = face3d::RotationFromEuler({12, 0, 0});
  target.expression[Model().ExpressionIndex("jawOpen")] = 0.5;
  FaceParams other_source = source;
  other_source.expression[Model().ExpressionIndex("mouthSmile_L")] = 0.4;
  const ImageView view = ViewOf(rgb, PixelFormat::kRgb);
  WarpDebug first_debug;
  cv::Mat first;
  {
    const FaceWarper fresh = FaceWarper::Create(Model(), {});
    first = fresh.Warp(view, source, target, camera, &first_debug);
  }
  const cv::Mat first_displacement = first_debug.displacement.clone();
  const FaceWarper warper = FaceWarper::Create(Model(), {});
  const FaceWarper small = FaceWarper::Create(Model(), {.crop_size = 128});
  const cv::Mat a = warper.Warp(view, source, target, camera);
  const cv::Mat other = warper.Warp(view, other_source, source, camera);
  const cv::Mat b_small = small.Warp(view, source, target, camera);
  const cv::Mat b = warper.Warp(view, source, target, camera);
  EXPECT_EQ(cv::norm(a, first, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(b, first, cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(other, first, cv::NORM_L1) / other.total(), 0.5);  // Really another warp.
  EXPECT_GT(cv::norm(b_small, first, cv::NORM_L1) / b_small.total(), 0.01);
  EXPECT_EQ(cv::norm(first_debug.displacement, first_displacement, cv::NORM_INF), 0.0);
}

// A procedurally coloured head rendered at A is the source image; warping it
// to B must match a direct render at B wherever B's surface is visible in A.
class SyntheticHeadTest : public ::testing::Test {
 protected:
  SyntheticHeadTest()
      : camera_(Camera::ForImage(384, 384)),
        mesh_(PartMesh::Create(Model(), kHeadParts)),
        colours_(faceanime::testing::ProceduralVertexColours(Model(), mesh_)),
        background_(faceanime::testing::ProceduralBackground(cv::Size(384, 384))) {
    a_.pose.translation = Eigen::Vector3d(0, 1, 70);
    a_.identity[0] = 0.8;
    a_.identity[3] = -0.5;
  }
  cv::Mat Render(const FaceParams& p) const {
    return faceanime::testing::RenderColouredHead(mesh_, colours_, p, camera_, background_);
  }
  // Moves a_ closer (1 cm ~ 8.5 pixels) and renders it with a dark lip line
  // `below` pixels under its closed seam (as a 68-point fit leaves it: the
  // detector's inner-lip points straddle it unevenly). `seam` (optional):
  // the projected seam. Defined with the lip-line snap tests.
  cv::Mat CloseSourceWithDarkLipLine(double below, std::vector<cv::Point2d>* seam = nullptr);
  // Moves a_ closer (a large face in the image) and returns it with the jaw
  // open by `jaw` (jawOpen).
  FaceParams CloseSourceWithJawOpen(double jaw) {
    a_.pose.translation.z() = 40.0;
    FaceParams b = a_;
    b.expression[Model().ExpressionIndex("jawOpen")] = jaw;
    return b;
  }
  // Pixels of B's face + head whose surface point is visible in A (z-buffer
  // ground truth at full resolution), eroded away from silhouettes.
  cv::Mat VisibleInBoth(const FaceParams& b) const {
    const Part parts[] = {Part::kFace, Part::kHeadAndNeck};
    const PartMesh outer = PartMesh::Create(Model(), parts);
    const Rasterizer raster = Rasterizer::Create({});
    RasterBuffers in_a, in_b;
    const Positions cam_a = raster.Render(outer, a_, camera_, &in_a);
    raster.Render(outer, b, camera_, &in_b);
    const cv::Mat pos_a = InterpolateAttribute(in_b, outer.triangles(), cam_a.data(), 3);
    cv::Mat mask(camera_.height, camera_.width, CV_8U, cv::Scalar(0));
    for (int y = 0; y < mask.rows; ++y) {
      for (int x = 0; x < mask.cols; ++x) {
        if (!in_b.mask.at<uint8_t>(y, x)) continue;
        const cv::Vec3f p = pos_a.at<cv::Vec3f>(y, x);
        const int u = static_cast<int>(std::lround(camera_.focal * p[0] / p[2] + camera_.cx));
        const int v = static_cast<int>(std::lround(camera_.focal * p[1] / p[2] + camera_.cy));
        if (u < 0 || v < 0 || u >= mask.cols || v >= mask.rows) continue;
        if (std::abs(in_a.depth.at<float>(v, u) - p[2]) < 0.3f) mask.at<uint8_t>(y, x) = 255;
      }
    }
    cv::erode(mask, mask, cv::Mat::ones(5, 5, CV_8U));
    return mask;
  }

  Camera camera_;
  PartMesh mesh_;
  std::vector<float> colours_;
  cv::Mat background_;
  FaceParams a_;
};

TEST_F(SyntheticHeadTest, PoseAndExpressionChangeMatchesADirectRender) {
  FaceParams b = a_;
  b.pose.rotation = face3d::RotationFromEuler({18, -6, 4});
  b.pose.translation += Eigen::Vector3d(1.0, -0.5, 2.0);
  b.expression[Model().ExpressionIndex("mouthSmile_L")] = 0.6;
  b.expression[Model().ExpressionIndex("browInnerUp_L")] = 0.5;
  const cv::Mat source = Render(a_);
  const cv::Mat expected = Render(b);
  const FaceWarper warper = FaceWarper::Create(Model(), {});
  WarpDebug debug;
  const cv::Mat out = warper.Warp(ViewOf(source, PixelFormat::kRgb), a_, b, camera_, &debug);
  ASSERT_EQ(out.size(), source.size());
  ASSERT_EQ(out.type(), CV_8UC3);
  const cv::Mat visible = VisibleInBoth(b);
  ASSERT_GT(cv::countNonZero(visible), 8000);
  const double mae = MaskedMae(out, expected, visible);
  std::printf("pose change: MAE %.3f on %d pixels visible at A and B (unwarped %.1f)\n", mae,
              cv::countNonZero(visible), MaskedMae(source, expected, visible));
  // Unwarped, the same pixels differ a lot; warped, they match closely.
  EXPECT_GT(MaskedMae(source, expected, visible), 20.0);
  EXPECT_LT(mae, 1.5);
  // Background far from the head (outside the crop) is untouched.
  cv::Mat far(source.size(), CV_8U, cv::Scalar(255));
  far(debug.crop_rect & cv::Rect(0, 0, source.cols, source.rows)).setTo(0);
  ASSERT_GT(cv::countNonZero(far), 1000);
  EXPECT_EQ(MaskedMae(out, source, far), 0.0);
  // The displacement is finite everywhere and zero on the crop border.
  EXPECT_TRUE(cv::checkRange(debug.displacement));
  EXPECT_EQ(debug.displacement.at<cv::Vec2f>(0, 0), cv::Vec2f(0, 0));
}

TEST_F(SyntheticHeadTest, MouthOpeningShadesTheInteriorInsteadOfSmearingTheLips) {
  FaceParams b = a_;
  b.expression[Model().ExpressionIndex("jawOpen")] = 0.7;
  const cv::Mat source = Render(a_);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  // The interior's own colours, without the recess occlusion (which turns
  // the deep interior towards the lip shadow; tested below).
  WarpDebug debug;
  const cv::Mat out = FaceWarper::Create(Model(), {.mouth_recess_occlusion = 0.f}).Warp(view, a_, b, camera_, &debug);
  WarpDebug default_debug;
  const cv::Mat by_default = FaceWarper::Create(Model(), {}).Warp(view, a_, b, camera_, &default_debug);
  WarpDebug plain_debug;
  const cv::Mat smeared = FaceWarper::Create(Model(), {.render_mouth_interior = false})
                              .Warp(ViewOf(source, PixelFormat::kRgb), a_, b, camera_, &plain_debug);
  ASSERT_GT(cv::countNonZero(debug.mouth_mask), 50);
  EXPECT_EQ(cv::countNonZero(plain_debug.mouth_mask), 0);
  // Full-resolution pixels at the centres of interior crop pixels: reddish or
  // off-white (R the largest channel), while the skin texture is green/blue.
  // Inner pixels only: the region's edge is blended with the lips.
  cv::Mat inner;
  cv::erode(debug.mouth_mask, inner, cv::Mat::ones(3, 3, CV_8U));
  ASSERT_GT(cv::countNonZero(inner), 20);
  int reddish = 0, count = 0, skin_like = 0;
  double default_sum = 0, smeared_sum = 0;
  for (int y = 0; y < inner.rows; ++y) {
    for (int x = 0; x < inner.cols; ++x) {
      if (!inner.at<uint8_t>(y, x)) continue;
      const cv::Point full = FullPixelOfCrop(debug, camera_, x, y);
      const cv::Vec3b c = out.at<cv::Vec3b>(full);
      const cv::Vec3b s = smeared.at<cv::Vec3b>(full);
      reddish += c[0] >= c[1] && c[0] + 5 >= c[2];
      skin_like += s[0] < s[1] || s[0] < s[2];
      default_sum += cv::sum(by_default.at<cv::Vec3b>(full))[0];
      smeared_sum += cv::sum(s)[0];
      ++count;
    }
  }
  EXPECT_GT(reddish, 0.9 * count);
  EXPECT_GT(skin_like, 0.9 * count);  // Without the interior, skin smears in.
  // By default (recess occlusion on) the same region is shaded too: the
  // interior seen through the lips is much darker than the smeared skin.
  EXPECT_EQ(cv::countNonZero(default_debug.mouth_mask != debug.mouth_mask), 0);
  std::printf("interior brightness: %.1f by default, %.1f smeared\n", default_sum / (3 * count),
              smeared_sum / (3 * count));
  EXPECT_LT(default_sum, 0.7 * smeared_sum);
}

// RGB of `image` at the full-resolution pixels nearest the centres of the
// crop pixels in `crop_mask`, scaled by `gain`.
std::vector<cv::Vec3f> ColoursInCropMask(const cv::Mat& image, const cv::Mat& crop_mask, const WarpDebug& debug,
                                         const Camera& camera, float gain = 1.f) {
  std::vector<cv::Vec3f> out;
  for (int y = 0; y < crop_mask.rows; ++y) {
    for (int x = 0; x < crop_mask.cols; ++x) {
      if (!crop_mask.at<uint8_t>(y, x)) continue;
      out.push_back(gain * cv::Vec3f(image.at<cv::Vec3b>(FullPixelOfCrop(debug, camera, x, y))));
    }
  }
  return out;
}

double MeanAbsDiff(const std::vector<cv::Vec3f>& a, const std::vector<cv::Vec3f>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += cv::norm(a[i] - b[i], cv::NORM_L1) / 3.0;
  return a.empty() ? 0.0 : sum / a.size();
}

TEST_F(SyntheticHeadTest, WiderMouthOpeningShowsMoreLitInteriorAndLessLipShadow) {
  const cv::Mat source = Render(a_);
  // The aperture term alone (the recess occlusion, tested below, darkens
  // the deep interior of a wide opening too; the front-lit teeth are tested
  // below).
  const WarpOptions defaults{.mouth_recess_occlusion = 0.f, .mouth_front_lit_cm = 0.f};
  const FaceWarper warper = FaceWarper::Create(Model(), defaults);
  // References: the interior fully shaded whatever the opening, and the
  // neighbouring lips and skin filled in and darkened by the lip shadow.
  const FaceWarper lit = FaceWarper::Create(
      Model(), {.mouth_aperture_cm = 1e-4f, .mouth_recess_occlusion = 0.f, .mouth_front_lit_cm = 0.f});
  const FaceWarper unlit = FaceWarper::Create(Model(), {.render_mouth_interior = false});
  const double jaw[2] = {0.2, 0.7};
  double to_lit[2], to_shadow[2];
  for (int i = 0; i < 2; ++i) {
    FaceParams b = a_;
    b.expression[Model().ExpressionIndex("jawOpen")] = jaw[i];
    WarpDebug debug;
    const ImageView view = ViewOf(source, PixelFormat::kRgb);
    const cv::Mat out = warper.Warp(view, a_, b, camera_, &debug);
    // All interior pixels: a narrow parting is a line 1-2 pixels high.
    const auto colours = ColoursInCropMask(out, debug.mouth_mask, debug, camera_);
    ASSERT_GT(colours.size(), 20u) << "jawOpen " << jaw[i];
    to_lit[i] = MeanAbsDiff(colours, ColoursInCropMask(lit.Warp(view, a_, b, camera_), debug.mouth_mask, debug, camera_));
    to_shadow[i] = MeanAbsDiff(colours, ColoursInCropMask(unlit.Warp(view, a_, b, camera_), debug.mouth_mask, debug,
                                                          camera_, defaults.lip_shadow));
    std::printf("jawOpen %.2f (%zu interior pixels): MAE to the lit interior %.1f, to the lip shadow %.1f\n", jaw[i],
                colours.size(), to_lit[i], to_shadow[i]);
  }
  // The narrower parting shows relatively more of the dark lip line, the
  // wider one mostly teeth, gums and tongue.
  EXPECT_GT(to_lit[0], 5.0);
  EXPECT_LT(to_lit[1], to_shadow[1]);
  EXPECT_LT(to_lit[1] / to_shadow[1], 0.5 * to_lit[0] / to_shadow[0]);
}

TEST_F(SyntheticHeadTest, RecessOcclusionTurnsTheInteriorDeepBehindTheLipsTowardsTheLipShadow) {
  const cv::Mat source = Render(a_);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  const WarpOptions defaults;
  EXPECT_EQ(defaults.mouth_recess_occlusion, 2.f);  // On by default.
  const FaceWarper occluded = FaceWarper::Create(Model(), defaults);
  const FaceWarper open = FaceWarper::Create(Model(), {.mouth_recess_occlusion = 0.f});
  // Without the lips' allowance every point behind the lips is occluded.
  const FaceWarper no_allowance =
      FaceWarper::Create(Model(), {.mouth_recess_occlusion = 2.f, .mouth_recess_free_cm = 0.f});
  const FaceWarper unlit = FaceWarper::Create(Model(), {.render_mouth_interior = false});
  const double jaw[2] = {0.2, 0.7};
  double occluded_share[2];
  for (int i = 0; i < 2; ++i) {
    FaceParams b = a_;
    b.expression[Model().ExpressionIndex("jawOpen")] = jaw[i];
    WarpDebug debug;
    const cv::Mat out = occluded.Warp(view, a_, b, camera_, &debug);
    const auto colours = ColoursInCropMask(out, debug.mouth_mask, debug, camera_);
    ASSERT_GT(colours.size(), 20u) << "jawOpen " << jaw[i];
    const auto in_mask = [&](const cv::Mat& image, float gain = 1.f) {
      return ColoursInCropMask(image, debug.mouth_mask, debug, camera_, gain);
    };
    const auto shadow = in_mask(unlit.Warp(view, a_, b, camera_), defaults.lip_shadow);
    const auto lit = in_mask(open.Warp(view, a_, b, camera_));
    const double to_shadow = MeanAbsDiff(colours, shadow);
    const double lit_to_shadow = MeanAbsDiff(lit, shadow);
    const double strict_to_shadow = MeanAbsDiff(in_mask(no_allowance.Warp(view, a_, b, camera_)), shadow);
    ASSERT_GT(lit_to_shadow, 1.0) << "jawOpen " << jaw[i];
    occluded_share[i] = 1.0 - to_shadow / lit_to_shadow;
    std::printf("jawOpen %.2f: MAE to the lip shadow: no occlusion %.1f, occlusion 2 %.1f, no lip allowance %.1f\n",
                jaw[i], lit_to_shadow, to_shadow, strict_to_shadow);
    EXPECT_LE(to_shadow, lit_to_shadow + 1e-6) << "jawOpen " << jaw[i];
    EXPECT_LE(strict_to_shadow, to_shadow + 1e-6) << "jawOpen " << jaw[i];
  }
  // The wide opening shows the socket and throat far behind the lips: mostly
  // occluded. The narrow parting shows the teeth just behind them: nearly
  // unchanged (the lips' allowance).
  EXPECT_GT(occluded_share[1], 0.3);
  EXPECT_LT(occluded_share[0], 0.5 * occluded_share[1]);
}

// A fine crop (the band of teeth is a few crop pixels high at 256).
constexpr int kFineCrop = 512;

// A source close to the camera (a mouth ~100 px wide), a smile that bares
// the teeth with the jaw closed (the lips pulled back onto them) and speech
// (the jaw dropped a little behind pushed-out lips).
struct SmileAndSpeech {
  FaceParams source, smile, speech;
};
SmileAndSpeech MakeSmileAndSpeech(const FaceParams& base) {
  SmileAndSpeech s{base, base, base};
  s.source.pose.translation.z() = 30;
  s.smile = s.speech = s.source;
  for (const char* name : {"mouthSmile_L", "mouthSmile_R"}) s.smile.expression[Model().ExpressionIndex(name)] = 1.0;
  for (const char* name : {"mouthUpperUp_L", "mouthUpperUp_R"}) {
    s.smile.expression[Model().ExpressionIndex(name)] = 0.6;
  }
  s.speech.expression[Model().ExpressionIndex("jawOpen")] = 0.2;
  s.speech.expression[Model().ExpressionIndex("mouthFunnel")] = 0.6;
  return s;
}

// Crop pixels of `mask` (a WarpDebug crop mask) where the target's teeth are
// the rendered surface, eroded by one pixel.
cv::Mat TeethInCropMask(const FaceWarper& warper, const FaceParams& target, const WarpDebug& debug,
                        const cv::Mat& mask) {
  RasterBuffers buffers;
  Rasterizer::Create({}).Render(warper.mesh(), target, debug.crop_camera, &buffers);
  cv::Mat teeth(mask.size(), CV_8U, cv::Scalar(0));
  for (int y = 0; y < teeth.rows; ++y) {
    for (int x = 0; x < teeth.cols; ++x) {
      const int32_t t = buffers.triangle.at<int32_t>(y, x);
      teeth.at<uint8_t>(y, x) = t >= 0 && mask.at<uint8_t>(y, x) && warper.mesh().triangle_parts()[t] == Part::kTeeth
                                    ? 255 : 0;
    }
  }
  cv::erode(teeth, teeth, cv::Mat::ones(3, 3, CV_8U));
  return teeth;
}

double MeanLuma(const std::vector<cv::Vec3f>& rgb) {
  double sum = 0;
  for (const cv::Vec3f& c : rgb) sum += 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
  return rgb.empty() ? 0.0 : sum / rgb.size();
}

TEST_F(SyntheticHeadTest, TeethBaredByRetractedLipsAreLitHoweverNarrowTheParting) {
  const SmileAndSpeech scene = MakeSmileAndSpeech(a_);
  const cv::Mat source = Render(scene.source);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  const FaceWarper by_default = FaceWarper::Create(Model(), {.crop_size = kFineCrop});
  const FaceWarper dimmed = FaceWarper::Create(Model(), {.crop_size = kFineCrop, .mouth_front_lit_cm = 0.f});
  // Fully lit reference: no aperture term at all.
  const FaceWarper lit = FaceWarper::Create(Model(), {.crop_size = kFineCrop, .mouth_aperture_cm = 1e-4f});
  double shown[2], dim[2], full[2];
  for (int i = 0; i < 2; ++i) {
    const FaceParams& target = i == 0 ? scene.smile : scene.speech;
    WarpDebug debug;
    const cv::Mat out = by_default.Warp(view, scene.source, target, camera_, &debug);
    const cv::Mat teeth = TeethInCropMask(by_default, target, debug, debug.mouth_mask);
    const auto luma = [&](const cv::Mat& image) { return MeanLuma(ColoursInCropMask(image, teeth, debug, camera_)); };
    ASSERT_GT(cv::countNonZero(teeth), 30) << i;
    shown[i] = luma(out);
    dim[i] = luma(dimmed.Warp(view, scene.source, target, camera_));
    full[i] = luma(lit.Warp(view, scene.source, target, camera_));
    std::printf("%s: luma of the teeth %.1f by default, %.1f with the aperture term at any depth, %.1f fully lit\n",
                i == 0 ? "smile" : "speech", shown[i], dim[i], full[i]);
    // The aperture term dims these teeth when it applies at any depth.
    EXPECT_GT(full[i], dim[i] + 5.0) << i;
  }
  // Smile: the teeth right behind the retracted lips are lit in full.
  EXPECT_NEAR(shown[0], full[0], 0.1 * (full[0] - dim[0]));
  // Speech: the teeth behind pushed-out lips keep the aperture term.
  EXPECT_NEAR(shown[1], dim[1], 0.5);
}

TEST_F(SyntheticHeadTest, TeethShowTheirSeparationsAndDarkenAlongTheArch) {
  const SmileAndSpeech scene = MakeSmileAndSpeech(a_);
  const cv::Mat source = Render(scene.source);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  const FaceWarper flat = FaceWarper::Create(
      Model(), {.crop_size = kFineCrop, .teeth_relief = 0.f, .teeth_depth_falloff_cm = 0.f});
  const FaceWarper relief = FaceWarper::Create(Model(), {.crop_size = kFineCrop, .teeth_depth_falloff_cm = 0.f});
  const FaceWarper arch = FaceWarper::Create(Model(), {.crop_size = kFineCrop, .teeth_relief = 0.f});
  WarpDebug debug;
  const cv::Mat flat_out = flat.Warp(view, scene.source, scene.smile, camera_, &debug);
  const cv::Mat teeth = TeethInCropMask(flat, scene.smile, debug, debug.mouth_mask);
  ASSERT_GT(cv::countNonZero(teeth), 30);
  const cv::Rect extent = cv::boundingRect(teeth);
  // Mean luma step between horizontal neighbours (full-resolution pixels of
  // neighbouring crop pixels), and mean luma of the band's central third and
  // of its outer tenths (the teeth furthest back).
  struct Stats { double step = 0, centre = 0, sides = 0; };
  const auto stats = [&](const cv::Mat& image) {
    Stats st;
    int steps = 0, centre = 0, sides = 0;
    const auto luma_at = [&](int x, int y) {
      const cv::Vec3b c = image.at<cv::Vec3b>(FullPixelOfCrop(debug, camera_, x, y));
      return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
    };
    for (int y = extent.y; y < extent.br().y; ++y) {
      for (int x = extent.x; x < extent.br().x; ++x) {
        if (!teeth.at<uint8_t>(y, x)) continue;
        const double l = luma_at(x, y);
        if (x + 1 < extent.br().x && teeth.at<uint8_t>(y, x + 1)) {
          st.step += std::abs(luma_at(x + 1, y) - l);
          ++steps;
        }
        const double off_centre = std::abs(x + 0.5 - (extent.x + 0.5 * extent.width)) / extent.width;
        if (off_centre < 1.0 / 6) {
          st.centre += l;
          ++centre;
        } else if (off_centre > 0.4) {
          st.sides += l;
          ++sides;
        }
      }
    }
    st.step /= std::max(steps, 1);
    st.centre /= std::max(centre, 1);
    st.sides /= std::max(sides, 1);
    return st;
  };
  const Stats f = stats(flat_out), r = stats(relief.Warp(view, scene.source, scene.smile, camera_)),
              a = stats(arch.Warp(view, scene.source, scene.smile, camera_));
  std::printf("luma step between neighbours: flat %.2f, relief %.2f; sides / centre: flat %.2f, arch falloff %.2f\n",
              f.step, r.step, f.sides / f.centre, a.sides / a.centre);
  EXPECT_GT(r.step, 2.0 * f.step + 1.0);
  EXPECT_LT(a.sides / a.centre, f.sides / f.centre - 0.06);
}

// The closed-lip seam of `params` (landmark 60, the midpoints of the inner-lip
// pairs 61/67, 62/66, 63/65, landmark 64), projected.
std::vector<cv::Point2d> ProjectedSeam(const FaceParams& params, const Camera& camera) {
  const Part parts[] = {Part::kFace};
  const PartMesh mesh = PartMesh::Create(Model(), parts);
  const Positions cam = PartMesh::ToCamera(mesh.Evaluate(params), params.pose);
  const auto project = [&](int landmark) {
    const int v = mesh.MeshVertex(Model().landmark_vertices()[landmark]);
    return cv::Point2d(camera.focal * cam(v, 0) / cam(v, 2) + camera.cx,
                       camera.focal * cam(v, 1) / cam(v, 2) + camera.cy);
  };
  return {project(60), 0.5 * (project(61) + project(67)), 0.5 * (project(62) + project(66)),
          0.5 * (project(63) + project(65)), project(64)};
}

// Draws a dark lip line (one pixel high) `below` pixels under `seam`.
void DrawDarkLipLine(const std::vector<cv::Point2d>& seam, double below, cv::Mat* rgb) {
  for (size_t i = 0; i + 1 < seam.size(); ++i) {
    for (int x = static_cast<int>(std::ceil(seam[i].x)); x < seam[i + 1].x; ++x) {
      const double y = seam[i].y + (seam[i + 1].y - seam[i].y) * (x - seam[i].x) / (seam[i + 1].x - seam[i].x);
      rgb->at<cv::Vec3b>(static_cast<int>(std::lround(y + below)), x) = cv::Vec3b(40, 15, 15);
    }
  }
}

cv::Mat SyntheticHeadTest::CloseSourceWithDarkLipLine(double below, std::vector<cv::Point2d>* seam) {
  a_.pose.translation = Eigen::Vector3d(0, 1, 45);
  cv::Mat source = Render(a_);
  const std::vector<cv::Point2d> projected = ProjectedSeam(a_, camera_);
  DrawDarkLipLine(projected, below, &source);
  if (seam != nullptr) *seam = projected;
  return source;
}

// Mean full-image row of the shaded mouth interior.
double MouthInteriorRow(const WarpDebug& debug, const Camera& camera) {
  const double scale = debug.crop_camera.focal / camera.focal;
  cv::Moments m = cv::moments(debug.mouth_mask, /*binaryImage=*/true);
  return debug.crop_rect.y - 0.5 + (m.m01 / m.m00 + 0.5) / scale;
}

// Median over the columns between `seam`'s points 1 and 3 of the darkest
// luma in rows 2-5 below the bottom edge of the shaded mouth interior in
// `out` (where a dark lip line left on the lower lip shows); -1 where no
// column shows an interior.
double DarkestLumaBelowTheOpening(const cv::Mat& out, const WarpDebug& debug, const Camera& camera,
                                  const std::vector<cv::Point2d>& seam) {
  const double scale = debug.crop_camera.focal / camera.focal;
  const auto in_mouth = [&](int x, int y) {
    const int cx = static_cast<int>(std::lround((x - debug.crop_rect.x + 0.5) * scale - 0.5));
    const int cy = static_cast<int>(std::lround((y - debug.crop_rect.y + 0.5) * scale - 0.5));
    return cx >= 0 && cy >= 0 && cx < debug.mouth_mask.cols && cy < debug.mouth_mask.rows &&
           debug.mouth_mask.at<uint8_t>(cy, cx) != 0;
  };
  std::vector<double> darkest;
  for (int x = static_cast<int>(std::ceil(seam[1].x)); x <= static_cast<int>(seam[3].x); ++x) {
    const int seam_y = static_cast<int>(std::lround(seam[2].y));
    int bottom = -1;
    for (int y = seam_y - 12; y <= seam_y + 12; ++y) {
      if (in_mouth(x, y)) bottom = y;
    }
    if (bottom < 0) continue;
    double lowest = 1e9;
    for (int y = bottom + 2; y <= bottom + 5; ++y) {
      const cv::Vec3b c = out.at<cv::Vec3b>(y, x);
      lowest = std::min(lowest, 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]);
    }
    darkest.push_back(lowest);
  }
  if (darkest.empty()) return -1;
  std::nth_element(darkest.begin(), darkest.begin() + darkest.size() / 2, darkest.end());
  return darkest[darkest.size() / 2];
}

TEST_F(SyntheticHeadTest, LipLineSnapOpensTheMouthAtTheSourcesDarkLipLine) {
  // A dark lip line 2 pixels below the model's closed seam.
  constexpr double kBelow = 2.0;
  std::vector<cv::Point2d> seam;
  const cv::Mat source = CloseSourceWithDarkLipLine(kBelow, &seam);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  // The snap is on by default. The crop is centred (crop_raise 0): at this
  // scale (the crop 0.5 x the image) what rows 2-5 below the opening show
  // depends on the crop grid's phase, and the raise moves it: with raises
  // of 0.01-0.3 the unsnapped warp's darkest luma there swings between 43
  // and 146, the snapped one's between 62 and 146 (2026-11-22).
  const FaceWarper snapping = FaceWarper::Create(Model(), {.crop_raise = 0.0});
  const FaceWarper plain = FaceWarper::Create(Model(), {.crop_raise = 0.0, .lip_line_snap_cm = 0.f});
  // Identity: the seam moves on both meshes, so the source comes back.
  WarpDebug identity;
  const cv::Mat same = snapping.Warp(view, a_, a_, camera_, &identity);
  std::printf("lip line found %.2f px below the seam (drawn %.1f)\n", identity.lip_line_shift_px, kBelow);
  EXPECT_NEAR(identity.lip_line_shift_px, kBelow, 0.6);
  EXPECT_EQ(identity.lip_line_target_weight, 1.f);
  EXPECT_LT(MaskedMae(same, source, cv::Mat(source.size(), CV_8U, cv::Scalar(255))), 1.0);
  // An opening parts the source's lips at the dark line: the line ends up at
  // the edge of the opening instead of a stripe of lip below it.
  FaceParams b = a_;
  b.expression[Model().ExpressionIndex("jawOpen")] = 0.25;
  WarpDebug snapped_debug, plain_debug;
  const cv::Mat snapped_out = snapping.Warp(view, a_, b, camera_, &snapped_debug);
  const cv::Mat plain_out = plain.Warp(view, a_, b, camera_, &plain_debug);
  ASSERT_GT(cv::countNonZero(snapped_debug.mouth_mask), 20);
  ASSERT_GT(cv::countNonZero(plain_debug.mouth_mask), 20);
  EXPECT_EQ(plain_debug.lip_line_shift_px, 0.f);
  EXPECT_NEAR(snapped_debug.lip_line_shift_px, identity.lip_line_shift_px, 1e-6);
  const double plain_below = DarkestLumaBelowTheOpening(plain_out, plain_debug, camera_, seam);
  const double snapped_below = DarkestLumaBelowTheOpening(snapped_out, snapped_debug, camera_, seam);
  std::printf("darkest luma 2-5 px below the opening: %.0f without the snap, %.0f with it\n", plain_below,
              snapped_below);
  ASSERT_GE(plain_below, 0.0);
  ASSERT_GE(snapped_below, 0.0);
  EXPECT_GT(snapped_below, plain_below + 8.0);
}

TEST_F(SyntheticHeadTest, LipLineSnapMovesTheTargetsLipsOnlyWhileTheyAreNoMoreOpenThanTheSources) {
  const cv::Mat source = CloseSourceWithDarkLipLine(2.0);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  // Centred crop: see LipLineSnapOpensTheMouthAtTheSourcesDarkLipLine.
  const FaceWarper snapping = FaceWarper::Create(Model(), {.crop_raise = 0.0});
  const FaceWarper plain = FaceWarper::Create(Model(), {.crop_raise = 0.0, .lip_line_snap_cm = 0.f});
  // Wide open: the target's lips (and so the opening) stay where the params
  // put them; only the source's lips are re-split at the line.
  FaceParams wide = a_;
  wide.expression[Model().ExpressionIndex("jawOpen")] = 0.6;
  WarpDebug snapped, unsnapped;
  snapping.Warp(view, a_, wide, camera_, &snapped);
  plain.Warp(view, a_, wide, camera_, &unsnapped);
  ASSERT_GT(snapped.lip_line_shift_px, 1.0f);
  EXPECT_EQ(snapped.lip_line_target_weight, 0.f);
  EXPECT_EQ(cv::norm(snapped.target_mask, unsnapped.target_mask, cv::NORM_INF), 0.0);
  // The shaded interior is that of the unmoved opening, less the rows the
  // re-split source now shows (visibility is judged on the source mesh).
  const double overlap = cv::countNonZero(snapped.mouth_mask & unsnapped.mouth_mask);
  const double either = cv::countNonZero(snapped.mouth_mask | unsnapped.mouth_mask);
  std::printf("wide opening: shaded interiors overlap %.2f (IoU)\n", overlap / either);
  ASSERT_GT(either, 100);
  EXPECT_GT(overlap / either, 0.8);
  // Slightly parted (less than the fade): part of the shift.
  FaceParams slight = a_;
  slight.expression[Model().ExpressionIndex("jawOpen")] = 0.02;
  WarpDebug partly;
  snapping.Warp(view, a_, slight, camera_, &partly);
  std::printf("target weight at jawOpen 0.02: %.2f\n", partly.lip_line_target_weight);
  EXPECT_GT(partly.lip_line_target_weight, 0.f);
  EXPECT_LT(partly.lip_line_target_weight, 1.f);
}

TEST_F(SyntheticHeadTest, LipLineSnapMovesAnEditedTargetsLipsWithTheSourcesAtAnyOpening) {
  const cv::Mat source = CloseSourceWithDarkLipLine(3.0);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  const FaceWarper snapping = FaceWarper::Create(Model(), {.crop_raise = 0.0});
  // An edit of the source's fit that opens the mouth wide: its lips carry
  // the source fit's seam, so the whole shift goes with them and the opening
  // sits lower by it (kObserved: where the params put it).
  FaceParams wide = a_;
  wide.expression[Model().ExpressionIndex("jawOpen")] = 0.6;
  WarpDebug observed, edited;
  snapping.Warp(view, a_, wide, camera_, &observed, TargetLips::kObserved);
  snapping.Warp(view, a_, wide, camera_, &edited, TargetLips::kFromSource);
  ASSERT_GT(edited.lip_line_shift_px, 1.5f);
  EXPECT_EQ(observed.lip_line_target_weight, 0.f);
  EXPECT_EQ(edited.lip_line_target_weight, 1.f);
  ASSERT_GT(cv::countNonZero(observed.mouth_mask), 100);
  ASSERT_GT(cv::countNonZero(edited.mouth_mask), 100);
  const double moved = MouthInteriorRow(edited, camera_) - MouthInteriorRow(observed, camera_);
  std::printf("opening moved %.2f px down (shift %.2f px)\n", moved, edited.lip_line_shift_px);
  EXPECT_GT(moved, 0.5 * edited.lip_line_shift_px);
  EXPECT_LT(moved, 1.5 * edited.lip_line_shift_px);
}

TEST_F(SyntheticHeadTest, LipLineSnapLeavesAMouthWithoutADarkLineAlone) {
  // The procedural head has no dark line at its lips: no shift, and the
  // output is the one without the snap.
  const cv::Mat source = Render(a_);
  FaceParams b = a_;
  b.expression[Model().ExpressionIndex("jawOpen")] = 0.3;
  WarpDebug debug;
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  const cv::Mat out = FaceWarper::Create(Model(), {}).Warp(view, a_, b, camera_, &debug);
  const cv::Mat plain = FaceWarper::Create(Model(), {.lip_line_snap_cm = 0.f}).Warp(view, a_, b, camera_);
  EXPECT_EQ(debug.lip_line_shift_px, 0.f);
  EXPECT_EQ(cv::norm(out, plain, cv::NORM_INF), 0.0);
}

// The warper keeps the last source's model-space work per thread; what
// depends on the camera (the closed seam's projection, where the lip line is
// searched) must follow the camera, not stay with the first call's.
TEST_F(SyntheticHeadTest, ASourceSeenThroughAnotherCameraIsWarpedAsByAFreshWarper) {
  const cv::Mat source = CloseSourceWithDarkLipLine(2.0);
  // The same picture 8 pixels lower, and the camera that sees it so.
  constexpr double kDown = 8.0;
  cv::Mat lowered;
  const cv::Mat shift = (cv::Mat_<double>(2, 3) << 1, 0, 0, 0, 1, kDown);
  cv::warpAffine(source, lowered, shift, source.size(), cv::INTER_NEAREST, cv::BORDER_REPLICATE);
  Camera lowered_camera = camera_;
  lowered_camera.cy += kDown;
  FaceParams b = a_;
  b.expression[Model().ExpressionIndex("jawOpen")] = 0.25;
  const FaceWarper warper = FaceWarper::Create(Model(), {});
  WarpDebug first, second, fresh;
  warper.Warp(ViewOf(source, PixelFormat::kRgb), a_, b, camera_, &first);
  const cv::Mat out = warper.Warp(ViewOf(lowered, PixelFormat::kRgb), a_, b, lowered_camera, &second);
  const cv::Mat expected =
      FaceWarper::Create(Model(), {}).Warp(ViewOf(lowered, PixelFormat::kRgb), a_, b, lowered_camera, &fresh);
  std::printf("lip line shift: first camera %.2f px, second %.2f px, fresh warper %.2f px\n", first.lip_line_shift_px,
              second.lip_line_shift_px, fresh.lip_line_shift_px);
  EXPECT_GT(fresh.lip_line_shift_px, 1.0);  // The line is found through the second camera.
  EXPECT_EQ(second.lip_line_shift_px, fresh.lip_line_shift_px);
  EXPECT_EQ(cv::norm(out, expected, cv::NORM_INF), 0.0);
}

// A crop much coarser than the image shows its pixels as steps along the
// shaded opening's edges; the supersampled generated layer draws it at the
// image's resolution: closer to the same warp with a crop as fine as the
// image, around the opening.
TEST_F(SyntheticHeadTest, SupersampledGeneratedLayerDrawsTheOpeningAtTheImagesResolution) {
  const FaceParams b = CloseSourceWithJawOpen(0.6);
  const cv::Mat source = Render(a_);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  WarpDebug fine_debug, coarse_debug, super_debug;
  const cv::Mat fine = FaceWarper::Create(Model(), {.crop_size = 1024}).Warp(view, a_, b, camera_, &fine_debug);
  const cv::Mat coarse = FaceWarper::Create(Model(), {.crop_size = 96}).Warp(view, a_, b, camera_, &coarse_debug);
  const cv::Mat super = FaceWarper::Create(Model(), {.crop_size = 96, .generated_supersample = 4})
                            .Warp(view, a_, b, camera_, &super_debug);
  const double image_px_per_crop_px = static_cast<double>(coarse_debug.crop_rect.width) / 96;
  std::printf("image pixels per crop pixel: %.2f; grids %d, %d, %d\n", image_px_per_crop_px,
              fine_debug.generated_grid, coarse_debug.generated_grid, super_debug.generated_grid);
  ASSERT_GT(image_px_per_crop_px, 2.0);
  EXPECT_EQ(fine_debug.generated_grid, 1);  // A crop finer than the image: no grid.
  EXPECT_EQ(coarse_debug.generated_grid, 1);  // Off by default.
  EXPECT_GE(super_debug.generated_grid, 4);
  // Around the opening: the fine crop's shaded interior, dilated.
  cv::Mat mouth = CropMaskInImage(fine_debug.mouth_mask, fine_debug, source.size());
  cv::dilate(mouth, mouth, cv::Mat::ones(7, 7, CV_8U));
  ASSERT_GT(cv::countNonZero(mouth), 500);
  const double coarse_mae = MaskedMae(coarse, fine, mouth), super_mae = MaskedMae(super, fine, mouth);
  std::printf("around the opening, MAE to the fine crop's warp: coarse %.2f, supersampled %.2f\n", coarse_mae,
              super_mae);
  EXPECT_LT(super_mae, 0.8 * coarse_mae);
  // Away from the generated layer (the coarse crop's hidden pixels, widened
  // by its 12-pixel box padding) nothing changes.
  cv::Mat layer = CropMaskInImage(coarse_debug.hidden_mask, coarse_debug, source.size());
  const int reach = 2 * static_cast<int>(std::ceil(13 * image_px_per_crop_px)) + 1;
  cv::dilate(layer, layer, cv::Mat::ones(reach, reach, CV_8U));
  ASSERT_GT(cv::countNonZero(~layer), 1000);
  EXPECT_EQ(MaskedMae(super, coarse, ~layer), 0.0);
}

// A dropped jaw folds the chin over the neck: the displacement jumps there.
// On a crop much coarser than the image, interpolating it bilinearly drew a
// dark seam on an edge that stepped at the crop's pixels; mapped per image
// pixel the edge matches a warp whose crop is finer than the image, and
// nothing changes outside the fold cells. The defaults (bends above 3 px,
// one sample per pixel) take most of the offline settings' gain (1 px,
// 2 x 2 samples: `faceanime edit`).
TEST_F(SyntheticHeadTest, FoldsAreMappedAtTheImagesResolution) {
  const FaceParams b = CloseSourceWithJawOpen(0.8);
  const cv::Mat source = Render(a_);
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  WarpDebug fine_debug, off_debug, on_debug, default_debug;
  const cv::Mat fine = FaceWarper::Create(Model(), {.crop_size = 1024}).Warp(view, a_, b, camera_, &fine_debug);
  const cv::Mat off = FaceWarper::Create(Model(), {.crop_size = 96, .exact_fold_edges = false})
                          .Warp(view, a_, b, camera_, &off_debug);
  const cv::Mat on = FaceWarper::Create(Model(), {.crop_size = 96,
                                                  .fold_min_coarseness = 1.25f,
                                                  .fold_bend_px = 1.f,
                                                  .fold_subsamples = 2})
                         .Warp(view, a_, b, camera_, &on_debug);
  const cv::Mat by_default = FaceWarper::Create(Model(), {.crop_size = 96}).Warp(view, a_, b, camera_, &default_debug);
  ASSERT_GT(static_cast<double>(on_debug.crop_rect.width) / 96, 3.0);
  EXPECT_TRUE(fine_debug.fold_mask.empty());  // A crop finer than the image: bilinear is exact enough.
  EXPECT_TRUE(off_debug.fold_mask.empty());
  ASSERT_FALSE(on_debug.fold_mask.empty());
  ASSERT_FALSE(default_debug.fold_mask.empty());  // On by default from 3x.
  // Fewer cells bend by more than 3 px than by more than 1 px.
  EXPECT_LT(cv::countNonZero(default_debug.fold_mask), cv::countNonZero(on_debug.fold_mask));
  // The fold cells in image pixels (cell (c, r) from crop pixel c to c + 1),
  // less the mouth's generated layer (drawn at the crop's resolution in both).
  const int cell = static_cast<int>(std::ceil(static_cast<double>(on_debug.crop_rect.width) / 96));
  cv::Mat band = CropMaskInImage(on_debug.fold_mask, on_debug, source.size(), cell / 2);
  cv::Mat layer = CropMaskInImage(on_debug.hidden_mask, on_debug, source.size());
  cv::dilate(layer, layer, cv::Mat::ones(4 * cell + 1, 4 * cell + 1, CV_8U));
  band &= ~layer;
  // On the head in the fine warp (off it, the membrane is solved at each
  // crop's own resolution).
  cv::Mat head = CropMaskInImage(fine_debug.target_mask, fine_debug, source.size());
  cv::erode(head, head, cv::Mat::ones(5, 5, CV_8U));
  band &= head;
  // The chin's fold: band pixels below the mouth's layer.
  cv::Rect layer_box = cv::boundingRect(layer);
  cv::Mat chin = band.clone();
  chin(cv::Rect(0, 0, source.cols, layer_box.br().y)).setTo(0);
  ASSERT_GT(cv::countNonZero(chin), 200);
  const double off_mae = MaskedMae(off, fine, band), on_mae = MaskedMae(on, fine, band);
  const double off_chin = MaskedMae(off, fine, chin), on_chin = MaskedMae(on, fine, chin);
  const double default_mae = MaskedMae(by_default, fine, band), default_chin = MaskedMae(by_default, fine, chin);
  std::printf("image pixels per crop pixel %.2f; fold pixels %d (chin %d); MAE to the fine crop's warp there: "
              "bilinear %.2f, per image pixel %.2f, defaults %.2f (chin %.2f, %.2f, %.2f); fold cells %d, %d\n",
              static_cast<double>(on_debug.crop_rect.width) / 96, cv::countNonZero(band), cv::countNonZero(chin),
              off_mae, on_mae, default_mae, off_chin, on_chin, default_chin, cv::countNonZero(on_debug.fold_mask),
              cv::countNonZero(default_debug.fold_mask));
  EXPECT_LT(on_mae, 0.7 * off_mae);
  EXPECT_LT(on_chin, 0.7 * off_chin);
  EXPECT_LT(default_mae, 0.7 * off_mae);
  EXPECT_LT(default_chin, 0.7 * off_chin);
  // Outside the fold cells nothing changes.
  cv::Mat outside = CropMaskInImage(on_debug.fold_mask, on_debug, source.size(), cell / 2);
  cv::dilate(outside, outside, cv::Mat::ones(2 * cell + 1, 2 * cell + 1, CV_8U));
  outside = ~outside;
  ASSERT_GT(cv::countNonZero(outside), 1000);
  EXPECT_EQ(MaskedMae(on, off, outside), 0.0);
}

TEST_F(SyntheticHeadTest, SelfOccludedSkinIsFilledFromVisibleNeighbours) {
  FaceParams b = a_;
  b.pose.rotation = face3d::RotationFromEuler({-30, 0, 0});
  a_.pose.rotation = face3d::RotationFromEuler({20, 0, 0});
  const cv::Mat source = Render(a_);
  const cv::Mat expected = Render(b);
  WarpDebug debug;
  const cv::Mat filled = FaceWarper::Create(Model(), {}).Warp(ViewOf(source, PixelFormat::kRgb), a_, b, camera_, &debug);
  const cv::Mat raw =
      FaceWarper::Create(Model(), {.fill_occluded = false}).Warp(ViewOf(source, PixelFormat::kRgb), a_, b, camera_);
  const cv::Mat hidden_crop = debug.hidden_mask & ~debug.mouth_mask;
  ASSERT_GT(cv::countNonZero(hidden_crop), 100);
  cv::Mat hidden_full = CropMaskInImage(hidden_crop, debug, source.size());
  cv::erode(hidden_full, hidden_full, cv::Mat::ones(3, 3, CV_8U));
  ASSERT_GT(cv::countNonZero(hidden_full), 100);
  // Sampling hidden points picks up whatever hides them; filling from the
  // visible neighbours is closer to the truth.
  EXPECT_LT(MaskedMae(filled, expected, hidden_full), 0.8 * MaskedMae(raw, expected, hidden_full));
}

// The fit's eye opening is smaller than the image's (here: the image's lower
// lids sit lower, as cheekSquint 0.6 in the fit raises them), so the
// source's lowest strip of (white) eyeball is sampled as lower-lid skin.
// Blinking must still cover the whole eye: with the closed-lid fill the
// closed eyes show no white left; without it, a white band stays under the
// lids. An eye that does not close is left exactly as it was.
TEST_F(SyntheticHeadTest, ClosingLidsCoverTheWholeEyeWhereTheFitsOpeningIsTooSmall) {
  // White eyeballs.
  for (int t = 0; t < mesh_.num_triangles(); ++t) {
    const Part part = mesh_.triangle_parts()[t];
    if (part != Part::kEyeballLeft && part != Part::kEyeballRight) continue;
    for (const int v : mesh_.triangles()[t]) {
      for (int c = 0; c < 3; ++c) colours_[3 * v + c] = 250.f;
    }
  }
  a_.pose.translation.z() = 45.0;  // Closer: larger eyes.
  const FaceParams image = a_;
  FaceParams fit = a_;
  for (const char* name : {"cheekSquint_L", "cheekSquint_R"}) fit.expression[Model().ExpressionIndex(name)] = 0.6;
  FaceParams closed = fit;
  for (const char* name : {"eyeBlink_L", "eyeBlink_R"}) closed.expression[Model().ExpressionIndex(name)] = 1.0;
  const cv::Mat source = Render(image);
  // The eyes' region: around the image's rendered eyeballs, widened.
  const Part eyeballs[] = {Part::kEyeballLeft, Part::kEyeballRight};
  const PartMesh eyes = PartMesh::Create(Model(), eyeballs);
  RasterBuffers eye_buf;
  Rasterizer::Create({}).Render(eyes, image, camera_, &eye_buf);
  cv::Mat region;
  cv::dilate(eye_buf.mask, region, cv::Mat::ones(7, 7, CV_8U));
  ASSERT_GT(cv::countNonZero(region), 200);
  auto white = [&](const cv::Mat& rgb) {
    int count = 0;
    for (int y = 0; y < rgb.rows; ++y) {
      for (int x = 0; x < rgb.cols; ++x) {
        const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
        count += region.at<uint8_t>(y, x) && p[0] > 200 && p[1] > 200 && p[2] > 200;
      }
    }
    return count;
  };
  WarpDebug debug;
  const cv::Mat filled =
      FaceWarper::Create(Model(), {}).Warp(ViewOf(source, PixelFormat::kRgb), fit, closed, camera_, &debug);
  const cv::Mat unfilled = FaceWarper::Create(Model(), {.lid_fill_band_cm = 0.f})
                               .Warp(ViewOf(source, PixelFormat::kRgb), fit, closed, camera_);
  std::printf("white eye pixels: source %d, closed without the fill %d, with it %d; closure %.2f %.2f\n",
              white(source), white(unfilled), white(filled), debug.eye_closure[0], debug.eye_closure[1]);
  EXPECT_GT(debug.eye_closure[0], 0.9f);
  EXPECT_GT(debug.eye_closure[1], 0.9f);
  ASSERT_GT(white(unfilled), 50);  // The defect this guards against.
  EXPECT_LT(white(filled), white(unfilled) / 5);
  // An eye that does not close: untouched, and no fill at all.
  WarpDebug open_debug;
  const cv::Mat same_default =
      FaceWarper::Create(Model(), {}).Warp(ViewOf(source, PixelFormat::kRgb), fit, fit, camera_, &open_debug);
  const cv::Mat same_off = FaceWarper::Create(Model(), {.lid_fill_band_cm = 0.f})
                               .Warp(ViewOf(source, PixelFormat::kRgb), fit, fit, camera_);
  EXPECT_TRUE(open_debug.lid_fill.empty());
  EXPECT_EQ(cv::norm(same_default, same_off, cv::NORM_INF), 0.0);
}

// The displacement (full-image pixels, source minus target) at full-image
// point p, bilinear from the debug's crop-sized field.
cv::Point2d DisplacementAt(const WarpDebug& debug, const Camera& camera, cv::Point2d p) {
  const double scale = debug.crop_camera.focal / camera.focal;
  const cv::Mat& d = debug.displacement;
  const double cx = std::clamp((p.x - debug.crop_rect.x + 0.5) * scale - 0.5, 0.0, d.cols - 1.001);
  const double cy = std::clamp((p.y - debug.crop_rect.y + 0.5) * scale - 0.5, 0.0, d.rows - 1.001);
  const int x0 = static_cast<int>(cx), y0 = static_cast<int>(cy);
  const double fx = cx - x0, fy = cy - y0;
  const cv::Vec2f v = (1 - fx) * (1 - fy) * d.at<cv::Vec2f>(y0, x0) + fx * (1 - fy) * d.at<cv::Vec2f>(y0, x0 + 1) +
                      (1 - fx) * fy * d.at<cv::Vec2f>(y0 + 1, x0) + fx * fy * d.at<cv::Vec2f>(y0 + 1, x0 + 1);
  return {v[0], v[1]};
}

// Hair, a bun or a hat is off the mesh (it ends at the bald scalp): it must
// move with the skull, not be left behind by a membrane that fades towards
// the crop border; the background far from the head stays still.
TEST_F(SyntheticHeadTest, HairAboveTheHeadMovesWithTheSkull) {
  cv::Mat source = Render(a_);
  // The top of the rendered head in its middle column.
  const Part parts[] = {Part::kFace, Part::kHeadAndNeck};
  const PartMesh outer = PartMesh::Create(Model(), parts);
  const Rasterizer raster = Rasterizer::Create({});
  RasterBuffers buffers;
  raster.Render(outer, a_, camera_, &buffers);
  cv::Rect head = cv::boundingRect(buffers.mask);
  ASSERT_GT(head.width, 60);
  const int centre_x = head.x + head.width / 2;
  int top = 0;
  while (top < buffers.mask.rows && !buffers.mask.at<uint8_t>(top, centre_x)) ++top;
  ASSERT_GT(top, 30);
  // "Hair": a checkered patch above it, off the mesh.
  const cv::Rect hair(centre_x - 24, top - 26, 48, 12);  // 2.5-4.5 cm above the scalp.
  for (int y = hair.y; y < hair.y + hair.height; ++y) {
    for (int x = hair.x; x < hair.x + hair.width; ++x) {
      source.at<cv::Vec3b>(y, x) = ((x - hair.x) / 6 + (y - hair.y) / 6) % 2 ? cv::Vec3b(240, 200, 40)
                                                                            : cv::Vec3b(30, 20, 90);
    }
  }
  const ImageView view = ViewOf(source, PixelFormat::kRgb);
  FaceParams b = a_;  // The head moves 2 cm right and 1 cm up.
  b.pose.translation += Eigen::Vector3d(2.0, -1.0, 0.0);
  const cv::Point2d scalp(centre_x, top + 4);
  const cv::Point2d hair_centre(centre_x, hair.y + hair.height / 2.0);
  for (const bool follow : {true, false}) {
    const FaceWarper warper = FaceWarper::Create(Model(), {.hair_follows_skull = follow});
    WarpDebug debug;
    const cv::Mat out = warper.Warp(view, a_, b, camera_, &debug);
    ASSERT_EQ(debug.hair_weight.empty(), !follow);
    // Where the scalp point went (its target position t: t + d(t) = s).
    const auto moved_to = [&](cv::Point2d s) {
      cv::Point2d t = s;
      for (int i = 0; i < 20; ++i) t = s - DisplacementAt(debug, camera_, t);
      return t;
    };
    const cv::Point2d scalp_motion = moved_to(scalp) - scalp;
    const cv::Point2d hair_motion = moved_to(hair_centre) - hair_centre;
    // The patch drawn at the scalp's motion (rounded), against the source's.
    const cv::Point shift(static_cast<int>(std::lround(scalp_motion.x)), static_cast<int>(std::lround(scalp_motion.y)));
    const double patch_mae = MaskedMae(out(hair + shift), source(hair), cv::Mat(hair.size(), CV_8U, cv::Scalar(255)));
    std::printf("hair follows the skull %d: scalp moved (%.2f, %.2f) px, hair (%.2f, %.2f); the patch at the "
                "scalp's motion: MAE %.1f\n",
                follow, scalp_motion.x, scalp_motion.y, hair_motion.x, hair_motion.y, patch_mae);
    ASSERT_GT(scalp_motion.x, 8.0);  // 2 cm at 70 cm: 12 px.
    if (follow) {
      EXPECT_LT(cv::norm(hair_motion - scalp_motion), 0.15 * cv::norm(scalp_motion));
      EXPECT_LT(patch_mae, 25.0);
    } else {
      EXPECT_LT(cv::norm(hair_motion), 0.8 * cv::norm(scalp_motion));  // Left behind.
      EXPECT_GT(patch_mae, 50.0);
    }
    // Far from the head (outside the crop) nothing moves.
    cv::Mat far(source.size(), CV_8U, cv::Scalar(255));
    far(debug.crop_rect & cv::Rect(0, 0, source.cols, source.rows)).setTo(0);
    if (cv::countNonZero(far) > 0) {
      EXPECT_EQ(MaskedMae(out, source, far), 0.0);
    }
    // And the displacement fades to zero at the crop's border.
    const cv::Mat d = debug.displacement;
    double border = 0.0;
    for (int i = 0; i < d.rows; ++i) {
      for (const cv::Point q : {cv::Point(i, 0), cv::Point(i, d.rows - 1), cv::Point(0, i), cv::Point(d.rows - 1, i)}) {
        border = std::max(border, static_cast<double>(cv::norm(d.at<cv::Vec2f>(q))));
      }
    }
    EXPECT_EQ(border, 0.0);
  }
}

TEST(FaceWarperTest, RejectsBadOptionsAndMismatchedImages) {
  EXPECT_THROW(FaceWarper::Create(Model(), {.crop_size = 8}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.crop_margin = 0.0}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.feather = 0.7}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.mouth_aperture_cm = 0.f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.lip_shadow = 1.5f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.lip_line_snap_cm = -0.1f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.generated_supersample = 0}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.generated_supersample = 9}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.fold_min_coarseness = 0.5f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.fold_bend_px = 0.f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.fold_subsamples = 5}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.mouth_recess_occlusion = -1.f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.mouth_front_lit_cm = -0.1f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.teeth_relief = 1.5f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.teeth_depth_falloff_cm = -1.f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.mouth_recess_free_cm = -0.1f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.lip_line_snap_fade_cm = 0.f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.crop_raise = -0.1}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.crop_margin = 0.2, .crop_raise = 0.3}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.hair_band_cm = -1.f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.hair_fade_cm = 0.f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.lid_fill_band_cm = -0.1f}), std::invalid_argument);
  EXPECT_THROW(FaceWarper::Create(Model(), {.lid_fill_band_cm = std::numeric_limits<float>::infinity()}),
               std::invalid_argument);
  const FaceWarper warper = FaceWarper::Create(Model(), {});
  const cv::Mat image(64, 64, CV_8UC3, cv::Scalar::all(0));
  const FaceParams p;
  EXPECT_THROW(warper.Warp(ViewOf(image, PixelFormat::kRgb), p, p, Camera::ForImage(32, 32)),
               std::invalid_argument);
}

TEST(FaceWarperTest, HeadBehindTheCameraReturnsTheSourceUnchanged) {
  const cv::Mat image = faceanime::testing::ProceduralBackground(cv::Size(96, 64));
  FaceParams p;
  p.pose.translation = Eigen::Vector3d(0, 0, -50);
  const cv::Mat out =
      FaceWarper::Create(Model(), {}).Warp(ViewOf(image, PixelFormat::kRgb), p, p, Camera::ForImage(96, 64));
  EXPECT_EQ(cv::norm(out, image, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace faceanime::render
