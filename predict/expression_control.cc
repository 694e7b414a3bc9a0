#include "predict/expression_control.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

namespace faceanime::predict {
namespace {

constexpr std::array<std::string_view, kNumExpressionPresets> kPresetNames = {
    "angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string PresetList() {
  std::string out;
  for (const auto name : kPresetNames) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// Parses a whole (trimmed) text as a finite double; `what` names it in errors.
double ParseNumber(std::string_view text, const std::string& what) {
  text = Trim(text);
  double value = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    throw std::invalid_argument(what + ": '" + std::string(text) + "' is not a number (expected a value in [0, 1])");
  }
  return value;
}

void RequireUnit(double value, const std::string& what) {
  if (!(value >= 0.0 && value <= 1.0)) {
    char number[32];
    std::snprintf(number, sizeof(number), "%g", value);
    throw std::invalid_argument(what + " is " + number + "; valid range is [0, 1]");
  }
}

// The base name and side of a shape: "mouthSmile_L" -> ("mouthSmile", 'L');
// no suffix -> side 0.
std::pair<std::string_view, char> SplitSide(std::string_view shape) {
  if (shape.size() > 2 && shape[shape.size() - 2] == '_' &&
      (shape.back() == 'L' || shape.back() == 'R')) {
    return {shape.substr(0, shape.size() - 2), shape.back()};
  }
  return {shape, 0};
}

bool IsGaze(std::string_view au) { return au == "AU61" || au == "AU62" || au == "AU63" || au == "AU64"; }

}  // namespace

std::span<const std::string_view> ExpressionPresetNames() { return kPresetNames; }

std::string_view ToString(ExpressionPreset preset) { return kPresetNames.at(static_cast<int>(preset)); }

PresetRequest ParsePreset(std::string_view text) {
  const std::string_view trimmed = Trim(text);
  const size_t eq = trimmed.find('=');
  const std::string name = Lower(Trim(trimmed.substr(0, eq)));
  PresetRequest request;
  const auto it = std::find(kPresetNames.begin(), kPresetNames.end(), name);
  if (it == kPresetNames.end()) {
    throw std::invalid_argument("unknown expression '" + name + "'; valid expressions: " + PresetList() +
                                " (optionally with a strength, e.g. happy=0.7)");
  }
  request.preset = static_cast<ExpressionPreset>(it - kPresetNames.begin());
  if (eq != std::string_view::npos) {
    const std::string what = "strength of expression '" + name + "'";
    request.strength = ParseNumber(trimmed.substr(eq + 1), what);
    RequireUnit(request.strength, what);
  }
  return request;
}

ActionUnitSet PresetActionUnits(ExpressionPreset preset, double strength) {
  RequireUnit(strength, "preset strength");
  // Prototype intensities at strength 1 (see the header for the sources).
  ActionUnitSet aus;
  switch (preset) {
    case ExpressionPreset::kAngry:
      aus = {{"AU4", 0.9}, {"AU5", 0.4}, {"AU7", 0.6}, {"AU24", 0.7}};
      break;
    case ExpressionPreset::kContemptuous:
      aus = {{"AU12R", 0.5}, {"AU14R", 0.6}};
      break;
    case ExpressionPreset::kDisgusted:
      aus = {{"AU9", 0.8}, {"AU10", 0.5}, {"AU15", 0.4}, {"AU16", 0.3}};
      break;
    case ExpressionPreset::kFearful:
      aus = {{"AU1", 0.8}, {"AU2", 0.5}, {"AU4", 0.5}, {"AU5", 0.8}, {"AU7", 0.3}, {"AU20", 0.7}, {"AU27", 0.5}};
      break;
    case ExpressionPreset::kHappy:
      // AU25 (lips part) has no ICT shape: mouthUpperUp (ICT's AU11 row)
      // and mouthLowerDown (AU16) together part the lips, at FACS B.
      aus = {{"AU6", 0.6}, {"AU12", 0.9}, {"AU11", 0.25}, {"AU16", 0.25}};
      break;
    case ExpressionPreset::kNeutral:
      break;
    case ExpressionPreset::kSad:
      aus = {{"AU1", 1.0}, {"AU4", 0.7}, {"AU15", 1.0}};
      break;
    case ExpressionPreset::kSurprised:
      // AU5B: slight (FACS B ~ 0.3-0.4); AU26 via jawOpen.
      aus = {{"AU1", 0.8}, {"AU2", 0.8}, {"AU5", 0.4}, {"AU27", 0.6}};
      break;
  }
  for (auto& au : aus) au.intensity *= strength;
  return aus;
}

ExpressionBlend ParseBlendMode(std::string_view text) {
  const std::string mode = Lower(Trim(text));
  if (mode == "replace") return ExpressionBlend::kReplace;
  if (mode == "add") return ExpressionBlend::kAdd;
  throw std::invalid_argument("unknown expression mode '" + std::string(text) + "'; valid modes: replace, add");
}

double RampWeight(int k, int n, double alpha) {
  if (n < 1) throw std::invalid_argument("ramp length is " + std::to_string(n) + "; it must be >= 1");
  if (k < 0 || k >= n) {
    throw std::invalid_argument("ramp frame " + std::to_string(k) + " is outside [0, " + std::to_string(n) + ")");
  }
  if (n == 1) return alpha;
  const double x = static_cast<double>(k) / (n - 1);
  return alpha * x * x * (3.0 - 2.0 * x);
}

std::map<std::string, double> DefaultRestExpression() {
  // Medians over the first frames of the six GRID clips (see the header),
  // from `faceanime eval-expression rest` on the working tree of 2026-11-21
  // (FitOptions defaults, with the calibrated landmark offsets
  // DefaultLandmarkOffsets(): most of the convention gap that the fit used
  // to cover with eyeWide/cheekPuff/cheekSquint/mouthStretch ~0.5-1.0 is
  // gone). Shapes with a median below 0.005 are left out (0).
  return {{"browDown_L", 0.09},      {"browDown_R", 0.06},       {"browInnerUp_R", 0.01},  {"browOuterUp_L", 0.05},
          {"cheekPuff_L", 0.05},     {"cheekPuff_R", 0.15},      {"cheekSquint_L", 0.15},  {"cheekSquint_R", 0.16},
          {"eyeLookDown_R", 0.02},   {"eyeLookIn_L", 0.07},      {"eyeLookOut_R", 0.01},   {"jawLeft", 0.13},
          {"jawRight", 0.02},        {"mouthDimple_L", 0.01},    {"mouthFrown_L", 0.14},   {"mouthFunnel", 0.05},
          {"mouthLeft", 0.10},       {"mouthLowerDown_R", 0.25}, {"mouthPucker", 0.02},    {"mouthRight", 0.10},
          {"mouthRollLower", 0.01},  {"mouthRollUpper", 0.03},   {"mouthShrugUpper", 0.03}, {"mouthStretch_R", 0.05},
          {"mouthUpperUp_R", 0.05},  {"noseSneer_L", 0.06}};
}

ExpressionControl ExpressionControl::Create(const face3d::MorphableModel& model,
                                            const ExpressionControlOptions& options) {
  if (model.action_units().empty()) {
    throw std::invalid_argument("model '" + model.path().string() +
                                "' has no action unit table; rebuild it with `faceanime convert-ict`");
  }
  const auto& names = model.expression_names();
  std::array<double, face3d::kNumExpressionShapes> rest{};
  for (const auto& [name, weight] : options.rest_expression) {
    const int index = model.ExpressionIndex(name);
    if (index < 0) {
      std::string valid;
      for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
      throw std::invalid_argument("rest_expression names an unknown expression shape '" + name +
                                  "'; the model's shapes: " + valid);
    }
    RequireUnit(weight, "rest_expression weight of " + name);
    rest[index] = weight;
  }
  std::vector<ActionUnit> units;
  for (const auto& au : model.action_units()) {
    units.push_back({au.name, au.description, au.shapes});
    if (IsGaze(au.name)) continue;
    // One-sided variants when every shape is one of an _L/_R pair.
    std::vector<int> left, right;
    bool paired = !au.shapes.empty();
    for (int s : au.shapes) {
      const auto [base, side] = SplitSide(names.at(s));
      if (side == 0) {
        paired = false;
        break;
      }
      const int other = model.ExpressionIndex(std::string(base) + (side == 'L' ? "_R" : "_L"));
      if (other < 0 || std::find(au.shapes.begin(), au.shapes.end(), other) == au.shapes.end()) {
        paired = false;
        break;
      }
      (side == 'L' ? left : right).push_back(s);
    }
    if (!paired) continue;
    units.push_back({au.name + "L", au.description + " (subject's left)", left});
    units.push_back({au.name + "R", au.description + " (subject's right)", right});
  }
  return ExpressionControl(std::move(units), rest);
}

const ActionUnit* ExpressionControl::Find(std::string_view name) const {
  const std::string key = Upper(Trim(name));
  for (const auto& unit : units_) {
    if (unit.name == key) return &unit;
  }
  return nullptr;
}

std::string ExpressionControl::ValidNames() const {
  std::string out;
  for (const auto& unit : units_) {
    if (!out.empty()) out += ", ";
    out += unit.name;
  }
  return out;
}

ActionUnitSet ExpressionControl::ParseActionUnits(std::string_view text) const {
  ActionUnitSet aus;
  if (Trim(text).empty()) return aus;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = Trim(text.substr(start, comma - start));
    start = comma + 1;
    const size_t eq = item.find('=');
    if (item.empty() || eq == std::string_view::npos) {
      throw std::invalid_argument("action unit item '" + std::string(item) +
                                  "' is malformed; expected NAME=INTENSITY, e.g. AU12=0.8,AU6=0.5");
    }
    const std::string_view name = Trim(item.substr(0, eq));
    const ActionUnit* unit = Find(name);
    if (unit == nullptr) {
      throw std::invalid_argument("unknown action unit '" + std::string(name) + "'; valid action units: " +
                                  ValidNames());
    }
    const std::string what = "intensity of " + unit->name;
    const double value = ParseNumber(item.substr(eq + 1), what);
    RequireUnit(value, what);
    aus.push_back({unit->name, value});
  }
  Validate(aus);
  return aus;
}

