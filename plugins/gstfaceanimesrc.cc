// faceanimesrc: a video source that animates a still portrait (property
// `source`) with the learned dynamics predictor, optionally towards a target
// (`target` photo, `expression` preset or `au` action units), for `duration`
// seconds, then EOS. Not live: frames are made as fast as downstream takes
// them, timestamped from their index and the negotiated framerate (25/1 by
// default, the predictor's rate). Thin glue over pipeline::Prediction: the
// rollout is made in start(), each frame rendered in create().
#include "plugins/gstfaceanimesrc.h"

#include <gst/video/video.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "face3d/data_paths.h"
#include "pipeline/prediction.h"
#include "plugins/generator_properties.h"
#include "plugins/video_frames.h"
#include "predict/dynamics_predictor.h"

GST_DEBUG_CATEGORY_STATIC(gst_faceanime_src_debug);
#define GST_CAT_DEFAULT gst_faceanime_src_debug

namespace {

enum {
  PROP_0,
  PROP_SOURCE,
  PROP_TARGET,
  PROP_EXPRESSION,
  PROP_AU,
  PROP_EXPRESSION_MODE,
  PROP_TARGET_POSE,
  PROP_DURATION,
  PROP_TARGET_TIME,
  PROP_SEED,
  PROP_WEIGHTS,
  PROP_CROP_SIZE,
  PROP_THREADS,
  PROP_GENERATOR,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_NEURAL_REGION,
  PROP_NEURAL_OPEN_RAMP,
  PROP_NEURAL_TRUST_ERROR,
  PROP_HAIR_FOLLOWS_HEAD,
};
constexpr faceanime::plugins::GeneratorPropertyIds kGeneratorIds = {
    .generator = PROP_GENERATOR, .model = PROP_MODEL, .device = PROP_DEVICE, .region = PROP_NEURAL_REGION,
    .open_ramp = PROP_NEURAL_OPEN_RAMP, .trust_error = PROP_NEURAL_TRUST_ERROR,
    .hair_follows_head = PROP_HAIR_FOLLOWS_HEAD};

constexpr int kDefaultFps = 25;  // The predictor's training rate (GRID).
constexpr const char* kSrcCaps =
    "video/x-raw, format=(string)RGB, width=(int)[ 16, 8192 ], height=(int)[ 16, 8192 ], "
    "framerate=(fraction)[ 1/1, 120/1 ], pixel-aspect-ratio=(fraction)1/1";

// Defaults: see pipeline::PredictionOptions.
struct Settings {
  std::string source;
  std::string target;      // Target photo.
  std::string expression;  // "happy" or "happy=0.7".
  std::string au;          // "AU12=0.8,AU6=0.5".
  faceanime::predict::ExpressionBlend expression_mode = faceanime::predict::ExpressionBlend::kReplace;
  gboolean target_pose = TRUE;
  gdouble duration = 4.0;  // Seconds.
  gdouble target_time = 0.65;
  guint64 seed = 1;
  std::string weights;
  gint crop_size = 0;
  gint threads = 1;
  // Image generator (pipeline::RetargeterOptions::generator etc.), validated in start().
  faceanime::plugins::GeneratorSettings generator;
};

}  // namespace

struct _GstFaceanimeSrc {
  GstPushSrc parent;
  Settings settings;  // Guarded by the object lock.
  // Streaming state: built in start() (prediction) and set_caps() (info,
  // num_frames), dropped in stop().
  std::unique_ptr<faceanime::pipeline::Prediction> prediction;
  GstVideoInfo info;
  gint64 next_frame;
  gint num_frames;
};

G_DEFINE_TYPE(GstFaceanimeSrc, gst_faceanime_src, GST_TYPE_PUSH_SRC)

