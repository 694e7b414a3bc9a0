#include "tools/cli/gen_data_command.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "face3d/face_recognizer.h"
#include "face3d/image.h"
#include "gen/generator_crop.h"
#include "gen/pgfg/dataset.h"
#include "pipeline/evaluation.h"
#include "pipeline/face_analyzer.h"
#include "pipeline/frame_source.h"
#include "predict/predictor_training.h"
#include "render/face_warper.h"
#include "render/sparse_prior.h"
#include "tools/cli/progress.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;
using pipeline::FaceObservation;

constexpr const char* kHelp =
    "Writes the tensor cache that pgfg_train reads (layout: gen/pgfg/dataset.h, gen/README.md).\n"
    "GRID (--grid): for each clip (name order), source = frame 0, targets = --pairs-per-clip frames\n"
    "  evenly spread over the rest of the clip. London (--london): source = neutral/NNN_03.jpg,\n"
    "  target = smiling/NNN_08.jpg. Both frames are fitted with single-image fits; the target\n"
    "  keeps the source's identity coefficients (the warp moves the source's own shape), its pose\n"
    "  and expression are its own. p_s/p_t: render::PriorRenderer; W: render::FaceWarper.\n"
    "  All seven images are one square crop around both faces (side = (1 + 2 margin) x the\n"
    "  larger face box side), area-resized to --size.\n"
    "Listing: the clips and London pairs of `faceanime eval self` / `eval pairs` (pipeline::FindEvalCases).\n"
    "Split: the project's one held-out rule (predict::IsHeldOutClip): in the name-sorted list of ALL\n"
    "  clips (and of all London pairs), item i is held out when i % 10 == 0 (the 1st, 11th, 21st, ...),\n"
    "  whatever --clips is; held-out samples go to OUT/heldout/, the rest to OUT/train/. The same\n"
    "  cases are what `faceanime eval self|pairs --heldout` evaluates.";

struct Sample {
  cv::Mat source, warp, prior_s, mask_s, prior_t, mask_t, target;  // RGB / CV_8U, size x size.
};

torch::Tensor ToTensor(const cv::Mat& m) {
  const cv::Mat c = m.isContinuous() ? m : m.clone();
  return torch::from_blob(c.data, {c.rows, c.cols, c.channels()}, torch::kUInt8).permute({2, 0, 1}).clone();
}

class ShardWriter {
 public:
  ShardWriter(fs::path dir, int shard_size) : dir_(std::move(dir)), shard_size_(shard_size) {
    fs::create_directories(dir_);
  }
  // Returns (shard, index) of the sample.
  std::pair<int, int> Add(const Sample& s) {
    for (int k = 0; k < 7; ++k) fields_[k].push_back(ToTensor(*Members(s)[k]));
    const std::pair<int, int> where{shards_, count_};
    if (++count_ == shard_size_) Flush();
    return where;
  }
  void Flush() {
    if (count_ == 0) return;
    gen::pgfg::Batch b;
    torch::Tensor* out[7] = {&b.source, &b.warp, &b.prior_s, &b.mask_s, &b.prior_t, &b.mask_t, &b.target};
    for (int k = 0; k < 7; ++k) {
      *out[k] = torch::stack(fields_[k]);
      fields_[k].clear();
    }
    char name[32];
    std::snprintf(name, sizeof(name), "shard_%05d.pt", shards_);
    gen::pgfg::WriteShard(b, dir_ / name);
    ++shards_;
    total_ += count_;
    count_ = 0;
  }
  int total() const { return total_ + count_; }

 private:
  static std::array<const cv::Mat*, 7> Members(const Sample& s) {
    return {&s.source, &s.warp, &s.prior_s, &s.mask_s, &s.prior_t, &s.mask_t, &s.target};
  }
  fs::path dir_;
  int shard_size_;
  std::vector<torch::Tensor> fields_[7];
  int shards_ = 0, count_ = 0, total_ = 0;
};

class Builder {
 public:
  explicit Builder(const GenDataArgs& args)
      : args_(args),
        analyzer_(pipeline::FaceAnalyzer::Create([&] {
          pipeline::FaceAnalyzerOptions o;
          o.num_threads = args.threads;
          return o;
        }())),
        priors_(render::PriorRenderer::Create(analyzer_->model(), {})),
        warper_(render::FaceWarper::Create(analyzer_->model(), {})),
        train_(fs::path(args.out) / "train", args.shard_size),
        heldout_(fs::path(args.out) / "heldout", args.shard_size),
        manifest_(fs::path(args.out) / "manifest.tsv") {
    if (!manifest_) throw std::runtime_error("cannot write '" + (fs::path(args.out) / "manifest.tsv").string() + "'");
    manifest_ << "split\tshard\tindex\tkind\tname\tsource_frame\ttarget_frame\n";
    fs::create_directories(fs::path(args.out) / "preview");
  }

