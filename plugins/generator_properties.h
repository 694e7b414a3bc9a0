// The image-generator properties (generator, model, device, neural-region,
// neural-open-ramp, neural-trust-error, hair-follows-head) shared by the
// elements that own a pipeline::Retargeter (faceretarget, faceanimesrc):
// one definition of their names, defaults and gst-inspect documentation.
#ifndef FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_
#define FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_

#include <gst/gst.h>

#include <string>

#include "pipeline/retargeter.h"

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

// Their values (an element's settings, behind its object lock). The
// defaults are pipeline::RetargeterOptions' (and render::WarpOptions'), and
// InstallGeneratorProperties installs these as the properties' defaults.
struct GeneratorSettings {
  std::string generator = pipeline::RetargeterOptions{}.generator;
  std::string model = pipeline::RetargeterOptions{}.neural_model.string();
  std::string device = pipeline::RetargeterOptions{}.neural_device;
  std::string neural_region = pipeline::RetargeterOptions{}.neural_region;
  double neural_open_ramp = pipeline::RetargeterOptions{}.neural_open_ramp;
  double neural_trust_error = pipeline::RetargeterOptions{}.neural_trust_error;
  bool hair_follows_head = render::WarpOptions{}.hair_follows_skull;

  // set_property / get_property for property `id`: false when `id` is not
  // one of `ids`.
  bool Set(const GeneratorPropertyIds& ids, guint id, const GValue* value);
  bool Get(const GeneratorPropertyIds& ids, guint id, GValue* value) const;
  // Onto `options` (validated by pipeline::Retargeter::Create).
  void ApplyTo(pipeline::RetargeterOptions* options) const;
};

}  // namespace faceanime::plugins

#endif  // FACEANIME_PLUGINS_GENERATOR_PROPERTIES_H_
