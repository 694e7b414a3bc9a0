// Eyelid closure measured from the pixels of a video stream, per eye, by
// analysis by synthesis against the stream's own open-eye appearance.
//
// Why: a 68-point landmark net barely moves its eyelid points when a lid
// closes (face-api on GRID's 360x288 frames and on our own renders:
// docs/benchmarks.md, "AU round trip on rendered pixels"), so a fit to the
// landmarks never sees a blink. The pixels do: an open eye shows the dark
// iris and the lash line at the upper lid, a closed one shows lid skin down
// to a lash line at the lower lid.
//
// How, per eye:
//  * Alignment. The eye's two corner landmarks define a similarity frame; the
//    patch around the eye is resampled (luma, box-prefiltered when the eye is
//    larger than the canonical one) into a small canonical patch in which the
//    corners sit at fixed points.
//  * Open-eye appearance. The first `reference_frames` measurable frames,
//    `reference_stride` frames apart, are registered to the first one (best
//    integer shift by normalised cross-correlation) and their per-pixel median
//    is the reference (a blink among them is outvoted); the mean upper- and
//    lower-lid landmarks of those frames, in the canonical frame, say where
//    the lids are in it. No reading until the reference is complete.
//  * Synthesis. For a closure c in [0, 1] the reference is warped as the
//    morphable model's eyeBlink moves the lid: the upper-lid margin moves
//    from its open row towards the lower lid (c = 1: to 10% of the open gap
//    above it), the lash line above the margin moves with it unstretched,
//    the lid skin from 6 canonical pixels above the open margin down to the
//    lash line stretches over the eye (column by column; the fold and brow
//    above stay), the eyeball and lower lid below the margin stay as they
//    were.
//    Optionally (gaze_steps > 1) looking down is synthesised too: the
//    eyeball turns down (its rows below the margin move down by a share of
//    the gap), the margin follows it, and a closure closes the lid from
//    there. Off by default: on GRID it explained real closed eyes as glances
//    (srbb6p frame 40 read open with 0.2 or 0.4 of the gap).
//  * Matching. The frame's patch is compared with each synthesis (closure_steps
//    closures from 0 to 1 times gaze_steps gazes) by normalised cross-correlation over
//    the eye region, at every integer shift up to max_shift_px canonical
//    pixels (landmark jitter), and the closure of the best match, refined by
//    a parabola through its neighbours, is the reading.
//  * Adaptation. A frame read as open (closure <= adapt_max_closure) with a
//    good match is blended into the reference at adapt_rate (slow lighting
//    and head-pose changes of a long stream); the syntheses are redone from
//    it every 8 blends.
//
// Units: closure 0 = the lid as open as in the reference frames, 1 = closed.
// Images: any PixelFormat (read as luma, Rec. 601), OpenCV pixel coordinates
// (integer coordinates are pixel centres); landmarks in those pixels,
// Multi-PIE 68-point order. Eye 0 is landmarks 36-41 (the subject's right
// eye, on the image's left for a face turned to the camera), eye 1 is 42-47
// (the subject's left). No clock is read; frames are given in stream order.
#ifndef FACEANIME_FACE3D_EYELID_METER_H_
#define FACEANIME_FACE3D_EYELID_METER_H_

#include <array>
#include <optional>
#include <vector>

#include "face3d/face_params.h"
#include "face3d/image.h"

