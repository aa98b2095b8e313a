#include "conflict/doc_state.h"

#include <random>
#include <set>

#include <boost/test/unit_test.hpp>

#include "tests/support/printers.h"

#include "tests/support/seed.h"

using conflict::Apply;
using conflict::DocState;
using conflict::ResolveLww;
using conflict::Write;
using conflict::WriteKind;
using crdt::Dot;
using crdt::Hlc;
using crdt::RegionId;
using crdt::VersionVector;
using nlohmann::json;

namespace {

RegionId R(const char* id) { return *RegionId::Parse(id); }

Write Put(const char* origin, uint64_t seq, uint64_t wall, const VersionVector& ctx, json value) {
  return Write{{R(origin), seq}, Hlc::FromParts(wall, 0), ctx, WriteKind::kPut, std::move(value), {}};
}
Write Patch(const char* origin, uint64_t seq, uint64_t wall, const VersionVector& ctx,
            std::map<std::string, std::optional<json>> fields) {
  return Write{{R(origin), seq}, Hlc::FromParts(wall, 0), ctx, WriteKind::kPatch, json(), std::move(fields)};
}
Write Del(const char* origin, uint64_t seq, uint64_t wall, const VersionVector& ctx) {
  return Write{{R(origin), seq}, Hlc::FromParts(wall, 0), ctx, WriteKind::kDelete, json(), {}};
}
VersionVector Ctx(std::initializer_list<std::pair<const char*, uint64_t>> entries) {
  VersionVector vv;
  for (auto [o, s] : entries) vv.Advance(R(o), s);
  return vv;
}

// Applies writes in order to a fresh state.
DocState Run(const std::vector<Write>& writes) {
  DocState s;
  for (const auto& w : writes) Apply(s, w);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(doc_state)

BOOST_AUTO_TEST_CASE(higher_hlc_wins_among_concurrent_puts_in_either_order) {
  const Write a = Put("us-east", 1, 100, {}, {{"v", "a"}});
  const Write b = Put("eu-west", 1, 200, {}, {{"v", "b"}});
  DocState ab, ba;
  BOOST_TEST(Apply(ab, a).empty());
  auto conflicts = Apply(ab, b);
  BOOST_TEST(conflicts.size() == 1u);
  BOOST_TEST((conflicts[0] == a.dot));
  Apply(ba, b);
  BOOST_TEST(Apply(ba, a).size() == 1u);
  BOOST_TEST(EncodeState(ab) == EncodeState(ba));
  BOOST_TEST(ResolveLww(ab).value == json({{"v", "b"}}));
  BOOST_TEST(ResolveLww(ab).conflicted);  // both versions are kept as siblings
}

BOOST_AUTO_TEST_CASE(equal_hlcs_are_broken_by_the_larger_origin) {
  const Write a = Put("ap-south", 1, 100, {}, {{"v", "a"}});
  const Write b = Put("eu-west", 1, 100, {}, {{"v", "b"}});
  BOOST_TEST(ResolveLww(Run({a, b})).value == json({{"v", "b"}}));
  BOOST_TEST(ResolveLww(Run({b, a})).value == json({{"v", "b"}}));
}

BOOST_AUTO_TEST_CASE(causally_later_write_wins_whatever_the_clocks_say) {
  const Write a = Put("us-east", 1, 9000, {}, {{"v", "first"}});
  // eu-west saw a, and its clock is far behind: its write still replaces a.
  const Write b = Put("eu-west", 1, 10, Ctx({{"us-east", 1}}), {{"v", "second"}});
  DocState s = Run({a});
  BOOST_TEST(Apply(s, b).empty());  // no conflict: b dominates a
  BOOST_TEST(ResolveLww(s).value == json({{"v", "second"}}));
  BOOST_TEST(IsSingleVersion(s));
}

BOOST_AUTO_TEST_CASE(concurrent_patches_of_different_fields_both_survive) {
  const Write base = Put("us-east", 1, 100, {}, {{"a", 1}, {"b", 1}});
  const Write pa = Patch("us-east", 2, 200, Ctx({{"us-east", 1}}), {{"a", json(2)}});
  const Write pb = Patch("eu-west", 1, 150, Ctx({{"us-east", 1}}), {{"b", json(3)}});
  DocState s1 = Run({base, pa});
  BOOST_TEST(Apply(s1, pb).empty());  // different fields: no conflict
  DocState s2 = Run({base, pb, pa});
  BOOST_TEST(EncodeState(s1) == EncodeState(s2));
  BOOST_TEST(ResolveLww(s1).value == json({{"a", 2}, {"b", 3}}));
}

BOOST_AUTO_TEST_CASE(concurrent_patches_of_the_same_field_resolve_by_lww_and_conflict) {
  const Write base = Put("us-east", 1, 100, {}, {{"a", 1}});
  const Write p1 = Patch("us-east", 2, 200, Ctx({{"us-east", 1}}), {{"a", json(2)}});
  const Write p2 = Patch("eu-west", 1, 300, Ctx({{"us-east", 1}}), {{"a", json(3)}});
  DocState s = Run({base, p1});
  auto conflicts = Apply(s, p2);
  BOOST_TEST(conflicts.size() == 1u);
  BOOST_TEST(ResolveLww(s).value == json({{"a", 3}}));
  BOOST_TEST(EncodeState(s) == EncodeState(Run({base, p2, p1})));
}

BOOST_AUTO_TEST_CASE(put_concurrent_with_patch_is_decided_per_field) {
  const Write base = Put("us-east", 1, 100, {}, {{"a", 1}, {"b", 1}});
  // eu-west patches a (later clock); us-east replaces the document with {c} concurrently.
  const Write patch = Patch("eu-west", 1, 300, Ctx({{"us-east", 1}}), {{"a", json(9)}});
  const Write put = Put("us-east", 2, 200, Ctx({{"us-east", 1}}), {{"c", 1}});
  const DocState s = Run({base, patch, put});
  BOOST_TEST(EncodeState(s) == EncodeState(Run({base, put, patch})));
  // a: the patch is later than the put; b: removed by the put; c: set by the put.
  BOOST_TEST(ResolveLww(s).value == json({{"a", 9}, {"c", 1}}));
}

BOOST_AUTO_TEST_CASE(concurrent_puts_with_disjoint_fields_keep_only_the_winner) {
  const Write a = Put("us-east", 1, 100, {}, {{"a", 1}});
  const Write b = Put("eu-west", 1, 200, {}, {{"b", 2}});
  BOOST_TEST(ResolveLww(Run({a, b})).value == json({{"b", 2}}));
  BOOST_TEST(ResolveLww(Run({b, a})).value == json({{"b", 2}}));
}

BOOST_AUTO_TEST_CASE(delete_and_older_write_do_not_resurrect_in_any_order) {
  const Write base = Put("us-east", 1, 100, {}, {{"a", 1}});
  const Write patch = Patch("eu-west", 1, 150, Ctx({{"us-east", 1}}), {{"a", json(2)}});
  const Write del = Del("us-east", 2, 200, Ctx({{"us-east", 1}}));
  for (const auto& order : {std::vector<Write>{base, patch, del}, std::vector<Write>{base, del, patch}}) {
    const auto v = ResolveLww(Run(order));
    BOOST_TEST(!v.exists);
  }
  BOOST_TEST(EncodeState(Run({base, patch, del})) == EncodeState(Run({base, del, patch})));
}

BOOST_AUTO_TEST_CASE(update_later_than_a_concurrent_delete_is_not_lost) {
  // pglogical drops this update; Meridian keeps it because it is the later write.
  const Write base = Put("us-east", 1, 100, {}, {{"a", 1}, {"b", 1}});
  const Write del = Del("us-east", 2, 200, Ctx({{"us-east", 1}}));
  const Write patch = Patch("eu-west", 1, 300, Ctx({{"us-east", 1}}), {{"a", json(2)}});
  for (const auto& order : {std::vector<Write>{base, del, patch}, std::vector<Write>{base, patch, del}}) {
    const auto v = ResolveLww(Run(order));
    BOOST_TEST(v.exists);
    BOOST_TEST(v.value == json({{"a", 2}}));  // b went with the delete
  }
}

BOOST_AUTO_TEST_CASE(a_local_write_after_siblings_collapses_them) {
  const Write a = Put("us-east", 1, 100, {}, {{"v", 1}});
  const Write b = Put("eu-west", 1, 200, {}, {{"v", 2}});
  DocState s = Run({a, b});
  BOOST_TEST(!IsSingleVersion(s));
  const Write c = Put("us-east", 2, 300, s.ctx, {{"v", 3}});
  Apply(s, c);
  BOOST_TEST(IsSingleVersion(s));
  BOOST_TEST(!ResolveLww(s).conflicted);
}

BOOST_AUTO_TEST_CASE(encoding_round_trips) {
  const Write base = Put("us-east", 1, 100, {}, {{"a", 1}});
  const Write p = Patch("eu-west", 1, 150, Ctx({{"us-east", 1}}), {{"a", json(2)}, {"z", std::nullopt}});
  const Write q = Put("ap-south", 1, 120, Ctx({{"us-east", 1}}), {{"q", json::array({1, 2})}});
  const DocState s = Run({base, p, q});
  auto back = conflict::DecodeState(EncodeState(s));
  BOOST_TEST_REQUIRE(back.ok());
  BOOST_TEST((*back == s));
  BOOST_TEST(!conflict::DecodeState("{\"ctx\":\"x\"}").ok());
  BOOST_TEST(!conflict::DecodeState("not json").ok());
}

// Random causal histories over three replicas, delivered in random causal orders: every
// replica ends with byte-identical state, and the view matches a brute-force oracle.
namespace {

struct Oracle {
  // LWW view from first principles: per field, the maximal writes that assign it.
  static std::optional<json> View(const std::vector<Write>& all) {
    std::set<std::string> names;
    for (const auto& w : all) {
      if (w.kind == WriteKind::kPut) {
        for (const auto& [k, _] : w.value.items()) names.insert(k);
      }
      for (const auto& [k, _] : w.fields) names.insert(k);
    }
    auto winner = [&](auto assigns) -> const Write* {
      const Write* best = nullptr;
      for (const auto& w : all) {
        if (!assigns(w)) continue;
        bool dominated = false;
        for (const auto& o : all) dominated |= assigns(o) && o.ctx.Contains(w.dot);
        if (dominated) continue;
        if (!best || best->hlc < w.hlc || (best->hlc == w.hlc && best->dot.origin < w.dot.origin)) best = &w;
      }
      return best;
    };
    const Write* top = winner([](const Write&) { return true; });
    if (!top || top->kind == WriteKind::kDelete) return std::nullopt;
    json out = json::object();
    for (const auto& name : names) {
      const Write* w = winner([&](const Write& x) { return x.kind != WriteKind::kPatch || x.fields.count(name); });
      if (!w) continue;
      if (w->kind == WriteKind::kPut && w->value.contains(name)) out[name] = w->value[name];
      if (w->kind == WriteKind::kPatch && w->fields.at(name)) out[name] = *w->fields.at(name);
    }
    return out;
  }
};

void RunConvergenceSeed(uint64_t seed) {
  std::mt19937_64 rng(seed);
  const char* names[] = {"ap-south", "eu-west", "us-east"};
  struct Replica {
    DocState state;
    std::set<Dot> have;
    uint64_t seq = 0;
    crdt::HlcClock clock;
    int64_t skew = 0;
  };
  std::vector<Replica> reps(3);
  for (auto& r : reps) r.skew = static_cast<int64_t>(rng() % 400) - 200;
  std::vector<Write> log;
  uint64_t now = 1'000'000;
  auto deliver_some = [&](Replica& r, size_t max) {
    for (size_t n = 0; n < max; ++n) {
      std::vector<const Write*> ready;
      for (const auto& w : log) {
        if (!r.have.count(w.dot) && w.ctx.LessOrEqual(r.state.ctx)) ready.push_back(&w);
      }
      if (ready.empty()) return;
      const Write& w = *ready[rng() % ready.size()];
      (void)r.clock.Receive(w.hlc, now + static_cast<uint64_t>(r.skew));
      Apply(r.state, w);
      r.have.insert(w.dot);
    }
  };
  const int steps = 20 + static_cast<int>(rng() % 40);
  for (int step = 0; step < steps; ++step) {
    now += rng() % 5;
    const size_t i = rng() % 3;
    Replica& r = reps[i];
    if (rng() % 3 == 0) {
      deliver_some(r, rng() % 4);
      continue;
    }
    Write w;
    w.dot = {R(names[i]), ++r.seq};
    w.hlc = *r.clock.Tick(now + static_cast<uint64_t>(r.skew));
    w.ctx = r.state.ctx;
    const int kind = static_cast<int>(rng() % 10);
    const char* fields[] = {"a", "b", "c"};
    if (kind < 4) {
      w.kind = WriteKind::kPut;
      w.value = json::object();
      for (const char* f : fields) {
        if (rng() % 2) w.value[f] = static_cast<int>(rng() % 100);
      }
    } else if (kind < 9) {
      w.kind = WriteKind::kPatch;
      for (const char* f : fields) {
        const auto roll = rng() % 3;
        if (roll == 0) w.fields[f] = json(static_cast<int>(rng() % 100));
        if (roll == 1 && rng() % 2) w.fields[f] = std::nullopt;
      }
    } else {
      w.kind = WriteKind::kDelete;
    }
    Apply(r.state, w);
    r.have.insert(w.dot);
    log.push_back(w);
  }
  for (auto& r : reps) deliver_some(r, log.size());
  const std::string expected = EncodeState(reps[0].state);
  for (auto& r : reps) BOOST_TEST_REQUIRE(EncodeState(r.state) == expected);
  const auto view = ResolveLww(reps[0].state);
  const auto oracle = Oracle::View(log);
  BOOST_TEST_REQUIRE(view.exists == oracle.has_value());
  if (oracle) BOOST_TEST_REQUIRE(view.value == *oracle);
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_causal_schedules_converge_to_the_lww_oracle) {
  const auto plan = testsupport::Seeds("doc_state convergence", 2000);
  for (uint64_t seed = plan.first; seed < plan.first + plan.count; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed << " (replay with MERIDIAN_SEED=" << seed << ")") {
      RunConvergenceSeed(seed);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
