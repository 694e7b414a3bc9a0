// facefit: a pass-through analysis element. For every raw video frame it
// runs pipeline::FaceAnalyzer (detect, 68 landmarks, 3DMM tracking fit) and
// attaches a GstFaceMeta (plugins/face_meta.h); optionally posts an element
// message per frame. Thin glue: map frame, call core, attach.
#include "plugins/gstfacefit.h"

#include <gst/video/video.h>

#include <exception>
#include <memory>
#include <string>

#include "face3d/data_paths.h"
#include "face3d/image.h"
#include "pipeline/face_analyzer.h"
#include "plugins/face_meta.h"
#include "plugins/video_frames.h"

GST_DEBUG_CATEGORY_STATIC(gst_face_fit_debug);
#define GST_CAT_DEFAULT gst_face_fit_debug

namespace {

enum {
  PROP_0,
  PROP_DETECTOR,
  PROP_TINY_LANDMARKS,
  PROP_THREADS,
  PROP_MIN_CONFIDENCE,
  PROP_POST_MESSAGES,
  PROP_EYELIDS_FROM_PIXELS,
};

constexpr int kDefaultThreads = 1;  // See FaceAnalyzerOptions::num_threads.
constexpr double kDefaultMinConfidence = 0.2;

struct Settings {
  faceanime::face3d::DetectorModel detector = faceanime::face3d::DetectorModel::kBlazeFaceFront;
  gboolean tiny_landmarks = FALSE;
  gint threads = kDefaultThreads;
  gdouble min_confidence = kDefaultMinConfidence;
  gboolean post_messages = FALSE;
  gboolean eyelids_from_pixels = faceanime::pipeline::FaceAnalyzerOptions{}.eyelids_from_pixels;
};

}  // namespace

struct _GstFaceFit {
  GstVideoFilter parent;
  Settings settings;  // Guarded by the object lock.
  std::unique_ptr<faceanime::pipeline::FaceAnalyzer> analyzer;  // Streaming thread only.
  faceanime::plugins::RgbConverter converter;
};

G_DEFINE_TYPE(GstFaceFit, gst_face_fit, GST_TYPE_VIDEO_FILTER)

