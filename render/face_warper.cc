#include "render/face_warper.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "render/membrane.h"

namespace faceanime::render {
namespace {

using face3d::Part;

constexpr Part kWarpParts[] = {
    Part::kFace,          Part::kHeadAndNeck,    Part::kEyeSocketLeft, Part::kEyeSocketRight,
    Part::kEyeballLeft,   Part::kEyeballRight,   Part::kMouthSocket,   Part::kGumsAndTongue,
    Part::kTeeth,
};

// Pixel classes of the target crop.
enum PixelClass : uint8_t { kOffMesh = 0, kSampled, kFilled, kMouth };

bool IsMouthInterior(Part p) {
  return p == Part::kMouthSocket || p == Part::kGumsAndTongue || p == Part::kTeeth;
}

// Square crop geometry: crop pixel c <-> full pixel x = x0 - 0.5 + (c + 0.5) / scale
// (the pixel-area convention of cv::resize).
struct Crop {
  cv::Rect rect;  // Full-image pixels.
  double scale;   // Crop pixels per full pixel.
  int size;
  double ToFullX(double c) const { return rect.x - 0.5 + (c + 0.5) / scale; }
  double ToFullY(double c) const { return rect.y - 0.5 + (c + 0.5) / scale; }
  face3d::Camera CropCamera(const face3d::Camera& full) const {
    face3d::Camera c;
    c.focal = full.focal * scale;
    c.cx = scale * (full.cx - rect.x + 0.5) - 0.5;
    c.cy = scale * (full.cy - rect.y + 0.5) - 0.5;
    c.width = c.height = size;
    return c;
  }
};

// Bounding box of the projected vertices (full image); false when none is in
// front of the camera.
bool AddProjectedBox(const Positions& cam, int count, const face3d::Camera& camera, double box[4]) {
  bool any = false;
  for (Eigen::Index i = 0; i < count; ++i) {
    if (cam(i, 2) < 1.0) continue;
    const Eigen::Vector2d px = camera.Project(cam.row(i).transpose().cast<double>());
    const double x = px.x(), y = px.y();
    box[0] = std::min(box[0], x);
    box[1] = std::min(box[1], y);
    box[2] = std::max(box[2], x);
    box[3] = std::max(box[3], y);
    any = true;
  }
  return any;
}

float Luma(const float* rgb) { return 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]; }
float Luma(const cv::Vec3b& rgb) {
  const float c[3] = {static_cast<float>(rgb[0]), static_cast<float>(rgb[1]), static_cast<float>(rgb[2])};
  return Luma(c);
}

bool SameCamera(const face3d::Camera& a, const face3d::Camera& b) {
  return a.focal == b.focal && a.cx == b.cx && a.cy == b.cy && a.width == b.width && a.height == b.height;
}

bool SameParams(const face3d::FaceParams& a, const face3d::FaceParams& b) {
  return a.identity == b.identity && a.expression == b.expression && a.pose.rotation == b.pose.rotation &&
         a.pose.translation == b.pose.translation;
}

// The lip-line snap (WarpOptions::lip_line_snap_cm).
constexpr float kLipSnapBandCm = 1.f;       // Weight 1 at the seam, 0 this far (model space).
constexpr float kLipValleyContrast = 12.f;  // A dark line: luma this far below both sides.
constexpr float kLipClosedGapCm = 0.15f;    // Closed lips: mean inner-lip vertex gap below this.
constexpr float kLipColumnsFound = 0.6f;    // Share of the columns that must show the line.
// The seam moves this much (pixels) less than to the line's darkest row: the
// line's own row stays mostly on the far lip (where the detector's inner-lip
// point on it moves with that lip). Measured: 0 -> 0.5 px, GRID swav1a mouth
// SSIM 0.8012 -> 0.7949 but the render gain of a London jaw-open edit 0.68 ->
// 0.74 (ExpressionPixelTest's bound 0.7); 1 px: 0.7846, below the baseline.
constexpr float kLipSplitShortPx = 0.5f;

// Mean vertical gap (cm, model space, + open) of the inner-lip vertex pairs
// (61, 67), (62, 66), (63, 65); lip[k] is landmark 60 + k (no -1 entries).
float MeanInnerLipGap(const Positions& model, const std::array<int, 8>& lip) {
  float gap = 0;
  for (int k = 1; k <= 3; ++k) gap += model(lip[k], 1) - model(lip[8 - k], 1);
  return gap / 3;
}

// The closed-lip seam, model space: corner 60, the midpoints of the inner-lip
// pairs (61, 67), (62, 66), (63, 65), corner 64. False when the mesh lacks a
// landmark vertex or the lips are not closed.
bool ClosedLipSeam(const Positions& model, const std::array<int, 8>& lip, std::array<Eigen::Vector3f, 5>* seam) {
  for (const int v : lip) {
    if (v < 0) return false;
  }
  if (MeanInnerLipGap(model, lip) > kLipClosedGapCm) return false;
  (*seam)[0] = model.row(lip[0]).transpose();
  for (int k = 1; k <= 3; ++k) (*seam)[k] = 0.5f * (model.row(lip[k]) + model.row(lip[8 - k])).transpose();
  (*seam)[4] = model.row(lip[4]).transpose();
  return true;
}

float DistanceToPolyline(const Eigen::Vector3f& p, const std::array<Eigen::Vector3f, 5>& line) {
  float best = std::numeric_limits<float>::max();
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    const Eigen::Vector3f d = line[i + 1] - line[i];
    const float t = std::clamp((p - line[i]).dot(d) / std::max(d.squaredNorm(), 1e-12f), 0.f, 1.f);
    best = std::min(best, (p - (line[i] + t * d)).norm());
  }
  return best;
}

// Luma of RGB8 `rgb` at column x, row y (linear in y, clamped to the image).
float LumaAt(const cv::Mat& rgb, int x, float y) {
  y = std::clamp(y, 0.f, static_cast<float>(rgb.rows - 1));
  const int y0 = static_cast<int>(y), y1 = std::min(y0 + 1, rgb.rows - 1);
  const float a = y - y0;
  const float l0 = Luma(rgb.at<cv::Vec3b>(y0, x)), l1 = Luma(rgb.at<cv::Vec3b>(y1, x));
  return l0 + a * (l1 - l0);
}

struct LipLine {
  bool found = false;
  float shift_px = 0.f;  // + down.
};

// The vertical shift (pixels, + down, |shift| <= max_px) from the projected
// seam `seam_px` (x increasing) to the image's dark lip line: the median over
// the columns of the central 60 % of the mouth of the darkest row's offset,
// where that row is a valley kLipValleyContrast below both sides; not found
// when fewer than kLipColumnsFound of the columns show one.
LipLine FindLipLine(const cv::Mat& rgb, const std::array<cv::Point2f, 5>& seam_px, float max_px) {
  for (size_t i = 0; i + 1 < seam_px.size(); ++i) {
    if (!(seam_px[i + 1].x > seam_px[i].x)) return {};
  }
  const float width = seam_px[4].x - seam_px[0].x;
  const int x0 = std::max(0, static_cast<int>(std::ceil(seam_px[0].x + 0.2f * width)));
  const int x1 = std::min(rgb.cols - 1, static_cast<int>(std::floor(seam_px[0].x + 0.8f * width)));
  if (x1 - x0 + 1 < 3 || !(max_px >= 0.5f)) return {};
  constexpr float kStep = 0.5f;  // Profile step, pixels.
  const int reach = static_cast<int>(std::ceil(max_px / kStep));
  const int window = reach + static_cast<int>(std::ceil(1.5f / kStep));  // Room to see both sides.
  std::vector<float> profile(2 * window + 1), shifts;
  size_t segment = 0;
  for (int x = x0; x <= x1; ++x) {
    while (segment + 2 < seam_px.size() && x > seam_px[segment + 1].x) ++segment;
    const cv::Point2f a = seam_px[segment], b = seam_px[segment + 1];
    const float seam_y = a.y + (b.y - a.y) * (x - a.x) / (b.x - a.x);
    for (int k = -window; k <= window; ++k) profile[k + window] = LumaAt(rgb, x, seam_y + k * kStep);
    int best = window;
    for (int k = -reach; k <= reach; ++k) {
      if (profile[k + window] < profile[best]) best = k + window;
    }
    const float low = profile[best];
    const float above = *std::max_element(profile.begin(), profile.begin() + best + 1);
    const float below = *std::max_element(profile.begin() + best, profile.end());
    if (above < low + kLipValleyContrast || below < low + kLipValleyContrast) continue;
    // Sub-step refinement: the parabola through the minimum and its neighbours.
    float offset = 0.f;
    if (best > 0 && best < 2 * window) {
      const float l = profile[best - 1], r = profile[best + 1], curv = l - 2 * low + r;
      if (curv > 0) offset = std::clamp(0.5f * (l - r) / curv, -0.5f, 0.5f);
    }
    shifts.push_back(std::clamp((best - window + offset) * kStep, -max_px, max_px));
  }
  if (shifts.size() < static_cast<size_t>(std::ceil(kLipColumnsFound * (x1 - x0 + 1)))) return {};
  LipLine line;
  line.found = true;
  std::nth_element(shifts.begin(), shifts.begin() + shifts.size() / 2, shifts.end());
  line.shift_px = shifts[shifts.size() / 2];
  return line;
}

// A target triangle as a fold cell's candidate (WarpOptions::
// exact_fold_edges): its barycentric weights as planes over image pixels
// (w1 = a1 x + b1 y + c1, w2 likewise), its corners' inverse depths, its id.
struct FoldTriangle {
  double a1, b1, c1, a2, b2, c2;
  double inv_z[3];
  int32_t id;
};

