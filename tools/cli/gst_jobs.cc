#include "tools/cli/gst_jobs.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>

#include <atomic>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <charconv>
#include <csignal>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "plugins/elements.h"
#include "tools/cli/progress.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted = true; }

// Owns a GstElement* (pipeline) reference.
struct PipelineRef {
  GstElement* pipeline = nullptr;
  ~PipelineRef() {
    if (pipeline != nullptr) {
      gst_element_set_state(pipeline, GST_STATE_NULL);
      gst_object_unref(pipeline);
    }
  }
};

std::string ErrorText(GstMessage* msg) {
  GError* error = nullptr;
  gchar* debug = nullptr;
  gst_message_parse_error(msg, &error, &debug);
  std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " + (error ? error->message : "?");
  if (debug != nullptr) text += std::string(" (") + debug + ")";
  if (error != nullptr) g_error_free(error);
  g_free(debug);
  return text;
}

GstElement* Make(const char* factory, const char* name = nullptr) {
  GstElement* e = gst_element_factory_make(factory, name);
  if (e == nullptr) {
    throw JobError(std::string("GStreamer element '") + factory +
                   "' is missing: install the GStreamer plugin packages (tools/setup does)");
  }
  return e;
}

// Parses a bin from a description, with ghost pads for its unlinked pads.
GstElement* BinFrom(const std::string& description) {
  GError* error = nullptr;
  GstElement* bin = gst_parse_bin_from_description(description.c_str(), TRUE, &error);
  if (bin == nullptr) {
    const std::string why = error ? error->message : "?";
    if (error) g_error_free(error);
    throw JobError("cannot build '" + description + "': " + why +
                   " (install the GStreamer plugin packages: tools/setup)");
  }
  return bin;
}

}  // namespace

void InitGstreamer() {
  static std::once_flag once;
  std::call_once(once, [] {
    gst_init(nullptr, nullptr);
    plugins::RegisterStatic();
  });
}

MediaInfo ProbeMedia(const fs::path& path) {
  InitGstreamer();
  if (!fs::exists(path)) throw JobError("input '" + path.string() + "' does not exist");
  GError* error = nullptr;
  GstDiscoverer* discoverer = gst_discoverer_new(20 * GST_SECOND, &error);
  if (discoverer == nullptr) throw JobError("cannot create a GstDiscoverer");
  gchar* uri = gst_filename_to_uri(fs::absolute(path).c_str(), nullptr);
  GstDiscovererInfo* info = gst_discoverer_discover_uri(discoverer, uri, &error);
  g_free(uri);
  MediaInfo media;
  const GstDiscovererResult result = info ? gst_discoverer_info_get_result(info) : GST_DISCOVERER_ERROR;
  if (result != GST_DISCOVERER_OK) {
    const std::string why = error ? error->message : "unreadable";
    if (error) g_error_free(error);
    if (info) gst_discoverer_info_unref(info);
    g_object_unref(discoverer);
    throw JobError("cannot read '" + path.string() + "' as media: " + why);
  }
  if (error) g_error_free(error);
  media.duration_ns = static_cast<int64_t>(gst_discoverer_info_get_duration(info));
  GList* videos = gst_discoverer_info_get_video_streams(info);
  if (videos != nullptr) {
    auto* v = GST_DISCOVERER_VIDEO_INFO(videos->data);
    media.has_video = true;
    media.width = static_cast<int>(gst_discoverer_video_info_get_width(v));
    media.height = static_cast<int>(gst_discoverer_video_info_get_height(v));
    const guint den = gst_discoverer_video_info_get_framerate_denom(v);
    media.fps = den ? static_cast<double>(gst_discoverer_video_info_get_framerate_num(v)) / den : 0.0;
  }
  GList* audios = gst_discoverer_info_get_audio_streams(info);
  media.has_audio = audios != nullptr;
  gst_discoverer_stream_info_list_free(videos);
  gst_discoverer_stream_info_list_free(audios);
  gst_discoverer_info_unref(info);
  g_object_unref(discoverer);
  return media;
}

// --------------------------------------------------------------------------
struct Mp4Writer::Impl {
  PipelineRef ref;
  GstElement* appsrc = nullptr;
  GstBus* bus = nullptr;
  cv::Size size;
  int fps = 25;
  int64_t index = 0;
  fs::path path;
  bool closed = false;

  ~Impl() {
    if (appsrc) gst_object_unref(appsrc);
    if (bus) gst_object_unref(bus);
  }

