#ifndef FACEANIME_PLUGINS_GSTFACERETARGET_H_
#define FACEANIME_PLUGINS_GSTFACERETARGET_H_

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_FACE_RETARGET (gst_face_retarget_get_type())
G_DECLARE_FINAL_TYPE(GstFaceRetarget, gst_face_retarget, GST, FACE_RETARGET, GstBaseTransform)

G_END_DECLS

#endif  // FACEANIME_PLUGINS_GSTFACERETARGET_H_
