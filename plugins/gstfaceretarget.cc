// faceretarget: renders the source portrait (property `source`) driven by
// the face in each incoming frame's GstFaceMeta (put `facefit` upstream, or
// use the `faceanime` bin). Output frames have the source image's size (or
// `crop-size` squared) and the driver's timestamps. Thin glue over
// pipeline::Retargeter: read meta, call core, write frame. The image
// generator (`generator`, `model`, `device`) is chosen in start(): a missing
// neural model posts a warning and renders with the classical warp.
#include "plugins/gstfaceretarget.h"

#include <gst/video/video.h>

#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "face3d/data_paths.h"
#include "pipeline/retargeter.h"
#include "plugins/face_meta.h"
#include "plugins/generator_properties.h"
#include "plugins/video_frames.h"

GST_DEBUG_CATEGORY_STATIC(gst_face_retarget_debug);
#define GST_CAT_DEFAULT gst_face_retarget_debug

namespace {

enum {
  PROP_0,
  PROP_SOURCE,
  PROP_MOTION,
  PROP_TRANSFER_POSE,
  PROP_TRANSFER_EXPRESSION,
  PROP_TRANSFER_GAZE,
  PROP_EXPRESSION_GAIN,
  PROP_CROP_SIZE,
  PROP_THREADS,
  PROP_AU,
  PROP_EXPRESSION,
  PROP_EXPRESSION_STRENGTH,
  PROP_EXPRESSION_MODE,
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

struct Settings {
  std::string source;
  faceanime::pipeline::MotionTransferOptions motion;
  gint crop_size = 0;
  gint threads = 1;
  // Expression control (predict/expression_control.h).
  std::string au;          // "AU12=0.8,AU6=0.5".
  std::string expression;  // A preset: "happy" or "happy=0.7".
  gdouble expression_strength = 1.0;
  faceanime::predict::ExpressionBlend expression_mode = faceanime::predict::ExpressionBlend::kAdd;
  // Image generator (pipeline::RetargeterOptions::generator etc.), validated in start().
  faceanime::plugins::GeneratorSettings generator;
};

// The edit described by the settings (std::nullopt: none). Throws
// std::invalid_argument naming the bad value and listing the valid ones.
std::optional<faceanime::pipeline::ExpressionEdit> ParseEdit(const faceanime::pipeline::Retargeter& retargeter,
                                                             const Settings& s) {
  if (!s.au.empty() && !s.expression.empty()) {
    throw std::invalid_argument("set either 'au' or 'expression', not both");
  }
  faceanime::pipeline::ExpressionEdit edit;
  edit.mode = s.expression_mode;
  if (!s.au.empty()) {
    edit.aus = retargeter.expression_control().ParseActionUnits(s.au);
    for (auto& au : edit.aus) au.intensity *= s.expression_strength;
  } else if (!s.expression.empty()) {
    const auto preset = faceanime::predict::ParsePreset(s.expression);
    edit.aus = faceanime::predict::PresetActionUnits(preset.preset, preset.strength * s.expression_strength);
  } else {
    return std::nullopt;
  }
  return edit;
}

std::string EditKey(const Settings& s) {
  return s.au + "|" + s.expression + "|" + std::to_string(s.expression_strength) + "|" +
         std::to_string(static_cast<int>(s.expression_mode));
}

}  // namespace

struct _GstFaceRetarget {
  GstBaseTransform parent;
  Settings settings;  // Guarded by the object lock.
  // Streaming state, built in start(), dropped in stop().
  std::unique_ptr<faceanime::pipeline::Retargeter> retargeter;
  GstVideoInfo in_info;
  GstVideoInfo out_info;
  std::string applied_edit;  // EditKey of the edit in force.
};

G_DEFINE_TYPE(GstFaceRetarget, gst_face_retarget, GST_TYPE_BASE_TRANSFORM)

GType gst_face_retarget_motion_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(faceanime::pipeline::MotionMode::kRelative),
       "Relative: the driver's change from its first face, applied to the portrait's own face", "relative"},
      {static_cast<gint>(faceanime::pipeline::MotionMode::kAbsolute),
       "Absolute: the driver's head rotation and expression copied", "absolute"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstFaceRetargetMotion", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_face_retarget_expression_mode_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(faceanime::predict::ExpressionBlend::kReplace), "Replace the expression", "replace"},
      {static_cast<gint>(faceanime::predict::ExpressionBlend::kAdd), "Add to the driver's expression", "add"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstFaceRetargetExpressionMode", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

static void gst_face_retarget_set_property(GObject* object, guint prop_id, const GValue* value,
                                           GParamSpec* pspec) {
  GstFaceRetarget* self = GST_FACE_RETARGET(object);
  GST_OBJECT_LOCK(self);
  Settings& s = self->settings;
  switch (prop_id) {
    case PROP_SOURCE: s.source = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
    case PROP_MOTION: s.motion.mode = static_cast<faceanime::pipeline::MotionMode>(g_value_get_enum(value)); break;
    case PROP_TRANSFER_POSE: s.motion.transfer_pose = g_value_get_boolean(value); break;
    case PROP_TRANSFER_EXPRESSION: s.motion.transfer_expression = g_value_get_boolean(value); break;
    case PROP_TRANSFER_GAZE: s.motion.transfer_gaze = g_value_get_boolean(value); break;
    case PROP_EXPRESSION_GAIN: s.motion.expression_gain = g_value_get_double(value); break;
    case PROP_CROP_SIZE: s.crop_size = g_value_get_int(value); break;
    case PROP_THREADS: s.threads = g_value_get_int(value); break;
    case PROP_AU: s.au = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
    case PROP_EXPRESSION: s.expression = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
    case PROP_EXPRESSION_STRENGTH: s.expression_strength = g_value_get_double(value); break;
    case PROP_EXPRESSION_MODE:
      s.expression_mode = static_cast<faceanime::predict::ExpressionBlend>(g_value_get_enum(value));
      break;
    default:
      if (!s.generator.Set(kGeneratorIds, prop_id, value)) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_face_retarget_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstFaceRetarget* self = GST_FACE_RETARGET(object);
  GST_OBJECT_LOCK(self);
  const Settings& s = self->settings;
  switch (prop_id) {
    case PROP_SOURCE: g_value_set_string(value, s.source.c_str()); break;
    case PROP_MOTION: g_value_set_enum(value, static_cast<gint>(s.motion.mode)); break;
    case PROP_TRANSFER_POSE: g_value_set_boolean(value, s.motion.transfer_pose); break;
    case PROP_TRANSFER_EXPRESSION: g_value_set_boolean(value, s.motion.transfer_expression); break;
    case PROP_TRANSFER_GAZE: g_value_set_boolean(value, s.motion.transfer_gaze); break;
    case PROP_EXPRESSION_GAIN: g_value_set_double(value, s.motion.expression_gain); break;
    case PROP_CROP_SIZE: g_value_set_int(value, s.crop_size); break;
    case PROP_THREADS: g_value_set_int(value, s.threads); break;
    case PROP_AU: g_value_set_string(value, s.au.c_str()); break;
    case PROP_EXPRESSION: g_value_set_string(value, s.expression.c_str()); break;
    case PROP_EXPRESSION_STRENGTH: g_value_set_double(value, s.expression_strength); break;
    case PROP_EXPRESSION_MODE: g_value_set_enum(value, static_cast<gint>(s.expression_mode)); break;
    default:
      if (!s.generator.Get(kGeneratorIds, prop_id, value)) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_face_retarget_start(GstBaseTransform* trans) {
  GstFaceRetarget* self = GST_FACE_RETARGET(trans);
  GST_OBJECT_LOCK(self);
  const Settings settings = self->settings;
  GST_OBJECT_UNLOCK(self);
  if (settings.source.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("No source portrait: set the 'source' property to an image file."),
                      ("property 'source' is empty"));
    return FALSE;
  }
  faceanime::pipeline::RetargeterOptions options;
  options.source_image = settings.source;
  options.motion = settings.motion;
  options.output_crop = settings.crop_size;
  options.analysis.num_threads = settings.threads;
  settings.generator.ApplyTo(&options);
  options.neural_threads = settings.threads;
  options.on_warning = [](const std::string&) {};  // Posted below as element warnings.
  try {
    self->retargeter = faceanime::pipeline::Retargeter::Create(options);
  } catch (const std::invalid_argument& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Invalid setting: %s", e.what()), ("%s", e.what()));
    return FALSE;
  } catch (const faceanime::pipeline::GeneratorModelError& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("Cannot load the neural generator model: %s", e.what()),
                      ("%s", e.what()));
    return FALSE;
  } catch (const faceanime::pipeline::SourceError& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("Cannot use the source portrait '%s'.", settings.source.c_str()),
                      ("%s", e.what()));
    return FALSE;
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Could not load the face models. Run '%s' to install them (data directory: %s).",
                       faceanime::kSetupCommand, faceanime::FaceanimeDataDir().c_str()),
                      ("%s", e.what()));
    return FALSE;
  }
  for (const std::string& warning : self->retargeter->warnings()) {
    GST_ELEMENT_WARNING(self, RESOURCE, NOT_FOUND, ("Neural generator unavailable, using the classical warp: %s",
                                                    warning.c_str()),
                        ("%s", warning.c_str()));
  }
  try {
    self->retargeter->set_expression_edit(ParseEdit(*self->retargeter, settings));
    self->applied_edit = EditKey(settings);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Invalid expression setting: %s", e.what()), ("%s", e.what()));
    self->retargeter.reset();
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_face_retarget_stop(GstBaseTransform* trans) {
  GST_FACE_RETARGET(trans)->retargeter.reset();
  return TRUE;
}

// Output caps: the input's framerate, the portrait's size, any supported
// format. Input caps: any size.
static GstCaps* gst_face_retarget_transform_caps(GstBaseTransform* trans, GstPadDirection direction, GstCaps* caps,
                                                 GstCaps* filter) {
  GstFaceRetarget* self = GST_FACE_RETARGET(trans);
  GstCaps* formats = gst_caps_from_string(faceanime::plugins::kRawVideoCaps);
  GstCaps* result = gst_caps_new_empty();
  for (guint i = 0; i < gst_caps_get_size(caps); ++i) {
    GstStructure* s = gst_structure_copy(gst_caps_get_structure(caps, i));
    gst_structure_remove_fields(s, "format", "width", "height", "pixel-aspect-ratio", "colorimetry", "chroma-site",
                                nullptr);
    if (direction == GST_PAD_SINK && self->retargeter) {
      const cv::Size size = self->retargeter->output_size();
      gst_structure_set(s, "width", G_TYPE_INT, size.width, "height", G_TYPE_INT, size.height, "pixel-aspect-ratio",
                        GST_TYPE_FRACTION, 1, 1, nullptr);
    }
    GstCaps* one = gst_caps_new_full(s, nullptr);
    GstCaps* limited = gst_caps_intersect(one, formats);
    gst_caps_append(result, limited);
    gst_caps_unref(one);
  }
  gst_caps_unref(formats);
  if (filter) {
    GstCaps* tmp = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(result);
    result = tmp;
  }
  return result;
}

static gboolean gst_face_retarget_set_caps(GstBaseTransform* trans, GstCaps* incaps, GstCaps* outcaps) {
  GstFaceRetarget* self = GST_FACE_RETARGET(trans);
  if (!gst_video_info_from_caps(&self->in_info, incaps) || !gst_video_info_from_caps(&self->out_info, outcaps)) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Unsupported video caps."),
                      ("in: %" GST_PTR_FORMAT ", out: %" GST_PTR_FORMAT, incaps, outcaps));
    return FALSE;
  }
  return TRUE;
}

