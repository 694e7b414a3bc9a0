#include "tools/cli/expression_eval_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

#include <Eigen/Geometry>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include "face3d/eyelid_meter.h"
#include "pipeline/evaluation.h"
#include "pipeline/frame_source.h"
#include "pipeline/metrics.h"
#include "render/contact_sheet.h"
#include "tools/cli/generator_args.h"
#include "tools/cli/progress.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;
using face3d::ExpressionClassifier;
using pipeline::FaceObservation;
using predict::ActionUnitSet;
using predict::ExpressionBlend;
using predict::ExpressionPreset;

constexpr const char* kHelp =
    "Tasks:\n"
    "  roundtrip --source IMG [--source IMG ...]\n"
    "      Each source rendered with single AUs (landmark-visible ones at 0.3 and 0.7, the others at 0.6) and\n"
    "      the happy, sad and surprised presets, replace mode, through pipeline::Retargeter::Render (as\n"
    "      `faceanime edit`); the render is analysed like a photo (detector + face-api 68 landmarks + the\n"
    "      single-image fit, FaceAnalyzer::AnalyzeStill) and each requested AU read back (mean of its ICT\n"
    "      shapes' weights). Columns: req = requested; edited = read back from the edited render;\n"
    "      |err| = |edited - req|; d|err| = |(edited - unedited) - (req - source)|, the error of the change\n"
    "      (unedited = read back from the render at the source's own fit, source = the source's fit);\n"
    "      lmk = the fitter on the target's projected model landmarks (no pixels); idheld = the edited\n"
    "      render's landmarks refitted with the source identity held; diff = the tracking-case judge: the\n"
    "      landmark motion detected between the unedited and the edited render (divided by --landmark-gain)\n"
    "      added to the source's projected model landmarks, fitted with the source identity held;\n"
    "      tracked = a render of the portrait at replace mode's rest state and the edited render read as a\n"
    "      two-frame video: the rest render's landmarks tracked into the edited one by pyramidal\n"
    "      Lucas-Kanade (no landmark network; lost tracks dropped), their motion added to the rest state's\n"
    "      projected model landmarks and fitted with the source identity held, eyeBlink from the eye pixels\n"
    "      (face3d::EyelidMeter, the rest render as the open-eye reference). With --output DIR: the renders.\n"
    "  london --data ../shared/data/london [--strength S ...] [--limit N]\n"
    "      The happy preset (--mode, default replace) on each neutral photo: face-api's expression classifier on input,\n"
    "      outputs and the real smiling photo (happy = argmax rate, mean happy probability), and the\n"
    "      landmark distance to the smiling photo (Umeyama similarity alignment, mean over 68 points,\n"
    "      divided by the smiling photo's outer-eye-corner distance) before (neutral) and after (output).\n"
    "  presets --data ../shared/data/london [--strength S] [--limit N]\n"
    "      Each of the eight presets (--mode, default replace; one --strength, default 1) on each neutral\n"
    "      photo, every render analysed like a photo and classified by face-api's expression classifier on its\n"
    "      detected box: per preset, how often the argmax is the preset's own class (StarGAN's check; face-api\n"
    "      has no contempt class) and what the renders are rated as. With --output DIR: a sheet per identity.\n"
    "  sheet --source IMG --output SHEET.jpg|png [--crop N]\n"
    "      The source, the eight presets, AU12 at 0, 0.25, 0.5, 0.75, 1 (replace mode), face crops.\n"
    "  rest --source IMG|VIDEO [--source ...]\n"
    "      Calibrates the rest state of replace mode (predict::DefaultRestExpression): fits the first frame of\n"
    "      each source (neutral faces, not the evaluation's) like a portrait and prints the per-shape median of\n"
    "      the fitted expression (with min and max), then the medians >= 0.005 as a C++ initializer.";

double EyeGap(const face3d::Landmarks68& l) {
  return ((l[37] - l[41]).norm() + (l[38] - l[40]).norm() + (l[43] - l[47]).norm() + (l[44] - l[46]).norm()) / 4.0;
}

cv::Mat ReadRgb(const fs::path& path) {
  const cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error("cannot read image '" + path.string() + "'");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

void WriteRgb(const fs::path& path, const cv::Mat& rgb, int jpeg_quality = 90) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  if (!cv::imwrite(path.string(), bgr, {cv::IMWRITE_JPEG_QUALITY, jpeg_quality})) {
    throw std::runtime_error("cannot write '" + path.string() + "': check the folder exists and is writable");
  }
}

std::optional<FaceObservation> Analyze(pipeline::Retargeter& retargeter, const cv::Mat& rgb) {
  return retargeter.analyzer().AnalyzeStill(ViewOf(rgb, PixelFormat::kRgb));
}

// A retargeter for `portrait` (default options), or nullptr when it cannot
// be used (unreadable, or no face: pipeline::SourceError).
std::unique_ptr<pipeline::Retargeter> OpenPortrait(const fs::path& portrait, int threads) {
  pipeline::RetargeterOptions options;
  options.source_image = portrait;
  options.analysis.num_threads = threads;
  try {
    return pipeline::Retargeter::Create(options);
  } catch (const pipeline::SourceError&) {
    return nullptr;
  }
}

// The round trip's request list (see kHelp).
std::vector<std::pair<std::string, ActionUnitSet>> RoundTripRequests() {
  std::vector<std::pair<std::string, ActionUnitSet>> out;
  for (const auto& au : LandmarkVisibleActionUnits()) {
    for (double v : {0.3, 0.7}) {
      char label[32];
      std::snprintf(label, sizeof(label), "%s=%.1f", au.c_str(), v);
      out.push_back({label, {{au, v}}});
    }
  }
  for (const char* au : {"AU5", "AU6", "AU7", "AU9", "AU10", "AU14", "AU16", "AU17", "AU20", "AU24"}) {
    out.push_back({std::string(au) + "=0.6", {{au, 0.6}}});
  }
  for (const auto p : {ExpressionPreset::kHappy, ExpressionPreset::kSad, ExpressionPreset::kSurprised}) {
    out.push_back({std::string(predict::ToString(p)), predict::PresetActionUnits(p)});
  }
  return out;
}

