// --cuda-graphs (train/step_graph.h): the decision and the eager/capture/replay state machine.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/check.h"
#include "train/step_graph.h"

namespace gbad {
namespace {

using A = StepGraphPolicy::Action;

TEST(StepGraph, DecisionNamesWhyNot) {
  StepGraphFacts f;
  f.cuda = true;
  EXPECT_TRUE(decide_cuda_graphs(GraphMode::Auto, f).capture);
  EXPECT_TRUE(decide_cuda_graphs(GraphMode::On, f).capture);
  EXPECT_FALSE(decide_cuda_graphs(GraphMode::Off, f).capture);
  auto why = [&](StepGraphFacts g) { return decide_cuda_graphs(GraphMode::Auto, g); };
  StepGraphFacts g = f;
  g.cuda = false;
  EXPECT_FALSE(why(g).capture);
  EXPECT_NE(why(g).line.find("the CPU"), std::string::npos) << why(g).line;
  g = f;
  g.world_size = 2;
  EXPECT_FALSE(why(g).capture);
  EXPECT_NE(why(g).line.find("data-parallel"), std::string::npos);
  g = f;
  g.debug_nan = true;
  EXPECT_FALSE(why(g).capture);
  EXPECT_EQ(parse_cuda_graphs("auto"), GraphMode::Auto);
  EXPECT_THROW(parse_cuda_graphs("yes"), Error);
}

// Two warm-up steps, a capture, replays while the key holds; a partial batch runs eagerly; a
// new key (learning rate) is captured anew without another warm-up.
TEST(StepGraph, WarmUpCaptureReplayAndRecapture) {
  StepGraphPolicy p(true, 2);
  std::vector<A> got;
  got.push_back(p.next(true, "a"));
  got.push_back(p.next(true, "a"));
  got.push_back(p.next(true, "a"));
  p.captured(true, "");
  got.push_back(p.next(true, "a"));
  got.push_back(p.next(false, "a"));  // the last partial batch
  got.push_back(p.next(true, "a"));
  got.push_back(p.next(true, "b"));  // the step schedule lowered the learning rate
  p.captured(true, "");
  got.push_back(p.next(true, "b"));
  const std::vector<A> want = {A::Eager, A::Eager,  A::Capture, A::Replay,
                               A::Eager, A::Replay, A::Capture, A::Replay};
  EXPECT_EQ(got, want);
  EXPECT_EQ(p.captures(), 2);
  EXPECT_EQ(p.replays(), 3);
  EXPECT_EQ(p.eager_steps(), 3);
  EXPECT_FALSE(p.failed());
}

TEST(StepGraph, AFailedCaptureTurnsGraphsOffForTheRun) {
  StepGraphPolicy p(true, 1);
  EXPECT_EQ(p.next(true, "a"), A::Eager);
  EXPECT_EQ(p.next(true, "a"), A::Capture);
  EXPECT_THROW(p.next(true, "a"), Error);  // the outcome first
  p.captured(false, "capture failed: cudaErrorStreamCaptureUnsupported");
  EXPECT_TRUE(p.failed());
  EXPECT_NE(p.failure().find("Unsupported"), std::string::npos);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(p.next(true, "a"), A::Eager);
  EXPECT_EQ(p.eager_steps(), 7);  // the failed capture's step ran eagerly too
  EXPECT_THROW(p.captured(true, ""), Error);
}

TEST(StepGraph, DisabledOrCappedStaysEager) {
  StepGraphPolicy off(false, 1);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(off.next(true, "a"), A::Eager);
  StepGraphPolicy capped(true, 1, 2);
  EXPECT_EQ(capped.next(true, "0"), A::Eager);
  for (int k = 1; k <= 2; ++k) {
    EXPECT_EQ(capped.next(true, std::to_string(k)), A::Capture);
    capped.captured(true, "");
  }
  EXPECT_EQ(capped.next(true, "3"), A::Eager);  // a key per step: no more captures
  EXPECT_EQ(capped.next(true, "2"), A::Replay);
}

}  // namespace
}  // namespace gbad
