#include "pipeline/evaluation.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_fitter.h"
#include "pipeline/frame_source.h"
#include "pipeline/metrics.h"
#include "pipeline/motion_transfer.h"
#include "render/contact_sheet.h"

namespace faceanime::pipeline {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Measurement landmarks are not smoothed: One-Euro cutoff far above any frame rate.
constexpr double kMeasureMinCutoffHz = 1e4;

const std::vector<std::string> kMetricKeys = {
    "l1_face", "psnr_face", "ssim_face", "l1_mouth", "psnr_mouth", "ssim_mouth",
    "akd_px",  "aed",       "identity_distance", "identity_distance_gt", "jitter_px", "fps", "output_face_rate"};
// Metrics that need a ground truth (self and pairs).
const std::set<std::string> kImageMetrics = {"l1_face",  "psnr_face",  "ssim_face",
                                             "l1_mouth", "psnr_mouth", "ssim_mouth", "identity_distance_gt"};

bool IsVideoFile(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".mpg" || ext == ".mpeg" || ext == ".mp4" || ext == ".avi" || ext == ".mkv" || ext == ".mov" ||
         ext == ".webm";
}

std::vector<fs::path> SortedVideos(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && IsVideoFile(e.path())) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Running mean that skips NaN.
struct Mean {
  double sum = 0.0;
  int n = 0;
  void Add(double v) {
    if (std::isnan(v)) return;
    sum += v;
    ++n;
  }
  double Get() const { return n > 0 ? sum / n : kNaN; }
};

// Jitter pooled over runs of consecutive frames with a face (see header).
double PooledJitter(const std::vector<std::optional<face3d::Landmarks68>>& frames) {
  double weighted = 0.0;
  int weight = 0;
  std::vector<face3d::Landmarks68> run;
  auto flush = [&] {
    if (run.size() >= 3) {
      const double j = metrics::LandmarkJitter(run);
      const int w = static_cast<int>(run.size()) - 2;
      weighted += w * j * j;
      weight += w;
    }
    run.clear();
  };
  for (const auto& f : frames) {
    if (f) {
      run.push_back(*f);
    } else {
      flush();
    }
  }
  flush();
  return weight > 0 ? std::sqrt(weighted / weight) : kNaN;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

cv::Mat ToSize(const cv::Mat& rgb, cv::Size size) {
  if (rgb.size() == size) return rgb;
  cv::Mat out;
  cv::resize(rgb, out, size, 0, 0, cv::INTER_AREA);
  return out;
}

std::vector<cv::Point2f> Points(const face3d::Landmarks68& lm) {
  std::vector<cv::Point2f> out;
  out.reserve(lm.size());
  for (const auto& p : lm) out.emplace_back(static_cast<float>(p.x()), static_cast<float>(p.y()));
  return out;
}

nlohmann::ordered_json Number(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); }

nlohmann::ordered_json MetricsJson(const MetricMap& m) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& key : kMetricKeys) {
    const auto it = m.find(key);
    j[key] = Number(it == m.end() ? kNaN : it->second);
  }
  return j;
}

bool HasBaselines(EvalSuite suite) { return suite != EvalSuite::kCross; }

// One method's per-frame state within a case.
struct MethodState {
  std::string name;
  std::unique_ptr<FaceAnalyzer>* analyzer = nullptr;
  std::array<Mean, 6> image;  // kMetricKeys[0..5].
  Mean akd, aed, identity, identity_gt;
  std::vector<std::optional<face3d::Landmarks68>> landmarks;
  std::vector<FrameMetrics> frames;  // EvaluationOptions::per_frame.
  double seconds = 0.0;
  int faces = 0;
  cv::Mat sheet_frame;
};

}  // namespace

EvalSuite ParseEvalSuite(const std::string& name) {
  if (name == "self") return EvalSuite::kSelf;
  if (name == "cross") return EvalSuite::kCross;
  if (name == "pairs") return EvalSuite::kPairs;
  throw std::invalid_argument("unknown evaluation suite '" + name + "': use self, cross or pairs");
}

