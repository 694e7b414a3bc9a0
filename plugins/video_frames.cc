#include "plugins/video_frames.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace faceanime::plugins {
namespace {

cv::Mat PlaneMat(const GstVideoFrame* frame, int plane, int rows, int cols, int type) {
  return cv::Mat(rows, cols, type, GST_VIDEO_FRAME_PLANE_DATA(frame, plane),
                 static_cast<size_t>(GST_VIDEO_FRAME_PLANE_STRIDE(frame, plane)));
}

}  // namespace

bool IsSupportedFormat(GstVideoFormat format) {
  switch (format) {
    case GST_VIDEO_FORMAT_RGB:
    case GST_VIDEO_FORMAT_BGR:
    case GST_VIDEO_FORMAT_RGBA:
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_RGBx:
    case GST_VIDEO_FORMAT_BGRx:
    case GST_VIDEO_FORMAT_I420:
    case GST_VIDEO_FORMAT_NV12: return true;
    default: return false;
  }
}

ImageView RgbConverter::View(const GstVideoFrame* frame) {
  const int w = GST_VIDEO_FRAME_WIDTH(frame), h = GST_VIDEO_FRAME_HEIGHT(frame);
  const auto* data = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, 0));
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
  switch (GST_VIDEO_FRAME_FORMAT(frame)) {
    case GST_VIDEO_FORMAT_RGB: return {data, w, h, stride, PixelFormat::kRgb};
    case GST_VIDEO_FORMAT_BGR: return {data, w, h, stride, PixelFormat::kBgr};
    case GST_VIDEO_FORMAT_RGBA:
    case GST_VIDEO_FORMAT_RGBx: return {data, w, h, stride, PixelFormat::kRgba};
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_BGRx: return {data, w, h, stride, PixelFormat::kBgra};
    case GST_VIDEO_FORMAT_I420: {
      // OpenCV wants the three planes stacked; gather them (strides respected).
      cv::Mat yuv(h + (h + 1) / 2, w, CV_8UC1);
      const int cw = (w + 1) / 2, ch = (h + 1) / 2;
      PlaneMat(frame, 0, h, w, CV_8UC1).copyTo(yuv(cv::Rect(0, 0, w, h)));
      cv::Mat u = PlaneMat(frame, 1, ch, cw, CV_8UC1), v = PlaneMat(frame, 2, ch, cw, CV_8UC1);
      if (w % 2 == 0 && h % 2 == 0) {
        uint8_t* dst = yuv.ptr(h);
        for (int r = 0; r < ch; ++r) std::memcpy(dst + r * cw, u.ptr(r), cw);
        dst += cw * ch;
        for (int r = 0; r < ch; ++r) std::memcpy(dst + r * cw, v.ptr(r), cw);
        cv::cvtColor(yuv, rgb_, cv::COLOR_YUV2RGB_I420);
      } else {
        // Odd sizes: upsample chroma and convert per pixel.
        cv::Mat uu, vv, planes[3];
        cv::resize(u, uu, {w, h}, 0, 0, cv::INTER_NEAREST);
        cv::resize(v, vv, {w, h}, 0, 0, cv::INTER_NEAREST);
        planes[0] = PlaneMat(frame, 0, h, w, CV_8UC1);
        planes[1] = uu;
        planes[2] = vv;
        cv::Mat ycrcb, merged;
        cv::merge(std::vector<cv::Mat>{planes[0], planes[2], planes[1]}, ycrcb);
        cv::cvtColor(ycrcb, rgb_, cv::COLOR_YCrCb2RGB);
      }
      return ViewOf(rgb_, PixelFormat::kRgb);
    }
    case GST_VIDEO_FORMAT_NV12: {
      cv::Mat yuv(h + h / 2, w, CV_8UC1);
      PlaneMat(frame, 0, h, w, CV_8UC1).copyTo(yuv(cv::Rect(0, 0, w, h)));
      PlaneMat(frame, 1, h / 2, w, CV_8UC1).copyTo(yuv(cv::Rect(0, h, w, h / 2)));
      cv::cvtColor(yuv, rgb_, cv::COLOR_YUV2RGB_NV12);
      return ViewOf(rgb_, PixelFormat::kRgb);
    }
    default:
      throw std::invalid_argument(std::string("unsupported video format ") +
                                  gst_video_format_to_string(GST_VIDEO_FRAME_FORMAT(frame)));
  }
}

