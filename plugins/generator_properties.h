// The image-generator properties (generator, model, device, neural-region,
// neural-trust-error, hair-follows-head) shared by the
// elements that own a pipeline::Retargeter (faceretarget, faceanimesrc):
// one definition of their names, defaults and gst-inspect documentation.
#ifndef FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_
#define FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_

#include <gst/gst.h>

namespace faceanime::plugins {

// Installs the four string properties, the double neural-trust-error and the
// boolean hair-follows-head on `klass` with the given ids and flags (the
// elements use READWRITE | MUTABLE_READY: read once in start()).
void InstallGeneratorProperties(GObjectClass* klass, guint prop_generator, guint prop_model, guint prop_device,
                                guint prop_region, guint prop_trust_error, guint prop_hair_follows_head,
                                GParamFlags flags);

}  // namespace faceanime::plugins

#endif  // FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_