  void CheckBus() {
    while (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      const std::string text = ErrorText(msg);
      gst_message_unref(msg);
      throw JobError("writing '" + path.string() + "' failed: " + text);
    }
  }
};

Mp4Writer::Mp4Writer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Mp4Writer::~Mp4Writer() {
  if (!impl_->closed) {
    try {
      Close();
    } catch (...) {
      // Destructors must not throw; Close() reports errors to callers.
    }
  }
}

std::unique_ptr<Mp4Writer> Mp4Writer::Open(const fs::path& path, cv::Size size, int fps) {
  InitGstreamer();
  if (size.width % 2 || size.height % 2) throw JobError("H.264/I420 output needs even frame sizes");
  auto impl = std::make_unique<Impl>();
  impl->size = size;
  impl->fps = fps;
  impl->path = path;
  const std::string description =
      "appsrc name=src format=time block=true max-bytes=" + std::to_string(8 * size.area() * 3) +
      " caps=video/x-raw,format=RGB,width=" + std::to_string(size.width) + ",height=" +
      std::to_string(size.height) + ",framerate=" + std::to_string(fps) +
      "/1 ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=faster ! video/x-h264,profile=main ! " +
      (path.extension() == ".mkv" ? "matroskamux" : "mp4mux") + " ! filesink name=sink";
  GError* error = nullptr;
  impl->ref.pipeline = gst_parse_launch(description.c_str(), &error);
  if (impl->ref.pipeline == nullptr || error != nullptr) {
    const std::string why = error ? error->message : "?";
    if (error) g_error_free(error);
    throw JobError("cannot build the encoder (" + why + "): install gstreamer1.0-plugins-ugly (x264enc) and "
                   "gstreamer1.0-plugins-good (mp4mux); tools/setup does");
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(impl->ref.pipeline), "sink");
  g_object_set(sink, "location", path.c_str(), nullptr);
  gst_object_unref(sink);
  impl->appsrc = gst_bin_get_by_name(GST_BIN(impl->ref.pipeline), "src");
  impl->bus = gst_element_get_bus(impl->ref.pipeline);
  if (gst_element_set_state(impl->ref.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    impl->CheckBus();
    throw JobError("cannot start writing '" + path.string() + "'");
  }
  return std::unique_ptr<Mp4Writer>(new Mp4Writer(std::move(impl)));
}

void Mp4Writer::Write(const cv::Mat& rgb) {
  if (rgb.size() != impl_->size || rgb.type() != CV_8UC3) throw JobError("Mp4Writer: frame size or type mismatch");
  impl_->CheckBus();
  const size_t row = static_cast<size_t>(rgb.cols) * 3;
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, row * rgb.rows, nullptr);
  GstMapInfo map;
  gst_buffer_map(buffer, &map, GST_MAP_WRITE);
  for (int r = 0; r < rgb.rows; ++r) std::memcpy(map.data + r * row, rgb.ptr(r), row);
  gst_buffer_unmap(buffer, &map);
  GST_BUFFER_PTS(buffer) = gst_util_uint64_scale(impl_->index, GST_SECOND, impl_->fps);
  GST_BUFFER_DURATION(buffer) = gst_util_uint64_scale(1, GST_SECOND, impl_->fps);
  ++impl_->index;
  if (gst_app_src_push_buffer(GST_APP_SRC(impl_->appsrc), buffer) != GST_FLOW_OK) {
    impl_->CheckBus();
    throw JobError("writing '" + impl_->path.string() + "' failed");
  }
}

void Mp4Writer::Close() {
  if (impl_->closed) return;
  impl_->closed = true;
  gst_app_src_end_of_stream(GST_APP_SRC(impl_->appsrc));
  GstMessage* msg = gst_bus_timed_pop_filtered(impl_->bus, 120 * GST_SECOND,
                                               static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (msg == nullptr) throw JobError("timed out finishing '" + impl_->path.string() + "'");
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    const std::string text = ErrorText(msg);
    gst_message_unref(msg);
    throw JobError("writing '" + impl_->path.string() + "' failed: " + text);
  }
  gst_message_unref(msg);
  gst_element_set_state(impl_->ref.pipeline, GST_STATE_NULL);
}

