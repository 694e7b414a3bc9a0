#include "tools/cli/gen_data_command.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
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
    gen::pgfg::WriteShard(b, dir_ / gen::pgfg::ShardFileName(shards_));
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

// A stored [C,S,S] uint8 tensor (RGB, or RGB + mask as the 4th channel) as
// an OpenCV image in OpenCV's channel order (BGR / BGRA), for imwrite.
cv::Mat ToBgrMat(const torch::Tensor& chw) {
  const torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous();
  const int channels = static_cast<int>(hwc.size(2));
  const cv::Mat rgb(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC(channels),
                    hwc.data_ptr<uint8_t>());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, channels == 4 ? cv::COLOR_RGBA2BGRA : cv::COLOR_RGB2BGR);
  return bgr;
}

// Encodes `image` (BGR / BGRA) to `path` with `params` and returns the
// coded image's mean absolute error in grey levels: over every pixel and
// channel for BGR; for BGRA (a prior with its mask as alpha, which WebP
// keeps losslessly) over the colour channels of the pixels whose mask is > 0,
// the prior's points (lossy WebP keeps no colour under a transparent pixel;
// unpack_cache.py makes those black again, as they were).
double WriteCoded(const fs::path& path, const cv::Mat& image, const std::vector<int>& params) {
  std::vector<uchar> bytes;
  if (!cv::imencode(path.extension().string(), image, bytes, params)) {
    throw std::runtime_error("cannot encode '" + path.string() + "'");
  }
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw std::runtime_error("cannot write '" + path.string() + "'");
  const cv::Mat decoded = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  if (decoded.size() != image.size() || decoded.type() != image.type()) {
    throw std::runtime_error("'" + path.string() + "' does not decode to the image it encodes");
  }
  cv::Mat diff;
  cv::absdiff(decoded, image, diff);
  if (image.channels() == 4) {
    cv::Mat alpha;
    cv::extractChannel(image, alpha, 3);
    if (cv::countNonZero(alpha) == 0) return 0.0;
    const cv::Scalar m = cv::mean(diff, alpha > 0);
    return (m[0] + m[1] + m[2]) / 3;
  }
  const cv::Scalar m = cv::mean(diff);
  return (m[0] + m[1] + m[2]) / 3;
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

CLI::App* AddPackCacheCommand(CLI::App& app, PackCacheArgs& args) {
  auto* cmd = app.add_subcommand("pack-cache", "Pack a gen-data cache (WebP) for carrying to a GPU machine");
  cmd->footer(
      "Writes OUT/pack.tsv (the manifest's columns, renumbered, and the image files) and OUT/images/:\n"
      "source, warp and target as lossy WebP (--quality), the priors as WebP RGBA with the mask as a\n"
      "lossless alpha channel. On the GPU machine: python3 gen/pgfg/unpack_cache.py OUT CACHE, then\n"
      "pgfg_train --data CACHE. Lossy: PACKED.txt states the mean error of the unpacked images.\n"
      "--part K/N packs every Nth sample of each split (from the Kth), to fit a transfer limit;\n"
      "--every-part KIND keeps all samples of that kind (e.g. london: the few still pairs) in every part.");
  cmd->add_option("--cache", args.cache, "gen-data cache folder (manifest.tsv, train/, heldout/)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", args.out, "Packed folder to write (new or empty)")->required();
  cmd->add_option("--split", args.splits, "Cache splits to pack (train, heldout); repeatable")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "heldout"}));
  cmd->add_option("--quality", args.quality, "WebP quality of the images and the priors' colours")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option_function<std::string>(
         "--part",
         [&args](const std::string& text) {
           int k = -1, n = 0;
           char slash = 0, rest = 0;
           std::istringstream in(text);
           if (!(in >> k >> slash >> n) || slash != '/' || (in >> rest) || n < 1 || k < 0 || k >= n) {
             throw CLI::ValidationError("--part", "'" + text + "': expected K/N with 0 <= K < N, e.g. 0/2");
           }
           args.part = k;
           args.parts = n;
         },
         "Pack part K of N: every Nth sample of each split from the Kth (default 0/1: all)");
  cmd->add_option("--every-part", args.every_part_kinds, "Sample kind (grid, london) packed whole into every part");
  cmd->add_flag("--recognition", args.recognition, "Also copy the cache's recognition.pt (pgfg_train --identity)");
  cmd->add_flag("-q,--quiet", args.quiet, "No progress on stderr");
  return cmd;
}

