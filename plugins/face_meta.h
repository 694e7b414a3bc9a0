/* GstFaceMeta: one analysed face attached to a video buffer by `facefit`
 * and read by `faceretarget`. A buffer carries one meta per face (index 0 is
 * the tracked face), or a single meta with has_face = FALSE when the frame
 * has none, so downstream can tell "no face" from "not analysed".
 *
 * Conventions (see face3d/face_params.h): image pixels of the buffer's
 * frame (OpenCV convention, integer coordinates are pixel centres); pose =
 * angle-axis rotation (radians) + translation (cm) in the OpenCV camera
 * frame, model->camera = R * diag(1,-1,-1) * X + t; identity in N(0,1)
 * units; expression weights in [0, 1] in the ICT model's shape order
 * (gst_face_meta_expression_name gives the names). */
#ifndef FACEANIME_PLUGINS_FACE_META_H_
#define FACEANIME_PLUGINS_FACE_META_H_

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_FACE_META_NUM_LANDMARKS 68
#define GST_FACE_META_NUM_IDENTITY 100
#define GST_FACE_META_NUM_EXPRESSION 53

typedef struct _GstFaceMeta {
  GstMeta meta;
  guint face_index;    /* 0 = the tracked (primary) face. */
  gboolean has_face;   /* FALSE: analysed, and no face was found. */
  gfloat box[4];       /* x, y, width, height. */
  gfloat landmarks[GST_FACE_META_NUM_LANDMARKS][2];
  gdouble rotation[3];
  gdouble translation[3];
  gdouble focal, cx, cy; /* The camera the fit used, pixels. */
  gdouble identity[GST_FACE_META_NUM_IDENTITY];
  gdouble expression[GST_FACE_META_NUM_EXPRESSION];
  gdouble confidence;  /* [0, 1]. */
  gdouble rmse_px;     /* Landmark reprojection error of the fit. */
} GstFaceMeta;

GType gst_face_meta_api_get_type (void);
#define GST_FACE_META_API_TYPE (gst_face_meta_api_get_type ())

const GstMetaInfo *gst_face_meta_get_info (void);
#define GST_FACE_META_INFO (gst_face_meta_get_info ())

/* Adds a zeroed meta (has_face = FALSE) to a writable buffer. */
GstFaceMeta *gst_buffer_add_face_meta (GstBuffer * buffer);

/* The meta with face_index 0, or NULL when the buffer has none. */
GstFaceMeta *gst_buffer_get_primary_face_meta (GstBuffer * buffer);

/* Name of expression weight i (ICT shape name, e.g. "mouthSmile_L"), or NULL
 * when out of range. */
const gchar *gst_face_meta_expression_name (guint i);

G_END_DECLS

#endif /* FACEANIME_PLUGINS_FACE_META_H_ */