// The tracked judge's landmark tracking (AuReadback::tracked): `points`
// (pixels of `from`) followed into `to` by pyramidal Lucas-Kanade on luma,
// with a window of about a tenth of the outer eye corners' distance (odd,
// 7-41 px; 11 px on a 512-px portrait: wider windows average the motion of
// neighbouring features, a brow's with the forehead's).
// A point is kept when its track succeeds both ways and the backward track
// returns within 1 px of where it started.
face3d::Landmarks68 TrackLandmarks(const cv::Mat& from_rgb, const cv::Mat& to_rgb, const face3d::Landmarks68& points,
                                   std::array<double, face3d::kNumLandmarks>* kept) {
  cv::Mat from, to;
  cv::cvtColor(from_rgb, from, cv::COLOR_RGB2GRAY);
  cv::cvtColor(to_rgb, to, cv::COLOR_RGB2GRAY);
  std::vector<cv::Point2f> start, forward, backward;
  for (const auto& p : points) start.emplace_back(static_cast<float>(p.x()), static_cast<float>(p.y()));
  const double iod = (points[36] - points[45]).norm();
  const int side = std::clamp(2 * static_cast<int>(std::lround(iod / 20.0)) + 1, 7, 41);
  const cv::Size window(side, side);
  constexpr int kLevels = 3;
  std::vector<uchar> ok_forward, ok_backward;
  std::vector<float> error;
  cv::calcOpticalFlowPyrLK(from, to, start, forward, ok_forward, error, window, kLevels);
  cv::calcOpticalFlowPyrLK(to, from, forward, backward, ok_backward, error, window, kLevels);
  face3d::Landmarks68 out;
  for (int i = 0; i < face3d::kNumLandmarks; ++i) {
    out[i] = Eigen::Vector2d(forward[i].x, forward[i].y);
    const double back = std::hypot(backward[i].x - start[i].x, backward[i].y - start[i].y);
    (*kept)[i] = ok_forward[i] && ok_backward[i] && back <= 1.0 ? 1.0 : 0.0;
  }
  return out;
}

std::string Format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