  // One sample from RGB frames; false (with a reason) when a fit fails.
  bool Add(const cv::Mat& source_rgb, const std::optional<FaceObservation>& source, const cv::Mat& target_rgb,
           bool heldout, const std::string& kind, const std::string& name, int source_frame, int target_frame) {
    const auto target = analyzer_->AnalyzeStill(ViewOf(target_rgb, PixelFormat::kRgb));
    if (!source || !target) {
      ++skipped_;
      return false;
    }
    face3d::FaceParams target_params = target->params;
    target_params.identity = source->params.identity;  // The source's own shape, moved.
    const ImageView view = ViewOf(source_rgb, PixelFormat::kRgb);
    const render::SparsePriors p = priors_.Render(view, source->params, target_params, source->camera);
    const cv::Mat warp = warper_.Warp(view, source->params, target_params, source->camera);

    const cv::Rect rect = gen::GeneratorCropRect(source->box, target->box, args_.crop_margin);
    Sample s;
    using gen::CropResize;
    s.source = CropResize(source_rgb, rect, args_.size);
    s.warp = CropResize(warp, rect, args_.size);
    s.prior_s = CropResize(p.source.image, rect, args_.size);
    s.mask_s = CropResize(p.source.mask, rect, args_.size);
    s.prior_t = CropResize(p.target.image, rect, args_.size);
    s.mask_t = CropResize(p.target.mask, rect, args_.size);
    s.target = CropResize(target_rgb, rect, args_.size);
    const auto [shard, index] = (heldout ? heldout_ : train_).Add(s);
    manifest_ << (heldout ? "heldout" : "train") << '\t' << shard << '\t' << index << '\t' << kind << '\t' << name
              << '\t' << source_frame << '\t' << target_frame << '\n';
    if (previews_ < args_.preview) WritePreview(s, kind + "_" + name + "_" + std::to_string(target_frame));
    return true;
  }

  std::optional<FaceObservation> Fit(const cv::Mat& rgb) const {
    return analyzer_->AnalyzeStill(ViewOf(rgb, PixelFormat::kRgb));
  }

  void Finish() {
    train_.Flush();
    heldout_.Flush();
  }
  int train() const { return train_.total(); }
  int heldout() const { return heldout_.total(); }
  int skipped() const { return skipped_; }

 private:
  // source | p_s | p_t | W | target, and the masks under the priors.
  void WritePreview(const Sample& s, const std::string& name) {
    cv::Mat row;
    cv::hconcat(std::vector<cv::Mat>{s.source, s.prior_s, s.prior_t, s.warp, s.target}, row);
    cv::cvtColor(row, row, cv::COLOR_RGB2BGR);
    const fs::path path = fs::path(args_.out) / "preview" / (name + ".png");
    if (!cv::imwrite(path.string(), row)) throw std::runtime_error("cannot write '" + path.string() + "'");
    ++previews_;
  }

  const GenDataArgs& args_;
  std::unique_ptr<pipeline::FaceAnalyzer> analyzer_;
  render::PriorRenderer priors_;
  render::FaceWarper warper_;
  ShardWriter train_, heldout_;
  std::ofstream manifest_;
  int skipped_ = 0, previews_ = 0;
};

cv::Mat ReadRgb(const fs::path& path) {
  const cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error("cannot read image '" + path.string() + "'");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

CLI::App* AddGenDataCommand(CLI::App& app, GenDataArgs& args) {
  auto* cmd = app.add_subcommand("gen-data", "Build the neural generator's training-data cache (tensor shards)");
  cmd->footer(kHelp);
  cmd->add_option("--grid", args.grid, "Folder of video clips, e.g. ../shared/data/grid/s1")->check(CLI::ExistingDirectory);
  cmd->add_option("--london", args.london, "London set folder (neutral/, smiling/)")->check(CLI::ExistingDirectory);
  cmd->add_option("--out", args.out, "Cache folder to write (train/, heldout/, manifest.tsv, preview/)")->required();
  cmd->add_option("--size", args.size, "Crop side: 128 (CPU model) or 256 (quality model)")
      ->capture_default_str()
      ->check(CLI::IsMember({128, 256}));
  cmd->add_option("--clips", args.clips, "Use the first N clips in name order (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--pairs-per-clip", args.pairs_per_clip, "Target frames per clip")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--london-pairs", args.london_pairs, "Use the first N London pairs (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--shard-size", args.shard_size, "Samples per shard")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--preview", args.preview, "Samples written as PNG rows (source | p_s | p_t | W | target)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--crop-margin", args.crop_margin, "Crop side = (1 + 2 margin) x face box side")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 2.0));
  cmd->add_option("--threads", args.threads, "Network threads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_flag("-q,--quiet", args.quiet, "No progress on stderr");
  return cmd;
}