// Per-thread working memory of Warp: after the first frame, a warp of the
// same crop size allocates nothing but its output (large per-frame
// allocations cost page faults that were ~20% of the warp's time). The
// source's camera-space mesh is kept for the next frame of the same source
// (the same warper, parameters and camera).
struct WarpScratch {
  Positions tgt_model, src_model, src_snapped, src_cam, tgt_cam;
  uint64_t src_warper = 0;  // FaceWarper::id_ that src_model was computed for (0: none).
  face3d::FaceParams src_params;
  face3d::Camera src_camera;  // The camera the seam below was projected with.
  // Lip-line snap of that source: whether its lips are closed, the seam
  // projected (full image), the largest shift (pixels), the face vertices
  // the shift moves with their weights, and the model-space offset src_cam
  // was computed with (NaN: src_cam is stale).
  bool lips_closed = false;
  std::array<cv::Point2f, 5> seam_px;
  float seam_depth_cm = 0.f;
  std::vector<int> snap_vertices;
  std::vector<float> snap_weights;
  Eigen::Vector3f snap_offset = Eigen::Vector3f::Constant(std::numeric_limits<float>::quiet_NaN());
  // The source's skull (model space, see WarpOptions::hair_band_cm): the
  // centre of the face's and head's bounding box, and the heights (y) of
  // the nose's base and the chin.
  Eigen::Vector3f skull_centre = Eigen::Vector3f::Zero();
  float nose_base_y = 0.f, chin_y = 0.f;
  cv::Mat off_mesh, mesh_distance, hair_weight_half, hair_offset_half, hair_offset;
  // The closed-lid fill's per-vertex weight of that source (WarpOptions::
  // lid_fill_band_cm: 1 near the lower rims of its eye openings, 0 at the
  // band's edge and beyond) and eye (0, 1; -1: none); the fill's per-pixel
  // weight.
  std::vector<float> lid_weight;
  std::vector<int8_t> lid_eye;
  cv::Mat lid_fill;
  std::vector<float> edge_weight;
  RasterBuffers tgt_buf;
  cv::Mat src_depth;
  // The generated layer's grid (WarpOptions::generated_supersample > 1).
  RasterBuffers grid_buf;
  cv::Mat grid_classes, grid_lid, grid_disp;
  std::vector<int> gen_col0;  // Full-resolution columns: grid columns and weight.
  std::vector<float> gen_col_a;
  cv::Mat disp, known, classes, generated, alpha, map, sampled, openness, strip_map;
  cv::Mat fold;  // CV_8U per crop cell: mapped per image pixel (WarpOptions::exact_fold_edges).
  cv::Mat bend;  // CV_8U per crop pixel: the displacement bends there.
  std::vector<FoldTriangle> fold_triangles;
  std::vector<uint32_t> fold_vertex_stamp, fold_triangle_stamp;
  std::vector<Eigen::Vector3d> fold_vertex_px;
  uint32_t fold_warp_stamp = 0, fold_cell_stamp = 0;
  std::vector<int> col0, col1;  // Full-resolution columns: crop columns, weight and
  std::vector<float> col_a;     // distance to the square's side, and whether the
  std::vector<double> edge_x, fe_x;  // generated layer covers them.
  std::vector<uint8_t> gen_col;
  std::vector<float> col_x, top_row, bottom_row;
};

std::atomic<uint64_t> next_warper_id{1};

// Smoothstep of t clamped to [0, 1].
inline float Smoothstep(float t) {
  t = std::min(std::max(t, 0.f), 1.f);
  return t * t * (3.f - 2.f * t);
}

// The closed-lid fill (WarpOptions::lid_fill_band_cm): the eyeball's share
// of the fill fades in over closures [kLidEyeballFillFrom, 1].
constexpr float kLidEyeballFillFrom = 0.7f;
// The generated layer's grid (WarpOptions::generated_supersample): a crop
// up to this much coarser than the image (1.25 image pixels per crop pixel)
// keeps gk = 1; a coarser one gets about kCellsPerImagePixel cells per
// image pixel in each direction (the paste-back's bilinear lookup then
// averages them: anti-aliased edges).
constexpr double kSupersampleSlack = 0.25;
constexpr double kCellsPerImagePixel = 2.0;

// Adds the bilinear sample of `image` (CV_8UC3) at (x, y) to sum[3]; edges
// replicated, as cv::remap's BORDER_REPLICATE.
void AddBilinear(const cv::Mat& image, float x, float y, float sum[3]) {
  x = std::clamp(x, 0.f, image.cols - 1.f);
  y = std::clamp(y, 0.f, image.rows - 1.f);
  const int x0 = std::max(0, std::min(static_cast<int>(x), image.cols - 2));
  const int y0 = std::max(0, std::min(static_cast<int>(y), image.rows - 2));
  const int x1 = std::min(x0 + 1, image.cols - 1), y1 = std::min(y0 + 1, image.rows - 1);
  const float ax = x - x0, ay = y - y0;
  const cv::Vec3b* r0 = image.ptr<cv::Vec3b>(y0);
  const cv::Vec3b* r1 = image.ptr<cv::Vec3b>(y1);
  for (int k = 0; k < 3; ++k) {
    const float top = r0[x0][k] + ax * (r0[x1][k] - r0[x0][k]);
    const float bottom = r1[x0][k] + ax * (r1[x1][k] - r1[x0][k]);
    sum[k] += top + ay * (bottom - top);
  }
}
// Model-space z (cm) of the front teeth: the mouth interior darkens with depth
// behind it (the tongue is near 6 cm, the throat near 1 cm).
constexpr float kFrontTeethZ = 10.5f;
// The lower lid's share fades in over closures [kLidFillFrom, 1]: a
// half-closed eye is left as the warp draws it.
constexpr float kLidFillFrom = 0.5f;
// The relative closing of the landmark gap that counts as shut: ICT's
// eyeBlink 1 closes the gap between the lid landmark vertices by 81-87 %
// (London 001).
constexpr float kLidFullClosure = 0.8f;
// The fill's weight is 1 within this share of the band, then falls
// linearly to 0 at its edge.
constexpr float kLidFillPlateau = 0.5f;

// Closure of an eye in `target` relative to `source` (model positions):
// (1 - (mean gap between its upper-lid landmark vertices 37, 38 and the
// lower ones 41, 40) / (the same in the source)) / kLidFullClosure, clamped
// to [0, 1]; 0 when a vertex is missing or the source's eye is (nearly)
// shut. `lm` = mesh vertices of the eye's six landmarks (36-41 or 42-47
// order).
float EyeClosure(const Positions& source, const Positions& target, const int* lm) {
  for (int k = 0; k < 6; ++k) {
    if (lm[k] < 0) return 0.f;
  }
  auto gap = [&](const Positions& p) {
    return 0.5f * ((p.row(lm[1]) - p.row(lm[5])).norm() + (p.row(lm[2]) - p.row(lm[4])).norm());
  };
  const float g_src = gap(source);
  if (!(g_src > 0.05f)) return 0.f;
  return std::clamp((1.f - gap(target) / g_src) / kLidFullClosure, 0.f, 1.f);
}

}  // namespace

FaceWarper::EyeVertices FaceWarper::FindEyeVertices(const face3d::MorphableModel& model, const PartMesh& mesh,
                                                    int num_face_vertices) {
  EyeVertices eyes;
  for (int k = 0; k < 12; ++k) eyes.landmarks[k] = mesh.MeshVertex(model.landmark_vertices()[36 + k]);
  // Boundary edges of the face part: used by one face triangle only.
  std::map<std::pair<int, int>, int> edge_count;
  for (int t = 0; t < mesh.num_triangles(); ++t) {
    if (mesh.triangle_parts()[t] != Part::kFace) continue;
    const face3d::Triangle& tri = mesh.triangles()[t];
    for (int e = 0; e < 3; ++e) {
      const int a = tri[e], b = tri[(e + 1) % 3];
      ++edge_count[{std::min(a, b), std::max(a, b)}];
    }
  }
  std::vector<uint8_t> boundary(num_face_vertices, 0);
  for (const auto& [edge, count] : edge_count) {
    if (count != 1) continue;
    if (edge.first < num_face_vertices) boundary[edge.first] = 1;
    if (edge.second < num_face_vertices) boundary[edge.second] = 1;
  }
  Positions neutral;
  mesh.Evaluate(face3d::FaceParams{}, &neutral);
  // The eyeballs' centres (mean of their triangles' first corners).
  const std::array<Part, 2> eyeball_parts = {Part::kEyeballLeft, Part::kEyeballRight};
  std::array<Eigen::Vector3f, 2> eyeball_sum = {Eigen::Vector3f::Zero(), Eigen::Vector3f::Zero()};
  std::array<int, 2> eyeball_count{};
  for (int t = 0; t < mesh.num_triangles(); ++t) {
    for (int i = 0; i < 2; ++i) {
      if (mesh.triangle_parts()[t] != eyeball_parts[i]) continue;
      eyeball_sum[i] += neutral.row(mesh.triangles()[t][0]).transpose();
      ++eyeball_count[i];
    }
  }
  for (int eye = 0; eye < 2; ++eye) {
    const int* lm = &eyes.landmarks[6 * eye];
    if (lm[0] < 0 || lm[3] < 0) continue;
    const Eigen::Vector3f a = neutral.row(lm[0]).transpose(), b = neutral.row(lm[3]).transpose();
    const Eigen::Vector3f centre = 0.5f * (a + b);
    const float radius = 0.75f * (b - a).norm();  // Corner to corner is ~3 cm.
    for (int v = 0; v < num_face_vertices; ++v) {
      const Eigen::Vector3f p = neutral.row(v).transpose();
      if ((p - centre).norm() > radius) continue;
      eyes.near[eye].push_back(v);
      // The lower rim of the opening: on the face's boundary, between the
      // corners, below the line through them.
      const float t = (p - a).dot(b - a) / (b - a).squaredNorm();
      if (boundary[v] && t > 0.f && t < 1.f && p.y() < a.y() + t * (b.y() - a.y())) {
        eyes.lower_rim[eye].push_back(v);
      }
    }
    // The eyeball nearer this eye.
    float best = std::numeric_limits<float>::max();
    for (int i = 0; i < 2; ++i) {
      if (eyeball_count[i] == 0) continue;
      const float d = (eyeball_sum[i] / eyeball_count[i] - centre).norm();
      if (d < best) {
        best = d;
        eyes.eyeball[eye] = eyeball_parts[i];
      }
    }
  }
  return eyes;
}

WarpOptions WithoutHairFollowing(WarpOptions options) {
  options.hair_follows_skull = false;
  options.crop_raise = 0.0;
  return options;
}