int RunRoundTripTask(const ExpressionEvalArgs& args, nlohmann::json& json) {
  if (args.sources.empty()) throw std::invalid_argument("eval-expression roundtrip needs --source IMG");
  if (!args.output.empty()) fs::create_directories(args.output);
  const auto requests = RoundTripRequests();
  const auto& visible = LandmarkVisibleActionUnits();
  std::map<std::string, std::vector<double>> abs_err, delta_err, lmk_err, lmk_held_err, held_err, diff_err,
      tracked_err, gain, render_gain, net_gain;
  std::vector<double> visible_network_gain;  // Single landmark-visible AU requests.
  ProgressBar progress("eval-expression roundtrip", static_cast<int>(args.sources.size() * requests.size()),
                       args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  int done = 0, missed = 0;
  json["cases"] = nlohmann::json::array();
  std::printf("| source | request | AU | req | source | unedited | edited | |err| | d|err| | lmk | lmk+id | idheld | diff | "
              "tracked | motion px | gain | render gain | net gain | lip gap target/detected px | eye gap "
              "target/detected px (unedited) | tracked points | eyelid closure |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& source : args.sources) {
    pipeline::RetargeterOptions options;
    options.source_image = source;
    options.analysis.num_threads = args.threads;
    auto retargeter = pipeline::Retargeter::Create(options);
    const ExpressionRoundTrip round_trip(*retargeter, args.landmark_gain);
    for (const auto& [label, request] : requests) {
      const RoundTripResult r = round_trip.Run(request);
      progress.Update(++done, elapsed());
      nlohmann::json c = {{"source", source}, {"request", label}, {"found", r.found}};
      if (!r.found) {
        ++missed;
        json["cases"].push_back(c);
        continue;
      }
      if (!args.output.empty()) {
        std::string file = fs::path(source).stem().string() + "_" + label + ".png";
        std::replace(file.begin(), file.end(), '=', '_');
        WriteRgb(fs::path(args.output) / file, r.edited_rgb);
      }
      c["rmse_px"] = r.rmse_px;
      c["model_motion_px"] = r.model_motion_px;
      c["motion_gain"] = r.motion_gain;
      c["render_gain"] = r.render_gain;
      c["network_gain"] = r.network_gain;
      c["tracked_landmarks"] = r.tracked_landmarks;
      c["eyelid_closure"] = {std::isnan(r.eyelid_closure[0]) ? nlohmann::json() : nlohmann::json(r.eyelid_closure[0]),
                             std::isnan(r.eyelid_closure[1]) ? nlohmann::json() : nlohmann::json(r.eyelid_closure[1])};
      c["lip_gap_px"] = {{"target", r.lip_gap_target_px},
                         {"detected", r.lip_gap_detected_px},
                         {"unedited_target", r.lip_gap_unedited_target_px},
                         {"unedited_detected", r.lip_gap_unedited_detected_px}};
      c["eye_gap_px"] = {{"target", r.eye_gap_target_px},
                         {"detected", r.eye_gap_detected_px},
                         {"unedited_target", r.eye_gap_unedited_target_px},
                         {"unedited_detected", r.eye_gap_unedited_detected_px}};
      if (r.aus.size() == 1 && std::find(visible.begin(), visible.end(), r.aus[0].name) != visible.end()) {
        visible_network_gain.push_back(r.network_gain);
      }
      for (const auto& au : r.aus) {
        abs_err[au.name].push_back(std::abs(au.edited - au.requested));
        delta_err[au.name].push_back(std::abs((au.edited - au.unedited) - (au.requested - au.source)));
        lmk_err[au.name].push_back(std::abs(au.model_landmarks - au.requested));
        lmk_held_err[au.name].push_back(std::abs(au.model_landmarks_identity_held - au.requested));
        gain[au.name].push_back(r.motion_gain);
        render_gain[au.name].push_back(r.render_gain);
        net_gain[au.name].push_back(r.network_gain);
        held_err[au.name].push_back(std::abs(au.identity_held - au.requested));
        diff_err[au.name].push_back(std::abs(au.differential - au.requested));
        tracked_err[au.name].push_back(std::abs(au.tracked - au.requested));
        c["aus"][au.name] = {{"requested", au.requested},       {"source", au.source},
                             {"unedited", au.unedited},         {"edited", au.edited},
                             {"model_landmarks", au.model_landmarks},
                             {"model_landmarks_identity_held", au.model_landmarks_identity_held},
                             {"identity_held", au.identity_held},
                             {"differential", au.differential},
                             {"tracked", au.tracked}};
        std::printf(
            "| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | "
            "%.2f | %.2f | %.1f / %.1f | %.1f / %.1f (%.1f / %.1f) | %d | %.2f / %.2f |\n",
            fs::path(source).filename().c_str(), label.c_str(), au.name.c_str(), au.requested, au.source,
            au.unedited, au.edited, std::abs(au.edited - au.requested),
            std::abs((au.edited - au.unedited) - (au.requested - au.source)), au.model_landmarks,
            au.model_landmarks_identity_held, au.identity_held, au.differential, au.tracked, r.model_motion_px,
            r.motion_gain,
            r.render_gain,
            r.network_gain,
            r.lip_gap_target_px, r.lip_gap_detected_px, r.eye_gap_target_px, r.eye_gap_detected_px,
            r.eye_gap_unedited_target_px, r.eye_gap_unedited_detected_px, r.tracked_landmarks, r.eyelid_closure[0],
            r.eyelid_closure[1]);
      }
      json["cases"].push_back(c);
    }
  }
  progress.Finish(done, elapsed());
  auto mean = [](const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  std::printf("\nPer-AU mean absolute error over %zu source(s) (%d render(s) without a face):\n\n",
              args.sources.size(), missed);
  std::printf("| AU | n | MAE edited vs requested | MAE of the change | MAE model landmarks | ... identity held | "
              "MAE pixels, identity held | MAE differential (landmark gain %.2f) | MAE tracked | motion gain | "
              "render gain | network gain | landmark-visible |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
              args.landmark_gain);
  std::vector<double> visible_edited, visible_held, visible_diff, visible_tracked;
  for (const auto& [name, errors] : abs_err) {
    const bool is_visible = std::find(visible.begin(), visible.end(), name) != visible.end();
    std::printf("| %s | %zu | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f | %s |\n",
                name.c_str(), errors.size(), mean(errors), mean(delta_err[name]), mean(lmk_err[name]),
                mean(lmk_held_err[name]), mean(held_err[name]), mean(diff_err[name]), mean(tracked_err[name]),
                mean(gain[name]), mean(render_gain[name]),
                mean(net_gain[name]), is_visible ? "yes" : "no");
    if (is_visible) {
      visible_edited.push_back(mean(errors));
      visible_held.push_back(mean(held_err[name]));
      visible_diff.push_back(mean(diff_err[name]));
      visible_tracked.push_back(mean(tracked_err[name]));
    }
    json["mae"][name] = {{"n", errors.size()},
                         {"edited", mean(errors)},
                         {"change", mean(delta_err[name])},
                         {"model_landmarks", mean(lmk_err[name])},
                         {"model_landmarks_identity_held", mean(lmk_held_err[name])},
                         {"motion_gain", mean(gain[name])},
                         {"render_gain", mean(render_gain[name])},
                         {"network_gain", mean(net_gain[name])},
                         {"identity_held", mean(held_err[name])},
                         {"differential", mean(diff_err[name])},
                         {"tracked", mean(tracked_err[name])},
                         {"landmark_visible", is_visible}};
  }
  const auto max = [](const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); };
  std::printf("\nLandmark-visible AUs, mean (max) of the per-AU MAE: edited %.3f (%.3f), pixels identity held %.3f "
              "(%.3f), differential %.3f (%.3f), tracked %.3f (%.3f); the acceptance bound is 0.1 per AU\n"
              "Network gain over the %zu single landmark-visible AU requests: %.3f (a --landmark-gain calibration)\n",
              mean(visible_edited), max(visible_edited), mean(visible_held), max(visible_held), mean(visible_diff),
              max(visible_diff), mean(visible_tracked), max(visible_tracked), visible_network_gain.size(),
              mean(visible_network_gain));
  json["visible_network_gain"] = mean(visible_network_gain);
  json["landmark_gain"] = args.landmark_gain;
  json["visible_summary"] = {{"edited", {{"mean", mean(visible_edited)}, {"max", max(visible_edited)}}},
                             {"identity_held", {{"mean", mean(visible_held)}, {"max", max(visible_held)}}},
                             {"differential", {{"mean", mean(visible_diff)}, {"max", max(visible_diff)}}},
                             {"tracked", {{"mean", mean(visible_tracked)}, {"max", max(visible_tracked)}}}};
  return 0;
}

int RunLondonTask(const ExpressionEvalArgs& args, nlohmann::json& json) {
  if (args.data.empty()) throw std::invalid_argument("eval-expression london needs --data (the London folder)");
  const auto ids = FindLondonIds(args.data, args.limit);
  if (ids.empty()) {
    throw std::runtime_error("no London pairs (neutral/NNN_03.jpg + smiling/NNN_08.jpg) under '" + args.data + "'");
  }
  ExpressionClassifier::Options classifier_options;
  classifier_options.num_threads = args.threads;
  const auto classifier = ExpressionClassifier::Create(classifier_options);
  const size_t ns = args.strengths.size();
  int found = 0, neutral_happy = 0, smiling_happy = 0;
  double neutral_p = 0.0, smiling_p = 0.0, before = 0.0;
  std::vector<int> out_happy(ns, 0);
  std::vector<double> out_p(ns, 0.0), after(ns, 0.0);
  std::vector<int> closer(ns, 0);
  std::array<double, kNumLandmarkRegions> before_region{};
  std::vector<std::array<double, kNumLandmarkRegions>> after_region(ns);
  auto landmarks_json = [](const face3d::Landmarks68& l) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : l) out.push_back({p.x(), p.y()});
    return out;
  };
  ProgressBar progress("eval-expression london", static_cast<int>(ids.size()), args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto is_happy = [](const ExpressionClassifier::Probabilities& p) {
    return std::max_element(p.begin(), p.end()) - p.begin() == ExpressionClassifier::kHappy;
  };
  json["cases"] = nlohmann::json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    const LondonCase c = EvaluateLondon(args.data, ids[i], args.strengths, *classifier,
                                          predict::ParseBlendMode(args.mode), args.threads);
    progress.Update(static_cast<int>(i + 1), elapsed());
    nlohmann::json jc = {{"id", c.id}, {"found", c.found}};
    if (!c.found) {
      json["cases"].push_back(jc);
      continue;
    }
    ++found;
    neutral_happy += is_happy(c.neutral);
    smiling_happy += is_happy(c.smiling);
    neutral_p += c.neutral[ExpressionClassifier::kHappy];
    smiling_p += c.smiling[ExpressionClassifier::kHappy];
    before += c.distance_before;
    jc["p_happy_neutral"] = c.neutral[ExpressionClassifier::kHappy];
    jc["p_happy_smiling"] = c.smiling[ExpressionClassifier::kHappy];
    jc["distance_before"] = c.distance_before;
    const auto region_before = NormalisedRegionDistances(c.smiling_landmarks, c.neutral_landmarks);
    for (int r = 0; r < kNumLandmarkRegions; ++r) before_region[r] += region_before[r];
    jc["region_distance_before"] = region_before;
    jc["landmarks_neutral"] = landmarks_json(c.neutral_landmarks);
    jc["landmarks_smiling"] = landmarks_json(c.smiling_landmarks);
    jc["expression_neutral"] = c.neutral_expression;
    for (size_t s = 0; s < ns; ++s) {
      out_happy[s] += is_happy(c.outputs[s]);
      out_p[s] += c.outputs[s][ExpressionClassifier::kHappy];
      after[s] += c.distance_after[s];
      closer[s] += c.distance_after[s] < c.distance_before;
      const auto region_after = NormalisedRegionDistances(c.smiling_landmarks, c.output_landmarks[s]);
      for (int r = 0; r < kNumLandmarkRegions; ++r) after_region[s][r] += region_after[r];
      jc["outputs"].push_back({{"strength", args.strengths[s]},
                               {"p_happy", c.outputs[s][ExpressionClassifier::kHappy]},
                               {"argmax", ExpressionClassifier::kNames[std::max_element(c.outputs[s].begin(),
                                                                                        c.outputs[s].end()) -
                                                                       c.outputs[s].begin()]},
                               {"distance_after", c.distance_after[s]},
                               {"region_distance_after", region_after},
                               {"landmarks", landmarks_json(c.output_landmarks[s])}});
    }
    if (!args.output.empty()) {
      // neutral | outputs | smiling, one PNG per identity.
      std::vector<cv::Mat> cells = {c.neutral_rgb};
      std::vector<std::string> labels = {c.id + " neutral"};
      for (size_t s = 0; s < ns; ++s) {
        cells.push_back(c.output_rgb[s]);
        labels.push_back("happy=" + Format("%g", args.strengths[s]));
      }
      cells.push_back(c.smiling_rgb);
      labels.push_back("real smile");
      render::ContactSheetOptions sheet;
      sheet.columns = static_cast<int>(cells.size());
      fs::create_directories(args.output);
      WriteRgb(fs::path(args.output) / ("london_" + c.id + ".png"), render::MakeContactSheet(cells, labels, sheet));
    }
    json["cases"].push_back(jc);
  }
  progress.Finish(static_cast<int>(ids.size()), elapsed());
  if (found == 0) throw std::runtime_error("no London pair could be analysed");
  const double n = found;
  std::printf("London set (DeBruine & Jones 2017, CC BY 4.0): %d of %zu identities analysed\n\n", found, ids.size());
  std::printf("| images | classifier says happy (argmax) | mean P(happy) | landmark distance to the real smile "
              "(IOD) | closer than the neutral |\n|---|---|---|---|---|\n");
  std::printf("| neutral photos (input) | %d/%d (%.0f%%) | %.3f | %.4f | - |\n", neutral_happy, found,
              100.0 * neutral_happy / n, neutral_p / n, before / n);
  for (size_t s = 0; s < ns; ++s) {
    std::printf("| happy preset (%s), strength %.2f (output) | %d/%d (%.0f%%) | %.3f | %.4f | %d/%d |\n",
                args.mode.c_str(), args.strengths[s], out_happy[s], found, 100.0 * out_happy[s] / n, out_p[s] / n,
                after[s] / n, closer[s], found);
    json["summary"]["outputs"].push_back({{"strength", args.strengths[s]},
                                          {"happy_rate", out_happy[s] / n},
                                          {"mean_p_happy", out_p[s] / n},
                                          {"mean_distance", after[s] / n},
                                          {"closer", closer[s]}});
  }
  std::printf("| smiling photos (reference) | %d/%d (%.0f%%) | %.3f | 0 | - |\n", smiling_happy, found,
              100.0 * smiling_happy / n, smiling_p / n);
  json["summary"]["neutral"] = {{"happy_rate", neutral_happy / n}, {"mean_p_happy", neutral_p / n},
                                {"mean_distance", before / n}};
  // The same distance by face region (all 68 points aligned together).
  std::printf("\n| distance to the real smile by region (IOD) |");
  for (const char* name : kLandmarkRegionNames) std::printf(" %s |", name);
  std::printf("\n|---|---:|---:|---:|---:|---:|\n| neutral photos |");
  for (int r = 0; r < kNumLandmarkRegions; ++r) std::printf(" %.4f |", before_region[r] / n);
  json["summary"]["neutral"]["region_distance"] = nlohmann::json::object();
  for (int r = 0; r < kNumLandmarkRegions; ++r) {
    json["summary"]["neutral"]["region_distance"][kLandmarkRegionNames[r]] = before_region[r] / n;
  }
  std::printf("\n");
  for (size_t s = 0; s < ns; ++s) {
    std::printf("| happy (%s), strength %.2f |", args.mode.c_str(), args.strengths[s]);
    for (int r = 0; r < kNumLandmarkRegions; ++r) {
      std::printf(" %.4f |", after_region[s][r] / n);
      json["summary"]["outputs"][s]["region_distance"][kLandmarkRegionNames[r]] = after_region[s][r] / n;
    }
    std::printf("\n");
  }
  json["summary"]["found"] = found;
  json["summary"]["smiling"] = {{"happy_rate", smiling_happy / n}, {"mean_p_happy", smiling_p / n}};
  return 0;
}

