#include "plugins/elements.h"

#include "plugins/gstfaceanimebin.h"
#include "plugins/gstfaceanimesrc.h"
#include "plugins/gstfacefit.h"
#include "plugins/gstfacepredict.h"
#include "plugins/gstfaceretarget.h"

namespace faceanime::plugins {

gboolean RegisterElements(GstPlugin* plugin) {
  gboolean ok = TRUE;
  ok &= gst_element_register(plugin, "facefit", GST_RANK_NONE, GST_TYPE_FACE_FIT);
  ok &= gst_element_register(plugin, "faceretarget", GST_RANK_NONE, GST_TYPE_FACE_RETARGET);
  ok &= gst_element_register(plugin, "faceanime", GST_RANK_NONE, GST_TYPE_FACEANIME_BIN);
  ok &= gst_element_register(plugin, "facepredict", GST_RANK_NONE, GST_TYPE_FACE_PREDICT);
  ok &= gst_element_register(plugin, "faceanimesrc", GST_RANK_NONE, GST_TYPE_FACEANIME_SRC);
  return ok;
}

void RegisterStatic() {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    // A plugin already loaded from GST_PLUGIN_PATH provides the same elements.
    GstPluginFeature* existing = gst_registry_find_feature(gst_registry_get(), "facefit", GST_TYPE_ELEMENT_FACTORY);
    if (existing != nullptr) {
      gst_object_unref(existing);
    } else {
      gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "faceanime",
                                 "Face retargeting: bring a still portrait to life (faceanime)", RegisterElements,
                                 "0.1.0", "MIT", "faceanime", "faceanime", "faceanime source tree (README.md)");
    }
    g_once_init_leave(&once, 1);
  }
}

}  // namespace faceanime::plugins