std::string EvalSuiteName(EvalSuite suite) {
  switch (suite) {
    case EvalSuite::kSelf: return "self";
    case EvalSuite::kCross: return "cross";
    case EvalSuite::kPairs: return "pairs";
  }
  return "?";
}

std::vector<std::string> EvalMethods(EvalSuite suite) {
  if (!HasBaselines(suite)) return {kMethodFaceanime};
  return {kMethodFaceanime, kMethodSource, kMethodSimilarity};
}

const std::vector<std::string>& EvalMetricKeys() { return kMetricKeys; }

std::vector<EvalCase> FindEvalCases(EvalSuite suite, const fs::path& data_dir, int max_cases, int stride) {
  if (max_cases < 0) throw std::invalid_argument("FindEvalCases: max_cases must be >= 0 (0: all cases)");
  if (stride < 1) throw std::invalid_argument("FindEvalCases: stride must be >= 1 (1: every case)");
  if (!fs::is_directory(data_dir)) {
    throw std::invalid_argument("evaluation data folder '" + data_dir.string() +
                                "' does not exist: pass --data with the suite's folder (see --help for layouts)");
  }
  std::vector<EvalCase> cases;
  if (suite == EvalSuite::kPairs) {
    const fs::path neutral = data_dir / "neutral", smiling = data_dir / "smiling";
    if (fs::is_directory(neutral) && fs::is_directory(smiling)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(neutral)) {
        const std::string n = e.path().filename().string();
        if (n.size() > 7 && n.ends_with("_03.jpg")) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        const std::string id = f.filename().string().substr(0, f.filename().string().size() - 7);
        const fs::path driver = smiling / (id + "_08.jpg");
        if (fs::exists(driver)) cases.push_back({id, f, driver});
      }
    }
    if (cases.empty()) {
      throw std::invalid_argument("no pairs in '" + data_dir.string() +
                                  "': expected neutral/NNN_03.jpg and smiling/NNN_08.jpg (the London face set)");
    }
  } else {
    const auto videos = SortedVideos(data_dir);
    if (suite == EvalSuite::kSelf) {
      for (const auto& v : videos) cases.push_back({v.stem().string(), v, v});
      if (cases.empty()) {
        throw std::invalid_argument("no video clips (*.mpg, *.mp4, *.avi, *.mkv, *.mov) in '" + data_dir.string() +
                                    "' for the self suite");
      }
    } else {
      if (videos.size() < 2) {
        throw std::invalid_argument("the cross suite needs at least 2 video clips of different people in '" +
                                    data_dir.string() + "' (found " + std::to_string(videos.size()) + ")");
      }
      for (size_t i = 0; i < videos.size(); ++i) {
        const fs::path& driver = videos[(i + 1) % videos.size()];
        cases.push_back({videos[i].stem().string() + "->" + driver.stem().string(), videos[i], driver});
      }
    }
  }
  if (stride > 1) {
    std::vector<EvalCase> every;
    for (size_t i = 0; i < cases.size(); i += stride) every.push_back(cases[i]);
    cases = std::move(every);
  }
  if (max_cases > 0 && static_cast<int>(cases.size()) > max_cases) cases.resize(max_cases);
  return cases;
}

std::map<std::string, MetricMap> AggregateCases(const std::vector<CaseResult>& cases,
                                                const std::vector<std::string>& methods) {
  std::map<std::string, MetricMap> out;
  for (const auto& method : methods) {
    for (const auto& key : kMetricKeys) {
      Mean m;
      for (const auto& c : cases) {
        const auto it = c.methods.find(method);
        if (it == c.methods.end()) continue;
        const auto v = it->second.find(key);
        if (v != it->second.end()) m.Add(v->second);
      }
      out[method][key] = m.Get();
    }
  }
  return out;
}