int RunPresetsTask(const ExpressionEvalArgs& args, nlohmann::json& json) {
  if (args.data.empty()) throw std::invalid_argument("eval-expression presets needs --data (the London folder)");
  const auto ids = FindLondonIds(args.data, args.limit);
  if (ids.empty()) {
    throw std::runtime_error("no London pairs (neutral/NNN_03.jpg + smiling/NNN_08.jpg) under '" + args.data + "'");
  }
  if (args.strengths.size() > 1) {
    throw std::invalid_argument("eval-expression presets takes one --strength (" +
                                std::to_string(args.strengths.size()) + " given)");
  }
  const double strength = args.strengths.empty() ? 1.0 : args.strengths.front();
  const ExpressionBlend mode = predict::ParseBlendMode(args.mode);
  ExpressionClassifier::Options classifier_options;
  classifier_options.num_threads = args.threads;
  const auto classifier = ExpressionClassifier::Create(classifier_options);
  const auto presets = predict::ExpressionPresetNames();
  constexpr int kClasses = static_cast<int>(ExpressionClassifier::kNames.size());
  auto argmax = [](const ExpressionClassifier::Probabilities& p) {
    return static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
  };
  using Counts = std::array<int, kClasses>;
  Counts input_counts{};
  std::vector<Counts> counts(presets.size(), Counts{});
  std::vector<double> own_p(presets.size(), 0.0);
  int found = 0;
  ProgressBar progress("eval-expression presets", static_cast<int>(ids.size()), args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  json["strength"] = strength;
  json["mode"] = args.mode;
  json["cases"] = nlohmann::json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    const PresetCase c = EvaluatePresets(fs::path(args.data) / "neutral" / (ids[i] + "_03.jpg"), strength,
                                         *classifier, mode, args.threads);
    progress.Update(static_cast<int>(i + 1), elapsed());
    nlohmann::json jc = {{"id", ids[i]}, {"found", c.found}};
    if (c.found) {
      ++found;
      ++input_counts[argmax(c.input)];
      jc["input"] = c.input;
      for (size_t k = 0; k < presets.size(); ++k) {
        const auto& p = c.outputs[k];
        ++counts[k][argmax(p)];
        const int own = ClassifierClassOf(predict::ParsePreset(presets[k]).preset);
        if (own >= 0) own_p[k] += p[own];
        jc["outputs"][std::string(presets[k])] = {{"probabilities", p},
                                                  {"argmax", ExpressionClassifier::kNames[argmax(p)]}};
      }
      if (!args.output.empty()) {
        std::vector<cv::Mat> cells = {c.input_rgb};
        auto label = [&](std::string_view name, const ExpressionClassifier::Probabilities& p) {
          return std::string(name) + ": " + std::string(ExpressionClassifier::kNames[argmax(p)]);
        };
        std::vector<std::string> labels = {label(ids[i], c.input)};
        for (size_t k = 0; k < presets.size(); ++k) {
          cells.push_back(c.output_rgb[k]);
          labels.push_back(label(presets[k], c.outputs[k]));
        }
        render::ContactSheetOptions sheet;
        sheet.columns = static_cast<int>(cells.size());
        fs::create_directories(args.output);
        WriteRgb(fs::path(args.output) / ("presets_" + ids[i] + ".png"),
                 render::MakeContactSheet(cells, labels, sheet));
      }
    }
    json["cases"].push_back(jc);
  }
  progress.Finish(static_cast<int>(ids.size()), elapsed());
  if (found == 0) throw std::runtime_error("no London portrait could be analysed");
  const double n = found;
  std::printf("London set (DeBruine & Jones 2017, CC BY 4.0): %d of %zu neutral photos analysed; presets at strength "
              "%.2f (%s)\n\n", found, ids.size(), strength, args.mode.c_str());
  std::printf("| renders of | rated as the preset (argmax) | mean P(preset) |");
  for (const auto name : ExpressionClassifier::kNames) std::printf(" %s |", std::string(name).c_str());
  std::printf("\n|---|---:|---:|");
  for (int k = 0; k < kClasses; ++k) std::printf("---:|");
  std::printf("\n| (the neutral photos) | - | - |");
  for (int v : input_counts) std::printf(" %d |", v);
  std::printf("\n");
  json["summary"]["found"] = found;
  json["summary"]["input_counts"] = input_counts;
  int rated_total = 0, rated_n = 0;
  for (size_t k = 0; k < presets.size(); ++k) {
    const int own = ClassifierClassOf(predict::ParsePreset(presets[k]).preset);
    const std::string name(presets[k]);
    if (own >= 0) {
      std::printf("| %s | %d/%d (%.0f%%) | %.3f |", name.c_str(), counts[k][own], found, 100.0 * counts[k][own] / n,
                  own_p[k] / n);
      rated_total += counts[k][own];
      rated_n += found;
      json["summary"]["presets"][name] = {{"rated_as_itself", counts[k][own] / n}, {"mean_p_itself", own_p[k] / n},
                                          {"counts", counts[k]}};
    } else {
      std::printf("| %s | - (no such class) | - |", name.c_str());
      json["summary"]["presets"][name] = {{"counts", counts[k]}};
    }
    for (int v : counts[k]) std::printf(" %d |", v);
    std::printf("\n");
  }
  std::printf("\nThe seven presets face-api can name: rated as themselves %d of %d renders (%.0f%%)\n", rated_total,
              rated_n, 100.0 * rated_total / std::max(rated_n, 1));
  json["summary"]["rated_as_itself"] = static_cast<double>(rated_total) / std::max(rated_n, 1);
  return 0;
}