static GType gst_faceanime_src_expression_mode_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(faceanime::predict::ExpressionBlend::kReplace),
       "Replace: the target expression is exactly the preset / action units over the portrait's rest state", "replace"},
      {static_cast<gint>(faceanime::predict::ExpressionBlend::kAdd),
       "Add: the preset / action units on top of the portrait's own expression", "add"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstFaceanimeSrcExpressionMode", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

static std::string StringOf(const GValue* value) {
  const gchar* s = g_value_get_string(value);
  return s ? s : "";
}

static void gst_faceanime_src_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(object);
  GST_OBJECT_LOCK(self);
  Settings& s = self->settings;
  switch (prop_id) {
    case PROP_SOURCE: s.source = StringOf(value); break;
    case PROP_TARGET: s.target = StringOf(value); break;
    case PROP_EXPRESSION: s.expression = StringOf(value); break;
    case PROP_AU: s.au = StringOf(value); break;
    case PROP_EXPRESSION_MODE:
      s.expression_mode = static_cast<faceanime::predict::ExpressionBlend>(g_value_get_enum(value));
      break;
    case PROP_TARGET_POSE: s.target_pose = g_value_get_boolean(value); break;
    case PROP_DURATION: s.duration = g_value_get_double(value); break;
    case PROP_TARGET_TIME: s.target_time = g_value_get_double(value); break;
    case PROP_SEED: s.seed = g_value_get_uint64(value); break;
    case PROP_WEIGHTS: s.weights = StringOf(value); break;
    case PROP_CROP_SIZE: s.crop_size = g_value_get_int(value); break;
    case PROP_THREADS: s.threads = g_value_get_int(value); break;
    default:
      if (!s.generator.Set(kGeneratorIds, prop_id, value)) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_faceanime_src_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(object);
  GST_OBJECT_LOCK(self);
  const Settings& s = self->settings;
  switch (prop_id) {
    case PROP_SOURCE: g_value_set_string(value, s.source.c_str()); break;
    case PROP_TARGET: g_value_set_string(value, s.target.c_str()); break;
    case PROP_EXPRESSION: g_value_set_string(value, s.expression.c_str()); break;
    case PROP_AU: g_value_set_string(value, s.au.c_str()); break;
    case PROP_EXPRESSION_MODE: g_value_set_enum(value, static_cast<gint>(s.expression_mode)); break;
    case PROP_TARGET_POSE: g_value_set_boolean(value, s.target_pose); break;
    case PROP_DURATION: g_value_set_double(value, s.duration); break;
    case PROP_TARGET_TIME: g_value_set_double(value, s.target_time); break;
    case PROP_SEED: g_value_set_uint64(value, s.seed); break;
    case PROP_WEIGHTS: g_value_set_string(value, s.weights.c_str()); break;
    case PROP_CROP_SIZE: g_value_set_int(value, s.crop_size); break;
    case PROP_THREADS: g_value_set_int(value, s.threads); break;
    default:
      if (!s.generator.Get(kGeneratorIds, prop_id, value)) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_faceanime_src_start(GstBaseSrc* src) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(src);
  GST_OBJECT_LOCK(self);
  const Settings s = self->settings;
  GST_OBJECT_UNLOCK(self);
  if (s.source.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("No source portrait: set the 'source' property to an image file."),
                      ("property 'source' is empty"));
    return FALSE;
  }
  faceanime::pipeline::PredictionOptions options;
  options.retargeter.source_image = s.source;
  options.retargeter.output_crop = s.crop_size;
  options.retargeter.analysis.num_threads = s.threads;
  s.generator.ApplyTo(&options.retargeter);
  options.retargeter.neural_threads = s.threads;
  std::vector<std::string> warnings;
  options.retargeter.on_warning = [&warnings](const std::string& w) { warnings.push_back(w); };
  options.target.image = s.target;
  options.target.expression = s.expression;
  options.target.au = s.au;
  options.mode = s.expression_mode;
  options.target_pose = s.target_pose;
  options.seconds = s.duration;
  options.target_time = s.target_time;
  options.seed = s.seed;
  options.weights = s.weights;
  try {
    self->prediction = faceanime::pipeline::Prediction::Create(options);
  } catch (const faceanime::pipeline::SourceError& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("Cannot use the source portrait '%s'.", s.source.c_str()),
                      ("%s", e.what()));
    return FALSE;
  } catch (const faceanime::pipeline::TargetError& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("Cannot use the target image '%s'.", s.target.c_str()),
                      ("%s", e.what()));
    return FALSE;
  } catch (const faceanime::predict::PredictorModelError& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Could not load the motion predictor's weights (property 'weights'; empty: the committed "
                       "ones): %s",
                       e.what()),
                      ("%s", e.what()));
    return FALSE;
  } catch (const std::invalid_argument& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Invalid setting: %s", e.what()), ("%s", e.what()));
    return FALSE;
  } catch (const faceanime::pipeline::GeneratorModelError& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("Cannot load the neural generator model: %s", e.what()),
                      ("%s", e.what()));
    return FALSE;
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Could not load the face models. Run '%s' to install them (data directory: %s).",
                       faceanime::kSetupCommand, faceanime::FaceanimeDataDir().c_str()),
                      ("%s", e.what()));
    return FALSE;
  }
  for (const std::string& warning : warnings) {
    GST_ELEMENT_WARNING(self, RESOURCE, NOT_FOUND, ("Neural generator unavailable, using the classical warp: %s",
                                                    warning.c_str()),
                        ("%s", warning.c_str()));
  }
  self->next_frame = 0;
  self->num_frames = 0;
  gst_video_info_init(&self->info);
  return TRUE;
}