void ExpressionControl::Validate(const ActionUnitSet& aus) const {
  for (size_t i = 0; i < aus.size(); ++i) {
    const ActionUnit* unit = Find(aus[i].name);
    if (unit == nullptr || unit->name != aus[i].name) {
      throw std::invalid_argument("unknown action unit '" + aus[i].name + "'; valid action units: " + ValidNames());
    }
    RequireUnit(aus[i].intensity, "intensity of " + aus[i].name);
    for (size_t j = 0; j < i; ++j) {
      if (aus[j].name == aus[i].name) {
        throw std::invalid_argument("action unit " + aus[i].name + " is given twice");
      }
    }
  }
}

std::array<double, face3d::kNumExpressionShapes> ExpressionControl::ToExpression(const ActionUnitSet& aus,
                                                                                 double scale) const {
  Validate(aus);
  RequireUnit(scale, "expression scale");
  std::array<double, face3d::kNumExpressionShapes> weights{};
  for (const auto& au : aus) {
    for (int s : Find(au.name)->shapes) weights[s] = std::max(weights[s], au.intensity * scale);
  }
  return weights;
}

face3d::FaceParams ExpressionControl::Apply(const face3d::FaceParams& base, const ActionUnitSet& aus,
                                            ExpressionBlend mode, double weight) const {
  RequireUnit(weight, "edit weight");
  const auto control = ToExpression(aus);
  const auto rest = Neutralize(base.expression);
  face3d::FaceParams out = base;
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    out.expression[j] =
        mode == ExpressionBlend::kReplace
            ? (1.0 - weight) * base.expression[j] + weight * std::clamp(rest[j] + control[j], 0.0, 1.0)
            : std::clamp(base.expression[j] + weight * control[j], 0.0, 1.0);
  }
  return out;
}

std::array<double, face3d::kNumExpressionShapes> ExpressionControl::Neutralize(
    std::span<const double, face3d::kNumExpressionShapes> expression) const {
  std::array<double, face3d::kNumExpressionShapes> out{};
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) out[j] = std::clamp(expression[j], 0.0, rest_[j]);
  return out;
}

double ExpressionControl::Intensity(std::span<const double, face3d::kNumExpressionShapes> expression,
                                    std::string_view au) const {
  const ActionUnit* unit = Find(au);
  if (unit == nullptr) {
    throw std::invalid_argument("unknown action unit '" + std::string(au) + "'; valid action units: " + ValidNames());
  }
  double sum = 0.0;
  for (int s : unit->shapes) sum += expression[s];
  return sum / static_cast<double>(unit->shapes.size());
}

}  // namespace faceanime::predict
