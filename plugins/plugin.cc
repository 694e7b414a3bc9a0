// The faceanime GStreamer plugin module: facefit, faceretarget, faceanime,
// facepredict, faceanimesrc.
#include <gst/gst.h>

#include "plugins/elements.h"

#ifndef PACKAGE
#define PACKAGE "faceanime"
#endif

static gboolean plugin_init(GstPlugin* plugin) { return faceanime::plugins::RegisterElements(plugin); }

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, faceanime,
                  "Face retargeting: bring a still portrait to life (faceanime)", plugin_init, "0.1.0", "MIT",
                  "faceanime", "faceanime source tree (README.md)")
