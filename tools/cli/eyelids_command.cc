#include "tools/cli/eyelids_command.h"

#include <array>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/eyelid_meter.h"
#include "face3d/face_params.h"
#include "face3d/image.h"
#include "pipeline/face_analyzer.h"
#include "pipeline/frame_source.h"
#include "render/contact_sheet.h"

namespace faceanime::cli {

CLI::App* AddEyelidsCommand(CLI::App& app, EyelidsArgs& args) {
  auto* cmd = app.add_subcommand(
      "eyelids", "Per-frame eyelid closure of a video from the eye pixels (face3d::EyelidMeter) next to the "
                 "landmark fit's eyeBlink; a tab-separated table");
  cmd->add_option("--input", args.input, "Video file")->required();
  cmd->add_option("--output", args.output, "Output .tsv (default: stdout)");
  cmd->add_option("--sheet", args.sheet, "Contact sheet (PNG) of every frame's eyes, labelled with "
                                         "the frame and the closures");
  cmd->add_option("--threads", args.threads, "Network threads")->capture_default_str()->check(CLI::Range(1, 64));
  return cmd;
}

// The analyzer tracks with the landmark fit alone (its eyeBlink is a column);
// the meter reads the same frames and landmarks.
int RunEyelids(const EyelidsArgs& args) {
  auto source = pipeline::FrameSource::Open(args.input);
  if (source->is_still()) throw std::runtime_error("eyelids needs a video: '" + args.input + "' is a still image");
  pipeline::FaceAnalyzerOptions options;
  options.num_threads = args.threads;
  options.eyelids_from_pixels = false;  // The fit's own eyeBlink, for comparison.
  auto analyzer = pipeline::FaceAnalyzer::Create(options);
  auto meter = face3d::EyelidMeter::Create(options.eyelids);
  const int blink_r = analyzer->model().ExpressionIndex("eyeBlink_R");
  const int blink_l = analyzer->model().ExpressionIndex("eyeBlink_L");
  if (blink_r < 0 || blink_l < 0) {
    throw std::runtime_error("the model has no eyeBlink_L / eyeBlink_R shapes");
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, &std::fclose);
  if (!args.output.empty()) {
    file.reset(std::fopen(args.output.c_str(), "w"));
    if (!file) throw std::runtime_error("cannot write '" + args.output + "'");
  }
  std::FILE* out = file ? file.get() : stdout;
  // Contact sheet cells (--sheet): one per frame, 6 per row.
  constexpr int kCellW = 240, kCellH = 110;
  std::vector<cv::Mat> sheet_cells;
  std::vector<std::string> sheet_labels;
  std::fprintf(out, "frame\tfit_blink_R\tfit_blink_L\tclosure_R\tclosure_L\tmatch_R\tmatch_L\tgaze_down_R\tgaze_down_L\n");
  auto cell_text = [](const std::optional<double>& v) {
    char buf[32];
    if (!v) return std::string("-");
    std::snprintf(buf, sizeof(buf), "%.3f", *v);
    return std::string(buf);
  };
  while (auto frame = source->Next()) {
    const ImageView view = ViewOf(frame->bgr, PixelFormat::kBgr);
    const auto face = analyzer->AnalyzeFrame(view, frame->pts_ns);
    std::array<std::optional<face3d::EyelidReading>, 2> r;
    if (face) r = meter.Measure(view, face->landmarks);
    auto closure = [&](int e) { return r[e] ? std::optional<double>(r[e]->closure) : std::nullopt; };
    auto match = [&](int e) { return r[e] ? std::optional<double>(r[e]->match) : std::nullopt; };
    auto gaze = [&](int e) { return r[e] ? std::optional<double>(r[e]->gaze_down) : std::nullopt; };
    std::fprintf(out, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", frame->index,
                 cell_text(face ? std::optional<double>(face->params.expression[blink_r]) : std::nullopt).c_str(),
                 cell_text(face ? std::optional<double>(face->params.expression[blink_l]) : std::nullopt).c_str(),
                 cell_text(closure(0)).c_str(), cell_text(closure(1)).c_str(), cell_text(match(0)).c_str(),
                 cell_text(match(1)).c_str(), cell_text(gaze(0)).c_str(), cell_text(gaze(1)).c_str());
    if (!args.sheet.empty()) {
      // Both eyes, 2.2 x 0.9 inter-ocular distances around their midpoint,
      // scaled to kCellW wide, below the label strip; labelled with the
      // frame and the closures.
      cv::Mat cell(kCellH, kCellW, CV_8UC3, cv::Scalar(40, 40, 40));
      if (face) {
        const auto& l = face->landmarks;
        const double iod = face3d::InterOcularDistance(l);
        const Eigen::Vector2d c =
            0.5 * (face3d::LandmarkMean(l, 36, 42) + face3d::LandmarkMean(l, 42, 48));
        const double s = kCellW / (2.2 * iod);
        cv::Mat m = (cv::Mat_<double>(2, 3) << s, 0, kCellW / 2.0 - s * c.x(), 0, s, 0.4 * (kCellH - 16) - s * c.y() + 16);
        cv::warpAffine(frame->bgr, cell, m, cell.size(), cv::INTER_CUBIC, cv::BORDER_CONSTANT, cv::Scalar(40, 40, 40));
      }
      sheet_cells.push_back(cell);
      sheet_labels.push_back(std::to_string(frame->index) + "  R " + cell_text(closure(0)) + "  L " +
                             cell_text(closure(1)));
    }
  }
  if (!sheet_cells.empty()) {
    const cv::Mat sheet =
        render::MakeContactSheet(sheet_cells, sheet_labels, {.columns = 6, .cell_height = kCellH, .padding = 0});
    if (!cv::imwrite(args.sheet, sheet)) throw std::runtime_error("cannot write '" + args.sheet + "'");
  }
  if (file && std::fclose(file.release()) != 0) throw std::runtime_error("cannot write '" + args.output + "'");
  return 0;
}

}  // namespace faceanime::cli
