// The classical generator: a 3D-guided warp of a portrait from its fitted
// params (source) to new params (target).
//
// For every pixel of the head rendered at the target, the same surface point
// (same triangle, same barycentrics) is projected with the source params and
// the source image is sampled there (bilinear). Off the mesh (hair, ears,
// shoulders, background) the backward displacement field is extended by
// membrane interpolation, pinned to zero at the border of the face crop, so
// hair follows the head and the far background stays still (near the head,
// above the jaw, the extension is the skull's rigid motion, see
// WarpOptions::hair_band_cm). Surface points the
// source does not show are generated: the mouth interior (teeth, gums, tongue,
// the mouth socket) is shaded, other skin (e.g. the far cheek after a head
// turn) is filled from its visible neighbours. The work is done on a square
// crop around the head (WarpOptions::crop_size pixels) and pasted back into
// the full frame with a feathered mask; displacements are applied at the
// source resolution, so unchanged regions keep their full sharpness.
//
// Frames: face3d conventions (face3d/face_params.h). Images: RGB, OpenCV pixel
// coordinates (integer coordinates are pixel centres).
#ifndef FACEANIME_RENDER_FACE_WARPER_H_
#define FACEANIME_RENDER_FACE_WARPER_H_

#include <array>
#include <cstdint>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "face3d/face_params.h"
#include "face3d/image.h"
#include "face3d/morphable_model.h"
#include "render/part_mesh.h"
#include "render/rasterizer.h"

