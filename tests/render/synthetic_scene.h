// Synthetic ground truth for the render tests: the model placed on the
// bundled astronaut portrait, and procedurally coloured heads rendered with
// the library's own rasteriser.
#ifndef FACEANIME_TESTS_RENDER_SYNTHETIC_SCENE_H_
#define FACEANIME_TESTS_RENDER_SYNTHETIC_SCENE_H_

#include <opencv2/core/mat.hpp>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"
#include "render/part_mesh.h"

namespace faceanime::testing {

// assets/astronaut.png as RGB (512x512).
cv::Mat AstronautRgb();

// Params that roughly place the neutral model over the astronaut's face with
// Camera::ForImage(512, 512) (found by eye from projected landmarks).
face3d::FaceParams AstronautParams();

// A smooth, textured RGB background (gradients and waves), `size`.
cv::Mat ProceduralBackground(cv::Size size);

// Per-vertex RGB colour (0-255 floats, 3 per mesh vertex) from each vertex's
// neutral model position: bands of green/blue with a low red channel, so the
// surface pattern moves with the surface.
std::vector<float> ProceduralVertexColours(const face3d::MorphableModel& model,
                                           const render::PartMesh& mesh);

// Renders `mesh` coloured by `colours` at `params` over `background`
// (RGB CV_8UC3 of the camera's size). Returns RGB CV_8UC3.
cv::Mat RenderColouredHead(const render::PartMesh& mesh, const std::vector<float>& colours,
                           const face3d::FaceParams& params, const face3d::Camera& camera,
                           const cv::Mat& background);

}  // namespace faceanime::testing

#endif  // FACEANIME_TESTS_RENDER_SYNTHETIC_SCENE_H_
