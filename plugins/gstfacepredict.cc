// facepredict: the online mode of the learned dynamics predictor on the live
// path, between `facefit` and `faceretarget`. For every buffer it reads the
// primary GstFaceMeta, runs predict::OnlinePredictor (look-ahead of
// `lookahead` frames to hide pipeline latency, bridging face losses of up to
// `max-gap` frames) and rewrites that meta in place with the predicted face:
// pose, identity and expression are the predictor's; box, landmarks, camera,
// confidence and rmse stay those of the last observed face (a bridged frame
// copies them from it). Before the first face and after a longer loss the
// meta says has_face = FALSE, as facefit does. Pixels pass through unchanged.
// Thin glue: read meta, call core, write meta.
#include "plugins/gstfacepredict.h"

#include <gst/video/video.h>

#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "face3d/face_params.h"
#include "plugins/face_meta.h"
#include "plugins/video_frames.h"
#include "predict/dynamics_predictor.h"

GST_DEBUG_CATEGORY_STATIC(gst_face_predict_debug);
#define GST_CAT_DEFAULT gst_face_predict_debug

namespace {

enum {
  PROP_0,
  PROP_LOOKAHEAD,
  PROP_MAX_GAP,
  PROP_WEIGHTS,
};

// Defaults: predict::OnlinePredictorOptions.
struct Settings {
  gint lookahead = 2;
  gint max_gap = 10;
  std::string weights;
};

std::optional<faceanime::face3d::FaceParams> FaceOf(const GstFaceMeta& meta) {
  if (!meta.has_face) return std::nullopt;
  faceanime::face3d::FaceParams p;
  for (int k = 0; k < 3; ++k) {
    p.pose.rotation[k] = meta.rotation[k];
    p.pose.translation[k] = meta.translation[k];
  }
  for (int i = 0; i < GST_FACE_META_NUM_IDENTITY; ++i) p.identity[i] = meta.identity[i];
  for (int j = 0; j < GST_FACE_META_NUM_EXPRESSION; ++j) p.expression[j] = meta.expression[j];
  return p;
}

void WriteFace(const faceanime::face3d::FaceParams& p, GstFaceMeta* meta) {
  meta->has_face = TRUE;
  for (int k = 0; k < 3; ++k) {
    meta->rotation[k] = p.pose.rotation[k];
    meta->translation[k] = p.pose.translation[k];
  }
  for (int i = 0; i < GST_FACE_META_NUM_IDENTITY; ++i) meta->identity[i] = p.identity[i];
  for (int j = 0; j < GST_FACE_META_NUM_EXPRESSION; ++j) meta->expression[j] = p.expression[j];
}

}  // namespace

struct _GstFacePredict {
  GstBaseTransform parent;
  Settings settings;  // Guarded by the object lock.
  // Streaming state, built in start(), dropped in stop().
  std::shared_ptr<const faceanime::predict::DynamicsPredictor> predictor;
  std::unique_ptr<faceanime::predict::OnlinePredictor> online;
  faceanime::predict::OnlinePredictorOptions applied;  // The options `online` was made with.
  GstFaceMeta last_seen;      // The last observed face's meta (has_face = FALSE: none yet).
  GstClockTime last_pts;      // Of the previous buffer (GST_CLOCK_TIME_NONE: none since a reset).
};

G_DEFINE_TYPE(GstFacePredict, gst_face_predict, GST_TYPE_BASE_TRANSFORM)

static void gst_face_predict_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstFacePredict* self = GST_FACE_PREDICT(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_LOOKAHEAD: self->settings.lookahead = g_value_get_int(value); break;
    case PROP_MAX_GAP: self->settings.max_gap = g_value_get_int(value); break;
    case PROP_WEIGHTS: self->settings.weights = g_value_get_string(value) ? g_value_get_string(value) : ""; break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_face_predict_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstFacePredict* self = GST_FACE_PREDICT(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_LOOKAHEAD: g_value_set_int(value, self->settings.lookahead); break;
    case PROP_MAX_GAP: g_value_set_int(value, self->settings.max_gap); break;
    case PROP_WEIGHTS: g_value_set_string(value, self->settings.weights.c_str()); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void ResetStream(GstFacePredict* self) {
  if (self->online) self->online->Reset();
  self->last_seen = {};
  self->last_pts = GST_CLOCK_TIME_NONE;
}

static gboolean gst_face_predict_start(GstBaseTransform* trans) {
  GstFacePredict* self = GST_FACE_PREDICT(trans);
  GST_OBJECT_LOCK(self);
  const Settings s = self->settings;
  GST_OBJECT_UNLOCK(self);
  faceanime::predict::PredictorOptions options;
  options.weights = s.weights;
  self->applied.lookahead_frames = s.lookahead;
  self->applied.max_gap_frames = s.max_gap;
  try {
    self->predictor = faceanime::predict::DynamicsPredictor::Load(options);
    self->online = faceanime::predict::OnlinePredictor::Create(self->predictor, self->applied);
  } catch (const faceanime::predict::PredictorModelError& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Could not load the motion predictor's weights (property 'weights'; empty: the committed "
                       "ones): %s",
                       e.what()),
                      ("%s", e.what()));
    return FALSE;
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Invalid facepredict setting: %s", e.what()), ("%s", e.what()));
    return FALSE;
  }
  ResetStream(self);
  return TRUE;
}

static gboolean gst_face_predict_stop(GstBaseTransform* trans) {
  GstFacePredict* self = GST_FACE_PREDICT(trans);
  self->online.reset();
  self->predictor.reset();
  ResetStream(self);
  return TRUE;
}

static gboolean gst_face_predict_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstFacePredict* self = GST_FACE_PREDICT(trans);
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP || GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START) {
    ResetStream(self);  // A seek or a new stream: nothing to continue from.
  }
  return GST_BASE_TRANSFORM_CLASS(gst_face_predict_parent_class)->sink_event(trans, event);
}