// --------------------------------------------------------------------------
namespace {

// The fixed parts of the retargeting pipeline, shared by RunRetarget and
// the description --dry-run prints.
constexpr char kVideoEncode[] =
    "videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=faster ! video/x-h264,profile=main ! queue";
constexpr char kAudioEncode[] = "queue ! audioconvert ! audioresample ! avenc_aac ! queue";

bool IsCamera(const RetargetJob& job) { return job.driving.rfind("/dev/video", 0) == 0; }
bool IsMkv(const RetargetJob& job) { return job.output.extension() == ".mkv"; }

void SetFitProperties(GstElement* facefit, const RetargetJob& job) {
  g_object_set(facefit, "threads", job.threads, nullptr);
}

// The job's inputs, checked before anything is built.
struct RetargetInput {
  MediaInfo media;  // Unset for a camera.
  bool with_audio = false;  // The driver's audio is muxed.
};
RetargetInput PrepareRetarget(const RetargetJob& job) {
  InitGstreamer();
  RetargetInput in;
  if (!IsCamera(job)) {
    in.media = ProbeMedia(job.driving);
    if (!in.media.has_video) throw JobError("'" + job.driving + "' has no video stream");
  }
  if (!fs::exists(job.source)) throw JobError("source image '" + job.source.string() + "' does not exist");
  in.with_audio = job.audio && in.media.has_audio;
  return in;
}

// Appends the space-separated words of a fixed description part.
void AppendWords(const std::string& part, std::vector<std::string>* words) {
  size_t start = 0;
  while (start < part.size()) {
    const size_t end = std::min(part.find(' ', start), part.size());
    if (end > start) words->push_back(part.substr(start, end - start));
    start = end + 1;
  }
}

// The writable properties of `element` a description can set (not
// construct-only, not GstObject's name and parent), with their values.
struct PropertyValues {
  std::vector<std::string> names;
  std::vector<GValue> values;
  explicit PropertyValues(GstElement* element) {
    guint count = 0;
    GParamSpec** specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(element), &count);
    for (guint i = 0; i < count; ++i) {
      const GParamSpec* spec = specs[i];
      if (!(spec->flags & G_PARAM_WRITABLE) || (spec->flags & G_PARAM_CONSTRUCT_ONLY) ||
          spec->owner_type == GST_TYPE_OBJECT || spec->owner_type == G_TYPE_OBJECT) {
        continue;
      }
      names.push_back(spec->name);
      values.push_back(G_VALUE_INIT);
      g_value_init(&values.back(), spec->value_type);
      g_object_get_property(G_OBJECT(element), spec->name, &values.back());
    }
    g_free(specs);
  }
  ~PropertyValues() {
    for (auto& v : values) g_value_unset(&v);
  }
  PropertyValues(const PropertyValues&) = delete;
  PropertyValues& operator=(const PropertyValues&) = delete;
};

// A property value as gst-launch-1.0 reads it: gst_value_serialize's text
// (quoted and escaped where the parser needs it), doubles in the shortest
// form that reads back exactly.
std::string Serialize(const GValue& value) {
  if (G_VALUE_TYPE(&value) == G_TYPE_DOUBLE) {
    char text[32];
    const auto end = std::to_chars(text, text + sizeof(text), g_value_get_double(&value)).ptr;
    return std::string(text, end);
  }
  gchar* text = gst_value_serialize(&value);
  std::string out = text != nullptr ? text : "";
  g_free(text);
  return out;
}

// Appends name=value for every property `configure` changes on a fresh
// `factory` element, and for `shown` (a location, a device) even when it
// keeps its default; the values elements choose themselves, such as a
// muxer's temporary file, stay out.
void AppendConfiguredElement(const char* factory, const char* name, const char* shown,
                             const std::function<void(GstElement*)>& configure, std::vector<std::string>* words) {
  GstElement* element = Make(factory);
  gst_object_ref_sink(element);
  const PropertyValues before(element);
  configure(element);
  const PropertyValues after(element);
  words->push_back(factory);
  if (name != nullptr) words->push_back(std::string("name=") + name);
  for (size_t i = 0; i < after.names.size(); ++i) {
    const bool always = shown != nullptr && after.names[i] == shown;
    if (always || g_param_values_cmp(g_object_class_find_property(G_OBJECT_GET_CLASS(element), after.names[i].c_str()),
                                     &before.values[i], &after.values[i]) != 0) {
      words->push_back(after.names[i] + "=" + Serialize(after.values[i]));
    }
  }
  gst_object_unref(element);
}

struct RetargetState {
  GstElement* video_branch = nullptr;
  GstElement* audio_branch = nullptr;  // Null: audio not wanted or absent.
  std::atomic<int> frames{0};
};