static gboolean gst_faceanime_src_stop(GstBaseSrc* src) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(src);
  self->prediction.reset();
  self->next_frame = 0;
  self->num_frames = 0;
  return TRUE;
}

// RGB at the portrait's output size (known once started), any framerate.
static GstCaps* gst_faceanime_src_get_caps(GstBaseSrc* src, GstCaps* filter) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(src);
  GstCaps* caps = gst_caps_from_string(kSrcCaps);
  if (self->prediction) {
    const cv::Size size = self->prediction->output_size();
    gst_caps_set_simple(caps, "width", G_TYPE_INT, size.width, "height", G_TYPE_INT, size.height, nullptr);
  }
  if (filter) {
    GstCaps* tmp = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(caps);
    caps = tmp;
  }
  return caps;
}

static GstCaps* gst_faceanime_src_fixate(GstBaseSrc* src, GstCaps* caps) {
  caps = gst_caps_make_writable(caps);
  for (guint i = 0; i < gst_caps_get_size(caps); ++i) {
    gst_structure_fixate_field_nearest_fraction(gst_caps_get_structure(caps, i), "framerate", kDefaultFps, 1);
  }
  return GST_BASE_SRC_CLASS(gst_faceanime_src_parent_class)->fixate(src, caps);
}

static gboolean gst_faceanime_src_set_caps(GstBaseSrc* src, GstCaps* caps) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(src);
  GstVideoInfo info;
  if (!self->prediction || !gst_video_info_from_caps(&info, caps) || GST_VIDEO_INFO_FPS_N(&info) <= 0) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Unsupported video caps."), ("%" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  self->info = info;
  self->num_frames = self->prediction->NumFrames(GST_VIDEO_INFO_FPS_N(&info), GST_VIDEO_INFO_FPS_D(&info));
  return TRUE;
}

static gint64 FrameTime(const GstVideoInfo* info, gint64 index) {
  return faceanime::pipeline::FrameTimeNs(index, GST_VIDEO_INFO_FPS_N(info), GST_VIDEO_INFO_FPS_D(info));
}

