// Unit tests of the advertised-listeners advice: suspect address scopes and the Strimzi fix.
#include "kafka/advertised.h"

#include <gtest/gtest.h>

#include <chrono>

namespace speedlayer::kafka {
namespace {

using namespace std::chrono_literals;

TEST(AdvertisedScopeProblem, LoopbackWhenRemoteAndPrivateBehindPublic) {
  using S = AddressScope;
  auto loop_remote = advertised_scope_problem(S::loopback, S::public_internet);
  ASSERT_TRUE(loop_remote);
  EXPECT_NE(loop_remote->find("loopback"), std::string::npos);
  EXPECT_TRUE(advertised_scope_problem(S::loopback, S::private_network));
  EXPECT_FALSE(advertised_scope_problem(S::loopback, S::loopback));  // same machine: fine
  auto priv = advertised_scope_problem(S::private_network, S::public_internet);
  ASSERT_TRUE(priv);
  EXPECT_NE(priv->find("private"), std::string::npos);
  EXPECT_FALSE(advertised_scope_problem(S::private_network, S::private_network));  // in-cluster
  EXPECT_FALSE(advertised_scope_problem(S::public_internet, S::public_internet));
  EXPECT_TRUE(advertised_scope_problem(S::unspecified, S::loopback));
  EXPECT_TRUE(advertised_scope_problem(S::shared, S::public_internet));
}

TEST(AdvertisedListeners, ExplanationAndStrimziFixNameTheBrokers) {
  std::vector<AdvertisedBroker> bad{{3, {"10.0.0.12", 31234}}, {5, {"10.0.0.13", 31235}}};
  auto why = advertised_listeners_explanation(bad, "203.0.113.9:31092");
  EXPECT_NE(why.find("advertised.listeners"), std::string::npos);
  EXPECT_NE(why.find("Broker 3 advertises 10.0.0.12:31234"), std::string::npos) << why;
  auto fix = advertised_listeners_fix(bad, "203.0.113.9");
  EXPECT_NE(fix.find("brokers 3 and 5"), std::string::npos) << fix;
  EXPECT_NE(fix.find("broker: 3, advertisedHost"), std::string::npos) << fix;
  EXPECT_NE(fix.find("node id"), std::string::npos);
  EXPECT_NE(fix.find("alternativeNames"), std::string::npos);
  EXPECT_NE(fix.find("203.0.113.9"), std::string::npos);
  EXPECT_NE(fix.find("nodePort"), std::string::npos);
}

}  // namespace
}  // namespace speedlayer::kafka
