// The image-generator properties (generator, model, device, neural-region,
// neural-open-ramp, neural-trust-error, hair-follows-head) shared by the
// elements that own a pipeline::Retargeter (faceretarget, faceanimesrc):
// one definition of their names, defaults and gst-inspect documentation.
#ifndef FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_
#define FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_

#include <gst/gst.h>

namespace faceanime::plugins {

// The element's property ids for them.
struct GeneratorPropertyIds {
  guint generator, model, device, region, open_ramp, trust_error, hair_follows_head;
};

// Installs the four string properties, the doubles neural-open-ramp and
// neural-trust-error and the boolean hair-follows-head on `klass` with the
// given ids and flags (the elements use READWRITE | MUTABLE_READY: read once
// in start()).
void InstallGeneratorProperties(GObjectClass* klass, const GeneratorPropertyIds& ids, GParamFlags flags);

}  // namespace faceanime::plugins

#endif  // FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_