// Input and output frames differ in size: buffer sizes come from the caps.
static gboolean gst_face_retarget_get_unit_size(GstBaseTransform* /*trans*/, GstCaps* caps, gsize* size) {
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps)) return FALSE;
  *size = GST_VIDEO_INFO_SIZE(&info);
  return TRUE;
}

static gboolean gst_face_retarget_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstFaceRetarget* self = GST_FACE_RETARGET(trans);
  if ((GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP || GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START) &&
      self->retargeter) {
    self->retargeter->ResetDriver();
  }
  return GST_BASE_TRANSFORM_CLASS(gst_face_retarget_parent_class)->sink_event(trans, event);
}

static GstFlowReturn gst_face_retarget_transform(GstBaseTransform* trans, GstBuffer* inbuf, GstBuffer* outbuf) {
  GstFaceRetarget* self = GST_FACE_RETARGET(trans);
  GST_OBJECT_LOCK(self);
  const Settings settings = self->settings;
  GST_OBJECT_UNLOCK(self);
  const faceanime::pipeline::MotionTransferOptions& motion = settings.motion;
  if (const std::string key = EditKey(settings); key != self->applied_edit) {
    // Changed while playing: a bad value is a warning (the stream goes on
    // with no edit), not an error.
    self->applied_edit = key;
    try {
      self->retargeter->set_expression_edit(ParseEdit(*self->retargeter, settings));
    } catch (const std::exception& e) {
      self->retargeter->set_expression_edit(std::nullopt);
      GST_ELEMENT_WARNING(self, RESOURCE, SETTINGS, ("Ignoring an invalid expression setting: %s", e.what()),
                          ("%s", e.what()));
    }
  }

  const GstFaceMeta* meta = gst_buffer_get_primary_face_meta(inbuf);
  if (meta == nullptr) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                      ("faceretarget needs face analysis: put 'facefit' before it, or use the 'faceanime' element."),
                      ("buffer %" GST_TIME_FORMAT " carries no GstFaceMeta", GST_TIME_ARGS(GST_BUFFER_PTS(inbuf))));
    return GST_FLOW_ERROR;
  }
  std::optional<faceanime::face3d::FaceParams> driver;
  if (meta->has_face) {
    faceanime::face3d::FaceParams p;
    for (int k = 0; k < 3; ++k) {
      p.pose.rotation[k] = meta->rotation[k];
      p.pose.translation[k] = meta->translation[k];
    }
    for (int i = 0; i < GST_FACE_META_NUM_IDENTITY; ++i) p.identity[i] = meta->identity[i];
    for (int j = 0; j < GST_FACE_META_NUM_EXPRESSION; ++j) p.expression[j] = meta->expression[j];
    driver = p;
  }
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &self->out_info, outbuf, GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not map the output frame."), (nullptr));
    return GST_FLOW_ERROR;
  }
  GstFlowReturn ret = GST_FLOW_OK;
  try {
    self->retargeter->set_motion_options(motion);
    const GstClockTime pts = GST_BUFFER_PTS(inbuf);
    const auto out = self->retargeter->ProcessFace(driver, GST_CLOCK_TIME_IS_VALID(pts) ? static_cast<int64_t>(pts) : 0);
    faceanime::plugins::WriteRgb(out.rgb, &frame);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Retargeting failed."), ("%s", e.what()));
    ret = GST_FLOW_ERROR;
  }
  gst_video_frame_unmap(&frame);
  return ret;
}