int RunRestTask(const ExpressionEvalArgs& args, nlohmann::json& json) {
  if (args.sources.empty()) {
    throw std::invalid_argument("eval-expression rest needs --source IMG|VIDEO (neutral faces)");
  }
  const RestCalibration rest = CalibrateRest(args.sources, args.threads);
  json["sources"] = nlohmann::json::array();
  for (size_t i = 0; i < args.sources.size(); ++i) {
    json["sources"].push_back({{"source", args.sources[i]}, {"expression", rest.expressions[i]}});
  }
  std::printf("Fitted expression of the first frame of %zu neutral faces (FaceAnalyzer::AnalyzeStill, default "
              "options)\n\n| shape | median | min | max |\n|---|---:|---:|---:|\n",
              args.sources.size());
  std::string initializer;
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    const std::string& name = rest.shape_names[j];
    json["median"][name] = rest.median[j];
    if (rest.median[j] < 0.005) continue;
    double lo = 1.0, hi = 0.0;
    for (const auto& e : rest.expressions) {
      lo = std::min(lo, e[j]);
      hi = std::max(hi, e[j]);
    }
    std::printf("| %s | %.2f | %.2f | %.2f |\n", name.c_str(), rest.median[j], lo, hi);
    char item[64];
    std::snprintf(item, sizeof(item), "{\"%s\", %.2f}", name.c_str(), rest.median[j]);
    initializer += (initializer.empty() ? "" : ", ") + std::string(item);
  }
  std::printf("\n(shapes not listed: median < 0.005)\n\nDefaultRestExpression: {%s}\n", initializer.c_str());
  return 0;
}

int RunSheetTask(const ExpressionEvalArgs& args) {
  if (args.sources.size() != 1) throw std::invalid_argument("eval-expression sheet needs exactly one --source");
  if (args.output.empty()) throw std::invalid_argument("eval-expression sheet needs --output SHEET.jpg|png");
  const cv::Mat sheet = ExpressionSheet(args.sources[0], {0.0, 0.25, 0.5, 0.75, 1.0}, args.crop, args.columns,
                                        args.threads);
  WriteRgb(args.output, sheet, 85);
  std::printf("%s (%dx%d)\n", fs::absolute(args.output).c_str(), sheet.cols, sheet.rows);
  return 0;
}

}  // namespace

const std::vector<std::string>& LandmarkVisibleActionUnits() {
  static const std::vector<std::string> aus = {"AU1",  "AU2",  "AU4",  "AU12", "AU12L", "AU15",
                                               "AU18", "AU22", "AU27", "AU45", "AU45L"};
  return aus;
}

