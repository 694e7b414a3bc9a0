#ifndef FACEANIME_PLUGINS_GSTFACEPREDICT_H_
#define FACEANIME_PLUGINS_GSTFACEPREDICT_H_

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_FACE_PREDICT (gst_face_predict_get_type())
G_DECLARE_FINAL_TYPE(GstFacePredict, gst_face_predict, GST, FACE_PREDICT, GstBaseTransform)

G_END_DECLS

#endif  // FACEANIME_PLUGINS_GSTFACEPREDICT_H_