static GType gst_face_fit_detector_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(faceanime::face3d::DetectorModel::kBlazeFaceFront),
       "BlazeFace front (128 px input; faces filling much of the frame: webcams, portraits)", "blazeface-front"},
      {static_cast<gint>(faceanime::face3d::DetectorModel::kBlazeFaceBack),
       "BlazeFace back (256 px input; smaller faces)", "blazeface-back"},
      {static_cast<gint>(faceanime::face3d::DetectorModel::kYuNet),
       "YuNet (small or distant faces)", "yunet"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstFaceFitDetector", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

static void gst_face_fit_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstFaceFit* self = GST_FACE_FIT(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_DETECTOR:
      self->settings.detector = static_cast<faceanime::face3d::DetectorModel>(g_value_get_enum(value));
      break;
    case PROP_TINY_LANDMARKS: self->settings.tiny_landmarks = g_value_get_boolean(value); break;
    case PROP_THREADS: self->settings.threads = g_value_get_int(value); break;
    case PROP_MIN_CONFIDENCE: self->settings.min_confidence = g_value_get_double(value); break;
    case PROP_POST_MESSAGES: self->settings.post_messages = g_value_get_boolean(value); break;
    case PROP_EYELIDS_FROM_PIXELS: self->settings.eyelids_from_pixels = g_value_get_boolean(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_face_fit_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstFaceFit* self = GST_FACE_FIT(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_DETECTOR: g_value_set_enum(value, static_cast<gint>(self->settings.detector)); break;
    case PROP_TINY_LANDMARKS: g_value_set_boolean(value, self->settings.tiny_landmarks); break;
    case PROP_THREADS: g_value_set_int(value, self->settings.threads); break;
    case PROP_MIN_CONFIDENCE: g_value_set_double(value, self->settings.min_confidence); break;
    case PROP_POST_MESSAGES: g_value_set_boolean(value, self->settings.post_messages); break;
    case PROP_EYELIDS_FROM_PIXELS: g_value_set_boolean(value, self->settings.eyelids_from_pixels); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_face_fit_start(GstBaseTransform* trans) {
  GstFaceFit* self = GST_FACE_FIT(trans);
  GST_OBJECT_LOCK(self);
  const Settings settings = self->settings;
  GST_OBJECT_UNLOCK(self);
  faceanime::pipeline::FaceAnalyzerOptions options;
  options.detector.model = settings.detector;
  options.landmarks.tiny = settings.tiny_landmarks;
  options.num_threads = settings.threads;
  options.min_fit_confidence = settings.min_confidence;
  options.eyelids_from_pixels = settings.eyelids_from_pixels;
  try {
    self->analyzer = faceanime::pipeline::FaceAnalyzer::Create(options);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Could not load the face models. Run '%s' to install them (data directory: %s).",
                       faceanime::kSetupCommand, faceanime::FaceanimeDataDir().c_str()),
                      ("%s", e.what()));
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_face_fit_stop(GstBaseTransform* trans) {
  GstFaceFit* self = GST_FACE_FIT(trans);
  self->analyzer.reset();
  self->converter = {};
  return TRUE;
}

static gboolean gst_face_fit_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstFaceFit* self = GST_FACE_FIT(trans);
  if ((GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP || GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START) &&
      self->analyzer) {
    self->analyzer->Reset();  // A seek or a new stream: forget the tracked face.
  }
  return GST_BASE_TRANSFORM_CLASS(gst_face_fit_parent_class)->sink_event(trans, event);
}

static void FillMeta(GstFaceMeta* meta, const faceanime::pipeline::FaceObservation& face) {
  meta->has_face = TRUE;
  const Eigen::Vector2d size = face.box.sizes();
  meta->box[0] = static_cast<gfloat>(face.box.min().x());
  meta->box[1] = static_cast<gfloat>(face.box.min().y());
  meta->box[2] = static_cast<gfloat>(size.x());
  meta->box[3] = static_cast<gfloat>(size.y());
  for (int i = 0; i < GST_FACE_META_NUM_LANDMARKS; ++i) {
    meta->landmarks[i][0] = static_cast<gfloat>(face.landmarks[i].x());
    meta->landmarks[i][1] = static_cast<gfloat>(face.landmarks[i].y());
  }
  for (int k = 0; k < 3; ++k) {
    meta->rotation[k] = face.params.pose.rotation[k];
    meta->translation[k] = face.params.pose.translation[k];
  }
  meta->focal = face.camera.focal;
  meta->cx = face.camera.cx;
  meta->cy = face.camera.cy;
  for (int i = 0; i < GST_FACE_META_NUM_IDENTITY; ++i) meta->identity[i] = face.params.identity[i];
  for (int j = 0; j < GST_FACE_META_NUM_EXPRESSION; ++j) meta->expression[j] = face.params.expression[j];
  meta->confidence = face.confidence;
  meta->rmse_px = face.rmse_px;
}

static void PostMessage(GstFaceFit* self, GstBuffer* buffer, const GstFaceMeta* meta) {
  GstStructure* s = gst_structure_new("facefit", "timestamp", G_TYPE_UINT64, GST_BUFFER_PTS(buffer), "has-face",
                                      G_TYPE_BOOLEAN, meta->has_face, "confidence", G_TYPE_DOUBLE, meta->confidence,
                                      nullptr);
  if (meta->has_face) {
    faceanime::face3d::Pose pose;
    pose.rotation = Eigen::Vector3d(meta->rotation[0], meta->rotation[1], meta->rotation[2]);
    const auto e = faceanime::face3d::ToEuler(pose);
    gst_structure_set(s, "x", G_TYPE_DOUBLE, static_cast<double>(meta->box[0]), "y", G_TYPE_DOUBLE,
                      static_cast<double>(meta->box[1]), "width", G_TYPE_DOUBLE, static_cast<double>(meta->box[2]),
                      "height", G_TYPE_DOUBLE, static_cast<double>(meta->box[3]), "yaw", G_TYPE_DOUBLE, e.yaw,
                      "pitch", G_TYPE_DOUBLE, e.pitch, "roll", G_TYPE_DOUBLE, e.roll, nullptr);
    GstStructure* expression = gst_structure_new_empty("expression");
    for (guint j = 0; j < GST_FACE_META_NUM_EXPRESSION; ++j) {
      gst_structure_set(expression, gst_face_meta_expression_name(j), G_TYPE_DOUBLE, meta->expression[j], nullptr);
    }
    gst_structure_set(s, "expression", GST_TYPE_STRUCTURE, expression, nullptr);
    gst_structure_free(expression);
  }
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

static GstFlowReturn gst_face_fit_transform_frame_ip(GstVideoFilter* filter, GstVideoFrame* frame) {
  GstFaceFit* self = GST_FACE_FIT(filter);
  GST_OBJECT_LOCK(self);
  const gboolean post = self->settings.post_messages;
  GST_OBJECT_UNLOCK(self);
  GstFaceMeta* meta = gst_buffer_add_face_meta(frame->buffer);
  try {
    const faceanime::ImageView view = self->converter.View(frame);
    const auto face = self->analyzer->AnalyzeFrame(view, static_cast<int64_t>(GST_BUFFER_PTS(frame->buffer)));
    if (face) FillMeta(meta, *face);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Face analysis failed."), ("%s", e.what()));
    return GST_FLOW_ERROR;
  }
  if (post) PostMessage(self, frame->buffer, meta);
  return GST_FLOW_OK;
}

static void gst_face_fit_finalize(GObject* object) {
  GstFaceFit* self = GST_FACE_FIT(object);
  self->analyzer.~unique_ptr();
  self->converter.~RgbConverter();
  self->settings.~Settings();
  G_OBJECT_CLASS(gst_face_fit_parent_class)->finalize(object);
}

static void gst_face_fit_class_init(GstFaceFitClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);
  GST_DEBUG_CATEGORY_INIT(gst_face_fit_debug, "facefit", 0, "faceanime face analysis");

  gobject_class->set_property = gst_face_fit_set_property;
  gobject_class->get_property = gst_face_fit_get_property;
  gobject_class->finalize = gst_face_fit_finalize;

  g_object_class_install_property(
      gobject_class, PROP_DETECTOR,
      g_param_spec_enum("detector", "Detector", "Face detector used when (re)acquiring a face",
                        gst_face_fit_detector_get_type(),
                        static_cast<gint>(faceanime::face3d::DetectorModel::kBlazeFaceFront),
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                 GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(
      gobject_class, PROP_TINY_LANDMARKS,
      g_param_spec_boolean("tiny-landmarks", "Tiny landmarks",
                           "Use face-api's tiny 68-point network (faster, less precise)", FALSE,
                           static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                    GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_int("threads", "Threads", "Network threads (1 is fastest on a busy 2-core machine; see README)", 1, 64, kDefaultThreads,
                       static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(
      gobject_class, PROP_MIN_CONFIDENCE,
      g_param_spec_double("min-confidence", "Minimum confidence",
                          "Fits below this confidence are reported as no face", 0.0, 1.0, kDefaultMinConfidence,
                          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                   GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(
      gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean("post-messages", "Post messages",
                           "Post a 'facefit' element message per frame (box, pose, expression by name)", FALSE,
                           static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                    GST_PARAM_MUTABLE_PLAYING)));

  g_object_class_install_property(
      gobject_class, PROP_EYELIDS_FROM_PIXELS,
      g_param_spec_boolean("eyelids-from-pixels", "Eyelids from pixels",
                           "Take the tracked eyeBlink weights from the eye pixels (each eye's lid closure against "
                           "the stream's own open eyes, from its first ~13 frames with a face; both weights follow "
                           "the less closed eye, so winks are not transferred) instead of the landmark fit, which "
                           "does not see a lid close",
                           faceanime::pipeline::FaceAnalyzerOptions{}.eyelids_from_pixels,
                           static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                    GST_PARAM_MUTABLE_READY)));

  gst_element_class_set_static_metadata(
      element_class, "Face fit", "Filter/Analyzer/Video",
      "Detects a face, its 68 landmarks and a 3D morphable-model fit (pose, identity, expression); attaches them "
      "as GstFaceMeta and passes the frame through unchanged",
      "faceanime developers");
  GstCaps* caps = gst_caps_from_string(faceanime::plugins::kRawVideoCaps);
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);

  trans_class->start = GST_DEBUG_FUNCPTR(gst_face_fit_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_face_fit_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_face_fit_sink_event);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR(gst_face_fit_transform_frame_ip);
  gst_type_mark_as_plugin_api(gst_face_fit_detector_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void gst_face_fit_init(GstFaceFit* self) {
  new (&self->settings) Settings();
  new (&self->analyzer) std::unique_ptr<faceanime::pipeline::FaceAnalyzer>();
  new (&self->converter) faceanime::plugins::RgbConverter();
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), TRUE);
}