void WriteRgb(const cv::Mat& rgb, GstVideoFrame* frame) {
  const int w = GST_VIDEO_FRAME_WIDTH(frame), h = GST_VIDEO_FRAME_HEIGHT(frame);
  if (rgb.cols != w || rgb.rows != h || rgb.type() != CV_8UC3) {
    throw std::invalid_argument("WriteRgb: image size or type does not match the frame");
  }
  cv::Mat dst0 = PlaneMat(frame, 0, h, w, CV_8UC(GST_VIDEO_FRAME_COMP_PSTRIDE(frame, 0) >= 3
                                                     ? GST_VIDEO_FRAME_COMP_PSTRIDE(frame, 0)
                                                     : 1));
  switch (GST_VIDEO_FRAME_FORMAT(frame)) {
    case GST_VIDEO_FORMAT_RGB: rgb.copyTo(dst0); return;
    case GST_VIDEO_FORMAT_BGR: cv::cvtColor(rgb, dst0, cv::COLOR_RGB2BGR); return;
    case GST_VIDEO_FORMAT_RGBA:
    case GST_VIDEO_FORMAT_RGBx: cv::cvtColor(rgb, dst0, cv::COLOR_RGB2RGBA); return;
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_BGRx: cv::cvtColor(rgb, dst0, cv::COLOR_RGB2BGRA); return;
    case GST_VIDEO_FORMAT_I420: {
      cv::Mat yuv;
      if (w % 2 != 0 || h % 2 != 0) throw std::invalid_argument("WriteRgb: I420 output needs even sizes");
      cv::cvtColor(rgb, yuv, cv::COLOR_RGB2YUV_I420);
      const int cw = w / 2, ch = h / 2;
      yuv(cv::Rect(0, 0, w, h)).copyTo(PlaneMat(frame, 0, h, w, CV_8UC1));
      const uint8_t* src = yuv.ptr(h);
      cv::Mat u = PlaneMat(frame, 1, ch, cw, CV_8UC1), v = PlaneMat(frame, 2, ch, cw, CV_8UC1);
      for (int r = 0; r < ch; ++r) std::memcpy(u.ptr(r), src + r * cw, cw);
      src += cw * ch;
      for (int r = 0; r < ch; ++r) std::memcpy(v.ptr(r), src + r * cw, cw);
      return;
    }
    case GST_VIDEO_FORMAT_NV12: {
      if (w % 2 != 0 || h % 2 != 0) throw std::invalid_argument("WriteRgb: NV12 output needs even sizes");
      cv::Mat yuv;
      cv::cvtColor(rgb, yuv, cv::COLOR_RGB2YUV_I420);
      const int cw = w / 2, ch = h / 2;
      yuv(cv::Rect(0, 0, w, h)).copyTo(PlaneMat(frame, 0, h, w, CV_8UC1));
      const uint8_t* u = yuv.ptr(h);
      const uint8_t* v = u + cw * ch;
      cv::Mat uv = PlaneMat(frame, 1, ch, w, CV_8UC1);
      for (int r = 0; r < ch; ++r) {
        uint8_t* d = uv.ptr(r);
        for (int c = 0; c < cw; ++c) {
          d[2 * c] = u[r * cw + c];
          d[2 * c + 1] = v[r * cw + c];
        }
      }
      return;
    }
    default:
      throw std::invalid_argument(std::string("unsupported video format ") +
                                  gst_video_format_to_string(GST_VIDEO_FRAME_FORMAT(frame)));
  }
}

}  // namespace faceanime::plugins