static GstFlowReturn gst_face_predict_transform_ip(GstBaseTransform* trans, GstBuffer* buffer) {
  GstFacePredict* self = GST_FACE_PREDICT(trans);
  GST_OBJECT_LOCK(self);
  const Settings s = self->settings;
  GST_OBJECT_UNLOCK(self);
  GstFaceMeta* meta = gst_buffer_get_primary_face_meta(buffer);
  if (meta == nullptr) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("facepredict needs face analysis: put 'facefit' before it."),
                      ("buffer %" GST_TIME_FORMAT " carries no GstFaceMeta", GST_TIME_ARGS(GST_BUFFER_PTS(buffer))));
    return GST_FLOW_ERROR;
  }
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  if (!GST_CLOCK_TIME_IS_VALID(pts)) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("facepredict needs timestamped video buffers."),
                      ("a buffer without a PTS"));
    return GST_FLOW_ERROR;
  }
  try {
    if (s.lookahead != self->applied.lookahead_frames || s.max_gap != self->applied.max_gap_frames) {
      // Changed while playing: a fresh predictor with the new options.
      self->applied.lookahead_frames = s.lookahead;
      self->applied.max_gap_frames = s.max_gap;
      self->online = faceanime::predict::OnlinePredictor::Create(self->predictor, self->applied);
      ResetStream(self);
    }
    // Time going backwards (a new segment without a flush), or a
    // discontinuity longer than a bridgeable gap: start over rather than
    // predict across it. (A short DISCONT, e.g. after facefit dropped late
    // frames on QoS, is a gap the predictor bridges.)
    if (GST_CLOCK_TIME_IS_VALID(self->last_pts)) {
      const GstClockTime frame =
          GST_BUFFER_DURATION_IS_VALID(buffer) && GST_BUFFER_DURATION(buffer) > 0 ? GST_BUFFER_DURATION(buffer)
                                                                                  : 40 * GST_MSECOND;
      const bool long_discont = GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DISCONT) && pts > self->last_pts &&
                                pts - self->last_pts > static_cast<GstClockTime>(s.max_gap + 1) * frame;
      if (pts <= self->last_pts || long_discont) ResetStream(self);
    }
    self->last_pts = pts;
    const std::optional<faceanime::face3d::FaceParams> observed = FaceOf(*meta);
    if (observed) self->last_seen = *meta;
    const auto predicted = self->online->Update(static_cast<int64_t>(pts), observed);
    if (predicted) {
      if (!observed) {  // Bridged: the image-space fields of the last face seen.
        const GstMeta header = meta->meta;
        *meta = self->last_seen;
        meta->meta = header;
      }
      WriteFace(*predicted, meta);
    } else {
      meta->has_face = FALSE;
    }
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Face prediction failed."), ("%s", e.what()));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static void gst_face_predict_finalize(GObject* object) {
  GstFacePredict* self = GST_FACE_PREDICT(object);
  self->online.~unique_ptr();
  self->predictor.~shared_ptr();
  self->settings.~Settings();
  G_OBJECT_CLASS(gst_face_predict_parent_class)->finalize(object);
}

static void gst_face_predict_class_init(GstFacePredictClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GST_DEBUG_CATEGORY_INIT(gst_face_predict_debug, "facepredict", 0, "faceanime online face prediction");

  gobject_class->set_property = gst_face_predict_set_property;
  gobject_class->get_property = gst_face_predict_get_property;
  gobject_class->finalize = gst_face_predict_finalize;
  const auto playing =
      static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property(
      gobject_class, PROP_LOOKAHEAD,
      g_param_spec_int("lookahead", "Look-ahead",
                       "Frames to predict ahead, to hide the latency of the pipeline after this element (0: the "
                       "tracked face as it is, gaps still bridged). A change while playing restarts the prediction",
                       0, 5, 2, playing));
  g_object_class_install_property(
      gobject_class, PROP_MAX_GAP,
      g_param_spec_int("max-gap", "Maximum gap",
                       "Face losses up to this many frames are bridged with predicted motion; longer ones pass on "
                       "as 'no face'. A change while playing restarts the prediction",
                       0, 250, 10, playing));
  g_object_class_install_property(
      gobject_class, PROP_WEIGHTS,
      g_param_spec_string("weights", "Predictor weights",
                          "Weights file of the motion predictor (empty: $FACEANIME_PREDICTOR, else the committed "
                          "weights from the data directory or assets/predictor/)",
                          "",
                          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                   GST_PARAM_MUTABLE_READY)));

  gst_element_class_set_static_metadata(
      element_class, "Face predict", "Filter/Analyzer/Video",
      "Rewrites the GstFaceMeta from facefit with the learned motion predictor's online estimate: the face "
      "predicted 'lookahead' frames ahead, short face losses bridged; pixels pass through unchanged",
      "faceanime developers");
  GstCaps* caps = gst_caps_from_string(faceanime::plugins::kRawVideoCaps);
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);

  trans_class->start = GST_DEBUG_FUNCPTR(gst_face_predict_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_face_predict_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_face_predict_sink_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_face_predict_transform_ip);
  trans_class->passthrough_on_same_caps = FALSE;
}

static void gst_face_predict_init(GstFacePredict* self) {
  new (&self->settings) Settings();
  new (&self->predictor) std::shared_ptr<const faceanime::predict::DynamicsPredictor>();
  new (&self->online) std::unique_ptr<faceanime::predict::OnlinePredictor>();
  new (&self->applied) faceanime::predict::OnlinePredictorOptions();
  self->last_seen = {};
  self->last_pts = GST_CLOCK_TIME_NONE;
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}
