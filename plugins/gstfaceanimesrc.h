#ifndef FACEANIME_PLUGINS_GSTFACEANIMESRC_H_
#define FACEANIME_PLUGINS_GSTFACEANIMESRC_H_

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_FACEANIME_SRC (gst_faceanime_src_get_type())
G_DECLARE_FINAL_TYPE(GstFaceanimeSrc, gst_faceanime_src, GST, FACEANIME_SRC, GstPushSrc)

G_END_DECLS

#endif  // FACEANIME_PLUGINS_GSTFACEANIMESRC_H_