bool MouthSsimBeatsBaselines(const CaseResult& result) {
  const auto ours = result.methods.find(kMethodFaceanime);
  if (ours == result.methods.end()) return false;
  const double s = ours->second.count("ssim_mouth") ? ours->second.at("ssim_mouth") : kNaN;
  if (std::isnan(s)) return false;
  int baselines = 0;
  for (const auto& [name, m] : result.methods) {
    if (name == kMethodFaceanime) continue;
    ++baselines;
    const auto it = m.find("ssim_mouth");
    if (it == m.end() || std::isnan(it->second) || !(s > it->second)) return false;
  }
  return baselines > 0;
}

std::string SuiteResultToJson(const SuiteResult& result) {
  nlohmann::ordered_json j;
  j["suite"] = EvalSuiteName(result.suite);
  j["data"] = result.data_dir;
  j["methods"] = result.methods;
  j["metrics"] = kMetricKeys;
  j["cases"] = nlohmann::ordered_json::array();
  int wins = 0;
  for (const auto& c : result.cases) {
    nlohmann::ordered_json jc;
    jc["name"] = c.name;
    jc["source"] = c.source;
    jc["driver"] = c.driver;
    jc["source_frame"] = c.source_frame >= 0 ? nlohmann::ordered_json(c.source_frame) : nlohmann::ordered_json(nullptr);
    jc["frames"] = c.frames;
    jc["ground_truth_frames"] = c.ground_truth_frames;
    jc["driver_jitter_px"] = Number(c.driver_jitter_px);
    jc["ground_truth_identity_distance"] = Number(c.ground_truth_identity_distance);
    if (HasBaselines(result.suite)) {
      const bool win = MouthSsimBeatsBaselines(c);
      wins += win;
      jc["mouth_ssim_beats_baselines"] = win;
    }
    jc["methods"] = nlohmann::ordered_json::object();
    for (const auto& [name, m] : c.methods) jc["methods"][name] = MetricsJson(m);
    if (!c.per_frame.empty()) {
      nlohmann::ordered_json pf;
      auto numbers = [](const auto& values, auto get) {
        nlohmann::ordered_json a = nlohmann::ordered_json::array();
        for (const auto& v : values) a.push_back(Number(get(v)));
        return a;
      };
      pf["ground_truth_lip_gap_px"] = numbers(c.ground_truth_lip_gap_px, [](double v) { return v; });
      for (const auto& [name, frames] : c.per_frame) {
        nlohmann::ordered_json m;
        m["ssim_mouth"] = numbers(frames, [](const FrameMetrics& f) { return f.ssim_mouth; });
        m["l1_mouth"] = numbers(frames, [](const FrameMetrics& f) { return f.l1_mouth; });
        m["ssim_face"] = numbers(frames, [](const FrameMetrics& f) { return f.ssim_face; });
        m["akd_px"] = numbers(frames, [](const FrameMetrics& f) { return f.akd_px; });
        m["mouth_dx_px"] = numbers(frames, [](const FrameMetrics& f) { return f.mouth_dx_px; });
        m["mouth_dy_px"] = numbers(frames, [](const FrameMetrics& f) { return f.mouth_dy_px; });
        m["lip_gap_error_px"] = numbers(frames, [](const FrameMetrics& f) { return f.lip_gap_error_px; });
        m["model_lip_gap_px"] = numbers(frames, [](const FrameMetrics& f) { return f.model_lip_gap_px; });
        m["identity_distance"] = numbers(frames, [](const FrameMetrics& f) { return f.identity_distance; });
        pf[name] = std::move(m);
      }
      jc["per_frame"] = std::move(pf);
    }
    j["cases"].push_back(jc);
  }
  j["skipped"] = nlohmann::ordered_json::array();
  for (const auto& [name, reason] : result.skipped) j["skipped"].push_back({{"name", name}, {"reason", reason}});
  j["aggregate"] = nlohmann::ordered_json::object();
  for (const auto& [name, m] : result.aggregate) j["aggregate"][name] = MetricsJson(m);
  if (HasBaselines(result.suite)) {
    j["mouth_ssim_wins"] = {{"cases", result.cases.size()}, {"wins", wins}};
  }
  return j.dump(2);
}