ExpressionRoundTrip::ExpressionRoundTrip(pipeline::Retargeter& retargeter, double landmark_gain)
    : retargeter_(retargeter),
      landmark_gain_(landmark_gain),
      fitter_(face3d::FaceFitter::Create(retargeter.analyzer().model(), retargeter.analyzer().options().still_fit)),
      warper_(render::FaceWarper::Create(retargeter.analyzer().model(), render::WarpOptions{})) {
  if (!(landmark_gain > 0.0)) throw std::invalid_argument("ExpressionRoundTrip: landmark_gain must be > 0");
  if (retargeter.output_size() != retargeter.source_rgb().size()) {
    throw std::invalid_argument("ExpressionRoundTrip needs a retargeter without output_crop");
  }
  unedited_rgb_ = retargeter_.Render(retargeter_.source().params);
  const auto fit = Analyze(retargeter_, unedited_rgb_);
  if (!fit) throw std::runtime_error("no face found in the unedited render of the source portrait");
  unedited_ = *fit;
  rest_params_ = retargeter_.expression_control().Apply(retargeter_.source().params, {}, ExpressionBlend::kReplace);
  rest_rgb_ = retargeter_.Render(rest_params_);
  const auto rest_fit = Analyze(retargeter_, rest_rgb_);
  if (!rest_fit) throw std::runtime_error("no face found in the rest-state render of the source portrait");
  rest_landmarks_ = rest_fit->landmarks;
}

RoundTripResult ExpressionRoundTrip::Run(const ActionUnitSet& request) const {
  const auto& control = retargeter_.expression_control();
  const FaceObservation& source = retargeter_.source();
  const face3d::FaceParams target = control.Apply(source.params, request, ExpressionBlend::kReplace);
  RoundTripResult r;
  r.edited_rgb = retargeter_.Render(target);
  const auto edited = Analyze(retargeter_, r.edited_rgb);
  if (!edited) return r;
  r.found = true;
  r.rmse_px = edited->rmse_px;

  // Diagnostics: the same fitter on noise-free model landmarks, and on the
  // detected landmarks with the identity held.
  const face3d::Landmarks68 target_lm = fitter_.landmark_model().Project(target, source.camera);
  const face3d::Landmarks68 source_lm = fitter_.landmark_model().Project(source.params, source.camera);
  const face3d::FitResult model_fit = fitter_.Fit(target_lm, edited->camera);
  face3d::FitRequest held;
  held.identity = source.params.identity;
  const face3d::FitResult model_held_fit = fitter_.Fit(target_lm, edited->camera, held);
  const face3d::FitResult held_fit = fitter_.Fit(edited->landmarks, edited->camera, held);
  face3d::Landmarks68 differential_lm;
  for (int i = 0; i < face3d::kNumLandmarks; ++i) {
    differential_lm[i] = source_lm[i] + (edited->landmarks[i] - unedited_.landmarks[i]) / landmark_gain_;
  }
  const face3d::FitResult differential_fit = fitter_.Fit(differential_lm, source.camera, held);

  // The tracked judge (AuReadback::tracked).
  face3d::FitRequest tracked_request = held;
  std::array<double, face3d::kNumLandmarks> kept{};
  const face3d::Landmarks68 tracked_px = TrackLandmarks(rest_rgb_, r.edited_rgb, rest_landmarks_, &kept);
  const face3d::Landmarks68 rest_lm = fitter_.landmark_model().Project(rest_params_, source.camera);
  face3d::Landmarks68 tracked_lm;
  for (int i = 0; i < face3d::kNumLandmarks; ++i) {
    tracked_lm[i] = rest_lm[i] + (tracked_px[i] - rest_landmarks_[i]);
    r.tracked_landmarks += kept[i] > 0.0;
  }
  tracked_request.weights = kept;
  face3d::FaceParams tracked = fitter_.Fit(tracked_lm, source.camera, tracked_request).params;
  face3d::EyelidMeterOptions meter_options;
  meter_options.reference_frames = 1;  // The rest render is the open-eye reference.
  meter_options.adapt_rate = 0.0;
  face3d::EyelidMeter meter = face3d::EyelidMeter::Create(meter_options);
  meter.Measure(ViewOf(rest_rgb_, PixelFormat::kRgb), rest_landmarks_);
  const auto lids = meter.Measure(ViewOf(r.edited_rgb, PixelFormat::kRgb), edited->landmarks);
  const auto& model = retargeter_.analyzer().model();
  const std::array<int, 2> blink = {model.ExpressionIndex("eyeBlink_R"), model.ExpressionIndex("eyeBlink_L")};
  for (int eye = 0; eye < 2; ++eye) {
    r.eyelid_closure[eye] = lids[eye] ? lids[eye]->closure : std::nan("");
    if (!lids[eye] || blink[eye] < 0) continue;
    const double rest = rest_params_.expression[blink[eye]];
    tracked.expression[blink[eye]] = rest + lids[eye]->closure * (1.0 - rest);
  }

  r.lip_gap_target_px = face3d::InnerLipGap(target_lm);
  r.lip_gap_detected_px = face3d::InnerLipGap(edited->landmarks);
  r.lip_gap_unedited_target_px = face3d::InnerLipGap(source_lm);
  r.lip_gap_unedited_detected_px = face3d::InnerLipGap(unedited_.landmarks);
  r.eye_gap_target_px = EyeGap(target_lm);
  r.eye_gap_detected_px = EyeGap(edited->landmarks);
  r.eye_gap_unedited_target_px = EyeGap(source_lm);
  r.eye_gap_unedited_detected_px = EyeGap(unedited_.landmarks);
  double dot = 0.0, norm2 = 0.0;
  for (int i = 0; i < face3d::kNumLandmarks; ++i) {
    const Eigen::Vector2d model_motion = target_lm[i] - source_lm[i];
    dot += model_motion.dot(edited->landmarks[i] - unedited_.landmarks[i]);
    norm2 += model_motion.squaredNorm();
  }
  r.model_motion_px = std::sqrt(norm2 / face3d::kNumLandmarks);
  r.motion_gain = r.model_motion_px > 0.05 ? dot / norm2 : 0.0;

  // The render's own motion of the features: forward-map the unedited
  // render's detected landmarks p through the backward displacement D
  // (source minus target): solve q + D(q) = p by fixed-point iteration.
  render::WarpDebug debug;
  warper_.Warp(ViewOf(retargeter_.source_rgb(), PixelFormat::kRgb), source.params, target, source.camera, &debug,
               render::TargetLips::kFromSource);  // As Retargeter::Render.
  const double scale = static_cast<double>(debug.displacement.cols) / debug.crop_rect.width;
  auto displacement = [&](const Eigen::Vector2d& q) {  // Bilinear, clamped to the crop.
    const cv::Mat& d = debug.displacement;
    const double cx = std::clamp(scale * (q.x() - debug.crop_rect.x + 0.5) - 0.5, 0.0, d.cols - 1.001);
    const double cy = std::clamp(scale * (q.y() - debug.crop_rect.y + 0.5) - 0.5, 0.0, d.rows - 1.001);
    const int x0 = static_cast<int>(cx), y0 = static_cast<int>(cy);
    const double fx = cx - x0, fy = cy - y0;
    Eigen::Vector2d out = Eigen::Vector2d::Zero();
    for (int dy = 0; dy < 2; ++dy) {
      for (int dx = 0; dx < 2; ++dx) {
        const auto v = d.at<cv::Vec2f>(y0 + dy, x0 + dx);
        const double w = (dx ? fx : 1.0 - fx) * (dy ? fy : 1.0 - fy);
        out += w * Eigen::Vector2d(v[0], v[1]);
      }
    }
    return out;
  };
  double render_dot = 0.0, net_dot = 0.0, render_norm2 = 0.0;
  for (int i = 0; i < face3d::kNumLandmarks; ++i) {
    const Eigen::Vector2d p = unedited_.landmarks[i];
    Eigen::Vector2d q = p;
    for (int k = 0; k < 20; ++k) q = p - displacement(q);
    const Eigen::Vector2d render_motion = q - p;
    render_dot += render_motion.dot(target_lm[i] - source_lm[i]);
    net_dot += render_motion.dot(edited->landmarks[i] - unedited_.landmarks[i]);
    render_norm2 += render_motion.squaredNorm();
  }
  r.render_gain = r.model_motion_px > 0.05 ? render_dot / norm2 : 0.0;
  r.network_gain = render_norm2 > 0.05 * 0.05 * face3d::kNumLandmarks ? net_dot / render_norm2 : 0.0;
  for (const auto& au : request) {
    AuReadback b;
    b.name = au.name;
    b.requested = control.Intensity(target.expression, au.name);  // The intensity over the portrait's rest state.
    b.source = control.Intensity(source.params.expression, au.name);
    b.unedited = control.Intensity(unedited_.params.expression, au.name);
    b.edited = control.Intensity(edited->params.expression, au.name);
    b.model_landmarks = control.Intensity(model_fit.params.expression, au.name);
    b.model_landmarks_identity_held = control.Intensity(model_held_fit.params.expression, au.name);
    b.identity_held = control.Intensity(held_fit.params.expression, au.name);
    b.differential = control.Intensity(differential_fit.params.expression, au.name);
    b.tracked = control.Intensity(tracked.expression, au.name);
    r.aus.push_back(b);
  }
  return r;
}