namespace faceanime::render {

struct WarpOptions {
  // Side of the square working crop, pixels, in [32, 2048] (default 256).
  int crop_size = 256;
  // Crop side = (1 + 2 * crop_margin) * the larger side of the box around
  // the face part (forehead to upper neck) at the source and target, in
  // [0.1, 3] (default 0.35): room for hair, ears and for the displacement to
  // decay to zero.
  double crop_margin = 0.35;
  // The crop's centre is raised above the box's centre by this fraction of
  // the box's larger side, in [0, crop_margin] (default 0.2: margins of
  // 0.55 above the forehead and 0.15 below the upper neck, in those units):
  // room for the hair on top of the head, which the crop border pins still
  // (0: centred, as before 2026-11-22).
  double crop_raise = 0.2;
  // Target surface points further (cm) behind the source z-buffer than this
  // count as hidden in the source; > 0 (default 0.5 cm).
  float visibility_tolerance_cm = 0.5f;
  // Gauss-Seidel sweeps at the finest level of the membrane fills, >= 0
  // (see MembraneOptions): for the off-mesh displacement (default 0: it is
  // smooth, the coarser levels suffice) and for occluded-skin colours
  // (default 3).
  int displacement_sweeps = 0;
  int colour_sweeps = 3;
  // Width of the paste-back feather, as a fraction of the crop side, in
  // [0, 0.5] (default 0.08).
  double feather = 0.08;
  // The generated layer (shaded mouth interior, filled skin) is computed at
  // the crop's resolution, where a crop coarser than the image shows its
  // pixels as steps along the opening's and the teeth's edges (a 512-px
  // portrait: ~1.8 image pixels per crop pixel). Above 1, and while the crop
  // is more than 1.25x coarser than the image, it is computed on a grid of
  // k x k cells per crop pixel over its box instead, k = about 2 cells per
  // image pixel (anti-aliased edges), at most this; the displacement stays
  // at the crop's resolution. In [1, 8] (default 1: the real-time path;
  // `faceanime edit` uses 4). Cost on the 512-px astronaut at 4 (k = 4):
  // +4 ms with the jaw open, +17 ms with a 20 deg turn's hidden cheek
  // (tools/bench, BM_RenderWarpCrop256).
  int generated_supersample = 1;
  // Folds at the image's resolution: where the target surface folds over
  // itself (a dropped jaw over the neck, a turned nose over the cheek) the
  // displacement jumps between neighbouring crop pixels; interpolated
  // bilinearly, as everywhere else, it samples the source between the two
  // surfaces (a dark seam along the jaw) on an edge that steps at the crop's
  // pixels, which shows on a large portrait. With this on, while the crop is
  // more than fold_min_coarseness times coarser than the image, the image
  // pixels of the crop cells where the displacement bends (second
  // difference above fold_bend_px image pixels) are each the mean of
  // fold_subsamples x fold_subsamples samples at the exact mapping of the
  // nearest target triangle that covers them (among those rendered at the
  // cell's corners and their neighbours): the edge runs along the mesh at
  // the image's resolution. Default on, for crops more than 3x coarser
  // than the image (a crop square over 768 image pixels: the face, forehead
  // to neck, over ~450 px, where the crop's steps show; the 512-px
  // portraits of the real-time benchmark and of `eval`, about 1.4-2.3x,
  // stay bilinear), bends above 3 px and one sample per
  // pixel; `faceanime edit` and `eval-expression sheet` use 1.25x, 1 px and
  // 2 x 2 (anti-aliased). Cost (tools/bench): on the 512-px astronaut with
  // the offline settings, BM_RenderWarpCrop256ExactFolds, about +2 ms with
  // the jaw open (339 fold cells), +6 ms with a 20 deg turn (1718); on the
  // astronaut at 3x (the crop ~4x coarser) with the defaults,
  // BM_RenderWarpCrop256LargePortrait, +2.4-4.4 ms of ~20 ms with the jaw
  // open (350 cells), +5-10 ms of ~25 ms with the turn (1693).
  // fold_min_coarseness >= 1, fold_bend_px > 0, fold_subsamples in [1, 4].
  bool exact_fold_edges = true;
  float fold_min_coarseness = 3.f;
  float fold_bend_px = 3.f;
  int fold_subsamples = 1;
  // Shade the mouth interior where the source does not show it (default true).
  bool render_mouth_interior = true;
  // Fill skin the source does not show from visible neighbours (default true).
  bool fill_occluded = true;
  // Mouth interior base colours, RGB 0-255 (defaults: off-white teeth,
  // pinkish-red gums and tongue, dark red mouth socket). They darken with
  // depth towards the throat and follow the brightness of the source skin.
  cv::Vec3f teeth_rgb{232, 226, 208};
  cv::Vec3f gums_rgb{205, 105, 110};
  cv::Vec3f socket_rgb{120, 40, 44};
  // How much light the lips let in: a shaded interior point shows
  // o = 1 - exp(-h / mouth_aperture_cm) of its shaded colour, where h is the
  // height (cm) of the mouth opening in its image column, and 1 - o of the
  // surrounding lip colour darkened by lip_shadow: a narrow parting is a dark
  // lip line, a wide one shows teeth and tongue (points at least
  // mouth_recess_free_cm behind the lips; teeth nearer the lips' front are
  // lit from outside, see mouth_front_lit_cm). mouth_aperture_cm > 0
  // (default 0.8 cm: a 0.3 cm parting shows 31 % of the shaded colour, a
  // 3 cm one 98 %); lip_shadow in [0, 1] (default 0.5).
  float mouth_aperture_cm = 0.8f;
  float lip_shadow = 0.5f;
  // Recess occlusion of the shaded interior: light reaches the interior
  // through the lips' opening, so a point recessed far behind the lips (the
  // socket behind a parting, teeth behind lips pushed forward) is darker than
  // one just behind them (teeth bared in a smile). The shown share o above is
  // multiplied by h / sqrt(h^2 + (k * d)^2), the sine of the half-angle under
  // which a point d cm behind a slot h cm high sees out of it, with
  // k = mouth_recess_occlusion and d the point's depth behind the lips that
  // bound its column's opening, less mouth_recess_free_cm (the lips' own
  // thickness: teeth right behind them stay lit); the rest shows the dark
  // lip shadow as for a narrow parting. With it on, the interior takes no
  // camera-light Lambert term (0.55 + 0.45 cos without it).
  // mouth_recess_occlusion >= 0, 0: off (default 2: with it GRID s1's mouth
  // SSIM rises on 151 of 171 clips and `sgivzn` beats both baselines, see
  // docs/benchmarks.md); mouth_recess_free_cm >= 0 (default 0.8 cm).
  float mouth_recess_occlusion = 2.f;
  float mouth_recess_free_cm = 0.8f;
  // Teeth bared by retracted lips. Lips pulled back over the teeth (a smile)
  // leave their fronts right behind the lips' front, lit from outside like
  // the lips, however narrow the parting; teeth behind lips that hang in
  // front of them (speech) are not. So the aperture term above (o) applies
  // in full only to interior points at least mouth_recess_free_cm behind
  // the lips that bound their column's opening, and fades out (smoothstep)
  // over the mouth_front_lit_cm in front of that depth: points nearer the
  // lips show their shaded colour in full. >= 0 cm; 0: the aperture term
  // applies at any depth, as before 2026-11-22
  // (default 0.3 cm). Measured depth of the teeth shown, behind the lips:
  // 0.2-0.6 cm in `happy` edits of London portraits, 0.6-1.0 cm in London
  // smiles fitted from photos, 0.8-1.6 cm in GRID speech (docs/benchmarks.md,
  // "Teeth that look like teeth").
  float mouth_front_lit_cm = 0.3f;
  // Relief of the teeth: their shade is multiplied by
  // 1 - teeth_relief + teeth_relief * |cos| of the angle between a tooth
  // triangle's normal and the view ray (light at the camera), so the
  // separations between teeth and their rounded edges show. In [0, 1]
  // (default 0.6; 0: flat teeth, as before 2026-11-22).
  float teeth_relief = 0.6f;
  // Teeth further back along the arch are darker, the cheeks shade them (the
  // dark corners of a smile): their shade is multiplied by
  // exp(-b / teeth_depth_falloff_cm), b the model-space depth (cm) behind the
  // front teeth. > 0 cm, or 0: off, as before 2026-11-22 (default 2.5 cm: a
  // premolar ~2 cm back at 45 %).
  float teeth_depth_falloff_cm = 2.5f;
  // Lip-line snap. A 68-point detector's inner-lip points straddle a closed
  // mouth's lip line unevenly (the dark line is the upper lip's shadow), so
  // the fitted seam between the model's lips can sit beside the image's lip
  // line (GRID s1: 1.5-1.8 px above it): a parting then opens beside the
  // real line, which stays visible as a second line. When the source's
  // fitted lips are closed, the darkest row of the source image near the
  // seam is looked for in the columns of the central 60 % of the mouth;
  // where a clear dark line is found (a valley of luma at least 12 grey
  // levels below both sides, in >= 60 % of those columns), the seam and the
  // lips around it (weight falling linearly to 0 at 1 cm from the seam) are
  // moved by the median shift less 0.5 px (the seam stops just short of
  // the line's darkest row), in model space, on the source mesh: the
  // source's lips part at the dark line. The target mesh takes the same
  // shift while its lips are no more open than the source's (an identity
  // warp stays the identity, a closed target shows the line where the
  // source has it), fading linearly to none when its mean inner-lip gap is
  // lip_line_snap_fade_cm wider: an open target's lips stay where its fit
  // puts them (a target fitted to another frame, TargetLips::kObserved; an
  // edit of the source's own fit, TargetLips::kFromSource, takes all of the
  // shift at any opening). Largest shift, cm (projected at the seam), >= 0; 0: off
  // (default 0.3). lip_line_snap_fade_cm > 0 (default 0.2 cm). See
  // docs/benchmarks.md (GRID held-out and London figures with and without).
  float lip_line_snap_cm = 0.3f;
  float lip_line_snap_fade_cm = 0.2f;
  // Hair follows the skull. The mesh ends at the bald scalp and the ears,
  // so hair, a bun or a hat is off the mesh, where the membrane alone lets
  // the motion fade from the head's edge to the crop border: hair lagged
  // behind the head (London 001's neutral photo, head rolled 8 deg: the
  // bun's top moved ~7 px where the skull takes it ~28 px; moved 1 cm
  // sideways: the hair beside the face 9.6-10.3 px, the face 13.2 px; Grace
  // Hopper's hat bent instead of turning). Off the mesh, the displacement
  // is instead w * rigid + the membrane of the rest, where `rigid` is the head's rigid
  // motion (target to source pose) of the point where the pixel's ray meets
  // the plane through the skull's centre facing the camera, and the
  // membrane extends what the mesh moves beyond that (the jaw, the brows)
  // and fades to zero at the crop border. w is 1 within hair_band_cm of the
  // rendered head (cm at the skull's depth), falls smoothly to 0 over the
  // next hair_fade_cm and over the crop's outer 10 %, and is 0 below the
  // chin, rising to 1 at the nose's base (model height): shoulders and
  // clothes do not turn with the head. The hair then also follows errors
  // of the tracked rotation (GRID s1's tracked pitch drifts 1-2 deg that
  // the video does not show: held-out face SSIM 0.9120 -> 0.9102, the
  // mouth's unchanged), and a textured background within the band is
  // dragged along (wider bands bend Grace Hopper's flag). hair_band_cm >= 0,
  // hair_fade_cm > 0 (defaults 4 and 6 cm). hair_follows_skull false: the
  // membrane alone (as before 2026-11-22).
  bool hair_follows_skull = true;
  float hair_band_cm = 4.f;
  float hair_fade_cm = 6.f;
  // Closing lids cover the whole eye. The mesh's eye opening does not
  // match the image's exactly: on London 001 and Grace Hopper the lower
  // sclera shows 2-4 px below the mesh's visible lower lid (and the
  // detector's lower-lid points sit higher still, on the iris), so that
  // strip is sampled as lower-lid skin, and ICT's eyeBlink 1 leaves a slit
  // of eyeball. A closed eye showed a white band under the lash line. So
  // as an eye closes more than in the source (closure c per eye: the gap
  // between its lid landmark vertices 37/38 and 41/40 (43/44, 47/46)
  // shrinks by c * 80 % of the source's; ICT's full blink shrinks it
  // 81-87 %), the lower lid's pixels within lid_fill_band_cm (model space,
  // on the source's mesh) of the lower rim of the mesh's eye opening are
  // filled from the skin around them (weight 1 within half the band,
  // falling to 0 at its edge), and so is the eyeball seen through the
  // slit. The lower lid's share is smoothstep(c) over c in [0.5, 1], the
  // eyeball's over [0.7, 1]. The upper lid and its lash line are left to
  // the warp (our eyelid meter reads a closed eye by that line). An eye no
  // more closed than in the source is untouched, so an identity warp stays
  // the identity. lid_fill_band_cm >= 0, 0: off (default 0.5 cm).
  float lid_fill_band_cm = 0.5f;
};

// Where a warp target's lips come from, for the lip-line snap
// (WarpOptions::lip_line_snap_cm), which corrects the source fit's seam.
enum class TargetLips {
  // Fitted to another frame (a driver's motion, a target photo): an open
  // target's lips are where that fit puts them, so the target takes the
  // source's shift only while no more open than the source, fading out at
  // lip_line_snap_fade_cm wider (GRID self-reenactment and London pairs
  // measured with this, docs/benchmarks.md).
  kObserved,
  // The source's own fit plus a change (an expression edit, replace mode, a
  // motion predicted from the still): its lips carry the source fit's seam,
  // so the target takes the source's shift at any opening and the lips move
  // by the change alone (with kObserved an edit that parts the lips, AU15 or
  // AU27, moved the lip corners ~80 % of the model's motion and squeezed the
  // upper lip by the shift).
  kFromSource,
};

// `options` with the hair extension off and the crop centred
// (hair_follows_skull false, crop_raise 0): off the mesh the membrane alone,
// the warp as before 2026-11-22.
WarpOptions WithoutHairFollowing(WarpOptions options);

// Intermediate results of one warp, for tests and tools. Crop-sized Mats.
struct WarpDebug {
  face3d::Camera crop_camera;  // The crop's camera (full camera scaled/shifted).
  cv::Rect crop_rect;          // The crop's square in full-image pixels (may
                               // extend beyond the image).
  cv::Mat displacement;        // CV_32FC2: source minus target position, full-image pixels.
  cv::Mat target_mask;         // CV_8U: 255 where the target head is rendered.
  cv::Mat hidden_mask;         // CV_8U: 255 where the target point is hidden in the source.
  cv::Mat mouth_mask;          // CV_8U: 255 where the mouth interior was shaded.
  cv::Mat hair_weight;         // CV_32F: the skull's rigid share w of the displacement
                               // (WarpOptions::hair_band_cm); empty when off.
  cv::Mat lid_fill;            // CV_32F: the closed-lid fill's weight (WarpOptions::
                               // lid_fill_band_cm); empty when no eye closes.
  std::array<float, 2> eye_closure{};  // Closure c of eyes 0 and 1 relative to the source
                                       // (WarpOptions::lid_fill_band_cm; 0 when that is 0).
  float lip_line_shift_px = 0.f;  // The lip-line snap's shift, image pixels (+ down; 0: none).
  float lip_line_target_weight = 0.f;  // Share of that shift the target mesh took, [0, 1].
  int generated_grid = 0;  // Grid cells per crop pixel of the generated layer (0: no layer;
                           // WarpOptions::generated_supersample).
  // CV_8U: 255 on the crop cells whose image pixels were mapped exactly
  // (WarpOptions::exact_fold_edges; cell (c, r) spans crop pixels c to c + 1
  // and r to r + 1); empty when there were none.
  cv::Mat fold_mask;
};

class FaceWarper {
 public:
  // Validates `options` (std::invalid_argument). `model` must outlive this.
  static FaceWarper Create(const face3d::MorphableModel& model, const WarpOptions& options);