FaceWarper FaceWarper::Create(const face3d::MorphableModel& model, const WarpOptions& options) {
  if (options.crop_size < 32 || options.crop_size > 2048) {
    throw std::invalid_argument("WarpOptions: crop_size must be in [32, 2048]");
  }
  if (!(options.crop_margin >= 0.1 && options.crop_margin <= 3.0)) {
    throw std::invalid_argument("WarpOptions: crop_margin must be in [0.1, 3]");
  }
  if (!(options.crop_raise >= 0.0 && options.crop_raise <= options.crop_margin)) {
    throw std::invalid_argument("WarpOptions: crop_raise must be in [0, crop_margin]");
  }
  if (!(options.visibility_tolerance_cm > 0.f)) {
    throw std::invalid_argument("WarpOptions: visibility_tolerance_cm must be > 0");
  }
  if (options.displacement_sweeps < 0 || options.colour_sweeps < 0) {
    throw std::invalid_argument("WarpOptions: membrane sweeps must be >= 0");
  }
  if (!(options.feather >= 0.0 && options.feather <= 0.5)) {
    throw std::invalid_argument("WarpOptions: feather must be in [0, 0.5]");
  }
  if (!(options.mouth_aperture_cm > 0.f)) {
    throw std::invalid_argument("WarpOptions: mouth_aperture_cm must be > 0");
  }
  if (!(options.lip_shadow >= 0.f && options.lip_shadow <= 1.f)) {
    throw std::invalid_argument("WarpOptions: lip_shadow must be in [0, 1]");
  }
  if (!(options.mouth_recess_occlusion >= 0.f) || !std::isfinite(options.mouth_recess_occlusion)) {
    throw std::invalid_argument("WarpOptions: mouth_recess_occlusion must be finite and >= 0");
  }
  if (!(options.mouth_recess_free_cm >= 0.f) || !std::isfinite(options.mouth_recess_free_cm)) {
    throw std::invalid_argument("WarpOptions: mouth_recess_free_cm must be finite and >= 0");
  }
  if (!(options.mouth_front_lit_cm >= 0.f) || !std::isfinite(options.mouth_front_lit_cm)) {
    throw std::invalid_argument("WarpOptions: mouth_front_lit_cm must be finite and >= 0");
  }
  if (!(options.teeth_relief >= 0.f && options.teeth_relief <= 1.f)) {
    throw std::invalid_argument("WarpOptions: teeth_relief must be in [0, 1]");
  }
  if (!(options.teeth_depth_falloff_cm >= 0.f) || !std::isfinite(options.teeth_depth_falloff_cm)) {
    throw std::invalid_argument("WarpOptions: teeth_depth_falloff_cm must be finite and >= 0");
  }
  if (!(options.fold_min_coarseness >= 1.f) || !(options.fold_bend_px > 0.f) || options.fold_subsamples < 1 ||
      options.fold_subsamples > 4) {
    throw std::invalid_argument(
        "WarpOptions: need fold_min_coarseness >= 1, fold_bend_px > 0 and fold_subsamples in [1, 4]");
  }
  if (options.generated_supersample < 1 || options.generated_supersample > 8) {
    throw std::invalid_argument("WarpOptions: generated_supersample must be in [1, 8]");
  }
  if (!(options.lip_line_snap_cm >= 0.f)) {
    throw std::invalid_argument("WarpOptions: lip_line_snap_cm must be >= 0");
  }
  if (!(options.lip_line_snap_fade_cm > 0.f)) {
    throw std::invalid_argument("WarpOptions: lip_line_snap_fade_cm must be > 0");
  }
  if (!(options.hair_band_cm >= 0.f) || !std::isfinite(options.hair_band_cm)) {
    throw std::invalid_argument("WarpOptions: hair_band_cm must be finite and >= 0");
  }
  if (!(options.hair_fade_cm > 0.f) || !std::isfinite(options.hair_fade_cm)) {
    throw std::invalid_argument("WarpOptions: hair_fade_cm must be finite and > 0");
  }
  if (!(options.lid_fill_band_cm >= 0.f) || !std::isfinite(options.lid_fill_band_cm)) {
    throw std::invalid_argument("WarpOptions: lid_fill_band_cm must be finite and >= 0");
  }
  PartMesh mesh = PartMesh::Create(model, kWarpParts);
  std::array<int, 8> inner_lip;
  for (int k = 0; k < 8; ++k) inner_lip[k] = mesh.MeshVertex(model.landmark_vertices()[60 + k]);
  // Mesh vertices are sorted by model id, and the face's ids come first.
  const int face_end = model.part(Part::kFace).vertices.end;
  const int num_face = static_cast<int>(std::lower_bound(mesh.vertex_ids().begin(), mesh.vertex_ids().end(), face_end) -
                                        mesh.vertex_ids().begin());
  // Triangles are in part order, the face's and the head's first.
  const int num_outer = static_cast<int>(
      std::count_if(mesh.triangle_parts().begin(), mesh.triangle_parts().end(),
                    [](Part p) { return p == Part::kFace || p == Part::kHeadAndNeck; }));
  SkullVertices skull;
  const int head_end = model.part(Part::kHeadAndNeck).vertices.end;
  skull.num_outer = static_cast<int>(std::lower_bound(mesh.vertex_ids().begin(), mesh.vertex_ids().end(), head_end) -
                                     mesh.vertex_ids().begin());
  skull.nose_base = mesh.MeshVertex(model.landmark_vertices()[33]);
  skull.chin = mesh.MeshVertex(model.landmark_vertices()[8]);
  EyeVertices eyes = FindEyeVertices(model, mesh, num_face);
  return FaceWarper(std::move(mesh), options, num_face, num_outer, inner_lip, std::move(eyes), skull,
                    next_warper_id++);
}

FaceWarper::VertexTriangles FaceWarper::FindVertexTriangles(const PartMesh& mesh) {
  VertexTriangles out;
  out.start.assign(mesh.num_vertices() + 1, 0);
  for (const face3d::Triangle& t : mesh.triangles()) {
    for (const int v : t) ++out.start[v + 1];
  }
  for (int v = 0; v < mesh.num_vertices(); ++v) out.start[v + 1] += out.start[v];
  out.ids.resize(out.start.back());
  std::vector<int> next(out.start.begin(), out.start.end() - 1);
  for (int32_t i = 0; i < mesh.num_triangles(); ++i) {
    for (const int v : mesh.triangles()[i]) out.ids[next[v]++] = i;
  }
  return out;
}

