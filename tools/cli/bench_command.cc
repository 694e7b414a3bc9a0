#include "tools/cli/bench_command.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "pipeline/frame_source.h"
#include "pipeline/retargeter.h"
#include "pipeline/stage_times.h"
#include "tools/cli/gst_jobs.h"
#include "tools/cli/progress.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kEncoder = "Mp4Writer: appsrc ! videoconvert ! I420 ! x264enc speed-preset=faster ! "
                                 "H.264 main ! mp4mux ! filesink";

double Ms(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

struct Summary {
  double median = 0, p95 = 0, mean = 0, max = 0;
  int count = 0;
};

Summary Summarize(std::vector<double> v) {
  Summary s;
  s.count = static_cast<int>(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  s.p95 = v[static_cast<size_t>(std::ceil(0.95 * n)) - 1];
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / n;
  s.max = v.back();
  return s;
}

cv::Size ParseSize(const std::string& text) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') || w < 16 ||
      h < 16 || w > 8192 || h > 8192) {
    throw std::invalid_argument("--driver-size '" + text + "' is not WxH with 16 <= W, H <= 8192 (e.g. 640x480)");
  }
  return {w, h};
}

double ProcessCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

double ThreadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

double PeakRssMib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux: KiB.
}

}  // namespace

CLI::App* AddBenchCommand(CLI::App& app, BenchArgs& args) {
  auto* cmd = app.add_subcommand(
      "bench", "Per-stage latency, end-to-end fps and peak memory of retargeting a portrait with a video");
  cmd->footer(
      "Per-stage latency (decode, resize, detect, landmarks, fit, motion, render, encode: median and p95 ms), "
      "end-to-end fps and peak RSS of retargeting a portrait with a driving video. Stages are timed with a "
      "steady clock in one thread; 'encode' is the main thread's Mp4Writer::Write (copy + appsrc push; x264 "
      "runs concurrently on GStreamer threads), and 'encode alone' re-encodes the outputs by themselves. "
      "Markdown on stdout, --json for the same figures. Median and p95 (nearest rank) over the frames; "
      "end-to-end fps = frames / (loop wall time + encoder flush); peak RSS = getrusage ru_maxrss.");
  cmd->add_option("--source", args.source, "Portrait image")->required()->check(CLI::ExistingFile);
  cmd->add_option("--driving", args.driving, "Driving video file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--json", args.json, "Also write the figures as JSON to this file");
  cmd->add_option("--output", args.output, "Keep the encoded video here (default: temporary file, removed)");
  cmd->add_option("--frames", args.frames, "Driver frames to process (0: the whole video)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--driver-size", args.driver_size, "Scale the driver to WxH before processing (e.g. 640x480)");
  cmd->add_option("--crop", args.crop, "Output an NxN crop around the face (0: full portrait)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--threads", args.threads, "Worker threads for the networks")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_flag("-q,--quiet", args.quiet, "No progress on stderr");
  AddGeneratorOptions(cmd, args.generator);
  return cmd;
}

