// faceanime: one element for `facefit ! faceretarget`. Its properties are
// those of the two children, forwarded by name.
#include "plugins/gstfaceanimebin.h"

#include "plugins/gstfacefit.h"
#include "plugins/gstfaceretarget.h"

struct _GstFaceanimeBin {
  GstBin parent;
  GstElement* fit;
  GstElement* retarget;
};

G_DEFINE_TYPE(GstFaceanimeBin, gst_faceanime_bin, GST_TYPE_BIN)

namespace {

// Property ids: the child's properties in this order (fit first).
const char* const kFitProperties[] = {"detector", "tiny-landmarks", "min-confidence", "eyelids-from-pixels"};
const char* const kRetargetProperties[] = {"source",          "motion",    "transfer-pose", "transfer-expression",
                                           "transfer-gaze",   "expression-gain", "crop-size", "threads", "au", "expression",
                                           "expression-strength", "expression-mode", "generator", "model", "device", "neural-region",
                                           "neural-open-ramp", "neural-trust-error", "hair-follows-head"};
constexpr guint kNumFit = G_N_ELEMENTS(kFitProperties);
constexpr guint kNumRetarget = G_N_ELEMENTS(kRetargetProperties);

GObject* ChildFor(GstFaceanimeBin* self, guint prop_id) {
  return G_OBJECT(prop_id <= kNumFit ? self->fit : self->retarget);
}

}  // namespace

static void gst_faceanime_bin_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstFaceanimeBin* self = GST_FACEANIME_BIN(object);
  if (prop_id == 0 || prop_id > kNumFit + kNumRetarget) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    return;
  }
  g_object_set_property(ChildFor(self, prop_id), pspec->name, value);
  // "threads" drives both children.
  if (g_strcmp0(pspec->name, "threads") == 0) g_object_set_property(G_OBJECT(self->fit), "threads", value);
}

static void gst_faceanime_bin_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstFaceanimeBin* self = GST_FACEANIME_BIN(object);
  if (prop_id == 0 || prop_id > kNumFit + kNumRetarget) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    return;
  }
  g_object_get_property(ChildFor(self, prop_id), pspec->name, value);
}

static void gst_faceanime_bin_class_init(GstFaceanimeBinClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_faceanime_bin_set_property;
  gobject_class->get_property = gst_faceanime_bin_get_property;

  // Mirror the children's property specs (same names, blurbs, ranges).
  GObjectClass* fit_class = G_OBJECT_CLASS(g_type_class_ref(GST_TYPE_FACE_FIT));
  GObjectClass* retarget_class = G_OBJECT_CLASS(g_type_class_ref(GST_TYPE_FACE_RETARGET));
  guint id = 1;
  auto mirror = [&](GObjectClass* from, const char* name) {
    GParamSpec* spec = g_object_class_find_property(from, name);
    g_assert(spec != nullptr);
    GParamSpec* copy = nullptr;
    const auto flags = static_cast<GParamFlags>(spec->flags & ~G_PARAM_CONSTRUCT);
    GValue def = G_VALUE_INIT;
    g_value_init(&def, spec->value_type);
    g_param_value_set_default(spec, &def);
    if (G_IS_PARAM_SPEC_STRING(spec)) {
      copy = g_param_spec_string(name, g_param_spec_get_nick(spec), g_param_spec_get_blurb(spec),
                                 g_value_get_string(&def), flags);
    } else if (G_IS_PARAM_SPEC_BOOLEAN(spec)) {
      copy = g_param_spec_boolean(name, g_param_spec_get_nick(spec), g_param_spec_get_blurb(spec),
                                  g_value_get_boolean(&def), flags);
    } else if (G_IS_PARAM_SPEC_INT(spec)) {
      auto* s = G_PARAM_SPEC_INT(spec);
      copy = g_param_spec_int(name, g_param_spec_get_nick(spec), g_param_spec_get_blurb(spec), s->minimum,
                              s->maximum, s->default_value, flags);
    } else if (G_IS_PARAM_SPEC_DOUBLE(spec)) {
      auto* s = G_PARAM_SPEC_DOUBLE(spec);
      copy = g_param_spec_double(name, g_param_spec_get_nick(spec), g_param_spec_get_blurb(spec), s->minimum,
                                 s->maximum, s->default_value, flags);
    } else if (G_IS_PARAM_SPEC_ENUM(spec)) {
      copy = g_param_spec_enum(name, g_param_spec_get_nick(spec), g_param_spec_get_blurb(spec), spec->value_type,
                               G_PARAM_SPEC_ENUM(spec)->default_value, flags);
    }
    g_value_unset(&def);
    g_assert(copy != nullptr);
    g_object_class_install_property(gobject_class, id++, copy);
  };
  for (const char* name : kFitProperties) mirror(fit_class, name);
  for (const char* name : kRetargetProperties) mirror(retarget_class, name);
  g_type_class_unref(fit_class);
  g_type_class_unref(retarget_class);

  gst_element_class_set_static_metadata(
      element_class, "Face animation", "Filter/Effect/Video",
      "Animates a still portrait with the face in the incoming video (facefit ! faceretarget in one element)",
      "faceanime developers");
  GstCaps* caps = gst_caps_from_string("video/x-raw");
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);
}

static void gst_faceanime_bin_init(GstFaceanimeBin* self) {
  self->fit = gst_element_factory_make("facefit", "fit");
  self->retarget = gst_element_factory_make("faceretarget", "retarget");
  gst_bin_add_many(GST_BIN(self), self->fit, self->retarget, nullptr);
  gst_element_link(self->fit, self->retarget);
  GstPad* sink = gst_element_get_static_pad(self->fit, "sink");
  GstPad* src = gst_element_get_static_pad(self->retarget, "src");
  gst_element_add_pad(GST_ELEMENT(self), gst_ghost_pad_new("sink", sink));
  gst_element_add_pad(GST_ELEMENT(self), gst_ghost_pad_new("src", src));
  gst_object_unref(sink);
  gst_object_unref(src);
}