namespace faceanime::face3d {

struct EyelidMeterOptions {
  // Frames whose median is the open-eye reference (>= 1, default 5), taken
  // reference_stride measurable frames apart (>= 1, default 3: the reference
  // spans ~0.5 s at 25 fps, longer than a blink's closed phase).
  int reference_frames = 5;
  int reference_stride = 3;
  // Eyes narrower than this (corner to corner, image pixels) give no
  // reading (> 0, default 9: below it the open lid gap is ~2 px).
  double min_eye_width_px = 9.0;
  // Largest registration shift, canonical pixels (>= 0, default 2; the
  // canonical eye is 24 px from corner to corner).
  int max_shift_px = 2;
  // Closures tried between 0 and 1 inclusive (>= 3, default 11).
  int closure_steps = 11;
  // Downward gazes tried (>= 1; default 1: none), evenly from 0 to
  // max_gaze_down (in [0, 1], default 0.2) of the open lid gap: how far the
  // eyeball turns down, its lid margin following it (see the file comment).
  int gaze_steps = 1;
  double max_gaze_down = 0.2;
  // Best normalised cross-correlation below this gives no reading (the eye
  // is occluded, blurred, or not what the reference shows). In [-1, 1],
  // default 0.5.
  double min_match = 0.5;
  // Reference adaptation: rate in [0, 1) (0: off; default 0.02) for frames
  // read at or below adapt_max_closure (in [0, 1], default 0.05) whose match
  // is at least adapt_min_match (in [-1, 1], default 0.8).
  double adapt_rate = 0.02;
  double adapt_max_closure = 0.05;
  double adapt_min_match = 0.8;
};

// One eye's reading.
struct EyelidReading {
  double closure = 0.0;  // [0, 1]: 0 open as in the reference, 1 closed.
  // The best synthesis's downward gaze, a share of the open lid gap, [0, 1].
  double gaze_down = 0.0;
  double match = 0.0;    // Normalised cross-correlation of the best synthesis, [-1, 1].
};

class EyelidMeter {
 public:
  static constexpr int kNumEyes = 2;

  // Throws std::invalid_argument for invalid options.
  static EyelidMeter Create(const EyelidMeterOptions& options = {});

  // One frame of the stream and its 68 landmarks (pixels). Per eye: the
  // reading, or std::nullopt when there is none (reference not complete yet,
  // the eye partly out of the image, too small, non-finite landmarks,
  // textureless, or no synthesis matches at min_match). Never throws for
  // bad pixels or landmarks.
  std::array<std::optional<EyelidReading>, kNumEyes> Measure(const ImageView& image, const Landmarks68& landmarks);

  // Forgets the reference (a new face or scene).
  void Reset();

  // True once eye `eye`'s reference is complete.
  bool has_reference(int eye) const { return eyes_[eye].ready; }
  const EyelidMeterOptions& options() const { return options_; }

  // Canonical patch geometry (pixels): the eye corners sit at
  // (kCornerX0, kCornerY) and (kCornerX1, kCornerY).
  static constexpr int kPatchWidth = 40;
  static constexpr int kPatchHeight = 24;
  static constexpr double kCornerX0 = 8.0;
  static constexpr double kCornerX1 = 32.0;
  static constexpr double kCornerY = 14.0;

 private:
  // Canonical lid points (x, y): upper-lid landmarks a, b (left to right
  // in the patch), then lower-lid landmarks a, b.
  using LidPoints = std::array<double, 8>;
  struct Eye {
    bool ready = false;
    int seen = 0;                              // Measurable frames since Reset().
    int blends = 0;                            // Adaptation blends into the reference.
    std::vector<std::vector<float>> pending;   // Registered reference patches.
    std::vector<LidPoints> pending_lids;
    std::vector<float> reference;              // kPatchHeight x kPatchWidth, row-major.
    LidPoints lids{};
    // Per (gaze, closure) step, gaze-major: the synthesis's matching window,
    // zero mean and unit norm (empty: textureless).
    std::vector<std::vector<float>> synth;
  };

  explicit EyelidMeter(const EyelidMeterOptions& options) : options_(options) {}
  std::optional<EyelidReading> MeasureEye(const ImageView& image, const Landmarks68& landmarks, int eye);
  void Synthesise(Eye& e) const;

  EyelidMeterOptions options_;
  std::array<Eye, kNumEyes> eyes_;
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_EYELID_METER_H_