static gboolean gst_faceanime_src_query(GstBaseSrc* src, GstQuery* query) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(src);
  if (GST_QUERY_TYPE(query) == GST_QUERY_DURATION && self->num_frames > 0) {
    GstFormat format;
    gst_query_parse_duration(query, &format, nullptr);
    if (format == GST_FORMAT_TIME) {
      gst_query_set_duration(query, format, FrameTime(&self->info, self->num_frames));
      return TRUE;
    }
  }
  return GST_BASE_SRC_CLASS(gst_faceanime_src_parent_class)->query(src, query);
}

// Frames are made in order only (no seeking).
static gboolean gst_faceanime_src_is_seekable(GstBaseSrc* /*src*/) { return FALSE; }

static GstFlowReturn gst_faceanime_src_create(GstPushSrc* src, GstBuffer** out) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(src);
  if (self->num_frames <= 0) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("faceanimesrc was not negotiated."), (nullptr));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (self->next_frame >= self->num_frames) return GST_FLOW_EOS;
  const gint64 k = self->next_frame;
  const gint64 pts = FrameTime(&self->info, k);
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&self->info), nullptr);
  GstVideoFrame frame;
  if (buffer == nullptr || !gst_video_frame_map(&frame, &self->info, buffer, GST_MAP_WRITE)) {
    if (buffer) gst_buffer_unref(buffer);
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("Could not allocate an output frame."), (nullptr));
    return GST_FLOW_ERROR;
  }
  try {
    faceanime::plugins::WriteRgb(self->prediction->RenderAt(pts), &frame);
  } catch (const std::exception& e) {
    gst_video_frame_unmap(&frame);
    gst_buffer_unref(buffer);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Rendering the animation failed."), ("%s", e.what()));
    return GST_FLOW_ERROR;
  }
  gst_video_frame_unmap(&frame);
  GST_BUFFER_PTS(buffer) = static_cast<GstClockTime>(pts);
  GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION(buffer) = static_cast<GstClockTime>(FrameTime(&self->info, k + 1) - pts);
  GST_BUFFER_OFFSET(buffer) = static_cast<guint64>(k);
  GST_BUFFER_OFFSET_END(buffer) = static_cast<guint64>(k + 1);
  if (k == 0) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
  ++self->next_frame;
  *out = buffer;
  return GST_FLOW_OK;
}

static void gst_faceanime_src_finalize(GObject* object) {
  GstFaceanimeSrc* self = GST_FACEANIME_SRC(object);
  self->prediction.~unique_ptr();
  self->settings.~Settings();
  G_OBJECT_CLASS(gst_faceanime_src_parent_class)->finalize(object);
}

