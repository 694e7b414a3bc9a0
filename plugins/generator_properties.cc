#include "plugins/generator_properties.h"

#include "pipeline/retargeter.h"

namespace faceanime::plugins {

void InstallGeneratorProperties(GObjectClass* klass, const GeneratorPropertyIds& ids, GParamFlags flags) {
  const GeneratorSettings defaults;
  g_object_class_install_property(
      klass, ids.generator,
      g_param_spec_string("generator", "Generator",
                          "Image generator: classical (the 3D-guided warp) or neural (the warp refined by the "
                          "prior-guided network on the face crop; needs 'model'; a missing model file falls back "
                          "to classical with a warning, a corrupt one is an error)",
                          defaults.generator.c_str(), flags));
  g_object_class_install_property(
      klass, ids.model,
      g_param_spec_string("model", "Neural model",
                          "generator=neural: the generator file (pgfg_train's RUN/checkpoint/generator.pt); empty: "
                          "$FACEANIME_GENERATOR, else $FACEANIME_DATA/pgfg_128.pt when it exists, else the "
                          "committed assets/pgfg/pgfg_128.pt",
                          defaults.model.c_str(), flags));
  g_object_class_install_property(
      klass, ids.device,
      g_param_spec_string("device", "Device", "generator=neural: cpu or cuda (cuda needs a CUDA LibTorch)",
                          defaults.device.c_str(), flags));
  g_object_class_install_property(
      klass, ids.region,
      g_param_spec_string("neural-region", "Neural region",
                          "generator=neural: where the network may change the warp: mouth (around the target's "
                          "lips only, and only while they part wider than the portrait's; eyes, skin and identity "
                          "stay the classical warp's) or face (the whole face crop)",
                          defaults.neural_region.c_str(), flags));
  g_object_class_install_property(
      klass, ids.open_ramp,
      g_param_spec_double("neural-open-ramp", "Neural open ramp",
                          "generator=neural, neural-region=mouth: the network's weight is 0 while the target's lips "
                          "part no more than the portrait's (the warp alone) and reaches 1 when they part this "
                          "fraction of the mouth width more; 0: always 1",
                          0.0, 1.0, defaults.neural_open_ramp, flags));
  g_object_class_install_property(
      klass, ids.trust_error,
      g_param_spec_double("neural-trust-error", "Neural trust error",
                          "generator=neural, neural-region=mouth: the network first renders the portrait unchanged "
                          "and its error there (grey levels, mean over the mouth region) is measured; its weight is "
                          "full up to this error and falls to 0 (the classical warp alone) at twice it: a face it "
                          "cannot reproduce unchanged is one it does not know; 0: off; -1: the threshold "
                          "calibrated for the model and stored in its file (faceanime calibrate-trust), 1.15 for "
                          "a file without one",
                          -1.0, 255.0, defaults.neural_trust_error, flags));
  g_object_class_install_property(
      klass, ids.hair_follows_head,
      g_param_spec_boolean("hair-follows-head", "Hair follows head",
                           "Classical warp: hair, a bun or a hat near the head (off the face mesh) moves with the "
                           "skull; false: the motion fades from the head's edge (the warp before 2026-11-22), for a "
                           "textured background close to the head, which the skull's motion drags along",
                           defaults.hair_follows_head, flags));
}

bool GeneratorSettings::Set(const GeneratorPropertyIds& ids, guint id, const GValue* value) {
  const auto string_of = [value] { return std::string(g_value_get_string(value) ? g_value_get_string(value) : ""); };
  if (id == ids.generator) {
    generator = string_of();
  } else if (id == ids.model) {
    model = string_of();
  } else if (id == ids.device) {
    device = string_of();
  } else if (id == ids.region) {
    neural_region = string_of();
  } else if (id == ids.open_ramp) {
    neural_open_ramp = g_value_get_double(value);
  } else if (id == ids.trust_error) {
    neural_trust_error = g_value_get_double(value);
  } else if (id == ids.hair_follows_head) {
    hair_follows_head = g_value_get_boolean(value);
  } else {
    return false;
  }
  return true;
}

bool GeneratorSettings::Get(const GeneratorPropertyIds& ids, guint id, GValue* value) const {
  if (id == ids.generator) {
    g_value_set_string(value, generator.c_str());
  } else if (id == ids.model) {
    g_value_set_string(value, model.c_str());
  } else if (id == ids.device) {
    g_value_set_string(value, device.c_str());
  } else if (id == ids.region) {
    g_value_set_string(value, neural_region.c_str());
  } else if (id == ids.open_ramp) {
    g_value_set_double(value, neural_open_ramp);
  } else if (id == ids.trust_error) {
    g_value_set_double(value, neural_trust_error);
  } else if (id == ids.hair_follows_head) {
    g_value_set_boolean(value, hair_follows_head);
  } else {
    return false;
  }
  return true;
}

void GeneratorSettings::ApplyTo(pipeline::RetargeterOptions* options) const {
  options->generator = generator;
  options->neural_model = model;
  options->neural_device = device;
  options->neural_region = neural_region;
  options->neural_open_ramp = neural_open_ramp;
  options->neural_trust_error = neural_trust_error;
  if (!hair_follows_head) options->warp = render::WithoutHairFollowing(options->warp);
}

}  // namespace faceanime::plugins