double NormalisedLandmarkDistance(const face3d::Landmarks68& reference, const face3d::Landmarks68& other) {
  const double iod = (reference[36] - reference[45]).norm();
  if (!(iod > 0.0)) throw std::invalid_argument("NormalisedLandmarkDistance: reference eye corners coincide");
  return metrics::Akd(reference, other, /*align=*/true) / iod;
}

std::array<double, kNumLandmarkRegions> NormalisedRegionDistances(const face3d::Landmarks68& reference,
                                                                  const face3d::Landmarks68& other) {
  const double iod = (reference[36] - reference[45]).norm();
  if (!(iod > 0.0)) throw std::invalid_argument("NormalisedRegionDistances: reference eye corners coincide");
  Eigen::Matrix<double, 2, face3d::kNumLandmarks> p, q;
  for (int i = 0; i < face3d::kNumLandmarks; ++i) {
    p.col(i) = reference[i];
    q.col(i) = other[i];
  }
  const Eigen::Matrix3d t = Eigen::umeyama(q, p, /*with_scaling=*/true);  // As metrics::Akd(align).
  q = (t.topLeftCorner<2, 2>() * q).colwise() + t.topRightCorner<2, 1>();
  constexpr std::array<int, kNumLandmarkRegions + 1> kStart = {0, 17, 27, 36, 48, 68};
  std::array<double, kNumLandmarkRegions> out{};
  for (int r = 0; r < kNumLandmarkRegions; ++r) {
    for (int i = kStart[r]; i < kStart[r + 1]; ++i) out[r] += (p.col(i) - q.col(i)).norm();
    out[r] /= (kStart[r + 1] - kStart[r]) * iod;
  }
  return out;
}

std::vector<std::string> FindLondonIds(const fs::path& dir, int limit) {
  // The `pairs` evaluation suite's listing of the same layout; it throws when
  // the folder is missing or holds no pair, which here means "none".
  std::vector<std::string> ids;
  try {
    for (const auto& c : pipeline::FindEvalCases(pipeline::EvalSuite::kPairs, dir, limit)) ids.push_back(c.name);
  } catch (const std::invalid_argument&) {
  }
  return ids;
}

LondonCase EvaluateLondon(const fs::path& dir, const std::string& id, const std::vector<double>& strengths,
                          const ExpressionClassifier& classifier, ExpressionBlend mode, int threads) {
  LondonCase c;
  c.id = id;
  const auto retargeter = OpenPortrait(dir / "neutral" / (id + "_03.jpg"), threads);
  if (!retargeter) return c;  // Unreadable, or no face in the neutral photo: not found.
  const FaceObservation& neutral = retargeter->source();
  c.neutral_rgb = retargeter->source_rgb();
  c.smiling_rgb = ReadRgb(dir / "smiling" / (id + "_08.jpg"));
  const cv::Mat& smiling_rgb = c.smiling_rgb;
  const auto smiling = Analyze(*retargeter, smiling_rgb);
  if (!smiling) return c;
  c.neutral = classifier.Classify(ViewOf(retargeter->source_rgb(), PixelFormat::kRgb), neutral.box);
  c.smiling = classifier.Classify(ViewOf(smiling_rgb, PixelFormat::kRgb), smiling->box);
  c.distance_before = NormalisedLandmarkDistance(smiling->landmarks, neutral.landmarks);
  c.neutral_landmarks = neutral.landmarks;
  c.smiling_landmarks = smiling->landmarks;
  c.neutral_expression = neutral.params.expression;
  const auto& control = retargeter->expression_control();
  for (double s : strengths) {
    const ActionUnitSet happy = predict::PresetActionUnits(ExpressionPreset::kHappy, s);
    cv::Mat out = retargeter->Render(control.Apply(neutral.params, happy, mode));
    const auto fit = Analyze(*retargeter, out);
    if (!fit) return c;
    c.outputs.push_back(classifier.Classify(ViewOf(out, PixelFormat::kRgb), fit->box));
    c.distance_after.push_back(NormalisedLandmarkDistance(smiling->landmarks, fit->landmarks));
    c.output_landmarks.push_back(fit->landmarks);
    c.output_rgb.push_back(std::move(out));
  }
  c.found = true;
  return c;
}

int ClassifierClassOf(ExpressionPreset preset) {
  switch (preset) {
    case ExpressionPreset::kAngry:
      return ExpressionClassifier::kAngry;
    case ExpressionPreset::kContemptuous:
      return -1;
    case ExpressionPreset::kDisgusted:
      return ExpressionClassifier::kDisgusted;
    case ExpressionPreset::kFearful:
      return ExpressionClassifier::kFearful;
    case ExpressionPreset::kHappy:
      return ExpressionClassifier::kHappy;
    case ExpressionPreset::kNeutral:
      return ExpressionClassifier::kNeutral;
    case ExpressionPreset::kSad:
      return ExpressionClassifier::kSad;
    case ExpressionPreset::kSurprised:
      return ExpressionClassifier::kSurprised;
  }
  return -1;
}

