// Registering faceanime's GStreamer elements.
#ifndef FACEANIME_PLUGINS_ELEMENTS_H_
#define FACEANIME_PLUGINS_ELEMENTS_H_

#include <gst/gst.h>

namespace faceanime::plugins {

// Registers facefit, faceretarget, faceanime, facepredict and faceanimesrc
// with `plugin`.
gboolean RegisterElements(GstPlugin* plugin);

// Registers them as a static plugin of this process (for programs that
// build pipelines themselves, like the CLI). Call after gst_init; idempotent.
void RegisterStatic();

}  // namespace faceanime::plugins

#endif  // FACEANIME_PLUGINS_ELEMENTS_H_