  // Warps `source_image` (any PixelFormat; `source` was fitted to it with
  // `camera`, whose size must match) to `target`. Returns RGB CV_8UC3 of the
  // source size. When the head is not in front of the camera, returns the
  // source unchanged (as RGB). `debug` (optional) receives intermediates.
  // `lips`: where the target's lips come from (TargetLips).
  cv::Mat Warp(const ImageView& source_image, const face3d::FaceParams& source,
               const face3d::FaceParams& target, const face3d::Camera& camera,
               WarpDebug* debug = nullptr, TargetLips lips = TargetLips::kObserved) const;

  const WarpOptions& options() const { return options_; }
  // The mesh that is rendered: face, head and neck, eye sockets and eyeballs,
  // mouth socket, gums and tongue, teeth.
  const PartMesh& mesh() const { return mesh_; }

 private:
  // Mesh vertices the hair extension measures the skull by (see
  // WarpOptions::hair_band_cm): [0, num_outer) are the face's and the
  // head's; the base of the nose (landmark 33) and the chin (landmark 8).
  struct SkullVertices {
    int num_outer = 0;
    int nose_base = -1;
    int chin = -1;
  };
  // The eyes, for the closed-lid fill (WarpOptions::lid_fill_band_cm); eye
  // 0 is landmarks 36-41 (the subject's right), eye 1 is 42-47.
  struct EyeVertices {
    std::array<int, 12> landmarks{};  // Mesh vertices of landmarks 36-47 (-1: none).
    // Per eye: the face part's boundary vertices on the lower rim of its
    // eye opening, and the face vertices near the eye (those the fill may
    // weight).
    std::array<std::vector<int>, 2> lower_rim, near;
    std::array<face3d::Part, 2> eyeball{face3d::Part::kEyeballRight, face3d::Part::kEyeballLeft};  // Its eyeball.
  };
  static EyeVertices FindEyeVertices(const face3d::MorphableModel& model, const PartMesh& mesh,
                                     int num_face_vertices);
  // The triangles around each mesh vertex: those of vertex v are
  // ids[start[v]] .. ids[start[v + 1] - 1] (WarpOptions::exact_fold_edges
  // looks for the triangle covering an image pixel near the rendered ones).
  struct VertexTriangles {
    std::vector<int> start;
    std::vector<int32_t> ids;
  };
  static VertexTriangles FindVertexTriangles(const PartMesh& mesh);
  FaceWarper(PartMesh mesh, const WarpOptions& options, int num_face_vertices,
             int num_outer_triangles, std::array<int, 8> inner_lip, EyeVertices eyes, SkullVertices skull,
             uint64_t id)
      : vertex_triangles_(FindVertexTriangles(mesh)),
        mesh_(std::move(mesh)),
        options_(options),
        num_face_vertices_(num_face_vertices),
        num_outer_triangles_(num_outer_triangles),
        inner_lip_(inner_lip),
        eyes_(std::move(eyes)),
        skull_(skull),
        id_(id) {}
  VertexTriangles vertex_triangles_;
  PartMesh mesh_;
  WarpOptions options_;
  int num_face_vertices_;    // Mesh vertices [0, n) are the face part's.
  int num_outer_triangles_;  // Mesh triangles [0, n) are the face's and head's.
  // Mesh vertices of Multi-PIE landmarks 60-67 (inner lip contour), for the
  // lip-line snap; -1 where the mesh lacks one.
  std::array<int, 8> inner_lip_;
  EyeVertices eyes_;
  SkullVertices skull_;
  uint64_t id_;              // Unique per Create(): keys the per-thread source cache.
};

}  // namespace faceanime::render

#endif  // FACEANIME_RENDER_FACE_WARPER_H_