int RunPackCache(const PackCacheArgs& args) {
  const fs::path cache(args.cache), out(args.out);
  if (!fs::is_regular_file(cache / "manifest.tsv")) {
    throw std::invalid_argument("'" + args.cache + "' is not a gen-data cache (no manifest.tsv); build one with "
                                "faceanime gen-data");
  }
  if (args.quality < 1 || args.quality > 100) {
    throw std::invalid_argument("--quality must be in 1..100, got " + std::to_string(args.quality));
  }
  if (args.parts < 1 || args.part < 0 || args.part >= args.parts) {
    throw std::invalid_argument("--part K/N needs 0 <= K < N, got " + std::to_string(args.part) + "/" +
                                std::to_string(args.parts));
  }
  if (args.splits.empty()) throw std::invalid_argument("pack-cache needs at least one --split (train, heldout)");
  for (const auto& split : args.splits) {
    if (split != "train" && split != "heldout") {
      throw std::invalid_argument("unknown split '" + split + "' (valid: train, heldout)");
    }
  }
  if (args.recognition && !fs::is_regular_file(cache / "recognition.pt")) {
    throw std::invalid_argument("--recognition: '" + (cache / "recognition.pt").string() +
                                "' is missing (gen-data writes it)");
  }
  if (fs::exists(out) && !fs::is_empty(out)) {
    throw std::invalid_argument("'" + args.out + "' exists and is not empty; pack into a new folder");
  }

  // The manifest's rows per split, in (shard, index) order.
  std::map<std::string, std::vector<gen::pgfg::ManifestRow>> rows;
  for (gen::pgfg::ManifestRow& r : gen::pgfg::ReadManifest(cache)) {
    if (r.rest.empty()) {
      throw std::runtime_error("malformed line in '" + (cache / "manifest.tsv").string() + "': " + r.split + " " +
                               std::to_string(r.shard) + " " + std::to_string(r.index) +
                               " has no name and frame columns (rebuild the cache with faceanime gen-data)");
    }
    rows[r.split].push_back(std::move(r));
  }
  for (const auto& kind : args.every_part_kinds) {
    bool seen = false;
    for (const auto& split : args.splits) {
      for (const auto& r : rows[split]) seen |= r.kind == kind;
    }
    if (!seen) throw std::invalid_argument("--every-part: no sample of kind '" + kind + "' in the packed splits");
  }

  const auto t0 = std::chrono::steady_clock::now();
  fs::create_directories(out / "images");
  std::ofstream table(out / "pack.tsv");
  if (!table) throw std::runtime_error("cannot write '" + (out / "pack.tsv").string() + "'");
  table << "split\tshard\tindex\tkind\tname\tsource_frame\ttarget_frame\tsource\tprior_s\twarp\tprior_t\ttarget\n";
  const std::vector<int> webp{cv::IMWRITE_WEBP_QUALITY, args.quality};
  constexpr int kPackedShardSize = 256;
  constexpr int kPackedImages = 5;
  constexpr const char* kPackedNames[kPackedImages] = {"source", "prior_s", "warp", "prior_t", "target"};
  double error[kPackedImages] = {};  // Sums of the coded images' mean absolute errors.
  int64_t packed_total = 0;
  std::string split_counts;
  for (const auto& split : args.splits) {
    const auto& list = rows[split];
    if (list.empty()) {
      throw std::runtime_error("'" + (cache / "manifest.tsv").string() + "' lists no " + split +
                               " sample (leave out --split " + split + ")");
    }
    std::vector<const gen::pgfg::ManifestRow*> chosen;
    for (size_t i = 0; i < list.size(); ++i) {
      const bool every = std::find(args.every_part_kinds.begin(), args.every_part_kinds.end(), list[i].kind) !=
                         args.every_part_kinds.end();
      if (every || static_cast<int>(i % args.parts) == args.part) chosen.push_back(&list[i]);
    }
    ProgressBar progress("pack-cache " + split, static_cast<int>(chosen.size()), args.quiet);
    int64_t loaded_shard = -1;
    gen::pgfg::Batch b;
    for (size_t k = 0; k < chosen.size(); ++k) {
      const gen::pgfg::ManifestRow& r = *chosen[k];
      if (r.shard != loaded_shard) {
        b = gen::pgfg::ReadShard(cache / split / gen::pgfg::ShardFileName(r.shard));
        loaded_shard = r.shard;
      }
      if (r.index < 0 || r.index >= b.size()) {
        throw std::runtime_error("'" + (cache / "manifest.tsv").string() + "' lists " + split + " shard " +
                                 std::to_string(r.shard) + " index " + std::to_string(r.index) +
                                 ", which the shard does not hold (rebuild the cache)");
      }
      const int shard = static_cast<int>(k / kPackedShardSize), index = static_cast<int>(k % kPackedShardSize);
      char prefix[64];
      std::snprintf(prefix, sizeof(prefix), "images/%s_%05d_%03d_", split.c_str(), shard, index);
      const std::string p(prefix);
      const int64_t i = r.index;
      const torch::Tensor images[kPackedImages] = {b.source[i], torch::cat({b.prior_s[i], b.mask_s[i]}, 0),
                                                   b.warp[i], torch::cat({b.prior_t[i], b.mask_t[i]}, 0),
                                                   b.target[i]};
      for (int f = 0; f < kPackedImages; ++f) {
        error[f] += WriteCoded(out / (p + kPackedNames[f] + ".webp"), ToBgrMat(images[f]), webp);
      }
      table << split << '\t' << shard << '\t' << index << '\t' << r.kind << '\t' << r.rest << '\t' << p
            << "source.webp\t" << p << "prior_s.webp\t" << p << "warp.webp\t" << p << "prior_t.webp\t" << p
            << "target.webp\n";
      progress.Update(static_cast<int>(k + 1), Seconds(t0));
    }
    progress.Finish(static_cast<int>(chosen.size()), Seconds(t0));
    packed_total += static_cast<int64_t>(chosen.size());
    split_counts += " " + std::to_string(chosen.size()) + " " + split;
  }
  table.close();
  if (!table) throw std::runtime_error("cannot write '" + (out / "pack.tsv").string() + "'");
  if (fs::is_regular_file(cache / "README.txt")) fs::copy_file(cache / "README.txt", out / "README.txt");
  if (args.recognition) fs::copy_file(cache / "recognition.pt", out / "recognition.pt");
  std::ofstream packed(out / "PACKED.txt");
  std::string options;
  for (const auto& s : args.splits) options += " --split " + s;
  for (const auto& k : args.every_part_kinds) options += " --every-part " + k;
  packed << "Packed gen-data cache (tools/cli/gen_data_command.h, PackCacheArgs).\n"
         << "command: faceanime pack-cache --cache " << args.cache << " --out " << args.out << options
         << " --quality " << args.quality << " --part " << args.part << "/" << args.parts
         << (args.recognition ? " --recognition" : "") << "\n"
         << "samples:" << split_counts << "\n"
         << "coding error (mean absolute, grey levels; images: every pixel; priors: the colours where the "
            "mask > 0, the mask itself is exact):";
  for (int f = 0; f < kPackedImages; ++f) {
    packed << " " << kPackedNames[f] << " " << (packed_total > 0 ? error[f] / packed_total : 0.0);
  }
  packed << "\n"
         << "unpack: python3 gen/pgfg/unpack_cache.py " << args.out << " CACHE_DIR\n";
  if (!args.quiet) {
    std::fprintf(stderr, "pack-cache: %lld samples (%s ), %.1f s; wrote %s\n", static_cast<long long>(packed_total),
                 split_counts.c_str(), Seconds(t0), args.out.c_str());
  }
  return 0;
}

}  // namespace faceanime::cli