std::string SuiteResultToMarkdown(const SuiteResult& result) {
  struct Column {
    const char* key;
    const char* title;
    const char* format;
  };
  const std::vector<Column> all = {
      {"l1_face", "L1 face", "%.2f"},      {"psnr_face", "PSNR face dB", "%.2f"},
      {"ssim_face", "SSIM face", "%.4f"},  {"l1_mouth", "L1 mouth", "%.2f"},
      {"psnr_mouth", "PSNR mouth dB", "%.2f"}, {"ssim_mouth", "SSIM mouth", "%.4f"},
      {"akd_px", "AKD px", "%.2f"},        {"aed", "AED", "%.4f"},
      {"identity_distance", "ID dist", "%.3f"}, {"identity_distance_gt", "ID dist GT", "%.3f"},
      {"jitter_px", "jitter px", "%.3f"},
      {"fps", "fps", "%.1f"},              {"output_face_rate", "face rate", "%.3f"}};
  std::vector<Column> cols;
  for (const auto& c : all) {
    if (!HasBaselines(result.suite) && kImageMetrics.count(c.key)) continue;
    cols.push_back(c);
  }
  std::ostringstream out;
  int frames = 0;
  for (const auto& c : result.cases) frames += c.frames;
  out << "suite `" << EvalSuiteName(result.suite) << "`: " << result.cases.size() << " cases, " << frames
      << " driver frames, data " << result.data_dir << "\n\n| method |";
  for (const auto& c : cols) out << ' ' << c.title << " |";
  out << "\n|---|";
  for (size_t i = 0; i < cols.size(); ++i) out << "---:|";
  out << '\n';
  char buf[64];
  for (const auto& method : result.methods) {
    out << "| " << method << " |";
    const auto it = result.aggregate.find(method);
    for (const auto& c : cols) {
      const double v = it == result.aggregate.end() || !it->second.count(c.key) ? kNaN : it->second.at(c.key);
      if (std::isnan(v)) {
        out << " – |";
      } else {
        std::snprintf(buf, sizeof buf, c.format, v);
        out << ' ' << buf << " |";
      }
    }
    out << '\n';
  }
  if (HasBaselines(result.suite)) {
    int wins = 0;
    std::vector<std::string> losses;
    for (const auto& c : result.cases) {
      if (MouthSsimBeatsBaselines(c)) {
        ++wins;
      } else {
        losses.push_back(c.name);
      }
    }
    out << "\nfaceanime's mouth SSIM beats both baselines in " << wins << " of " << result.cases.size()
        << " cases";
    if (!losses.empty()) {
      out << "; not in:";
      for (size_t i = 0; i < losses.size() && i < 30; ++i) out << ' ' << losses[i];
      if (losses.size() > 30) out << " ...";
    }
    out << '\n';
    Mean gt_identity;
    for (const auto& c : result.cases) gt_identity.Add(c.ground_truth_identity_distance);
    if (gt_identity.n > 0) {
      std::snprintf(buf, sizeof buf, "%.3f", gt_identity.Get());
      out << "the ground-truth frames' own ID dist to the source: " << buf << '\n';
    }
  }
  for (const auto& c : result.cases) {
    if (c.source_frame != c.requested_source_frame) {
      out << "\n" << c.name << ": source = frame " << c.source_frame << " (frame " << c.requested_source_frame
          << " shows no face";
      if (result.suite == EvalSuite::kSelf) {
        out << "; frames " << c.requested_source_frame << "-" << c.source_frame - 1
            << " left out of the ground truth";
      }
      out << ")\n";
    }
  }
  for (const auto& [name, reason] : result.skipped) out << "\nskipped " << name << ": " << reason << '\n';
  return out.str();
}

