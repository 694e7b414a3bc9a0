#include "plugins/face_meta.h"

#include <gst/video/video.h>

#include <cstring>

namespace {

// The ICT-FaceKit expression shapes in model order (vertex_indices.json);
// a test checks this table against the converted model.
const char* const kExpressionNames[GST_FACE_META_NUM_EXPRESSION] = {
    "browDown_L",       "browDown_R",       "browInnerUp_L",  "browInnerUp_R",   "browOuterUp_L",
    "browOuterUp_R",    "cheekPuff_L",      "cheekPuff_R",    "cheekSquint_L",   "cheekSquint_R",
    "eyeBlink_L",       "eyeBlink_R",       "eyeLookDown_L",  "eyeLookDown_R",   "eyeLookIn_L",
    "eyeLookIn_R",      "eyeLookOut_L",     "eyeLookOut_R",   "eyeLookUp_L",     "eyeLookUp_R",
    "eyeSquint_L",      "eyeSquint_R",      "eyeWide_L",      "eyeWide_R",       "jawForward",
    "jawLeft",          "jawOpen",          "jawRight",       "mouthClose",      "mouthDimple_L",
    "mouthDimple_R",    "mouthFrown_L",     "mouthFrown_R",   "mouthFunnel",     "mouthLeft",
    "mouthLowerDown_L", "mouthLowerDown_R", "mouthPress_L",   "mouthPress_R",    "mouthPucker",
    "mouthRight",       "mouthRollLower",   "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmile_L",     "mouthSmile_R",     "mouthStretch_L", "mouthStretch_R",  "mouthUpperUp_L",
    "mouthUpperUp_R",   "noseSneer_L",      "noseSneer_R"};

gboolean FaceMetaInit(GstMeta* meta, gpointer /*params*/, GstBuffer* /*buffer*/) {
  auto* m = reinterpret_cast<GstFaceMeta*>(meta);
  std::memset(reinterpret_cast<char*>(m) + sizeof(GstMeta), 0, sizeof(GstFaceMeta) - sizeof(GstMeta));
  return TRUE;
}

void CopyPayload(GstFaceMeta* dst, const GstFaceMeta* src) {
  std::memcpy(reinterpret_cast<char*>(dst) + sizeof(GstMeta), reinterpret_cast<const char*>(src) + sizeof(GstMeta),
              sizeof(GstFaceMeta) - sizeof(GstMeta));
}

// Copies on plain copies; follows video scaling (e.g. videoscale) by scaling
// every image-space quantity; drops the meta on any other transform.
gboolean FaceMetaTransform(GstBuffer* dest, GstMeta* meta, GstBuffer* /*buffer*/, GQuark type, gpointer data) {
  const auto* src = reinterpret_cast<const GstFaceMeta*>(meta);
  if (GST_META_TRANSFORM_IS_COPY(type)) {
    GstFaceMeta* dst = gst_buffer_add_face_meta(dest);
    if (dst == nullptr) return FALSE;
    CopyPayload(dst, src);
    return TRUE;
  }
  if (GST_VIDEO_META_TRANSFORM_IS_SCALE(type)) {
    const auto* t = static_cast<const GstVideoMetaTransform*>(data);
    const double sx = static_cast<double>(GST_VIDEO_INFO_WIDTH(t->out_info)) / GST_VIDEO_INFO_WIDTH(t->in_info);
    const double sy = static_cast<double>(GST_VIDEO_INFO_HEIGHT(t->out_info)) / GST_VIDEO_INFO_HEIGHT(t->in_info);
    GstFaceMeta* dst = gst_buffer_add_face_meta(dest);
    if (dst == nullptr) return FALSE;
    CopyPayload(dst, src);
    dst->box[0] = static_cast<gfloat>(src->box[0] * sx);
    dst->box[1] = static_cast<gfloat>(src->box[1] * sy);
    dst->box[2] = static_cast<gfloat>(src->box[2] * sx);
    dst->box[3] = static_cast<gfloat>(src->box[3] * sy);
    // Pixel centres: x' = (x + 0.5) * s - 0.5.
    for (auto& p : dst->landmarks) {
      p[0] = static_cast<gfloat>((p[0] + 0.5) * sx - 0.5);
      p[1] = static_cast<gfloat>((p[1] + 0.5) * sy - 0.5);
    }
    dst->cx = (src->cx + 0.5) * sx - 0.5;
    dst->cy = (src->cy + 0.5) * sy - 0.5;
    dst->focal = src->focal * 0.5 * (sx + sy);
    return TRUE;
  }
  return FALSE;
}

}  // namespace

GType gst_face_meta_api_get_type(void) {
  static GType type = 0;
  static const gchar* tags[] = {GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR,
                                GST_META_TAG_VIDEO_ORIENTATION_STR, nullptr};
  if (g_once_init_enter(&type)) {
    GType t = gst_meta_api_type_register("GstFaceMetaAPI", tags);
    g_once_init_leave(&type, t);
  }
  return type;
}

const GstMetaInfo* gst_face_meta_get_info(void) {
  static const GstMetaInfo* info = nullptr;
  if (g_once_init_enter(&info)) {
    const GstMetaInfo* i = gst_meta_register(GST_FACE_META_API_TYPE, "GstFaceMeta", sizeof(GstFaceMeta),
                                             FaceMetaInit, nullptr, FaceMetaTransform);
    g_once_init_leave(&info, i);
  }
  return info;
}

GstFaceMeta* gst_buffer_add_face_meta(GstBuffer* buffer) {
  g_return_val_if_fail(gst_buffer_is_writable(buffer), nullptr);
  return reinterpret_cast<GstFaceMeta*>(gst_buffer_add_meta(buffer, GST_FACE_META_INFO, nullptr));
}

GstFaceMeta* gst_buffer_get_primary_face_meta(GstBuffer* buffer) {
  gpointer state = nullptr;
  GstMeta* meta;
  while ((meta = gst_buffer_iterate_meta_filtered(buffer, &state, GST_FACE_META_API_TYPE)) != nullptr) {
    auto* face = reinterpret_cast<GstFaceMeta*>(meta);
    if (face->face_index == 0) return face;
  }
  return nullptr;
}

const gchar* gst_face_meta_expression_name(guint i) {
  return i < GST_FACE_META_NUM_EXPRESSION ? kExpressionNames[i] : nullptr;
}
