// `faceanime bench`: per-stage latency of the retargeting pipeline on a real
// source portrait and driving video, end-to-end frames per second and peak
// memory. Prints a Markdown table on stdout; --json writes the same figures.
//
// Per frame, in one thread, in this order (wall time, std::chrono::steady_clock):
//   decode     FrameSource::Next(): FFmpeg decode + conversion to BGR (OpenCV)
//   resize     scaling the driver to --driver-size (cv::resize, bilinear); 0
//              when the driver keeps its size
//   detect     face detection (tracker time minus the landmark network; the
//              detector itself runs on the first frame and on re-detection,
//              reported separately as "detect (when run)")
//   landmarks  68-landmark network
//   fit        3DMM tracking fit
//   motion     motion transfer
//   render     3D-guided warp + paste-back (+ output crop), generator included
//   generator  the neural generator (--generator neural): priors, face crop,
//              network, feathered paste; part of render; 0 when classical
//   encode     Mp4Writer::Write: the RGB frame copied into a GstBuffer and
//              pushed into appsrc (blocks when its 8-frame queue is full).
//              x264enc (speed-preset=faster, main profile, I420) and mp4mux
//              run on GStreamer's own threads, concurrently with the next
//              frames, so their CPU time shows up in the other stages and in
//              the end-to-end rate. The encoder's own cost is measured
//              separately: "encode alone" re-encodes the kept output frames
//              with nothing else running (total Write + Close time / frames).
//   retarget_cpu  CPU time of the calling thread in Retargeter::Process
//              (detect to render; LibTorch and OpenCV DNN run their single
//              network thread on it), steadier than wall time on a busy machine
//   frame_cpu  process CPU time (CLOCK_PROCESS_CPUTIME_ID) from decode to
//              encode, all threads (GStreamer's encoder threads included)
// Median, p95 (nearest rank), mean and max over the frames. End-to-end fps = frames /
// (wall time of the whole loop + the final encoder flush). Peak RSS =
// getrusage(RUSAGE_SELF).ru_maxrss (the whole process, models included).
//
// JSON keys (stable): source, driving, frames, driver_faces, threads,
// source_size [w, h], driver_native_size [w, h], driver_size [w, h],
// output_size [w, h], output_crop, warp_crop, generator, encoder, setup_ms,
// stages {decode, resize, detect, detect_when_run, landmarks, fit, motion,
// render, generator, encode, retarget_cpu, frame_cpu: {median_ms, p95_ms, mean_ms, max_ms,
// count}}, encode_flush_ms,
// encode_alone_ms_per_frame, end_to_end_fps, peak_rss_mib.
#ifndef FACEANIME_TOOLS_CLI_BENCH_COMMAND_H_
#define FACEANIME_TOOLS_CLI_BENCH_COMMAND_H_

#include <string>

#include <CLI/CLI.hpp>

#include "tools/cli/generator_args.h"

namespace faceanime::cli {

struct BenchArgs {
  std::string source;       // Portrait image.
  std::string driving;      // Driving video.
  std::string json;         // Optional JSON output path.
  std::string output;       // Encoded video (default: a temporary file, removed).
  int frames = 0;           // Driver frames (0: the whole video).
  std::string driver_size;  // "WxH" to scale the driver; empty: native size.
  int crop = 0;             // Output crop (0: full portrait).
  int threads = 1;
  bool quiet = false;
  GeneratorArgs generator;
};

// Adds the `bench` subcommand to `app`, parsing into `args`.
CLI::App* AddBenchCommand(CLI::App& app, BenchArgs& args);

// Runs it; returns the exit status. Throws on errors (the message names the
// cause and the fix).
int RunBench(const BenchArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_BENCH_COMMAND_H_
