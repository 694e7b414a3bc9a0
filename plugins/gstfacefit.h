#ifndef FACEANIME_PLUGINS_GSTFACEFIT_H_
#define FACEANIME_PLUGINS_GSTFACEFIT_H_

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_FACE_FIT (gst_face_fit_get_type())
G_DECLARE_FINAL_TYPE(GstFaceFit, gst_face_fit, GST, FACE_FIT, GstVideoFilter)

G_END_DECLS

#endif  // FACEANIME_PLUGINS_GSTFACEFIT_H_