PresetCase EvaluatePresets(const fs::path& portrait, double strength, const ExpressionClassifier& classifier,
                           ExpressionBlend mode, int threads) {
  PresetCase c;
  c.id = portrait.stem().string();
  const auto retargeter = OpenPortrait(portrait, threads);
  if (!retargeter) return c;  // Unreadable, or no face: not found.
  const FaceObservation& source = retargeter->source();
  c.input_rgb = retargeter->source_rgb();
  c.input = classifier.Classify(ViewOf(c.input_rgb, PixelFormat::kRgb), source.box);
  const auto& control = retargeter->expression_control();
  for (const auto name : predict::ExpressionPresetNames()) {
    const ActionUnitSet aus = predict::PresetActionUnits(predict::ParsePreset(name).preset, strength);
    cv::Mat out = retargeter->Render(control.Apply(source.params, aus, mode));
    const auto fit = Analyze(*retargeter, out);
    if (!fit) return c;
    c.outputs.push_back(classifier.Classify(ViewOf(out, PixelFormat::kRgb), fit->box));
    c.output_rgb.push_back(std::move(out));
  }
  c.found = true;
  return c;
}

RestCalibration CalibrateRest(const std::vector<std::string>& sources, int threads) {
  pipeline::FaceAnalyzerOptions options;
  options.num_threads = threads;
  const auto analyzer = pipeline::FaceAnalyzer::Create(options);
  RestCalibration out;
  out.shape_names = analyzer->model().expression_names();
  for (const auto& source : sources) {
    const auto frame = pipeline::FrameSource::Open(source)->Next();
    if (!frame) throw std::runtime_error("'" + source + "' has no frame");
    const auto fit = analyzer->AnalyzeStill(ViewOf(frame->bgr, PixelFormat::kBgr));
    if (!fit) throw std::runtime_error("no face found in '" + source + "': pass neutral frontal faces");
    out.expressions.push_back(fit->params.expression);
  }
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    std::vector<double> v;
    for (const auto& e : out.expressions) v.push_back(e[j]);
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    out.median[j] = n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }
  return out;
}

cv::Mat ExpressionSheet(const fs::path& source, const std::vector<double>& ramp, int crop, int columns,
                        int threads) {
  pipeline::RetargeterOptions options;
  options.source_image = source;
  options.output_crop = crop;
  options.analysis.num_threads = threads;
  UseOfflineWarp(&options.warp);  // As `faceanime edit`.
  auto retargeter = pipeline::Retargeter::Create(options);
  const auto& control = retargeter->expression_control();
  const face3d::FaceParams& base = retargeter->source().params;
  std::vector<cv::Mat> cells;
  std::vector<std::string> labels;
  cells.push_back(retargeter->Render(base));
  labels.push_back("source");
  for (int p = 0; p < predict::kNumExpressionPresets; ++p) {
    const auto preset = static_cast<ExpressionPreset>(p);
    cells.push_back(
        retargeter->Render(control.Apply(base, predict::PresetActionUnits(preset), ExpressionBlend::kReplace)));
    labels.emplace_back(predict::ToString(preset));
  }
  for (double v : ramp) {
    cells.push_back(retargeter->Render(control.Apply(base, {{"AU12", v}}, ExpressionBlend::kReplace)));
    labels.push_back("AU12=" + Format("%g", v));
  }
  render::ContactSheetOptions sheet;
  sheet.columns = columns;
  sheet.cell_height = crop;
  return render::MakeContactSheet(cells, labels, sheet);
}

CLI::App* AddExpressionEvalCommand(CLI::App& app, ExpressionEvalArgs& args) {
  auto* cmd = app.add_subcommand(
      "eval-expression",
      "Expression-control acceptance: AU round trip on rendered pixels, happy preset on London, every preset's "
      "classification, contact sheet");
  cmd->footer(kHelp);
  cmd->add_option("task", args.task, "roundtrip, london, presets, sheet or rest")
      ->required()
      ->check(CLI::IsMember({"roundtrip", "london", "presets", "sheet", "rest"}));
  cmd->add_option("--source", args.sources, "Portrait image (roundtrip, rest: one or more; sheet: one)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", args.data, "london, presets: the London face set folder (neutral/, smiling/)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--strength", args.strengths,
                  "london: happy preset strengths in [0, 1] (repeatable); presets: the strength (one)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--limit", args.limit, "london, presets: identities to use, in id order (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--mode", args.mode, "london, presets: replace or add")
      ->capture_default_str()
      ->check(CLI::IsMember({"replace", "add"}));
  cmd->add_option("--output", args.output,
                  "sheet: the sheet image (.jpg or .png); roundtrip/london/presets: optional folder for the renders");
  cmd->add_option("--landmark-gain", args.landmark_gain,
                  "roundtrip: divide the detected landmark motion by this in the differential judge (the landmark "
                  "network's gain measured on other portraits; 1: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 2.0));
  cmd->add_option("--crop", args.crop, "sheet: face crop per cell, pixels")
      ->capture_default_str()
      ->check(CLI::Range(32, 1024));
  cmd->add_option("--columns", args.columns, "sheet: cells per row")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--json", args.json, "Write every number to this JSON file");
  cmd->add_option("--threads", args.threads, "Network threads (1 is fastest on a busy 2-core machine)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_flag("-q,--quiet", args.quiet, "No progress on stderr");
  return cmd;
}

int RunExpressionEval(const ExpressionEvalArgs& args) {
  nlohmann::json json;
  json["task"] = args.task;
  int rc = 0;
  if (args.task == "roundtrip") {
    rc = RunRoundTripTask(args, json);
  } else if (args.task == "london") {
    rc = RunLondonTask(args, json);
  } else if (args.task == "presets") {
    rc = RunPresetsTask(args, json);
  } else if (args.task == "sheet") {
    return RunSheetTask(args);
  } else if (args.task == "rest") {
    rc = RunRestTask(args, json);
  } else {
    throw std::invalid_argument("unknown eval-expression task '" + args.task +
                                "'; valid: roundtrip, london, presets, sheet, rest");
  }
  if (!args.json.empty()) {
    std::ofstream f(args.json);
    f << json.dump(2) << '\n';
    if (!f) throw std::runtime_error("cannot write '" + args.json + "': check the folder is writable");
  }
  return rc;
}

}  // namespace faceanime::cli
