// GstHarness steps shared by the element tests.
#ifndef FACEANIME_TESTS_PLUGINS_HARNESS_UTIL_H_
#define FACEANIME_TESTS_PLUGINS_HARNESS_UTIL_H_

#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <gtest/gtest.h>

namespace faceanime::testing {

// A flush as a seek makes it: flush-start, flush-stop, then the caps and a
// fresh time segment again, so buffers can follow from time 0.
inline void FlushAndRestart(GstHarness* h, const char* caps) {
  EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_flush_start()));
  EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
  gst_harness_set_src_caps_str(h, caps);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  gst_harness_push_event(h, gst_event_new_segment(&segment));
}

// Pushes EOS; true when it came out of the element.
inline bool PushEosAndSeeItDownstream(GstHarness* h) {
  EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  bool saw_eos = false;
  while (GstEvent* e = gst_harness_try_pull_event(h)) {
    saw_eos |= GST_EVENT_TYPE(e) == GST_EVENT_EOS;
    gst_event_unref(e);
  }
  return saw_eos;
}

}  // namespace faceanime::testing

#endif  // FACEANIME_TESTS_PLUGINS_HARNESS_UTIL_H_