struct Evaluator::Impl {
  EvaluationOptions options;
  // Measurement analyzers: [0] the reference stream (ground truth / driver),
  // then one per method, so streams are analysed frame by frame, each with
  // its own tracking state.
  std::vector<std::unique_ptr<FaceAnalyzer>> measure;
  std::unique_ptr<face3d::FaceRecognizer> recognizer;
};

std::unique_ptr<Evaluator> Evaluator::Create(const EvaluationOptions& options) {
  if (options.max_frames < 0) throw std::invalid_argument("EvaluationOptions: max_frames must be >= 0 (0: all)");
  if (options.source_frame < 0) throw std::invalid_argument("EvaluationOptions: source_frame must be >= 0");
  if (options.source_search_frames < 0) {
    throw std::invalid_argument("EvaluationOptions: source_search_frames must be >= 0 (0: the source frame only)");
  }
  if (options.retarget.output_crop != 0) {
    throw std::invalid_argument(
        "EvaluationOptions: retarget.output_crop must be 0 (outputs are compared with full ground-truth frames)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  FaceAnalyzerOptions m = options.measure;
  m.tracker.filter.min_cutoff = kMeasureMinCutoffHz;
  const size_t streams = 1 + EvalMethods(options.suite).size();
  for (size_t i = 0; i < streams; ++i) impl->measure.push_back(FaceAnalyzer::Create(m));
  impl->recognizer = face3d::FaceRecognizer::Create(options.recognizer);
  return std::unique_ptr<Evaluator>(new Evaluator(std::move(impl)));
}

Evaluator::Evaluator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Evaluator::~Evaluator() = default;
const EvaluationOptions& Evaluator::options() const { return impl_->options; }

CaseResult Evaluator::Evaluate(const EvalCase& c, int case_index, const EvalProgress& progress) {
  const EvaluationOptions& o = impl_->options;
  // Source frames: a still image, or the clip's frames from 0 up to the
  // requested one plus the search window (self: the clip is also the driver).
  std::vector<cv::Mat> source_frames;
  bool src_still = false;
  const bool self_clip = c.source == c.driver;
  {
    auto src = FrameSource::Open(c.source);
    src_still = src->is_still();
    const int last = src_still ? 0 : o.source_frame + o.source_search_frames;
    while (static_cast<int>(source_frames.size()) <= last) {
      std::optional<Frame> f = src->Next();
      if (!f) break;
      cv::Mat rgb;
      cv::cvtColor(f->bgr, rgb, cv::COLOR_BGR2RGB);
      source_frames.push_back(std::move(rgb));
    }
    const int wanted = src_still ? 0 : o.source_frame;
    if (static_cast<int>(source_frames.size()) <= wanted) {
      throw InputError("'" + c.source.string() + "' has fewer than " + std::to_string(wanted + 1) +
                       " frames: lower --source-frame");
    }
  }
  // Driver frames.
  std::vector<cv::Mat> driver;
  std::vector<int64_t> pts;
  bool still = false;
  {
    auto src = FrameSource::Open(c.driver);
    still = src->is_still();
    while (auto f = src->Next()) {
      cv::Mat rgb;
      cv::cvtColor(f->bgr, rgb, cv::COLOR_BGR2RGB);
      driver.push_back(std::move(rgb));
      pts.push_back(f->pts_ns);
      if (o.max_frames > 0 && static_cast<int>(driver.size()) >= o.max_frames) break;
    }
    if (driver.empty()) throw InputError("'" + c.driver.string() + "' has no frames");
  }
  // The source frame: the requested one, or (video sources) the first later
  // frame within the search window that shows a face to the measurement
  // analyzer and to the system's own source fit.
  const int first = src_still ? 0 : o.source_frame;
  const int last = src_still ? 0 : static_cast<int>(source_frames.size()) - 1;
  std::string first_error;
  for (int k = first; k <= last; ++k) {
    if (k > first && !impl_->measure[0]->AnalyzeStill(ViewOf(source_frames[k], PixelFormat::kRgb))) continue;
    // Self: the frames from the requested source frame up to the one used
    // show no face; they are left out of the driver / ground truth.
    std::vector<cv::Mat> d = driver;
    std::vector<int64_t> p = pts;
    if (self_clip && k > first) {
      const int drop = std::min(k, static_cast<int>(d.size())) - std::min(first, static_cast<int>(d.size()));
      d.erase(d.begin() + first, d.begin() + first + drop);
      p.erase(p.begin() + first, p.begin() + first + drop);
      if (d.empty()) break;
    }
    try {
      CaseResult r = EvaluateFrames(c.name, source_frames[k], d, p, still, case_index, progress);
      r.source = c.source.string();
      r.driver = c.driver.string();
      r.source_frame = src_still ? -1 : k;
      r.requested_source_frame = src_still ? -1 : first;
      return r;
    } catch (const SourceError& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (first_error.empty()) first_error = "no face in the source frame";
  std::string where = "frame " + std::to_string(first) + " of '" + c.source.string() + "'";
  if (!src_still && o.source_search_frames > 0) {
    where = "frames " + std::to_string(first) + "-" + std::to_string(last) + " of '" + c.source.string() + "'";
  }
  throw SourceError(first_error + " (case " + c.name + ": " + where + "; try another --source-frame" +
                    (src_still ? std::string(")") : std::string(" or a larger --source-search)")));
}

CaseResult Evaluator::EvaluateFrames(const std::string& name, const cv::Mat& source_rgb,
                                     const std::vector<cv::Mat>& driver_rgb, const std::vector<int64_t>& driver_pts_ns,
                                     bool still, int case_index, const EvalProgress& progress) {
  const EvaluationOptions& o = impl_->options;
  if (source_rgb.empty() || source_rgb.type() != CV_8UC3) {
    throw std::invalid_argument("EvaluateFrames: source_rgb must be a non-empty CV_8UC3 RGB image");
  }
  if (driver_rgb.empty() || driver_rgb.size() != driver_pts_ns.size()) {
    throw std::invalid_argument("EvaluateFrames: need >= 1 driver frame and one timestamp per frame");
  }
  if (still && driver_rgb.size() != 1) throw std::invalid_argument("EvaluateFrames: a still driver has one frame");
  for (const auto& f : driver_rgb) {
    if (f.type() != CV_8UC3) throw std::invalid_argument("EvaluateFrames: driver frames must be CV_8UC3 RGB");
  }
  const bool has_gt = HasBaselines(o.suite);
  const std::vector<std::string> method_names = EvalMethods(o.suite);

  RetargeterOptions ro = o.retarget;
  ro.source_rgb = source_rgb;
  if (ro.source_image.empty()) ro.source_image = name;
  auto retargeter = Retargeter::Create(ro);

  // The source as measured (same analyzer as the outputs); the production
  // fit's landmarks if the measurement finds no face.
  const ImageView source_view = ViewOf(source_rgb, PixelFormat::kRgb);
  const auto source_measured = impl_->measure[0]->AnalyzeStill(source_view);
  const face3d::Landmarks68 source_landmarks =
      source_measured ? source_measured->landmarks : retargeter->source().landmarks;
  const auto source_embedding = impl_->recognizer->Embed(source_view, source_landmarks);
  Mean gt_identity;  // The ground-truth frames' own distance to the source.
  const std::vector<cv::Point2f> source_points = Points(source_landmarks);

  // The model's 68 landmarks as the analyzer places them (per-frame
  // model_lip_gap_px).
  std::optional<face3d::LandmarkModel> lip_model;
  if (o.per_frame) {
    lip_model = face3d::LandmarkModel::Create(retargeter->analyzer().model(),
                                              retargeter->analyzer().options().still_fit.landmark_offsets_cm);
  }

  // Still drivers (pairs): the driver's reference is the source's own fit.
  std::optional<MotionTransfer> still_motion;
  if (still) {
    still_motion = MotionTransfer::Create(retargeter->analyzer().model(), ro.motion);
    still_motion->SetSource(retargeter->source().params);
    still_motion->SetDriverReference(retargeter->source().params);
  }

  for (auto& a : impl_->measure) a->Reset();
  std::vector<MethodState> methods(method_names.size());
  for (size_t i = 0; i < methods.size(); ++i) {
    methods[i].name = method_names[i];
    methods[i].analyzer = &impl_->measure[i + 1];
  }
  auto measure = [&](FaceAnalyzer& a, const cv::Mat& rgb, int64_t ts) {
    const ImageView v = ViewOf(rgb, PixelFormat::kRgb);
    return still ? a.AnalyzeStill(v) : a.AnalyzeFrame(v, ts);
  };

  CaseResult result;
  result.name = name;
  result.source = name;
  result.driver = name;
  result.frames = static_cast<int>(driver_rgb.size());
  std::vector<std::optional<face3d::Landmarks68>> reference_landmarks;
  cv::Mat similarity = (cv::Mat_<double>(2, 3) << 1, 0, 0, 0, 1, 0);
  const int sheet_frame = result.frames / 2;
  cv::Mat sheet_driver;

  for (int t = 0; t < result.frames; ++t) {
    const cv::Mat& frame = driver_rgb[t];
    const int64_t ts = driver_pts_ns[t];
    const auto ref = measure(*impl_->measure[0], frame, ts);
    reference_landmarks.push_back(ref ? std::optional(ref->landmarks) : std::nullopt);
    if (ref) ++result.ground_truth_frames;
    if (o.per_frame) result.ground_truth_lip_gap_px.push_back(ref ? face3d::InnerLipGap(ref->landmarks) : kNaN);
    cv::Rect face_region, mouth_region;
    std::optional<face3d::FaceRecognizer::Descriptor> gt_embedding;
    if (ref && has_gt) {
      face_region = metrics::FaceRegion(ref->landmarks, frame.size());
      mouth_region = metrics::MouthRegion(ref->landmarks, frame.size());
      gt_embedding = impl_->recognizer->Embed(ViewOf(frame, PixelFormat::kRgb), ref->landmarks);
      gt_identity.Add(face3d::FaceRecognizer::Distance(*gt_embedding, source_embedding));
    }
    if (t == sheet_frame) sheet_driver = frame;

    for (auto& m : methods) {
      cv::Mat out;
      std::optional<face3d::FaceParams> rendered;  // faceanime: the state it rendered.
      const auto t0 = std::chrono::steady_clock::now();
      if (m.name == kMethodFaceanime) {
        if (still) {
          const auto d = retargeter->analyzer().AnalyzeStill(ViewOf(frame, PixelFormat::kRgb));
          rendered = still_motion->Update(d ? std::optional(d->params) : std::nullopt, ts);
          out = retargeter->Render(*rendered, nullptr, render::TargetLips::kObserved);  // Driven, as ProcessFace.
        } else {
          RetargetFrame f = retargeter->Process(ViewOf(frame, PixelFormat::kRgb), ts);
          out = std::move(f.rgb);
          rendered = f.target;
        }
      } else if (m.name == kMethodSource) {
        out = ToSize(source_rgb, frame.size()).clone();
      } else {
        if (ref) {
          cv::Mat est = cv::estimateAffinePartial2D(source_points, Points(ref->landmarks));
          if (!est.empty()) similarity = est;
        }
        cv::warpAffine(source_rgb, out, similarity, frame.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
      }
      m.seconds += Seconds(t0);
      FrameMetrics fm;
      if (lip_model && rendered && ro.output_crop == 0 && out.size() == frame.size()) {
        fm.model_lip_gap_px = face3d::InnerLipGap(lip_model->Project(*rendered, retargeter->source().camera));
      }
      out = ToSize(out, frame.size());
      if (t == sheet_frame && o.contact_sheets) m.sheet_frame = out;

      if (ref && has_gt) {
        const double v[6] = {metrics::L1(out, frame, face_region),   metrics::Psnr(out, frame, face_region),
                             metrics::Ssim(out, frame, face_region),  metrics::L1(out, frame, mouth_region),
                             metrics::Psnr(out, frame, mouth_region), metrics::Ssim(out, frame, mouth_region)};
        for (int k = 0; k < 6; ++k) m.image[k].Add(v[k]);
        fm.ssim_face = v[2];
        fm.l1_mouth = v[3];
        fm.ssim_mouth = v[5];
      }
      const auto got = measure(**m.analyzer, out, ts);
      m.landmarks.push_back(got ? std::optional(got->landmarks) : std::nullopt);
      if (got) {
        ++m.faces;
        const auto emb = impl_->recognizer->Embed(ViewOf(out, PixelFormat::kRgb), got->landmarks);
        fm.identity_distance = face3d::FaceRecognizer::Distance(emb, source_embedding);
        m.identity.Add(fm.identity_distance);
        if (gt_embedding) m.identity_gt.Add(face3d::FaceRecognizer::Distance(emb, *gt_embedding));
        if (ref) {
          fm.akd_px = metrics::Akd(ref->landmarks, got->landmarks, /*align=*/true);
          m.akd.Add(fm.akd_px);
          m.aed.Add(metrics::Aed(got->params.expression, ref->params.expression));
          const Eigen::Vector2d shift = face3d::LandmarkMean(got->landmarks, 48, 68) - face3d::LandmarkMean(ref->landmarks, 48, 68);
          fm.mouth_dx_px = shift.x();
          fm.mouth_dy_px = shift.y();
          fm.lip_gap_error_px = face3d::InnerLipGap(got->landmarks) - face3d::InnerLipGap(ref->landmarks);
        }
      }
      if (o.per_frame) m.frames.push_back(fm);
    }
    if (progress) progress(case_index, t);
  }

  result.driver_jitter_px = PooledJitter(reference_landmarks);
  result.ground_truth_identity_distance = gt_identity.Get();
  for (auto& m : methods) {
    MetricMap& mm = result.methods[m.name];
    for (int k = 0; k < 6; ++k) mm[kMetricKeys[k]] = has_gt ? m.image[k].Get() : kNaN;
    mm["akd_px"] = m.akd.Get();
    mm["aed"] = m.aed.Get();
    mm["identity_distance"] = m.identity.Get();
    mm["identity_distance_gt"] = has_gt ? m.identity_gt.Get() : kNaN;
    mm["jitter_px"] = still ? kNaN : PooledJitter(m.landmarks);
    mm["fps"] = m.seconds > 0 ? result.frames / m.seconds : kNaN;
    mm["output_face_rate"] = static_cast<double>(m.faces) / result.frames;
    if (o.per_frame) result.per_frame[m.name] = std::move(m.frames);
  }
  if (o.contact_sheets) {
    std::vector<cv::Mat> images = {ToSize(source_rgb, sheet_driver.size()), sheet_driver};
    std::vector<std::string> labels = {"source", has_gt ? "driver = ground truth" : "driver"};
    for (const auto& m : methods) {
      images.push_back(m.sheet_frame);
      labels.push_back(m.name == kMethodFaceanime ? m.name : "baseline: " + m.name);
    }
    render::ContactSheetOptions so;
    so.columns = static_cast<int>(images.size());
    result.sheet = render::MakeContactSheet(images, labels, so);
  }
  return result;
}

}  // namespace faceanime::pipeline