cv::Mat FaceWarper::Warp(const ImageView& source_image, const face3d::FaceParams& source,
                         const face3d::FaceParams& target, const face3d::Camera& camera,
                         WarpDebug* debug, TargetLips lips) const {
  if (source_image.empty()) throw std::invalid_argument("FaceWarper: empty source image");
  if (source_image.width != camera.width || source_image.height != camera.height) {
    throw std::invalid_argument("FaceWarper: image size differs from the camera's");
  }
  const cv::Mat src =
      source_image.format == PixelFormat::kRgb ? WrapAsMat(source_image) : ToRgb(source_image);

  thread_local WarpScratch scratch;
  WarpScratch& ws = scratch;
  mesh_.Evaluate(target, &ws.tgt_model);
  if (ws.src_warper != id_ || !SameParams(ws.src_params, source) || !SameCamera(ws.src_camera, camera)) {
    mesh_.Evaluate(source, &ws.src_model);
    ws.src_warper = id_;
    ws.src_params = source;
    ws.src_camera = camera;
    ws.snap_offset.setConstant(std::numeric_limits<float>::quiet_NaN());
    if (skull_.num_outer > 0 && skull_.nose_base >= 0 && skull_.chin >= 0) {
      const auto outer = ws.src_model.topRows(skull_.num_outer);
      ws.skull_centre = 0.5f * (outer.colwise().minCoeff() + outer.colwise().maxCoeff()).transpose();
      ws.nose_base_y = ws.src_model(skull_.nose_base, 1);
      ws.chin_y = ws.src_model(skull_.chin, 1);
    }
    // The lip-line snap's seam and weights (see WarpOptions::lip_line_snap_cm).
    std::array<Eigen::Vector3f, 5> seam;
    ws.lips_closed = options_.lip_line_snap_cm > 0.f && ClosedLipSeam(ws.src_model, inner_lip_, &seam);
    ws.snap_vertices.clear();
    ws.snap_weights.clear();
    if (ws.lips_closed) {
      const Eigen::Matrix3f r = source.pose.ModelToCameraRotation().cast<float>();
      const Eigen::Vector3f t = source.pose.translation.cast<float>();
      for (int k = 0; k < 5; ++k) {
        const Eigen::Vector3f c = r * seam[k] + t;
        const Eigen::Vector2d px = camera.Project(c.cast<double>());
        ws.seam_px[k] = cv::Point2f(static_cast<float>(px.x()), static_cast<float>(px.y()));
        if (k == 2) ws.seam_depth_cm = c.z();
      }
      ws.lips_closed = ws.seam_depth_cm > 1.f;
      for (int v = 0; ws.lips_closed && v < num_face_vertices_; ++v) {
        const float d = DistanceToPolyline(ws.src_model.row(v).transpose(), seam);
        if (d < kLipSnapBandCm) {
          ws.snap_vertices.push_back(v);
          ws.snap_weights.push_back(1.f - d / kLipSnapBandCm);
        }
      }
    }
    // The closed-lid fill's weights: by distance to the eye opening's lower rim.
    ws.lid_weight.assign(mesh_.num_vertices(), 0.f);
    ws.lid_eye.assign(mesh_.num_vertices(), -1);
    const float band = options_.lid_fill_band_cm;
    for (int eye = 0; eye < 2 && band > 0.f; ++eye) {
      for (const int v : eyes_.near[eye]) {
        const Eigen::RowVector3f p = ws.src_model.row(v);
        float d = std::numeric_limits<float>::max();
        for (const int m : eyes_.lower_rim[eye]) d = std::min(d, (ws.src_model.row(m) - p).norm());
        if (d < band) {
          ws.lid_weight[v] = std::min(1.f, (1.f - d / band) / (1.f - kLidFillPlateau));
          ws.lid_eye[v] = static_cast<int8_t>(eye);
        }
      }
    }
  }
  // The lip-line snap: an offset of the lips, model space, on both meshes.
  LipLine lip_line;
  Eigen::Vector3f snap_offset = Eigen::Vector3f::Zero();
  if (ws.lips_closed) {
    const float max_px = static_cast<float>(options_.lip_line_snap_cm * camera.focal / ws.seam_depth_cm);
    lip_line = FindLipLine(src, ws.seam_px, max_px);
  }
  // The lips part kLipSplitShortPx short of the line's darkest row.
  const float lip_shift_px = lip_line.shift_px > 0.f ? std::max(0.f, lip_line.shift_px - kLipSplitShortPx)
                                                     : std::min(0.f, lip_line.shift_px + kLipSplitShortPx);
  if (lip_line.found) {
    // Camera-space shift at the seam's depth, back to model space.
    const Eigen::Matrix3f r = source.pose.ModelToCameraRotation().cast<float>();
    snap_offset = r.transpose() *
                  Eigen::Vector3f(0.f, static_cast<float>(lip_shift_px * ws.seam_depth_cm / camera.focal), 0.f);
  }
  if (!(snap_offset == ws.snap_offset)) {  // Also when NaN (stale).
    ws.src_snapped = ws.src_model;
    for (size_t i = 0; i < ws.snap_vertices.size(); ++i) {
      ws.src_snapped.row(ws.snap_vertices[i]) += ws.snap_weights[i] * snap_offset.transpose();
    }
    PartMesh::ToCamera(ws.src_snapped, source.pose, &ws.src_cam);
    ws.snap_offset = snap_offset;
  }
  // The target takes the shift while its lips are no more open than the
  // source's, fading out as they open further; all of it when its lips are
  // the source fit's (TargetLips::kFromSource).
  float target_weight = 0.f;
  if (lip_shift_px != 0.f && lips == TargetLips::kFromSource) {
    target_weight = 1.f;
  } else if (lip_shift_px != 0.f) {
    const float widening = MeanInnerLipGap(ws.tgt_model, inner_lip_) - MeanInnerLipGap(ws.src_model, inner_lip_);
    target_weight = std::clamp(1.f - std::max(0.f, widening) / options_.lip_line_snap_fade_cm, 0.f, 1.f);
  }
  if (target_weight > 0.f) {
    for (size_t i = 0; i < ws.snap_vertices.size(); ++i) {
      ws.tgt_model.row(ws.snap_vertices[i]) += target_weight * ws.snap_weights[i] * snap_offset.transpose();
    }
  }
  PartMesh::ToCamera(ws.tgt_model, target.pose, &ws.tgt_cam);
  const Positions& tgt_model = ws.tgt_model;
  // The closed-lid fill: how much more closed each eye is than the source's.
  std::array<float, 2> closure{};
  if (options_.lid_fill_band_cm > 0.f) {
    for (int eye = 0; eye < 2; ++eye) closure[eye] = EyeClosure(ws.src_model, ws.tgt_model, &eyes_.landmarks[6 * eye]);
  }
  // Smoothstep shares of the fill for the lower lid and the eyeball.
  auto ramp = [](float c, float from) { return Smoothstep((c - from) / (1.f - from)); };
  const std::array<float, 2> lid_share = {ramp(closure[0], kLidFillFrom), ramp(closure[1], kLidFillFrom)};
  const std::array<float, 2> eyeball_share = {ramp(closure[0], kLidEyeballFillFrom),
                                              ramp(closure[1], kLidEyeballFillFrom)};
  const bool lid_fill = lid_share[0] > 0.f || lid_share[1] > 0.f;
  const Positions& src_cam = ws.src_cam;
  const Positions& tgt_cam = ws.tgt_cam;

  // --- Crop around the face at both params.
  double box[4] = {std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::lowest(), std::numeric_limits<double>::lowest()};
  // Both calls must run (they grow the same box): bitwise &, not &&.
  const bool in_front = AddProjectedBox(src_cam, num_face_vertices_, camera, box) &
                        AddProjectedBox(tgt_cam, num_face_vertices_, camera, box);
  const double extent = std::max(box[2] - box[0], box[3] - box[1]);
  if (!in_front || !(extent > 1.0) || extent > 1e5) return src.clone();
  const int side = static_cast<int>(std::ceil(extent * (1.0 + 2.0 * options_.crop_margin)));
  Crop crop;
  crop.size = options_.crop_size;
  crop.rect = cv::Rect(static_cast<int>(std::lround(0.5 * (box[0] + box[2]) - 0.5 * (side - 1))),
                       static_cast<int>(std::lround(0.5 * (box[1] + box[3]) - options_.crop_raise * extent -
                                                    0.5 * (side - 1))),
                       side, side);
  crop.scale = static_cast<double>(crop.size) / side;
  const face3d::Camera crop_cam = crop.CropCamera(camera);
  const cv::Rect roi = crop.rect & cv::Rect(0, 0, src.cols, src.rows);
  if (roi.empty()) return src.clone();

  // --- Render the target and the source at the crop.
  const Rasterizer raster = Rasterizer::Create({});
  RasterBuffers& tgt_buf = ws.tgt_buf;
  cv::Mat& src_depth = ws.src_depth;
  raster.Render(tgt_cam, mesh_.triangles(), crop_cam, &tgt_buf);
  // The source z-buffer only decides visibility: the outer surface (face,
  // head) occludes everything the interior parts could.
  raster.RenderDepth(src_cam, std::span(mesh_.triangles()).first(num_outer_triangles_), crop_cam, &src_depth);

  // --- Backward displacement on the head, and pixel classes.
  const int n = crop.size;
  cv::Mat& disp = ws.disp;
  cv::Mat& known = ws.known;
  cv::Mat& classes = ws.classes;
  disp.create(n, n, CV_32FC2);
  disp.setTo(cv::Scalar::all(0));
  known.create(n, n, CV_8U);
  known.setTo(cv::Scalar::all(0));
  classes.create(n, n, CV_8U);
  classes.setTo(cv::Scalar::all(kOffMesh));
  const float tol = options_.visibility_tolerance_cm;
  const double f = camera.focal;
  int num_generated = 0;
  cv::Rect hidden_box;  // Bounding box of the generated pixels.
  cv::Mat& lid_fill_map = ws.lid_fill;
  if (lid_fill) {
    lid_fill_map.create(n, n, CV_32F);
    lid_fill_map.setTo(cv::Scalar::all(0));
  }
  // A target surface point (triangle `tri`, barycentrics w1, w2): its
  // source position (full-image pixels), its class and the closed-lid
  // fill's weight there. Shared by the crop and the generated layer's grid.
  struct SurfacePoint {
    double sx, sy;
    uint8_t cls;
    float lid;
  };
  const auto classify = [&](int32_t tri, float w1, float w2) {
    const face3d::Triangle& t = mesh_.triangles()[tri];
    const float w0 = 1.f - w1 - w2;
    const Eigen::RowVector3f p = w0 * src_cam.row(t[0]) + w1 * src_cam.row(t[1]) + w2 * src_cam.row(t[2]);
    SurfacePoint out{f * p.x() / p.z() + camera.cx, f * p.y() / p.z() + camera.cy, kSampled, 0.f};
    // Visible in the source when a z-buffer sample near its source position
    // is not clearly in front of it.
    const double csx = crop.scale * (out.sx - crop.rect.x + 0.5) - 0.5;
    const double csy = crop.scale * (out.sy - crop.rect.y + 0.5) - 0.5;
    bool visible = true;
    const int ix = static_cast<int>(std::floor(csx)), iy = static_cast<int>(std::floor(csy));
    if (ix >= 0 && iy >= 0 && ix + 1 < n && iy + 1 < n) {
      const float far = std::max(std::max(src_depth.at<float>(iy, ix), src_depth.at<float>(iy, ix + 1)),
                                 std::max(src_depth.at<float>(iy + 1, ix), src_depth.at<float>(iy + 1, ix + 1)));
      visible = far >= p.z() - tol;
    }
    if (lid_fill && visible) {
      // The closed-lid fill (WarpOptions::lid_fill_band_cm).
      const Part part = mesh_.triangle_parts()[tri];
      float fill = 0.f;
      if (part == Part::kFace) {
        for (int c = 0; c < 3; ++c) {
          const int8_t eye = ws.lid_eye[t[c]];
          const float bw = c == 0 ? w0 : c == 1 ? w1 : w2;
          if (eye >= 0) fill += bw * lid_share[eye] * ws.lid_weight[t[c]];
        }
      } else {
        for (int eye = 0; eye < 2; ++eye) {
          if (part == eyes_.eyeball[eye]) fill = eyeball_share[eye];
        }
      }
      if (fill > 0.01f) {
        out.lid = fill;
        visible = false;
      }
    }
    if (!visible) {
      if (IsMouthInterior(mesh_.triangle_parts()[tri]) && options_.render_mouth_interior) {
        out.cls = kMouth;
      } else if (options_.fill_occluded) {
        out.cls = kFilled;
      }
    }
    return out;
  };
  for (int y = 0; y < n; ++y) {
    const int32_t* tri = tgt_buf.triangle.ptr<int32_t>(y);
    const float* bary = tgt_buf.barycentric.ptr<float>(y);
    float* d = disp.ptr<float>(y);
    uint8_t* k = known.ptr<uint8_t>(y);
    uint8_t* cls = classes.ptr<uint8_t>(y);
    const double full_y = crop.ToFullY(y);
    for (int x = 0; x < n; ++x) {
      if (tri[x] < 0) continue;
      const SurfacePoint sp = classify(tri[x], bary[2 * x], bary[2 * x + 1]);
      d[2 * x] = static_cast<float>(sp.sx - crop.ToFullX(x));
      d[2 * x + 1] = static_cast<float>(sp.sy - full_y);
      k[x] = 255;
      cls[x] = sp.cls;
      if (sp.lid > 0.f) lid_fill_map.at<float>(y, x) = sp.lid;
      if (cls[x] != kSampled) {
        hidden_box = num_generated++ == 0 ? cv::Rect(x, y, 1, 1) : (hidden_box | cv::Rect(x, y, 1, 1));
      }
    }
  }
  // Hair follows the skull (WarpOptions::hair_band_cm): off the mesh the
  // displacement is w * rigid + the membrane of what is left, so the
  // membrane below fills the residual d - w * rigid, and w * rigid is added
  // back after it.
  bool hair = options_.hair_follows_skull && skull_.num_outer > 0 && ws.nose_base_y > ws.chin_y;
  if (hair) {
    const Eigen::Matrix3d r_src = source.pose.RotationMatrix(), r_tgt = target.pose.RotationMatrix();
    // Camera-space target point X_t -> source: R_s R_t^T (X_t - t_t) + t_s
    // (the model-to-camera flip cancels).
    const Eigen::Matrix3d m = r_src * r_tgt.transpose();
    const Eigen::Vector3d b = source.pose.translation - m * target.pose.translation;
    const Eigen::Vector3d centre =
        r_tgt * face3d::ModelToCamera() * ws.skull_centre.cast<double>() + target.pose.translation;
    const double depth = centre.z();
    hair = depth > 1.0;
    if (hair) {
      // The offset w * rigid is smooth: it is computed at half the crop's
      // resolution (pixel (u, v) there is crop point (2u + 0.5, 2v + 0.5))
      // and upsampled; so is the distance to the rendered head.
      const int half = (n + 1) / 2;
      cv::resize(known, ws.off_mesh, cv::Size(half, half), 0, 0, cv::INTER_AREA);
      cv::compare(ws.off_mesh, 128, ws.off_mesh, cv::CMP_LT);
      cv::distanceTransform(ws.off_mesh, ws.mesh_distance, cv::DIST_L2, cv::DIST_MASK_3);
      ws.hair_weight_half.create(half, half, CV_32F);
      ws.hair_offset_half.create(half, half, CV_32FC2);
      // Crop point (x, y) -> X_t = depth ((x - cx') / f', (y - cy') / f', 1)
      // on the plane; the source camera point m X_t + b and the model height
      // (row 1 of F R_t^T (X_t - t_t)) are then affine in (x, y).
      const double k = depth / crop_cam.focal;
      const Eigen::Vector3d origin(-crop_cam.cx * k, -crop_cam.cy * k, depth);
      const Eigen::Vector3f gx = (m.col(0) * k).cast<float>();
      const Eigen::Vector3f gy = (m.col(1) * k).cast<float>();
      const Eigen::Vector3f g0 = (m * origin + b).cast<float>();
      const Eigen::RowVector3d height_row = (face3d::ModelToCamera() * r_tgt.transpose()).row(1);
      const float hx = static_cast<float>(height_row(0) * k), hy = static_cast<float>(height_row(1) * k);
      const float h0 = static_cast<float>(height_row.dot(origin - target.pose.translation));
      const float inv_span = 1.f / (ws.nose_base_y - ws.chin_y), chin_y = ws.chin_y;
      const float cm_per_half_px = static_cast<float>(2.0 * k);
      const float band = options_.hair_band_cm, inv_fade = 1.f / options_.hair_fade_cm;
      // Weight by distance to the crop's border: its outer 10 %. The
      // outermost half-resolution samples (0.5 crop pixels in) get 0, so the
      // upsampled offset is exactly 0 on the border, where the paste-back
      // meets the unchanged source.
      std::vector<float>& edge_weight = ws.edge_weight;
      edge_weight.resize(half);
      const float inv_border = 1.f / (0.1f * n);
      for (int i = 0; i < half; ++i) {
        const float c = 2.f * i + 0.5f;
        edge_weight[i] = Smoothstep((std::min(c, n - 1 - c) - 0.5f) * inv_border);
      }
      const float fx = static_cast<float>(f), fcx = static_cast<float>(camera.cx), fcy = static_cast<float>(camera.cy);
      const float x_full0 = static_cast<float>(crop.ToFullX(0)), full_step = static_cast<float>(1.0 / crop.scale);
      const float y_full0 = static_cast<float>(crop.ToFullY(0));
      const float* ew = edge_weight.data();
      for (int v = 0; v < half; ++v) {
        const float* dist = ws.mesh_distance.ptr<float>(v);
        float* w = ws.hair_weight_half.ptr<float>(v);
        float* off = ws.hair_offset_half.ptr<float>(v);
        const float yf = 2.f * v + 0.5f;
        const float full_y = y_full0 + full_step * yf;
        const Eigen::Vector3f row0 = g0 + gy * yf;
        const float r0x = row0.x(), r0y = row0.y(), r0z = row0.z(), gxx = gx.x(), gxy = gx.y(), gxz = gx.z();
        const float height0 = h0 + hy * yf - chin_y, row_edge = ew[v];
        for (int u = 0; u < half; ++u) {
          const float xf = 2.f * u + 0.5f;
          const float sz = r0z + gxz * xf;
          const float weight = sz > 1.f ? row_edge * ew[u] * Smoothstep((height0 + hx * xf) * inv_span) *
                                              (1.f - Smoothstep((dist[u] * cm_per_half_px - band) * inv_fade))
                                        : 0.f;
          const float inv_z = fx / std::max(sz, 1.f);
          w[u] = weight;
          off[2 * u] = weight * ((r0x + gxx * xf) * inv_z + fcx - (x_full0 + full_step * xf));
          off[2 * u + 1] = weight * ((r0y + gxy * xf) * inv_z + fcy - full_y);
        }
      }
      cv::resize(ws.hair_offset_half, ws.hair_offset, cv::Size(n, n), 0, 0, cv::INTER_LINEAR);
      // On the mesh the membrane extends the residual d - w * rigid.
      cv::subtract(disp, ws.hair_offset, disp, known);
    }
  }
  // The far background stays still: zero displacement on the crop border.
  for (int i = 0; i < n; ++i) {
    for (const cv::Point q : {cv::Point(i, 0), cv::Point(i, n - 1), cv::Point(0, i), cv::Point(n - 1, i)}) {
      if (known.at<uint8_t>(q) == 0) {
        known.at<uint8_t>(q) = 255;
        disp.at<cv::Vec2f>(q) = cv::Vec2f(0, 0);
      }
    }
  }
  FillMembrane(known, &disp, {.sweeps_per_level = options_.displacement_sweeps});
  if (hair) disp += ws.hair_offset;

  // --- Generated layer (inside the box around the hidden pixels): occluded
  // skin filled from visible neighbours, mouth interior. It is computed on a
  // grid of gk x gk cells per crop pixel over that box: 1, or, when the
  // crop is coarser than the image, about kCellsPerImagePixel per image
  // pixel (WarpOptions::generated_supersample): its edges (lips, teeth, the
  // opening) are then anti-aliased at the image's resolution, where crop
  // pixels would show as steps on a large portrait.
  cv::Mat generated, alpha;  // CV_32FC3 RGB and CV_32F on the grid, with a
                             // 1-cell zero border; empty when unused.
  cv::Rect gen_box;          // Crop pixels.
  int gk = 1;                // Grid cells per crop pixel.
  if (num_generated > 0) {
    const int pad = 12;
    gen_box = cv::Rect(hidden_box.tl() - cv::Point(pad, pad), hidden_box.br() + cv::Point(pad, pad)) &
                             cv::Rect(0, 0, n, n);
    gk = 1.0 / crop.scale <= 1.0 + kSupersampleSlack
             ? 1
             : std::clamp(static_cast<int>(std::ceil(kCellsPerImagePixel / crop.scale)), 1,
                          options_.generated_supersample);
    const int gw = gen_box.width * gk, gh = gen_box.height * gk;
    // Crop coordinate of grid cell u (column) or v (row): cell centres at
    // (u + 0.5) / gk crop pixels into the box (exactly gen_box.x + u at gk = 1).
    const auto crop_x = [&](int u) { return gen_box.x + (u + 0.5) / gk - 0.5; };
    const auto crop_y = [&](int v) { return gen_box.y + (v + 0.5) / gk - 0.5; };
    // The grid's target raster, classes, closed-lid fill and displacement:
    // views of the crop's at gk = 1, rendered again on the grid otherwise.
    cv::Mat g_tri, g_bary, g_depth, g_cls, g_lid, g_disp;
    if (gk == 1) {
      g_tri = tgt_buf.triangle(gen_box);
      g_bary = tgt_buf.barycentric(gen_box);
      g_depth = tgt_buf.depth(gen_box);
      g_cls = classes(gen_box);
      if (lid_fill) g_lid = lid_fill_map(gen_box);
      g_disp = disp(gen_box);
    } else {
      face3d::Camera grid_cam;
      grid_cam.focal = crop_cam.focal * gk;
      grid_cam.cx = gk * (crop_cam.cx - gen_box.x + 0.5) - 0.5;
      grid_cam.cy = gk * (crop_cam.cy - gen_box.y + 0.5) - 0.5;
      grid_cam.width = gw;
      grid_cam.height = gh;
      raster.Render(tgt_cam, mesh_.triangles(), grid_cam, &ws.grid_buf);
      g_tri = ws.grid_buf.triangle;
      g_bary = ws.grid_buf.barycentric;
      g_depth = ws.grid_buf.depth;
      ws.grid_classes.create(gh, gw, CV_8U);
      ws.grid_classes.setTo(cv::Scalar::all(kOffMesh));
      g_cls = ws.grid_classes;
      if (lid_fill) {
        ws.grid_lid.create(gh, gw, CV_32F);
        ws.grid_lid.setTo(cv::Scalar::all(0));
        g_lid = ws.grid_lid;
      }
      ws.grid_disp.create(gh, gw, CV_32FC2);
      g_disp = ws.grid_disp;
      for (int v = 0; v < gh; ++v) {
        const int32_t* tri = g_tri.ptr<int32_t>(v);
        const float* bary = g_bary.ptr<float>(v);
        float* d = g_disp.ptr<float>(v);
        uint8_t* cls = g_cls.ptr<uint8_t>(v);
        const double cy = crop_y(v);
        for (int u = 0; u < gw; ++u) {
          const double cx = crop_x(u);
          if (tri[u] < 0) {
            // Off the mesh: the crop's (extended) displacement, bilinear.
            const double bx = std::clamp(cx, 0.0, n - 1.001), by = std::clamp(cy, 0.0, n - 1.001);
            const int x0 = static_cast<int>(bx), y0 = static_cast<int>(by);
            const float ax = static_cast<float>(bx - x0), ay = static_cast<float>(by - y0);
            const float* r0 = disp.ptr<float>(y0) + 2 * x0;
            const float* r1 = disp.ptr<float>(y0 + 1) + 2 * x0;
            for (int c = 0; c < 2; ++c) {
              const float top = r0[c] + ax * (r0[2 + c] - r0[c]);
              const float bottom = r1[c] + ax * (r1[2 + c] - r1[c]);
              d[2 * u + c] = top + ay * (bottom - top);
            }
            continue;
          }
          const SurfacePoint sp = classify(tri[u], bary[2 * u], bary[2 * u + 1]);
          d[2 * u] = static_cast<float>(sp.sx - crop.ToFullX(cx));
          d[2 * u + 1] = static_cast<float>(sp.sy - crop.ToFullY(cy));
          cls[u] = sp.cls;
          if (sp.lid > 0.f) g_lid.at<float>(v, u) = sp.lid;
        }
      }
    }
    cv::Mat& map = ws.map;
    map.create(gh, gw, CV_32FC2);
    for (int v = 0; v < gh; ++v) {
      const float* d = g_disp.ptr<float>(v);
      float* m = map.ptr<float>(v);
      const float full_y = static_cast<float>(crop.ToFullY(crop_y(v)));
      for (int u = 0; u < gw; ++u) {
        m[2 * u] = static_cast<float>(crop.ToFullX(crop_x(u))) + d[2 * u];
        m[2 * u + 1] = full_y + d[2 * u + 1];
      }
    }
    cv::Mat& sampled = ws.sampled;
    cv::remap(src, sampled, map, cv::noArray(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    ws.generated.create(gh + 2, gw + 2, CV_32FC3);
    ws.generated.setTo(cv::Scalar::all(0));
    ws.alpha.create(gh + 2, gw + 2, CV_32F);
    ws.alpha.setTo(cv::Scalar::all(0));
    generated = ws.generated;
    alpha = ws.alpha;
    const cv::Rect grid_rect(1, 1, gw, gh);  // Inside the zero border.
    cv::Mat gen_roi = generated(grid_rect);
    cv::Mat alpha_roi = alpha(grid_rect);
    sampled.convertTo(gen_roi, CV_32FC3);
    const cv::Mat colour_known = (g_cls == kSampled) | (g_cls == kOffMesh);
    // Brightness of the visible skin nearby, to light the mouth interior alike.
    double luma_sum = 0;
    int luma_count = 0;
    for (int v = 0; v < gh; ++v) {
      const uint8_t* cls = g_cls.ptr<uint8_t>(v);
      const int32_t* tri = g_tri.ptr<int32_t>(v);
      const float* g = gen_roi.ptr<float>(v);
      for (int u = 0; u < gw; ++u) {
        if (cls[u] == kSampled && mesh_.triangle_parts()[tri[u]] == Part::kFace) {
          luma_sum += Luma(g + 3 * u);
          ++luma_count;
        }
      }
    }
    FillMembrane(colour_known, &gen_roi, {.sweeps_per_level = options_.colour_sweeps});
    const float light =
        luma_count > 0 ? std::clamp(static_cast<float>(luma_sum / luma_count) / 150.f, 0.4f, 1.3f) : 1.f;
    // Openness of the mouth at each interior cell: from the height (cm) of
    // the run of interior cells in its column. The lips bounding a run may
    // lie outside the box: at gk = 1 they are read from the crop's raster.
    const cv::Mat& run_tri = gk == 1 ? tgt_buf.triangle : g_tri;
    const cv::Mat& run_depth = gk == 1 ? tgt_buf.depth : g_depth;
    const int run_x0 = gk == 1 ? gen_box.x : 0, run_y0 = gk == 1 ? gen_box.y : 0;  // Grid cell (0, 0) there.
    cv::Mat& openness = ws.openness;
    openness.create(gh, gw, CV_32F);
    openness.setTo(cv::Scalar::all(0));
    const float cm_per_px_at_1cm = 1.f / static_cast<float>(crop_cam.focal * gk);
    const float front_lit = options_.mouth_front_lit_cm;
    const bool need_lip_depth = options_.mouth_recess_occlusion > 0.f || front_lit > 0.f;
    for (int u = 0; u < gw; ++u) {
      const int x = run_x0 + u;
      int y = run_y0;
      while (y < run_y0 + gh) {
        const int32_t t0 = run_tri.at<int32_t>(y, x);
        if (t0 < 0 || !IsMouthInterior(mesh_.triangle_parts()[t0])) {
          ++y;
          continue;
        }
        const int begin = y;
        double z_sum = 0;
        for (; y < run_y0 + gh; ++y) {
          const int32_t t = run_tri.at<int32_t>(y, x);
          if (t < 0 || !IsMouthInterior(mesh_.triangle_parts()[t])) break;
          z_sum += run_depth.at<float>(y, x);
        }
        const float height_cm = static_cast<float>(z_sum) * cm_per_px_at_1cm;  // Sum of per-cell heights.
        const float o = 1.f - std::exp(-height_cm / options_.mouth_aperture_cm);
        // Recess behind the lips (WarpOptions::mouth_recess_occlusion and
        // mouth_front_lit_cm): the depth of the lips bounding the run (mean
        // of the rows just above and below it that the face or head covers);
        // looked up only when either is on.
        float lip_depth = 0.f;
        int lip_rows = 0;
        for (const int r : {begin - 1, y}) {
          if (!need_lip_depth || r < 0 || r >= run_tri.rows) continue;
          const int32_t t = run_tri.at<int32_t>(r, x);
          if (t < 0 || IsMouthInterior(mesh_.triangle_parts()[t])) continue;
          lip_depth += run_depth.at<float>(r, x);
          ++lip_rows;
        }
        const bool bounded = lip_rows > 0;
        if (bounded) lip_depth /= lip_rows;
        for (int r = begin; r < y; ++r) {
          float visible = 1.f, aperture = o;
          if (bounded) {
            const float behind = run_depth.at<float>(r, x) - lip_depth;  // cm behind the lips.
            const float recess =
                options_.mouth_recess_occlusion * std::max(0.f, behind - options_.mouth_recess_free_cm);
            visible = height_cm / std::sqrt(height_cm * height_cm + recess * recess + 1e-12f);
            if (front_lit > 0.f) {
              // The aperture's weight: 0 near the lips' front, 1 from the
              // lips' allowance on.
              const float w = Smoothstep((behind - options_.mouth_recess_free_cm + front_lit) / front_lit);
              aperture = 1.f - w * (1.f - o);
            }
          }
          openness.at<float>(r - run_y0, u) = aperture * visible;
        }
      }
    }
    for (int v = 0; v < gh; ++v) {
      const uint8_t* cls = g_cls.ptr<uint8_t>(v);
      const int32_t* tri = g_tri.ptr<int32_t>(v);
      const float* bary = g_bary.ptr<float>(v);
      float* g = gen_roi.ptr<float>(v);
      float* a = alpha_roi.ptr<float>(v);
      for (int u = 0; u < gw; ++u) {
        if (cls[u] == kFilled) {
          // Partly, where the closed-lid fill put it (a weight in (0, 1]).
          const float lid = lid_fill ? g_lid.at<float>(v, u) : 0.f;
          a[u] = lid > 0.f ? lid : 1.f;
        }
        if (cls[u] != kMouth) continue;
        a[u] = 1.f;
        const face3d::Triangle& t = mesh_.triangles()[tri[u]];
        const Part part = mesh_.triangle_parts()[tri[u]];
        const float w1 = bary[2 * u], w2 = bary[2 * u + 1], w0 = 1.f - w1 - w2;
        // Darker with model-space depth behind the front teeth (kFrontTeethZ).
        const float z_model = w0 * tgt_model(t[0], 2) + w1 * tgt_model(t[1], 2) + w2 * tgt_model(t[2], 2);
        const float behind_front = std::max(0.f, kFrontTeethZ - z_model);  // cm.
        const float falloff = 0.2f + 0.8f * std::exp(-behind_front / 7.f);
        float shade = light * falloff;
        // |cos| of the angle between the triangle's normal and the view ray
        // (Lambert with the light at the camera).
        const auto view_cos = [&] {
          const Eigen::Vector3f v0 = tgt_cam.row(t[0]).transpose();
          const Eigen::Vector3f normal =
              (tgt_cam.row(t[1]).transpose() - v0).cross(tgt_cam.row(t[2]).transpose() - v0).normalized();
          return std::abs(normal.dot(v0.normalized()));
        };
        const bool teeth = part == Part::kTeeth;
        // Without the recess occlusion: flat Lambert shading. The teeth's
        // relief and the arch's depth falloff (WarpOptions::teeth_relief,
        // teeth_depth_falloff_cm).
        if (!(options_.mouth_recess_occlusion > 0.f)) shade *= 0.55f + 0.45f * view_cos();
        if (teeth && options_.teeth_relief > 0.f) shade *= 1.f - options_.teeth_relief + options_.teeth_relief * view_cos();
        if (teeth && options_.teeth_depth_falloff_cm > 0.f) {
          shade *= std::exp(-behind_front / options_.teeth_depth_falloff_cm);
        }
        const cv::Vec3f base = teeth                          ? options_.teeth_rgb
                               : part == Part::kGumsAndTongue ? options_.gums_rgb
                                                              : options_.socket_rgb;
        const float o = openness.at<float>(v, u);
        const float lip = (1.f - o) * options_.lip_shadow;
        for (int c = 0; c < 3; ++c) g[3 * u + c] = std::min(255.f, o * base[c] * shade + lip * g[3 * u + c]);
      }
    }
    // Soft edges, 0.8 crop pixels wide at any grid (the fills' edges rely on
    // it: a closing lid's band would leave a fringe of eyeball without).
    cv::GaussianBlur(alpha_roi, alpha_roi, cv::Size(2 * gk + 1, 2 * gk + 1), 0.8 * gk);
  }

  // --- Folds (WarpOptions::exact_fold_edges): crop cells (corners (c, r) to
  // (c + 1, r + 1)) on the target head where the displacement bends.
  cv::Mat& fold = ws.fold;
  int num_fold_cells = 0;
  if (options_.exact_fold_edges && 1.0 / crop.scale > options_.fold_min_coarseness) {
    // A crop pixel where the displacement bends: its second difference
    // along x or y exceeds fold_bend_px (a jump between two neighbours
    // marks both); bilinear interpolation is exact where it is linear, and
    // its error in a cell is about an eighth of the second difference.
    const float bend_px = options_.fold_bend_px;
    cv::Mat& bend = ws.bend;
    bend.create(n, n, CV_8U);
    bend.setTo(cv::Scalar::all(0));
    for (int r = 1; r + 1 < n; ++r) {
      const float* up = disp.ptr<float>(r - 1);
      const float* d = disp.ptr<float>(r);
      const float* down = disp.ptr<float>(r + 1);
      const int32_t* tri = tgt_buf.triangle.ptr<int32_t>(r);
      uint8_t* b = bend.ptr<uint8_t>(r);
      for (int c = 1; c + 1 < n; ++c) {
        if (tri[c] < 0 && tri[c - 1] < 0 && tri[c + 1] < 0) continue;  // Off the head: the membrane.
        for (int k = 0; k < 2; ++k) {
          const float dd = 2.f * d[2 * c + k];
          if (std::abs(d[2 * c - 2 + k] + d[2 * c + 2 + k] - dd) > bend_px ||
              std::abs(up[2 * c + k] + down[2 * c + k] - dd) > bend_px) {
            b[c] = 1;
          }
        }
      }
    }
    fold.create(n, n, CV_8U);
    fold.setTo(cv::Scalar::all(0));
    for (int r = 0; r + 1 < n; ++r) {
      const uint8_t* b0 = bend.ptr<uint8_t>(r);
      const uint8_t* b1 = bend.ptr<uint8_t>(r + 1);
      uint8_t* fr = fold.ptr<uint8_t>(r);
      for (int c = 0; c + 1 < n; ++c) {
        if (b0[c] | b0[c + 1] | b1[c] | b1[c + 1]) {
          fr[c] = 1;
          ++num_fold_cells;
        }
      }
    }
  }
  // Fold cells: each image pixel is the mean of fold_subsamples^2 samples
  // at the exact mapping of the nearest target triangle that covers them,
  // among those rendered at the cell's corners and those sharing a vertex
  // with them (perspective-correct barycentrics, as the rasteriser's). The
  // candidates of the current cell:
  std::vector<FoldTriangle>& fold_tris = ws.fold_triangles;
  // Target vertices projected to the image on first use, and the triangles
  // gathered for the current cell, by stamp (no clearing per call).
  std::vector<uint32_t>& vertex_stamp = ws.fold_vertex_stamp;
  std::vector<uint32_t>& triangle_stamp = ws.fold_triangle_stamp;
  std::vector<Eigen::Vector3d>& vertex_px = ws.fold_vertex_px;  // x, y, 1 / depth.
  if (num_fold_cells > 0) {
    vertex_stamp.resize(mesh_.num_vertices(), 0);
    triangle_stamp.resize(mesh_.num_triangles(), 0);
    vertex_px.resize(mesh_.num_vertices());
    if (++ws.fold_warp_stamp == 0) {  // Wrapped: start afresh.
      std::fill(vertex_stamp.begin(), vertex_stamp.end(), 0);
      ws.fold_warp_stamp = 1;
    }
  }
  const auto projected = [&](int v) -> const Eigen::Vector3d& {
    if (vertex_stamp[v] != ws.fold_warp_stamp) {
      vertex_stamp[v] = ws.fold_warp_stamp;
      const Eigen::RowVector3f p = tgt_cam.row(v);
      const double inv_z = p.z() > 1e-3f ? 1.0 / p.z() : 0.0;  // 0: behind the camera.
      vertex_px[v] = Eigen::Vector3d(f * p.x() * inv_z + camera.cx, f * p.y() * inv_z + camera.cy, inv_z);
    }
    return vertex_px[v];
  };
  // The candidates of cell (c0, r0) whose box meets [x0, x1] x [y0, y1].
  const auto gather_fold_triangles = [&](int c0, int r0, double x0, double y0, double x1, double y1) {
    if (++ws.fold_cell_stamp == 0) {  // Wrapped: start afresh.
      std::fill(triangle_stamp.begin(), triangle_stamp.end(), 0);
      ws.fold_cell_stamp = 1;
    }
    const uint32_t stamp = ws.fold_cell_stamp;
    fold_tris.clear();
    for (int r = r0; r <= std::min(r0 + 1, n - 1); ++r) {
      for (int c = c0; c <= std::min(c0 + 1, n - 1); ++c) {
        const int32_t rendered = tgt_buf.triangle.at<int32_t>(r, c);
        if (rendered < 0) continue;
        for (const int corner : mesh_.triangles()[rendered]) {
          for (int i = vertex_triangles_.start[corner]; i < vertex_triangles_.start[corner + 1]; ++i) {
            const int32_t id = vertex_triangles_.ids[i];
            if (triangle_stamp[id] == stamp) continue;
            triangle_stamp[id] = stamp;
            const face3d::Triangle& t = mesh_.triangles()[id];
            const Eigen::Vector3d& p0 = projected(t[0]);
            const Eigen::Vector3d& p1 = projected(t[1]);
            const Eigen::Vector3d& p2 = projected(t[2]);
            if (p0.z() == 0.0 || p1.z() == 0.0 || p2.z() == 0.0 ||
                std::max({p0.x(), p1.x(), p2.x()}) < x0 || std::min({p0.x(), p1.x(), p2.x()}) > x1 ||
                std::max({p0.y(), p1.y(), p2.y()}) < y0 || std::min({p0.y(), p1.y(), p2.y()}) > y1) {
              continue;
            }
            const double ex1 = p1.x() - p0.x(), ey1 = p1.y() - p0.y(), ex2 = p2.x() - p0.x(), ey2 = p2.y() - p0.y();
            const double area = ex1 * ey2 - ey1 * ex2;
            if (std::abs(area) < 1e-9) continue;
            const double inv_area = 1.0 / area;
            fold_tris.push_back({.a1 = ey2 * inv_area,
                                 .b1 = -ex2 * inv_area,
                                 .c1 = (p0.y() * ex2 - p0.x() * ey2) * inv_area,
                                 .a2 = -ey1 * inv_area,
                                 .b2 = ex1 * inv_area,
                                 .c2 = (p0.x() * ey1 - p0.y() * ex1) * inv_area,
                                 .inv_z = {p0.z(), p1.z(), p2.z()},
                                 .id = id});
          }
        }
      }
    }
  };
  // Adds the sample at image point (x, y) of cell (c0, r0) (ax, ay: its
  // position in the cell) to sum[3].
  const auto add_fold_sample = [&](double x, double y, int c0, int r0, float ax, float ay, float sum[3]) {
    const FoldTriangle* best = nullptr;
    double best_inv_z = 0.0, best_w1 = 0.0, best_w2 = 0.0;
    for (const FoldTriangle& t : fold_tris) {
      constexpr double kEdge = -1e-6;  // Points on a shared edge belong to both triangles.
      const double w1 = t.a1 * x + t.b1 * y + t.c1, w2 = t.a2 * x + t.b2 * y + t.c2, w0 = 1.0 - w1 - w2;
      if (w0 < kEdge || w1 < kEdge || w2 < kEdge) continue;
      const double iz = w0 * t.inv_z[0] + w1 * t.inv_z[1] + w2 * t.inv_z[2];  // 1 / depth.
      if (iz > best_inv_z) {
        best = &t;
        best_inv_z = iz;
        best_w1 = w1 * t.inv_z[1] / iz;
        best_w2 = w2 * t.inv_z[2] / iz;
      }
    }
    if (best != nullptr) {
      const SurfacePoint sp = classify(best->id, static_cast<float>(best_w1), static_cast<float>(best_w2));
      if (sp.cls == kSampled) {
        AddBilinear(src, static_cast<float>(sp.sx), static_cast<float>(sp.sy), sum);
        return;
      }
    }
    // Not on the target head (no triangle covers it), or on a point the
    // source does not show (under the generated layer, which shows through
    // at its soft edge): the displacement of the corners off the head, or
    // of the visible ones, bilinear and renormalised; else the nearest
    // corner's.
    const uint8_t wanted = best == nullptr ? kOffMesh : kSampled;
    const int c1 = std::min(c0 + 1, n - 1), r1 = std::min(r0 + 1, n - 1);
    const int cs[4] = {c0, c1, c0, c1}, rs[4] = {r0, r0, r1, r1};
    const float weights[4] = {(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay};
    float total = 0.f, dx = 0.f, dy = 0.f;
    for (int k = 0; k < 4; ++k) {
      if (classes.at<uint8_t>(rs[k], cs[k]) != wanted) continue;
      const cv::Vec2f d = disp.at<cv::Vec2f>(rs[k], cs[k]);
      total += weights[k];
      dx += weights[k] * d[0];
      dy += weights[k] * d[1];
    }
    if (!(total > 0.f)) {
      const int k = (ax < 0.5f ? 0 : 1) + (ay < 0.5f ? 0 : 2);
      const cv::Vec2f d = disp.at<cv::Vec2f>(rs[k], cs[k]);
      total = 1.f;
      dx = d[0];
      dy = d[1];
    }
    AddBilinear(src, static_cast<float>(x + dx / total), static_cast<float>(y + dy / total), sum);
  };

  // --- Full resolution, in strips of rows: the displacement (bilinear from
  // the crop) applied to the source (remapped straight into the output), then
  // the generated layer blended in and the feathered border of the square
  // blended with the source.
  std::vector<int>& col0 = ws.col0;
  std::vector<int>& col1 = ws.col1;
  std::vector<float>& col_a = ws.col_a;
  std::vector<double>& edge_x = ws.edge_x;
  std::vector<uint8_t>& gen_col = ws.gen_col;
  col0.resize(roi.width);
  col1.resize(roi.width);
  col_a.resize(roi.width);
  edge_x.resize(roi.width);
  std::vector<double>& fe_x = ws.fe_x;
  fe_x.resize(roi.width);
  gen_col.resize(roi.width);
  const double feather_px = std::max(1.0, options_.feather * side);
  // Paste-back weight at `edge` pixels from the square's side.
  const auto feather_weight = [feather_px](double edge) {
    if (!(edge < feather_px)) return 1.0;
    const double fe = edge / feather_px;
    return fe * fe * (3 - 2 * fe);  // Smoothstep.
  };
  // Columns [inner_begin, inner_end) are clear of the feather at both sides,
  // columns [gen_begin, gen_end) are those of the generated layer (both
  // column sets are intervals).
  int inner_begin = roi.width, inner_end = roi.width;
  int gen_begin = roi.width, gen_end = roi.width;
  // The generated layer's grid (with its zero border: cell u at index u + 1):
  // full position -> grid index and weight, from the clamped crop coordinate
  // c (at gk = 1 the crop's own interpolation, shifted).
  const int gen_w = alpha.empty() ? 0 : alpha.cols - 2, gen_h = alpha.empty() ? 0 : alpha.rows - 2;
  const auto grid_index = [&](double c, int c0, float a, int box_start, int box_end, int size, float* weight) {
    if (gk == 1) {
      *weight = a;
      const int i0 = c0 - box_start + 1;  // Crop pixel c0 in the box, bordered.
      return std::min(c0 + 1, n - 1) >= box_start && c0 < box_end ? i0 : -1;
    }
    const double g = (c + 0.5 - box_start) * gk - 0.5 + 1.0;
    const int i0 = static_cast<int>(std::floor(g));
    *weight = static_cast<float>(g - i0);
    return i0 >= 0 && i0 <= size ? i0 : -1;
  };
  ws.gen_col0.resize(roi.width);
  ws.gen_col_a.resize(roi.width);
  std::vector<int>& gen_col0 = ws.gen_col0;
  std::vector<float>& gen_col_a = ws.gen_col_a;
  for (int x = 0; x < roi.width; ++x) {
    const double c = std::clamp((roi.x + x - crop.rect.x + 0.5) * crop.scale - 0.5, 0.0, n - 1.0);
    col0[x] = static_cast<int>(c);
    col1[x] = std::min(col0[x] + 1, n - 1);
    col_a[x] = static_cast<float>(c - col0[x]);
    const int lx = roi.x + x - crop.rect.x;
    edge_x[x] = std::min(lx + 0.5, side - lx - 0.5);
    fe_x[x] = feather_weight(edge_x[x]);
    gen_col0[x] = alpha.empty() ? -1
                                : grid_index(c, col0[x], col_a[x], gen_box.x, gen_box.br().x, gen_w, &gen_col_a[x]);
    gen_col[x] = gen_col0[x] >= 0;
    if (edge_x[x] >= feather_px) {
      if (inner_begin == roi.width) inner_begin = x;
      inner_end = x + 1;
    }
    if (gen_col[x]) {
      if (gen_begin == roi.width) gen_begin = x;
      gen_end = x + 1;
    }
  }
  // The displacement of crop row r interpolated at every full column.
  std::vector<float>& upper = ws.top_row;
  std::vector<float>& lower = ws.bottom_row;
  std::vector<float>& col_x = ws.col_x;
  upper.resize(2 * roi.width);
  lower.resize(2 * roi.width);
  col_x.resize(roi.width);
  for (int x = 0; x < roi.width; ++x) col_x[x] = static_cast<float>(roi.x + x);
  int upper_row = -1, lower_row = -1;
  const auto interpolate_row = [&](int r, std::vector<float>& row) {
    const float* d = disp.ptr<float>(r);
    for (int x = 0; x < roi.width; ++x) {
      const int i0 = 2 * col0[x], i1 = 2 * col1[x];
      const float ax = col_a[x];
      row[2 * x] = d[i0] + ax * (d[i1] - d[i0]);
      row[2 * x + 1] = d[i0 + 1] + ax * (d[i1 + 1] - d[i0 + 1]);
    }
  };
  cv::Mat out = src.clone();
  constexpr int kStripRows = 32;
  cv::Mat& strip_map = ws.strip_map;
  strip_map.create(kStripRows, roi.width, CV_32FC2);
  for (int strip = 0; strip < roi.height; strip += kStripRows) {
    const int rows = std::min(kStripRows, roi.height - strip);
    for (int y = 0; y < rows; ++y) {
      const int full_y = roi.y + strip + y;
      const double c = std::clamp((full_y - crop.rect.y + 0.5) * crop.scale - 0.5, 0.0, n - 1.0);
      const int r0 = static_cast<int>(c), r1 = std::min(r0 + 1, n - 1);
      const float ay = static_cast<float>(c - r0);
      // Successive full rows mostly share their crop rows: keep the two
      // horizontally interpolated rows.
      if (upper_row != r0) {
        if (lower_row == r0) {
          std::swap(upper, lower);
          std::swap(upper_row, lower_row);
        } else {
          interpolate_row(r0, upper);
          upper_row = r0;
        }
      }
      if (lower_row != r1) {
        interpolate_row(r1, lower);
        lower_row = r1;
      }
      const float* t = upper.data();
      const float* b = lower.data();
      const float fy = static_cast<float>(full_y);
      float* m = strip_map.ptr<float>(y);
      for (int x = 0; x < 2 * roi.width; x += 2) {
        m[x] = (t[x] + ay * (b[x] - t[x])) + col_x[x / 2];
        m[x + 1] = (t[x + 1] + ay * (b[x + 1] - t[x + 1])) + fy;
      }
    }
    // `out` is a copy of `src`, so the remap can write into it: src keeps
    // the unwarped pixels the feather needs.
    cv::Mat warped = out(cv::Rect(roi.x, roi.y + strip, roi.width, rows));
    cv::remap(src, warped, strip_map.rowRange(0, rows), cv::noArray(), cv::INTER_LINEAR,
              cv::BORDER_REPLICATE);
    // Fold cells (see add_fold_sample), one cell's pixels in this strip at a
    // time: the crop row of a full row, and the crop column of a full column
    // (col0), are non-decreasing.
    const auto crop_row = [&](int full_y) {
      return static_cast<int>(std::clamp((full_y - crop.rect.y + 0.5) * crop.scale - 0.5, 0.0, n - 1.0));
    };
    const int subsamples = options_.fold_subsamples;
    const float inv_samples = 1.f / static_cast<float>(subsamples * subsamples);
    for (int y = 0; num_fold_cells > 0 && y < rows;) {
      const int r0 = crop_row(roi.y + strip + y);
      int y_end = y + 1;
      while (y_end < rows && crop_row(roi.y + strip + y_end) == r0) ++y_end;
      const uint8_t* fr = fold.ptr<uint8_t>(r0);
      for (int x = 0; x < roi.width;) {
        const int c0 = col0[x];
        int x_end = x + 1;
        while (x_end < roi.width && col0[x_end] == c0) ++x_end;
        if (fr[c0]) {
          gather_fold_triangles(c0, r0, col_x[x] - 0.5, roi.y + strip + y - 0.5, col_x[x_end - 1] + 0.5,
                                roi.y + strip + y_end - 0.5);
          for (int yy = y; yy < y_end; ++yy) {
            const int full_y = roi.y + strip + yy;
            cv::Vec3b* o = out.ptr<cv::Vec3b>(full_y) + roi.x;
            for (int xx = x; xx < x_end; ++xx) {
              float sum[3] = {0.f, 0.f, 0.f};
              for (int j = 0; j < subsamples; ++j) {
                const double sub_y = full_y + (j + 0.5) / subsamples - 0.5;
                const float ay = static_cast<float>(
                    std::clamp((sub_y - crop.rect.y + 0.5) * crop.scale - 0.5 - r0, 0.0, 1.0));
                for (int i = 0; i < subsamples; ++i) {
                  const double sub_x = col_x[xx] + (i + 0.5) / subsamples - 0.5;
                  const float ax = static_cast<float>(
                      std::clamp((sub_x - crop.rect.x + 0.5) * crop.scale - 0.5 - c0, 0.0, 1.0));
                  add_fold_sample(sub_x, sub_y, c0, r0, ax, ay, sum);
                }
              }
              for (int k = 0; k < 3; ++k) o[xx][k] = cv::saturate_cast<uint8_t>(sum[k] * inv_samples);
            }
          }
        }
        x = x_end;
      }
      y = y_end;
    }
    for (int y = 0; y < rows; ++y) {
      const int full_y = roi.y + strip + y;
      const int ly = full_y - crop.rect.y;
      const double edge_y = std::min(ly + 0.5, side - ly - 0.5);
      const double fe_y = feather_weight(edge_y);
      const double c = std::clamp((ly + 0.5) * crop.scale - 0.5, 0.0, n - 1.0);
      const int r0 = static_cast<int>(c);
      const float ay = static_cast<float>(c - r0);
      // The generated layer only matters inside its (padded) box.
      float gay = 0.f;
      const int gr0 = alpha.empty() ? -1 : grid_index(c, r0, ay, gen_box.y, gen_box.br().y, gen_h, &gay);
      const bool gen_row = gr0 >= 0;
      const float* a0 = gen_row ? alpha.ptr<float>(gr0) : nullptr;
      const float* a1 = gen_row ? alpha.ptr<float>(gr0 + 1) : nullptr;
      const cv::Vec3b* s = src.ptr<cv::Vec3b>(full_y) + roi.x;
      cv::Vec3b* o = out.ptr<cv::Vec3b>(full_y) + roi.x;  // Holds the plain warp.
      // Away from the generated layer and the feather the plain warp stays:
      // on rows clear of the feather only the feathered columns at both
      // sides and the generated layer's columns are visited.
      int ranges[3][2] = {{0, roi.width}, {0, 0}, {0, 0}};
      if (edge_y >= feather_px) {
        ranges[0][1] = inner_begin;
        if (gen_row) {
          ranges[1][0] = std::max(inner_begin, gen_begin);
          ranges[1][1] = std::min(inner_end, gen_end);
        }
        ranges[2][0] = inner_end;
        ranges[2][1] = roi.width;
      }
      for (const auto& range : ranges) {
        for (int x = range[0]; x < range[1]; ++x) {
          // The feather weight of the nearer side.
          const double fe = edge_y <= edge_x[x] ? fe_y : fe_x[x];
          const bool in_gen = gen_row && gen_col[x];
          if (!in_gen && fe >= 1.0) continue;
          float head[3] = {static_cast<float>(o[x][0]), static_cast<float>(o[x][1]), static_cast<float>(o[x][2])};
          if (in_gen) {
            const int i0 = gen_col0[x], i1 = i0 + 1;
            const float ax = gen_col_a[x];
            const float ga =
                (1 - gay) * (a0[i0] + ax * (a0[i1] - a0[i0])) + gay * (a1[i0] + ax * (a1[i1] - a1[i0]));
            if (ga > 0.f) {
              const float* g0 = generated.ptr<float>(gr0);
              const float* g1 = generated.ptr<float>(gr0 + 1);
              for (int k = 0; k < 3; ++k) {
                const float top = g0[3 * i0 + k] + ax * (g0[3 * i1 + k] - g0[3 * i0 + k]);
                const float bottom = g1[3 * i0 + k] + ax * (g1[3 * i1 + k] - g1[3 * i0 + k]);
                head[k] = (1.f - ga) * head[k] + ga * (top + gay * (bottom - top));
              }
            }
          }
          if (fe >= 1.0) {
            for (int k = 0; k < 3; ++k) o[x][k] = cv::saturate_cast<uint8_t>(head[k]);
          } else {
            for (int k = 0; k < 3; ++k) o[x][k] = cv::saturate_cast<uint8_t>((1.0 - fe) * s[x][k] + fe * head[k]);
          }
        }
      }
    }
  }

  if (debug != nullptr) {
    debug->crop_camera = crop_cam;
    debug->crop_rect = crop.rect;
    debug->displacement = disp.clone();  // The scratch is reused by the next call.
    debug->target_mask = tgt_buf.mask.clone();
    if (hair) {
      cv::resize(ws.hair_weight_half, debug->hair_weight, cv::Size(n, n), 0, 0, cv::INTER_LINEAR);
    } else {
      debug->hair_weight = cv::Mat();
    }
    debug->hidden_mask = (classes == kFilled) | (classes == kMouth);
    debug->mouth_mask = classes == kMouth;
    debug->lip_line_shift_px = lip_shift_px;
    debug->lip_line_target_weight = target_weight;
    debug->generated_grid = alpha.empty() ? 0 : gk;
    debug->fold_mask = num_fold_cells > 0 ? cv::Mat(fold * 255) : cv::Mat();
    debug->lid_fill = lid_fill ? lid_fill_map.clone() : cv::Mat();
    debug->eye_closure = closure;
  }
  return out;
}

}  // namespace faceanime::render
