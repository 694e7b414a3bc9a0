// Agreement of our 68 landmarks (face-api.js nets, face3d::Landmarker) with
// dlib's 68-point shape predictor (Kazemi & Sullivan ERT, iBUG 300-W
// trained; Debian's libdlib-data), as a reference only: dlib is never a
// dependency of the product. Built only when CMake finds dlib.
//
// For every photo: BlazeFace (front) detects the largest face; our landmarker
// (full and tiny nets) and dlib's predictor both get that same box. Also
// reported: dlib's predictor on dlib's own HOG detector box (the box it was
// trained with), when the HOG detector finds the face.
// NME = mean point distance / the inter-ocular distance (outer eye corners
// 36/45) of dlib's points.
//
// Usage: eval_dlib_agreement [--shared DIR] [--dlib-model FILE]
//   DIR: the data mirror holding data/london/{neutral,smiling} and images/
//        (default: <source>/../shared)
//   FILE: default /usr/share/dlib/shape_predictor_68_face_landmarks.dat
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "face3d/face_detector.h"
#include "face3d/landmarker.h"

namespace {

namespace fs = std::filesystem;
using faceanime::face3d::Landmarks68;

Landmarks68 DlibShape(const dlib::shape_predictor& predictor, const dlib::array2d<dlib::rgb_pixel>& image,
                      const dlib::rectangle& box) {
  const dlib::full_object_detection shape = predictor(image, box);
  Landmarks68 out;
  for (int i = 0; i < 68; ++i) out[i] = Eigen::Vector2d(shape.part(i).x(), shape.part(i).y());
  return out;
}

double Nme(const Landmarks68& ours, const Landmarks68& reference) {
  const double iod = (reference[36] - reference[45]).norm();
  double sum = 0.0;
  for (int i = 0; i < 68; ++i) sum += (ours[i] - reference[i]).norm();
  return sum / 68.0 / iod;
}

struct Stats {
  std::vector<double> values;
  void Add(double v) { values.push_back(v); }
  void Print(const char* label) const {
    if (values.empty()) {
      std::printf("  %-44s n/a\n", label);
      return;
    }
    std::vector<double> v = values;
    std::sort(v.begin(), v.end());
    double mean = 0.0;
    for (double x : v) mean += x;
    mean /= v.size();
    std::printf("  %-44s n=%3zu mean %.4f median %.4f max %.4f\n", label, v.size(), mean, v[v.size() / 2], v.back());
  }
};

struct SetStats {
  Stats full_same_box, tiny_same_box, full_vs_dlib_hog, tiny_vs_dlib_hog, dlib_box_shift;
  int images = 0, detected = 0, hog_detected = 0;
};

}  // namespace

int main(int argc, char** argv) {
  fs::path shared = fs::path(FACEANIME_SOURCE_DIR).parent_path() / "shared";
  fs::path dlib_model = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--shared" && i + 1 < argc) {
      shared = argv[++i];
    } else if (arg == "--dlib-model" && i + 1 < argc) {
      dlib_model = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--shared DIR] [--dlib-model FILE]\n", argv[0]);
      return 2;
    }
  }
  if (!fs::exists(dlib_model)) {
    std::fprintf(stderr, "dlib model %s not found (Debian: apt-get install libdlib-data)\n", dlib_model.c_str());
    return 1;
  }
  dlib::shape_predictor predictor;
  dlib::deserialize(dlib_model.string()) >> predictor;
  dlib::frontal_face_detector hog = dlib::get_frontal_face_detector();
  const auto detector = faceanime::face3d::FaceDetector::Create();
  const auto full = faceanime::face3d::Landmarker::Create({.tiny = false});
  const auto tiny = faceanime::face3d::Landmarker::Create({.tiny = true});

  std::vector<std::pair<std::string, std::vector<fs::path>>> sets;
  for (const char* name : {"neutral", "smiling"}) {
    std::vector<fs::path> files;
    const fs::path dir = shared / "data" / "london" / name;
    if (fs::is_directory(dir)) {
      for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    sets.emplace_back(std::string("london/") + name, files);
  }
  std::vector<fs::path> portraits;
  if (fs::is_directory(shared / "images")) {
    for (const auto& e : fs::directory_iterator(shared / "images")) portraits.push_back(e.path());
  }
  std::sort(portraits.begin(), portraits.end());
  sets.emplace_back("portraits", portraits);

  for (const auto& [name, files] : sets) {
    SetStats s;
    for (const fs::path& file : files) {
      const cv::Mat bgr = cv::imread(file.string(), cv::IMREAD_COLOR);
      if (bgr.empty()) continue;
      ++s.images;
      const auto view = faceanime::ViewOf(bgr, faceanime::PixelFormat::kBgr);
      const auto face = faceanime::face3d::LargestFace(detector.Detect(view));
      if (!face) continue;
      ++s.detected;
      dlib::array2d<dlib::rgb_pixel> image(bgr.rows, bgr.cols);
      for (int y = 0; y < bgr.rows; ++y) {
        for (int x = 0; x < bgr.cols; ++x) {
          const cv::Vec3b p = bgr.at<cv::Vec3b>(y, x);
          image[y][x] = dlib::rgb_pixel(p[2], p[1], p[0]);
        }
      }
      // Continuous corners -> dlib's inclusive integer pixel rectangle.
      const dlib::rectangle box(std::lround(face->box.min().x() + 0.5), std::lround(face->box.min().y() + 0.5),
                                std::lround(face->box.max().x() - 0.5), std::lround(face->box.max().y() - 0.5));
      const Landmarks68 reference = DlibShape(predictor, image, box);
      const Landmarks68 ours_full = full->Detect(view, face->box).points;
      const Landmarks68 ours_tiny = tiny->Detect(view, face->box).points;
      s.full_same_box.Add(Nme(ours_full, reference));
      s.tiny_same_box.Add(Nme(ours_tiny, reference));
      // dlib on its own HOG box (the face overlapping BlazeFace's most).
      const std::vector<dlib::rectangle> hog_faces = hog(image);
      std::optional<dlib::rectangle> best;
      double best_iou = 0.1;
      for (const auto& r : hog_faces) {
        const Eigen::AlignedBox2d b(Eigen::Vector2d(r.left() - 0.5, r.top() - 0.5),
                                    Eigen::Vector2d(r.right() + 0.5, r.bottom() + 0.5));
        const double iou = faceanime::face3d::BoxIoU(b, face->box);
        if (iou > best_iou) best_iou = iou, best = r;
      }
      if (best) {
        ++s.hog_detected;
        const Landmarks68 reference_hog = DlibShape(predictor, image, *best);
        s.full_vs_dlib_hog.Add(Nme(ours_full, reference_hog));
        s.tiny_vs_dlib_hog.Add(Nme(ours_tiny, reference_hog));
        s.dlib_box_shift.Add(Nme(reference, reference_hog));
      }
    }
    std::printf("%s: %d images, BlazeFace found %d, dlib HOG found %d\n", name.c_str(), s.images, s.detected,
                s.hog_detected);
    s.full_same_box.Print("NME full net vs dlib (same BlazeFace box)");
    s.tiny_same_box.Print("NME tiny net vs dlib (same BlazeFace box)");
    s.full_vs_dlib_hog.Print("NME full net vs dlib (dlib on its HOG box)");
    s.tiny_vs_dlib_hog.Print("NME tiny net vs dlib (dlib on its HOG box)");
    s.dlib_box_shift.Print("NME dlib BlazeFace box vs dlib HOG box");
  }
  return 0;
}