int RunBench(const BenchArgs& args) {
  const cv::Size wanted_size = args.driver_size.empty() ? cv::Size() : ParseSize(args.driver_size);
  auto source = pipeline::FrameSource::Open(args.driving);
  if (source->is_still()) {
    throw std::invalid_argument("--driving '" + args.driving + "' is a still image: bench needs a video");
  }
  const cv::Size native = source->size();
  const cv::Size driver_size = wanted_size.area() > 0 ? wanted_size : native;

  pipeline::RetargeterOptions options;
  options.source_image = args.source;
  options.output_crop = args.crop;
  options.analysis.num_threads = args.threads;
  ApplyGeneratorArgs(args.generator, args.threads, options);
  const auto setup_t0 = Clock::now();
  auto retargeter = pipeline::Retargeter::Create(options);
  const double setup_ms = Ms(setup_t0);

  cv::Size out_size = retargeter->output_size();
  out_size.width &= ~1;  // H.264 in I420 needs even sizes.
  out_size.height &= ~1;
  const double fps = source->fps() > 0 ? source->fps() : 25.0;
  const bool keep_output = !args.output.empty();
  const fs::path tmp_dir = fs::temp_directory_path();
  const fs::path out_path =
      keep_output ? fs::path(args.output) : tmp_dir / ("faceanime-bench-" + std::to_string(getpid()) + ".mp4");
  const fs::path alone_path = tmp_dir / ("faceanime-bench-alone-" + std::to_string(getpid()) + ".mp4");
  auto writer = Mp4Writer::Open(out_path, out_size, static_cast<int>(std::lround(fps)));

  std::map<std::string, std::vector<double>> stages;
  const std::vector<std::string> order = {"decode", "resize", "detect", "detect_when_run", "landmarks", "fit",
                                          "motion", "render", "generator", "encode", "retarget_cpu", "frame_cpu"};
  for (const auto& s : order) stages[s];
  std::vector<cv::Mat> outputs;
  const int total = args.frames > 0 ? (source->frame_count() > 0 ? std::min(args.frames, source->frame_count())
                                                                   : args.frames)
                                    : source->frame_count();
  ProgressBar progress("bench", total, args.quiet);
  int frames = 0, faces = 0;
  const auto loop_t0 = Clock::now();
  while (args.frames == 0 || frames < args.frames) {
    const double cpu0 = ProcessCpuMs();
    auto t0 = Clock::now();
    auto frame = source->Next();
    if (!frame) break;
    stages["decode"].push_back(Ms(t0));
    t0 = Clock::now();
    cv::Mat bgr = frame->bgr;
    if (bgr.size() != driver_size) cv::resize(frame->bgr, bgr, driver_size, 0, 0, cv::INTER_LINEAR);
    stages["resize"].push_back(bgr.size() == frame->bgr.size() && wanted_size.area() == 0 ? 0.0 : Ms(t0));

    pipeline::StageTimes times;
    const double thread_cpu0 = ThreadCpuMs();
    const pipeline::RetargetFrame out = retargeter->Process(ViewOf(bgr, PixelFormat::kBgr), frame->pts_ns, &times);
    stages["retarget_cpu"].push_back(ThreadCpuMs() - thread_cpu0);
    faces += out.driver_face;
    stages["detect"].push_back(times.detect_ms);
    if (times.detected) stages["detect_when_run"].push_back(times.detect_ms);
    stages["landmarks"].push_back(times.landmarks_ms);
    stages["fit"].push_back(times.fit_ms);
    stages["motion"].push_back(times.motion_ms);
    stages["render"].push_back(times.render_ms);
    stages["generator"].push_back(times.generator_ms);

    t0 = Clock::now();
    const cv::Mat rgb = out.rgb(cv::Rect(0, 0, out_size.width, out_size.height));
    writer->Write(rgb);
    stages["encode"].push_back(Ms(t0));
    stages["frame_cpu"].push_back(ProcessCpuMs() - cpu0);
    outputs.push_back(rgb.clone());
    ++frames;
    progress.Update(frames, std::chrono::duration<double>(Clock::now() - loop_t0).count());
  }
  const auto flush_t0 = Clock::now();
  writer->Close();
  const double flush_ms = Ms(flush_t0);
  const double loop_s = std::chrono::duration<double>(Clock::now() - loop_t0).count();
  progress.Finish(frames, loop_s);
  if (frames == 0) throw std::runtime_error("'" + args.driving + "' has no frames");

  // The encoder by itself: the same frames, nothing else running.
  double alone_ms_per_frame = 0.0;
  {
    const auto t0 = Clock::now();
    auto alone = Mp4Writer::Open(alone_path, out_size, static_cast<int>(std::lround(fps)));
    for (const auto& f : outputs) alone->Write(f);
    alone->Close();
    alone_ms_per_frame = Ms(t0) / frames;
  }
  std::error_code ec;
  fs::remove(alone_path, ec);
  if (!keep_output) fs::remove(out_path, ec);

  const double e2e_fps = frames / loop_s;
  const double rss = PeakRssMib();
  const int warp_crop = options.warp.crop_size;

  // Markdown.
  std::printf("faceanime bench: %s driven by %s\n\n", args.source.c_str(), args.driving.c_str());
  std::printf("frames %d (driver face in %d), threads %d, driver %dx%d (native %dx%d), output %dx%d "
              "(crop %d), warp crop %d, generator %s\n\n",
              frames, faces, args.threads, driver_size.width, driver_size.height, native.width, native.height,
              out_size.width, out_size.height, args.crop, warp_crop, retargeter->generator().c_str());
  std::printf("| stage | median ms | p95 ms | mean ms | max ms | frames |\n|---|---:|---:|---:|---:|---:|\n");
  nlohmann::ordered_json jstages = nlohmann::ordered_json::object();
  for (const auto& name : order) {
    const Summary s = Summarize(stages[name]);
    const char* label = name == "detect_when_run" ? "detect (when run)"
                        : name == "generator"     ? "generator (neural, part of render)"
                        : name == "retarget_cpu"  ? "retarget CPU time (detect to render, main thread)"
                        : name == "frame_cpu"     ? "frame CPU time (process, all threads)"
                                                  : name.c_str();
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %d |\n", label, s.median, s.p95, s.mean, s.max, s.count);
    jstages[name] = {
        {"median_ms", s.median}, {"p95_ms", s.p95}, {"mean_ms", s.mean}, {"max_ms", s.max}, {"count", s.count}};
  }
  std::printf("| encode alone (x264 by itself, per frame) | | | %.2f | | %d |\n", alone_ms_per_frame, frames);
  std::printf("\nend-to-end: %.1f fps (%d frames in %.2f s incl. %.0f ms encoder flush); setup (models + source "
              "fit) %.0f ms; peak RSS %.0f MiB\n",
              e2e_fps, frames, loop_s, flush_ms, setup_ms, rss);
  std::printf("encoder: %s\n", kEncoder);

  if (!args.json.empty()) {
    nlohmann::ordered_json j;
    j["source"] = args.source;
    j["driving"] = args.driving;
    j["frames"] = frames;
    j["driver_faces"] = faces;
    j["threads"] = args.threads;
    const cv::Size src_size = retargeter->source_rgb().size();
    j["source_size"] = {src_size.width, src_size.height};
    j["driver_native_size"] = {native.width, native.height};
    j["driver_size"] = {driver_size.width, driver_size.height};
    j["output_size"] = {out_size.width, out_size.height};
    j["output_crop"] = args.crop;
    j["warp_crop"] = warp_crop;
    j["generator"] = retargeter->generator();
    j["encoder"] = kEncoder;
    j["setup_ms"] = setup_ms;
    j["stages"] = jstages;
    j["encode_flush_ms"] = flush_ms;
    j["encode_alone_ms_per_frame"] = alone_ms_per_frame;
    j["end_to_end_fps"] = e2e_fps;
    j["peak_rss_mib"] = rss;
    std::ofstream f(args.json);
    f << j.dump(2) << '\n';
    if (!f) throw std::runtime_error("cannot write '" + args.json + "': check the folder exists and is writable");
  }
  return 0;
}

}  // namespace faceanime::cli
