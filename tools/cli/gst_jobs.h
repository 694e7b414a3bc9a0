// The CLI's GStreamer jobs: probing media, writing MP4, and the retargeting
// pipeline (decode -> facefit -> faceretarget -> H.264/AAC -> MP4).
#ifndef FACEANIME_TOOLS_CLI_GST_JOBS_H_
#define FACEANIME_TOOLS_CLI_GST_JOBS_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "pipeline/motion_transfer.h"
#include "tools/cli/generator_args.h"

namespace faceanime::cli {

// A GStreamer job failed; what() says why (element errors included).
class JobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Calls gst_init once and registers faceanime's elements in-process.
void InitGstreamer();

struct MediaInfo {
  bool has_video = false;
  bool has_audio = false;
  int64_t duration_ns = -1;  // -1 when unknown.
  double fps = 0.0;
  int width = 0, height = 0;
};
// Probes a media file with GstDiscoverer. Throws JobError naming the file
// when it cannot be read as media.
MediaInfo ProbeMedia(const std::filesystem::path& path);

// Encodes RGB frames as H.264 (I420, x264) in MP4.
class Mp4Writer {
 public:
  // Throws JobError when the encoder elements are missing or the file
  // cannot be written.
  static std::unique_ptr<Mp4Writer> Open(const std::filesystem::path& path, cv::Size size, int fps);
  ~Mp4Writer();
  // `rgb`: CV_8UC3 RGB of the opened size. Frames are timed at index / fps.
  void Write(const cv::Mat& rgb);
  // Sends end-of-stream and waits for the file to be finished.
  void Close();

 private:
  struct Impl;
  explicit Mp4Writer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct RetargetJob {
  std::filesystem::path source;   // Portrait image.
  std::string driving;            // Video file or /dev/videoN.
  std::filesystem::path output;   // .mp4 (H.264 + AAC) or .mkv.
  bool audio = true;              // Mux the driver's audio when it has some.
  pipeline::MotionTransferOptions motion;
  int crop_size = 0;              // faceretarget crop-size.
  GeneratorArgs generator;        // faceretarget's generator properties (SetRetargetProperties).
  int threads = 1;
  bool quiet = false;
};

struct RetargetReport {
  int frames = 0;
  double seconds = 0.0;
  bool audio_muxed = false;
};

// Runs the retargeting pipeline to completion (a camera runs until SIGINT).
RetargetReport RunRetarget(const RetargetJob& job);

// Sets `job`'s portrait, motion, crop, threads and generator options
// (generator, model, device, neural-region, neural-open-ramp,
// neural-trust-error, hair-follows-head) on a faceretarget element (a
// GstElement*).
void SetRetargetProperties(void* faceretarget, const RetargetJob& job);

// The pipeline RunRetarget builds, as gst-launch-1.0 words: the same
// elements, each with every property that differs from its default, the
// faceanime elements named fit and retarget (`with_audio`: the driver's
// audio is muxed). Joined with spaces, a description gst_parse_launch takes.
std::vector<std::string> RetargetPipelineWords(const RetargetJob& job, bool with_audio);

// `word` for a POSIX shell: as it is when it has only characters no shell
// treats specially, else single-quoted.
std::string ShellWord(const std::string& word);

// `faceanime retarget --dry-run`: "gst-launch-1.0 -e ..." that runs what
// RunRetarget would run, one line quoted for a POSIX shell. Checks the job's
// inputs as RunRetarget does (it probes the driver for audio) and throws the
// same JobError.
std::string RetargetCommandLine(const RetargetJob& job);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_GST_JOBS_H_