int RunGenData(const GenDataArgs& args) {
  if (args.grid.empty() && args.london.empty()) {
    throw std::invalid_argument("gen-data needs --grid DIR and/or --london DIR");
  }
  torch::set_num_threads(args.threads);
  const auto t0 = std::chrono::steady_clock::now();
  fs::create_directories(args.out);
  Builder builder(args);
  auto heldout_index = [](size_t i) { return predict::IsHeldOutClip(static_cast<int>(i)); };

  if (!args.grid.empty()) {
    const auto clips = pipeline::FindEvalCases(pipeline::EvalSuite::kSelf, args.grid);
    const size_t n = args.clips > 0 ? std::min<size_t>(args.clips, clips.size()) : clips.size();
    ProgressBar progress("gen-data grid", static_cast<int>(n), args.quiet);
    for (size_t i = 0; i < n; ++i) {
      std::vector<cv::Mat> frames;
      auto source = pipeline::FrameSource::Open(clips[i].source);
      while (auto f = source->Next()) {
        cv::Mat rgb;
        cv::cvtColor(f->bgr, rgb, cv::COLOR_BGR2RGB);
        frames.push_back(rgb);
      }
      if (frames.size() < 2) continue;
      const auto source_fit = builder.Fit(frames[0]);
      const int last = static_cast<int>(frames.size()) - 1;
      for (int k = 0; k < args.pairs_per_clip; ++k) {
        const int target = std::clamp(static_cast<int>(std::lround((k + 1.0) * last / args.pairs_per_clip)), 1, last);
        builder.Add(frames[0], source_fit, frames[target], heldout_index(i), "grid", clips[i].name, 0, target);
      }
      progress.Update(static_cast<int>(i + 1), Seconds(t0));
    }
    progress.Finish(static_cast<int>(n), Seconds(t0));
  }
  if (!args.london.empty()) {
    const auto pairs = pipeline::FindEvalCases(pipeline::EvalSuite::kPairs, args.london);
    const size_t n = args.london_pairs > 0 ? std::min<size_t>(args.london_pairs, pairs.size()) : pairs.size();
    ProgressBar progress("gen-data london", static_cast<int>(n), args.quiet);
    for (size_t i = 0; i < n; ++i) {
      const cv::Mat source_rgb = ReadRgb(pairs[i].source);
      const cv::Mat target_rgb = ReadRgb(pairs[i].driver);
      if (source_rgb.size() != target_rgb.size()) continue;  // The warp needs one camera.
      builder.Add(source_rgb, builder.Fit(source_rgb), target_rgb, heldout_index(i), "london", pairs[i].name, 0, 0);
      progress.Update(static_cast<int>(i + 1), Seconds(t0));
    }
    progress.Finish(static_cast<int>(n), Seconds(t0));
  }
  builder.Finish();
  // The identity loss's net (pgfg_train --identity), so training needs only the cache.
  face3d::FaceRecognizer::ExportTorchWeights(fs::path(args.out) / "recognition.pt");
  std::ofstream readme(fs::path(args.out) / "README.txt");
  readme << "PGFG training-data cache (layout: gen/pgfg/dataset.h).\n"
         << "command: faceanime gen-data" << (args.grid.empty() ? "" : " --grid " + args.grid)
         << (args.london.empty() ? "" : " --london " + args.london) << " --out " << args.out << " --size " << args.size
         << " --clips " << args.clips << " --pairs-per-clip " << args.pairs_per_clip << " --london-pairs "
         << args.london_pairs << " --crop-margin " << args.crop_margin
         << "\n"
         << "samples: " << builder.train() << " train, " << builder.heldout() << " held out, " << builder.skipped()
         << " skipped (no credible fit)\n"
         << "split: item i of the name-sorted clip list (and London pair list) is held out when i % 10 == 0 "
            "(predict::IsHeldOutClip; `faceanime eval self|pairs --heldout` evaluates the same cases)\n"
         << "recognition.pt: face-api's recognition net for pgfg_train --identity (gen/pgfg/identity.h)\n";
  if (!args.quiet) {
    std::fprintf(stderr, "gen-data: %d train, %d held-out samples, %d skipped, %.1f s; wrote %s\n", builder.train(),
                 builder.heldout(), builder.skipped(), Seconds(t0), args.out.c_str());
  }
  return builder.train() + builder.heldout() > 0 ? 0 : 3;
}

}  // namespace faceanime::cli
