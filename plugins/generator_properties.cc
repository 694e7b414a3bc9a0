#include "plugins/generator_properties.h"

namespace faceanime::plugins {

void InstallGeneratorProperties(GObjectClass* klass, guint prop_generator, guint prop_model, guint prop_device,
                                GParamFlags flags) {
  g_object_class_install_property(
      klass, prop_generator,
      g_param_spec_string("generator", "Generator",
                          "Image generator: classical (the 3D-guided warp) or neural (the warp refined by the "
                          "prior-guided network on the face crop; needs 'model'; a missing model file falls back "
                          "to classical with a warning, a corrupt one is an error)",
                          "classical", flags));
  g_object_class_install_property(
      klass, prop_model,
      g_param_spec_string("model", "Neural model",
                          "generator=neural: the generator file (pgfg_train's RUN/checkpoint/generator.pt); empty: "
                          "$FACEANIME_GENERATOR, else $FACEANIME_DATA/pgfg_128.pt when it exists, else the "
                          "committed assets/pgfg/pgfg_128.pt",
                          "", flags));
  g_object_class_install_property(
      klass, prop_device,
      g_param_spec_string("device", "Device", "generator=neural: cpu or cuda (cuda needs a CUDA LibTorch)", "cpu",
                          flags));
}

}  // namespace faceanime::plugins