static void gst_faceanime_src_class_init(GstFaceanimeSrcClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSrcClass* basesrc_class = GST_BASE_SRC_CLASS(klass);
  GstPushSrcClass* pushsrc_class = GST_PUSH_SRC_CLASS(klass);
  GST_DEBUG_CATEGORY_INIT(gst_faceanime_src_debug, "faceanimesrc", 0, "faceanime predicted animation source");

  gobject_class->set_property = gst_faceanime_src_set_property;
  gobject_class->get_property = gst_faceanime_src_get_property;
  gobject_class->finalize = gst_faceanime_src_finalize;
  const auto ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gobject_class, PROP_SOURCE,
      g_param_spec_string("source", "Source portrait", "Image file of the portrait to animate (one frontal face)",
                          nullptr, ready));
  g_object_class_install_property(
      gobject_class, PROP_TARGET,
      g_param_spec_string("target", "Target image",
                          "A face photo to animate towards: its expression, and its head rotation relative to the "
                          "portrait's (see target-pose). Set at most one of target, expression, au; none: free "
                          "motion chosen by the seed",
                          "", ready));
  g_object_class_install_property(
      gobject_class, PROP_EXPRESSION,
      g_param_spec_string("expression", "Target expression preset",
                          "Animate towards a preset: angry, contemptuous, disgusted, fearful, happy, neutral, sad "
                          "or surprised, optionally with a strength (\"happy=0.7\")",
                          "", ready));
  g_object_class_install_property(
      gobject_class, PROP_AU,
      g_param_spec_string("au", "Target action units",
                          "Animate towards FACS action units, e.g. \"AU12=0.8,AU6=0.5\" (intensities 0-1; "
                          "one-sided variants like AU12L)",
                          "", ready));
  g_object_class_install_property(
      gobject_class, PROP_EXPRESSION_MODE,
      g_param_spec_enum("expression-mode", "Expression mode",
                        "How an 'expression' or 'au' target combines with the portrait's own expression",
                        gst_faceanime_src_expression_mode_get_type(),
                        static_cast<gint>(faceanime::predict::ExpressionBlend::kReplace), ready));
  g_object_class_install_property(
      gobject_class, PROP_TARGET_POSE,
      g_param_spec_boolean("target-pose", "Target pose",
                           "With 'target': also turn the head to the target's rotation (FALSE: expression only)",
                           TRUE, ready));
  g_object_class_install_property(
      gobject_class, PROP_DURATION,
      g_param_spec_double("duration", "Duration", "Length of the animation in seconds; EOS after it", 0.04, 3600.0,
                          4.0, ready));
  g_object_class_install_property(
      gobject_class, PROP_TARGET_TIME,
      g_param_spec_double("target-time", "Target time",
                          "When the target is reached, as a fraction of the duration (the face holds it after)",
                          0.01, 1.0, 0.65, ready));
  g_object_class_install_property(
      gobject_class, PROP_SEED,
      g_param_spec_uint64("seed", "Seed", "Motion seed: same seed and settings, same video", 0, G_MAXUINT64, 1,
                          ready));
  g_object_class_install_property(
      gobject_class, PROP_WEIGHTS,
      g_param_spec_string("weights", "Predictor weights",
                          "Weights file of the motion predictor (empty: $FACEANIME_PREDICTOR, else the committed "
                          "weights from the data directory or assets/predictor/)",
                          "", ready));
  g_object_class_install_property(
      gobject_class, PROP_CROP_SIZE,
      g_param_spec_int("crop-size", "Crop size",
                       "0: output the portrait's full size; N: an NxN crop around the portrait's face", 0, 4096, 0,
                       ready));
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_int("threads", "Threads",
                       "Network threads for fitting the portrait (1 is fastest on a busy 2-core machine)", 1, 64, 1,
                       ready));
  faceanime::plugins::InstallGeneratorProperties(gobject_class, kGeneratorIds, ready);

  gst_element_class_set_static_metadata(
      element_class, "Face animation source", "Source/Video",
      "Animates a still portrait with the learned 3D motion predictor, optionally towards a target face photo, "
      "expression preset or action units; RGB frames at the portrait's size for 'duration' seconds, then EOS",
      "faceanime developers");
  GstCaps* caps = gst_caps_from_string(kSrcCaps);
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);

  basesrc_class->start = GST_DEBUG_FUNCPTR(gst_faceanime_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR(gst_faceanime_src_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR(gst_faceanime_src_get_caps);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR(gst_faceanime_src_fixate);
  basesrc_class->set_caps = GST_DEBUG_FUNCPTR(gst_faceanime_src_set_caps);
  basesrc_class->query = GST_DEBUG_FUNCPTR(gst_faceanime_src_query);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR(gst_faceanime_src_is_seekable);
  pushsrc_class->create = GST_DEBUG_FUNCPTR(gst_faceanime_src_create);
  gst_type_mark_as_plugin_api(gst_faceanime_src_expression_mode_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void gst_faceanime_src_init(GstFaceanimeSrc* self) {
  new (&self->settings) Settings();
  new (&self->prediction) std::unique_ptr<faceanime::pipeline::Prediction>();
  gst_video_info_init(&self->info);
  self->next_frame = 0;
  self->num_frames = 0;
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
  gst_base_src_set_live(GST_BASE_SRC(self), FALSE);
}