static void gst_face_retarget_finalize(GObject* object) {
  GstFaceRetarget* self = GST_FACE_RETARGET(object);
  self->retargeter.~unique_ptr();
  self->applied_edit.~basic_string();
  self->settings.~Settings();
  G_OBJECT_CLASS(gst_face_retarget_parent_class)->finalize(object);
}

static void gst_face_retarget_class_init(GstFaceRetargetClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GST_DEBUG_CATEGORY_INIT(gst_face_retarget_debug, "faceretarget", 0, "faceanime retargeting");

  gobject_class->set_property = gst_face_retarget_set_property;
  gobject_class->get_property = gst_face_retarget_get_property;
  gobject_class->finalize = gst_face_retarget_finalize;
  const auto ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto playing =
      static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property(
      gobject_class, PROP_SOURCE,
      g_param_spec_string("source", "Source portrait", "Image file of the portrait to animate (one frontal face)",
                          nullptr, ready));
  g_object_class_install_property(
      gobject_class, PROP_MOTION,
      g_param_spec_enum("motion", "Motion", "How the driver's motion maps onto the portrait",
                        gst_face_retarget_motion_get_type(),
                        static_cast<gint>(faceanime::pipeline::MotionMode::kRelative), playing));
  g_object_class_install_property(
      gobject_class, PROP_TRANSFER_POSE,
      g_param_spec_boolean("transfer-pose", "Transfer pose", "Follow the driver's head pose", TRUE, playing));
  g_object_class_install_property(
      gobject_class, PROP_TRANSFER_EXPRESSION,
      g_param_spec_boolean("transfer-expression", "Transfer expression",
                           "Follow the driver's expression (all but gaze)", TRUE, playing));
  g_object_class_install_property(
      gobject_class, PROP_TRANSFER_GAZE,
      g_param_spec_boolean("transfer-gaze", "Transfer gaze", "Follow the driver's eye gaze", TRUE, playing));
  g_object_class_install_property(
      gobject_class, PROP_EXPRESSION_GAIN,
      g_param_spec_double("expression-gain", "Expression gain", "Scales the driver's expression change", 0.0, 3.0,
                          1.0, playing));
  g_object_class_install_property(
      gobject_class, PROP_CROP_SIZE,
      g_param_spec_int("crop-size", "Crop size",
                       "0: output the portrait's full size; N: an NxN crop around the portrait's face", 0, 4096, 0,
                       ready));
  g_object_class_install_property(
      gobject_class, PROP_AU,
      g_param_spec_string("au", "Action units",
                          "FACS action units applied to the portrait, e.g. \"AU12=0.8,AU6=0.5\" (intensities 0-1; "
                          "one-sided variants like AU12L; ICT-FaceKit's FACS table)",
                          "", playing));
  g_object_class_install_property(
      gobject_class, PROP_EXPRESSION,
      g_param_spec_string("expression", "Expression preset",
                          "An expression preset: angry, contemptuous, disgusted, fearful, happy, neutral, sad or "
                          "surprised, optionally with a strength (\"happy=0.7\")",
                          "", playing));
  g_object_class_install_property(
      gobject_class, PROP_EXPRESSION_STRENGTH,
      g_param_spec_double("expression-strength", "Expression strength",
                          "Scales the 'au' or 'expression' edit", 0.0, 1.0, 1.0, playing));
  g_object_class_install_property(
      gobject_class, PROP_EXPRESSION_MODE,
      g_param_spec_enum("expression-mode", "Expression mode",
                        "replace: the portrait gets exactly the edit's expression (the driver's own is removed down to "
                        "the rest state our fit reads on a neutral face); add: the edit is added to the "
                        "driver's expression",
                        gst_face_retarget_expression_mode_get_type(),
                        static_cast<gint>(faceanime::predict::ExpressionBlend::kAdd), playing));
  faceanime::plugins::InstallGeneratorProperties(gobject_class, kGeneratorIds, ready);
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_int("threads", "Threads", "Network threads for fitting the portrait and the neural generator (1 is fastest on a busy 2-core machine)", 1, 64, 1, ready));

  gst_element_class_set_static_metadata(
      element_class, "Face retarget", "Filter/Effect/Video",
      "Renders a still portrait driven by the face in each frame's GstFaceMeta (from facefit): head pose, "
      "expression and gaze, by a 3D-guided warp (optionally refined by a neural generator)",
      "faceanime developers");
  GstCaps* caps = gst_caps_from_string(faceanime::plugins::kRawVideoCaps);
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);

  trans_class->start = GST_DEBUG_FUNCPTR(gst_face_retarget_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_face_retarget_stop);
  trans_class->transform_caps = GST_DEBUG_FUNCPTR(gst_face_retarget_transform_caps);
  trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_face_retarget_set_caps);
  trans_class->get_unit_size = GST_DEBUG_FUNCPTR(gst_face_retarget_get_unit_size);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_face_retarget_sink_event);
  trans_class->transform = GST_DEBUG_FUNCPTR(gst_face_retarget_transform);
  trans_class->passthrough_on_same_caps = FALSE;
  gst_type_mark_as_plugin_api(gst_face_retarget_motion_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_face_retarget_expression_mode_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void gst_face_retarget_init(GstFaceRetarget* self) {
  new (&self->settings) Settings();
  new (&self->retargeter) std::unique_ptr<faceanime::pipeline::Retargeter>();
  new (&self->applied_edit) std::string();
  gst_video_info_init(&self->in_info);
  gst_video_info_init(&self->out_info);
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), TRUE);
}