void OnPadAdded(GstElement* /*decodebin*/, GstPad* pad, gpointer data) {
  auto* state = static_cast<RetargetState*>(data);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (caps == nullptr) caps = gst_pad_query_caps(pad, nullptr);
  const char* name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  GstElement* branch = nullptr;
  if (g_str_has_prefix(name, "video/")) branch = state->video_branch;
  if (g_str_has_prefix(name, "audio/")) branch = state->audio_branch;
  gst_caps_unref(caps);
  if (branch == nullptr) return;  // Unused stream (e.g. audio with --no-audio).
  GstPad* sink = gst_element_get_static_pad(branch, "sink");
  if (!gst_pad_is_linked(sink)) gst_pad_link(pad, sink);
  gst_object_unref(sink);
}

GstPadProbeReturn CountFrames(GstPad* /*pad*/, GstPadProbeInfo* /*info*/, gpointer data) {
  static_cast<RetargetState*>(data)->frames++;
  return GST_PAD_PROBE_OK;
}

}  // namespace

std::string ShellWord(const std::string& word) {
  // A lone "!" (gst-launch's link) is not history expansion in bash either.
  constexpr char kPlain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=.,:/@%";
  const bool plain = word == "!" || (!word.empty() && word.find_first_not_of(kPlain) == std::string::npos);
  if (plain) return word;
  std::string quoted = "'";
  for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::vector<std::string> RetargetPipelineWords(const RetargetJob& job, bool with_audio) {
  InitGstreamer();
  std::vector<std::string> words;
  auto element = [&](const char* factory, const char* name, const char* shown,
                     const std::function<void(GstElement*)>& configure) {
    AppendConfiguredElement(factory, name, shown, configure, &words);
  };
  const auto none = [](GstElement*) {};
  if (IsCamera(job)) {
    element("v4l2src", nullptr, "device",
            [&](GstElement* e) { g_object_set(e, "device", job.driving.c_str(), nullptr); });
    AppendWords("! queue ! videoconvert !", &words);
  } else {
    element("filesrc", nullptr, "location",
            [&](GstElement* e) { g_object_set(e, "location", job.driving.c_str(), nullptr); });
    AppendWords("! decodebin name=dec dec. ! video/x-raw ! queue ! videoconvert !", &words);
  }
  element("facefit", "fit", nullptr, [&](GstElement* e) { SetFitProperties(e, job); });
  words.push_back("!");
  element("faceretarget", "retarget", "source", [&](GstElement* e) { SetRetargetProperties(e, job); });
  AppendWords(std::string("! ") + kVideoEncode + " !", &words);
  element(IsMkv(job) ? "matroskamux" : "mp4mux", "mux", nullptr, none);
  words.push_back("!");
  element("filesink", nullptr, "location",
          [&](GstElement* e) { g_object_set(e, "location", job.output.c_str(), nullptr); });
  if (with_audio) AppendWords(std::string("dec. ! audio/x-raw ! ") + kAudioEncode + " ! mux.", &words);
  return words;
}

std::string RetargetCommandLine(const RetargetJob& job) {
  std::string line = "gst-launch-1.0 -e";
  for (const auto& word : RetargetPipelineWords(job, PrepareRetarget(job).with_audio)) line += " " + ShellWord(word);
  return line;
}

void SetRetargetProperties(void* faceretarget, const RetargetJob& job) {
  GObject* retarget = G_OBJECT(faceretarget);
  const GeneratorArgs& g = job.generator;
  g_object_set(retarget, "generator", g.generator.c_str(), "model", g.model.c_str(), "device", g.device.c_str(),
               "neural-region", g.region.c_str(), "neural-open-ramp", g.open_ramp, "neural-trust-error",
               g.trust_error, "hair-follows-head", static_cast<gboolean>(!g.no_hair_follow), nullptr);
  g_object_set(retarget, "source", job.source.c_str(), "threads", job.threads, "crop-size", job.crop_size,
               "transfer-pose", job.motion.transfer_pose, "transfer-expression", job.motion.transfer_expression,
               "transfer-gaze", job.motion.transfer_gaze, "expression-gain", job.motion.expression_gain, nullptr);
  gst_util_set_object_arg(retarget, "motion",
                          job.motion.mode == pipeline::MotionMode::kAbsolute ? "absolute" : "relative");
}

RetargetReport RunRetarget(const RetargetJob& job) {
  const RetargetInput in = PrepareRetarget(job);
  const MediaInfo& media = in.media;
  const bool is_camera = IsCamera(job), with_audio = in.with_audio;

  PipelineRef ref;
  ref.pipeline = gst_pipeline_new("retarget");
  RetargetState state;
  GstElement* input = nullptr;
  if (is_camera) {
    input = Make("v4l2src", "in");
    g_object_set(input, "device", job.driving.c_str(), nullptr);
  } else {
    input = Make("filesrc", "in");
    g_object_set(input, "location", job.driving.c_str(), nullptr);
  }
  GstElement* mux = Make(IsMkv(job) ? "matroskamux" : "mp4mux", "mux");
  GstElement* sink = Make("filesink", "out");
  g_object_set(sink, "location", job.output.c_str(), nullptr);
  state.video_branch =
      BinFrom(std::string("queue ! videoconvert ! facefit name=fit ! faceretarget name=retarget ! ") + kVideoEncode);
  gst_bin_add_many(GST_BIN(ref.pipeline), input, state.video_branch, mux, sink, nullptr);
  if (with_audio) {
    state.audio_branch = BinFrom(kAudioEncode);
    gst_bin_add(GST_BIN(ref.pipeline), state.audio_branch);
    if (!gst_element_link(state.audio_branch, mux)) throw JobError("cannot link the audio encoder to the muxer");
  }
  if (!gst_element_link(state.video_branch, mux) || !gst_element_link(mux, sink)) {
    throw JobError("cannot link the video encoder to the muxer");
  }
  if (is_camera) {
    if (!gst_element_link(input, state.video_branch)) throw JobError("cannot link the camera");
  } else {
    GstElement* decode = Make("decodebin", "dec");
    gst_bin_add(GST_BIN(ref.pipeline), decode);
    gst_element_link(input, decode);
    g_signal_connect(decode, "pad-added", G_CALLBACK(OnPadAdded), &state);
  }
  GstElement* fit = gst_bin_get_by_name(GST_BIN(state.video_branch), "fit");
  GstElement* retarget = gst_bin_get_by_name(GST_BIN(state.video_branch), "retarget");
  SetFitProperties(fit, job);
  SetRetargetProperties(retarget, job);
  GstPad* counted = gst_element_get_static_pad(retarget, "src");
  gst_pad_add_probe(counted, GST_PAD_PROBE_TYPE_BUFFER, CountFrames, &state, nullptr);
  gst_object_unref(counted);
  gst_object_unref(fit);
  gst_object_unref(retarget);

  g_interrupted = false;
  auto old_handler = std::signal(SIGINT, OnSigint);
  const auto t0 = std::chrono::steady_clock::now();
  const int total = media.duration_ns > 0 && media.fps > 0
                        ? static_cast<int>(media.duration_ns * 1e-9 * media.fps + 0.5)
                        : -1;
  ProgressBar progress("retarget", total, job.quiet);
  if (gst_element_set_state(ref.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    GstBus* bus = gst_element_get_bus(ref.pipeline);
    GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    gst_object_unref(bus);
    std::signal(SIGINT, old_handler);
    if (msg != nullptr) {
      const std::string text = ErrorText(msg);
      gst_message_unref(msg);
      throw JobError(text);
    }
    throw JobError("cannot start the pipeline");
  }
  GstBus* bus = gst_element_get_bus(ref.pipeline);
  bool eos_sent = false;
  std::string error_text;
  for (;;) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 100 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (msg != nullptr && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING) {
      // E.g. faceretarget's fallback from a missing neural model: shown even with -q.
      GError* warning = nullptr;
      gst_message_parse_warning(msg, &warning, nullptr);
      std::fprintf(stderr, "faceanime: warning: %s: %s\n", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)),
                   warning ? warning->message : "?");
      if (warning != nullptr) g_error_free(warning);
      gst_message_unref(msg);
      continue;
    }
    if (msg == nullptr) {
      progress.Update(state.frames, elapsed);
      if (g_interrupted && !eos_sent) {
        gst_element_send_event(ref.pipeline, gst_event_new_eos());  // Finish the file properly.
        eos_sent = true;
      }
      continue;
    }
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) error_text = ErrorText(msg);
    gst_message_unref(msg);
    break;
  }
  gst_object_unref(bus);
  std::signal(SIGINT, old_handler);
  RetargetReport report;
  report.frames = state.frames;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.audio_muxed = with_audio;
  progress.Finish(report.frames, report.seconds);
  if (!error_text.empty()) throw JobError(error_text);
  return report;
}

}  // namespace faceanime::cli
