#include "crdt/doc_crdt.h"

#include <iostream>
#include <limits>
#include <random>
#include <set>

#include <boost/test/unit_test.hpp>

#include "tests/support/printers.h"
#include "tests/support/seed.h"

using crdt::CrdtOp;
using crdt::DocCrdt;
using crdt::FieldType;
using crdt::Hlc;
using crdt::RegionId;
using crdt::Tag;
using crdt::VersionVector;
using nlohmann::json;

namespace {

RegionId R(const char* id) { return *RegionId::Parse(id); }

// A replica of one document: resolves client operations at its origin, applies
// operations from others in causal order.
struct Replica {
  Replica(RegionId region) : id(std::move(region)) {}  // implicit: the tests list {R("a")}, ...
  RegionId id;
  DocCrdt doc;
  VersionVector seen;  // dots applied
  uint64_t seq = 0;
  uint64_t clock = 0;
  std::map<std::string, FieldType> declared;
};

struct Logged {
  CrdtOp op;
  crdt::Dot dot;
  Hlc hlc;
  VersionVector ctx;  // dots its origin had applied
};

// Makes `client` at `r` and applies it there; returns the logged operation.
std::optional<Logged> Local(Replica& r, const json& client) {
  auto op = r.doc.Resolve(client, r.declared, r.id);
  if (!op.ok()) return std::nullopt;
  Logged l{*op, {r.id, ++r.seq}, Hlc::FromParts(++r.clock, 0), r.seen};
  BOOST_REQUIRE(r.doc.Apply(l.op, Tag{l.dot, 0}, l.hlc).ok());
  r.seen.Add(l.dot);
  return l;
}

void Deliver(Replica& r, const Logged& l) {
  r.clock = std::max(r.clock, l.hlc.wall_ms());  // the receive rule, enough for this model
  BOOST_REQUIRE(r.doc.Apply(l.op, Tag{l.dot, 0}, l.hlc).ok());
  r.seen.Add(l.dot);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(doc_crdt)

BOOST_AUTO_TEST_CASE(counter_increments_commute_and_refuse_to_overflow) {
  Replica a{R("a")}, b{R("b")};
  auto x = Local(a, {{"op", "incr"}, {"path", "/n"}, {"by", 5}});
  auto y = Local(b, {{"op", "incr"}, {"path", "/n"}, {"by", -2}});
  Deliver(a, *y);
  Deliver(b, *x);
  BOOST_TEST((a.doc == b.doc));
  BOOST_TEST(a.doc.Value({}) == json({{"n", 3}}));
  auto big = a.doc.Resolve({{"op", "incr"}, {"path", "/n"}, {"by", std::numeric_limits<int64_t>::max()}}, {}, a.id);
  BOOST_TEST(big.status().reason() == "counter-overflow");
  auto huge = a.doc.Resolve({{"op", "incr"}, {"path", "/n"}, {"by", uint64_t{1} << 63}}, {}, a.id);
  BOOST_TEST(huge.status().reason() == "counter-overflow");
}

BOOST_AUTO_TEST_CASE(counters_driven_past_int64_by_concurrent_increments_keep_the_exact_value) {
  Replica a{R("a")}, b{R("b")};
  const int64_t max = std::numeric_limits<int64_t>::max();
  auto x = Local(a, {{"op", "incr"}, {"path", "/n"}, {"by", max}});
  auto y = Local(b, {{"op", "incr"}, {"path", "/n"}, {"by", max}});
  Deliver(a, *y);
  BOOST_TEST(a.doc.Value({})["n"] == "18446744073709551614");  // exact, never wrapped
}

BOOST_AUTO_TEST_CASE(concurrent_add_beats_remove_in_the_set) {
  Replica a{R("a")}, b{R("b")};
  auto add = Local(a, {{"op", "add"}, {"path", "/tags"}, {"value", "x"}});
  Deliver(b, *add);
  auto remove = Local(a, {{"op", "remove"}, {"path", "/tags"}, {"value", "x"}});
  auto readd = Local(b, {{"op", "add"}, {"path", "/tags"}, {"value", "x"}});  // concurrent with remove
  Deliver(a, *readd);
  Deliver(b, *remove);
  BOOST_TEST((a.doc == b.doc));
  BOOST_TEST(a.doc.Value({}) == json({{"tags", {"x"}}}));
  // A remove that has seen every add removes the element for good, leaving no tombstone.
  auto gone = Local(a, {{"op", "remove"}, {"path", "/tags"}, {"value", "x"}});
  Deliver(b, *gone);
  BOOST_TEST(a.doc.empty());
  BOOST_TEST(b.doc.empty());
}

BOOST_AUTO_TEST_CASE(sets_render_sorted_and_treat_equal_json_as_one_element) {
  Replica a{R("a")};
  for (json v : {json(3), json("b"), json(1), json({{"k", 1}}), json(1)}) {
    Local(a, {{"op", "add"}, {"path", "/s"}, {"value", v}});
  }
  // nlohmann order: numbers, then objects, then strings.
  BOOST_TEST(a.doc.Value({})["s"] == json::parse(R"([1,3,{"k":1},"b"])"));
}

BOOST_AUTO_TEST_CASE(update_concurrent_with_a_delete_survives_it) {
  Replica a{R("a")}, b{R("b")};
  auto seed = Local(a, {{"op", "incr"}, {"path", "/likes"}, {"by", 10}});
  Local(a, {{"op", "set"}, {"path", "/title"}, {"value", "old"}});
  Deliver(b, *seed);
  // a deletes the whole document; b concurrently increments and adds.
  crdt::CrdtOp clear;
  clear.kind = CrdtOp::Kind::kClear;
  clear.observed_state = a.doc.Encode();
  Logged del{clear, {a.id, ++a.seq}, Hlc::FromParts(++a.clock, 0), a.seen};
  BOOST_REQUIRE(a.doc.Apply(del.op, Tag{del.dot, 0}, del.hlc).ok());
  auto inc = Local(b, {{"op", "incr"}, {"path", "/likes"}, {"by", 1}});
  auto add = Local(b, {{"op", "add"}, {"path", "/tags"}, {"value", "new"}});
  Deliver(a, *inc);
  Deliver(a, *add);
  Deliver(b, Logged{del.op, del.dot, del.hlc, del.ctx});
  // title set at a reaches b only now; the delete had seen it.
  BOOST_TEST(a.doc.Value({}) == json({{"likes", 1}, {"tags", {"new"}}}));
}

BOOST_AUTO_TEST_CASE(registers_keep_concurrent_values_and_show_the_latest) {
  Replica a{R("a")}, b{R("b")};
  b.clock = 100;
  auto x = Local(a, {{"op", "set"}, {"path", "/t"}, {"value", "from-a"}});
  auto y = Local(b, {{"op", "set"}, {"path", "/t"}, {"value", "from-b"}});
  Deliver(a, *y);
  Deliver(b, *x);
  BOOST_TEST((a.doc == b.doc));
  BOOST_TEST(a.doc.Value({})["t"] == "from-b");  // larger HLC
  BOOST_TEST(a.doc.Value({{"t", FieldType::kMVRegister}})["t"] == json({"from-a", "from-b"}));
  auto z = Local(a, {{"op", "set"}, {"path", "/t"}, {"value", "merged"}});  // has seen both
  Deliver(b, *z);
  BOOST_TEST(b.doc.Value({{"t", FieldType::kMVRegister}})["t"] == json({"merged"}));
}

BOOST_AUTO_TEST_CASE(maps_nest_by_path_and_unset_removes_what_it_saw) {
  Replica a{R("a")};
  Local(a, {{"op", "set"}, {"path", "/cart/owner"}, {"value", "ada"}});
  auto qty = Local(a, {{"op", "incr"}, {"path", "/cart/items/apple"}, {"by", 2}});
  Local(a, {{"op", "incr"}, {"path", "/a~1b~0c"}, {"by", 1}});
  BOOST_TEST(a.doc.Value({}) ==
             json::parse(R"({"a/b~c":1,"cart":{"items":{"apple":2},"owner":"ada"}})"));
  auto unset = Local(a, {{"op", "unset"}, {"path", "/cart"}});
  BOOST_TEST(a.doc.Value({}) == json::parse(R"({"a/b~c":1})"));
  (void)qty;
  (void)unset;
}

BOOST_AUTO_TEST_CASE(a_region_refuses_operations_of_another_type_than_the_field_holds) {
  Replica a{R("a")};
  a.declared = {{"likes", FieldType::kCounter}, {"meta", FieldType::kMap}};
  BOOST_TEST(a.doc.Resolve({{"op", "add"}, {"path", "/likes"}, {"value", 1}}, a.declared, a.id).status().reason() ==
             "type-mismatch");
  BOOST_TEST(a.doc.Resolve({{"op", "set"}, {"path", "/meta"}, {"value", 1}}, a.declared, a.id).status().reason() ==
             "type-mismatch");
  BOOST_TEST(a.doc.Resolve({{"op", "set"}, {"path", "/meta/x"}, {"value", 1}}, a.declared, a.id).ok());
  Local(a, {{"op", "set"}, {"path", "/title"}, {"value", "t"}});
  BOOST_TEST(a.doc.Resolve({{"op", "incr"}, {"path", "/title"}}, {}, a.id).status().reason() == "type-mismatch");
  BOOST_TEST(a.doc.Resolve({{"op", "set"}, {"path", "/title/x"}, {"value", 1}}, {}, a.id).status().reason() ==
             "type-mismatch");
  for (json bad : {json({{"op", "incr"}}), json({{"op", "incr"}, {"path", "likes"}}),
                   json({{"op", "incr"}, {"path", "//x"}}), json({{"op", "incr"}, {"path", "/x"}, {"by", 1.5}}),
                   json({{"op", "add"}, {"path", "/s"}}), json({{"op", "zap"}, {"path", "/s"}}),
                   json({{"op", "set"}, {"path", "/s"}, {"value", 1}, {"extra", 1}}), json("incr")}) {
    BOOST_TEST_CONTEXT(bad.dump()) { BOOST_TEST(!a.doc.Resolve(bad, {}, a.id).ok()); }
  }
  BOOST_TEST(a.doc.Resolve({{"op", "insert"}, {"path", "/body"}, {"index", 0}}, {}, a.id).status().reason() ==
             "invalid-op");  // text edits go through Local
}

BOOST_AUTO_TEST_CASE(a_type_clash_between_regions_keeps_both_and_shows_one_by_precedence) {
  Replica a{R("a")}, b{R("b")};
  auto x = Local(a, {{"op", "set"}, {"path", "/f"}, {"value", "text"}});
  auto y = Local(b, {{"op", "incr"}, {"path", "/f"}, {"by", 4}});
  auto clash_a = a.doc.Apply(y->op, Tag{y->dot, 0}, y->hlc);
  auto clash_b = b.doc.Apply(x->op, Tag{x->dot, 0}, x->hlc);
  BOOST_TEST(*clash_a);
  BOOST_TEST(*clash_b);
  BOOST_TEST((a.doc == b.doc));
  BOOST_TEST(a.doc.Value({})["f"] == 4);  // a counter before a register
}

BOOST_AUTO_TEST_CASE(encoding_round_trips) {
  Replica a{R("a")};
  Local(a, {{"op", "incr"}, {"path", "/n"}, {"by", 3}});
  Local(a, {{"op", "add"}, {"path", "/s/inner"}, {"value", {1, 2}}});
  Local(a, {{"op", "set"}, {"path", "/r"}, {"value", nullptr}});
  auto back = DocCrdt::Decode(a.doc.Encode());
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == a.doc));
  BOOST_TEST(!DocCrdt::Decode(json::parse(R"({"entries":[[["x"],{"weird":1}]]})")).ok());
}

// Random operations at three replicas, delivered in random causal orders: all replicas end
// equal, and the value matches oracles computed from the history alone.
namespace {

struct Oracle {
  // An operation is dead when a later operation (in causal order) on the same path or an
  // enclosing one removed or superseded it.
  static bool Covers(const Logged& later, const Logged& earlier) {
    if (!later.ctx.Contains(earlier.dot)) return false;
    const auto& p = later.op.path;
    const auto& q = earlier.op.path;
    const bool prefix = q.size() >= p.size() && std::equal(p.begin(), p.end(), q.begin());
    switch (later.op.kind) {
      case CrdtOp::Kind::kUnset:
      case CrdtOp::Kind::kClear: return prefix;
      case CrdtOp::Kind::kSet: return p == q && earlier.op.kind == CrdtOp::Kind::kSet;
      case CrdtOp::Kind::kAdd:
      case CrdtOp::Kind::kRemove:
        return p == q && (earlier.op.kind == CrdtOp::Kind::kAdd) && earlier.op.value == later.op.value;
      default: return false;
    }
  }
  static json Value(const std::vector<Logged>& log) {
    auto alive = [&](const Logged& l) {
      for (const auto& o : log) {
        if (&o != &l && Covers(o, l)) return false;
      }
      return true;
    };
    std::map<std::string, int64_t> counters;
    std::map<std::string, std::set<std::string>> sets;
    std::map<std::string, const Logged*> registers;
    for (const auto& l : log) {
      if (!alive(l)) continue;
      const std::string f = l.op.path.empty() ? "" : l.op.path[0];
      if (l.op.kind == CrdtOp::Kind::kIncr) counters[f] += l.op.by;
      if (l.op.kind == CrdtOp::Kind::kAdd) sets[f].insert(l.op.value.dump());
      if (l.op.kind == CrdtOp::Kind::kSet) {
        const Logged*& best = registers[f];
        if (!best || best->hlc < l.hlc || (best->hlc == l.hlc && best->dot.origin < l.dot.origin)) best = &l;
      }
    }
    json out = json::object();
    for (auto& [f, v] : counters) {
      bool any = false;
      for (const auto& l : log) any |= alive(l) && l.op.kind == CrdtOp::Kind::kIncr && l.op.path[0] == f;
      if (any) out[f] = v;
    }
    for (auto& [f, s] : sets) {
      std::vector<json> vs;
      for (const auto& e : s) vs.push_back(json::parse(e));
      std::sort(vs.begin(), vs.end());
      if (!vs.empty()) out[f] = vs;
    }
    for (auto& [f, l] : registers) out[f] = l->op.value;
    return out;
  }
};

void RunSeed(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Replica> reps = {{R("a")}, {R("b")}, {R("c")}};
  // Declared types keep the fields apart, so the oracle need not model clashes.
  for (auto& r : reps) r.declared = {{"n", FieldType::kCounter}, {"s", FieldType::kSet}, {"t", FieldType::kRegister}};
  std::vector<Logged> log;
  auto deliver_some = [&](Replica& r, size_t max) {
    for (size_t k = 0; k < max; ++k) {
      std::vector<const Logged*> ready;
      for (const auto& l : log) {
        if (!r.seen.Contains(l.dot) && l.ctx.LessOrEqual(r.seen)) ready.push_back(&l);
      }
      if (ready.empty()) return;
      Deliver(r, *ready[rng() % ready.size()]);
    }
  };
  const int steps = 30 + static_cast<int>(rng() % 60);
  for (int s = 0; s < steps; ++s) {
    Replica& r = reps[rng() % reps.size()];
    const int roll = static_cast<int>(rng() % 12);
    json op;
    if (roll < 3) op = {{"op", "incr"}, {"path", "/n"}, {"by", static_cast<int>(rng() % 21) - 10}};
    else if (roll < 6) op = {{"op", "add"}, {"path", "/s"}, {"value", static_cast<int>(rng() % 4)}};
    else if (roll < 8) op = {{"op", "remove"}, {"path", "/s"}, {"value", static_cast<int>(rng() % 4)}};
    else if (roll < 10) op = {{"op", "set"}, {"path", "/t"}, {"value", static_cast<int>(rng() % 100)}};
    else if (roll < 11) op = {{"op", "unset"}, {"path", rng() % 2 ? "/n" : "/s"}};
    else {
      deliver_some(r, 1 + rng() % 4);
      continue;
    }
    if (auto l = Local(r, op)) log.push_back(*l);
  }
  for (auto& r : reps) deliver_some(r, log.size());
  if (std::getenv("DUMP_LOG")) {
    for (const auto& l : log) std::cout << l.dot.ToString() << " ctx={" << l.ctx.Encode() << "} " << crdt::EncodeOp(l.op).dump() << "\n";
  }
  for (auto& r : reps) BOOST_TEST_REQUIRE(r.doc.Encode() == reps[0].doc.Encode(), r.doc.Encode().dump() << " vs " << reps[0].doc.Encode().dump());
  BOOST_TEST_REQUIRE(reps[0].doc.Value(reps[0].declared) == Oracle::Value(log));
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_causal_schedules_converge_to_the_oracles) {
  const auto plan = testsupport::Seeds("doc_crdt convergence", 2000);
  for (uint64_t seed = plan.first; seed < plan.first + plan.count; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed << " (replay with MERIDIAN_SEED=" << seed << ")") { RunSeed(seed); }
  }
}

namespace {

// Text edits through DocCrdt::Local, as the region makes them; returns the logged ops.
std::vector<CrdtOp> LocalText(Replica& r, const json* client) {
  uint32_t index = 0;
  const crdt::Dot dot{r.id, ++r.seq};
  auto ops = r.doc.Local(client, r.declared, r.id, dot, &index, Hlc::FromParts(++r.clock, 0));
  BOOST_REQUIRE_MESSAGE(ops.ok(), ops.status().ToString());
  r.seen.Add(dot);
  return *ops;
}

void DeliverAll(Replica& r, const std::vector<CrdtOp>& ops, const crdt::Dot& dot) {
  for (size_t i = 0; i < ops.size(); ++i) {
    BOOST_REQUIRE(r.doc.Apply(ops[i], Tag{dot, static_cast<uint32_t>(i)}, Hlc::FromParts(++r.clock, 0)).ok());
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(text_fields_edit_by_index_and_replicate) {
  Replica a{R("a")}, b{R("b")};
  a.declared = b.declared = {{"body", FieldType::kText}};
  const json ins = {{"op", "insert"}, {"path", "/body"}, {"index", 0u}, {"text", "héllo"}};
  auto x = LocalText(a, &ins);
  DeliverAll(b, x, {a.id, 1});
  const json b_ins = {{"op", "insert"}, {"path", "/body"}, {"index", 5u}, {"text", " wörld"}};
  const json a_del = {{"op", "delete"}, {"path", "/body"}, {"index", 0u}, {"count", 1u}};
  auto y = LocalText(b, &b_ins);  // concurrent
  auto z = LocalText(a, &a_del);
  DeliverAll(a, y, {b.id, 1});
  DeliverAll(b, z, {a.id, 2});
  BOOST_TEST(a.doc.Value(a.declared) == json({{"body", "éllo wörld"}}));
  BOOST_TEST(a.doc.Encode() == b.doc.Encode());
  // Operations survive their JSON encoding (the change log).
  for (const auto& op : y) BOOST_TEST((crdt::DecodeOp(crdt::EncodeOp(op))->text == op.text));
  // A declared text refuses other operations, and others refuse text edits.
  const json set_body = {{"op", "set"}, {"path", "/body"}, {"value", 1}};
  uint32_t i = 0;
  BOOST_TEST(a.doc.Local(&set_body, a.declared, a.id, {a.id, 9}, &i, Hlc()).status().reason() == "type-mismatch");
  const json set_t = {{"op", "set"}, {"path", "/t"}, {"value", 1}};
  LocalText(a, &set_t);
  const json ins_t = {{"op", "insert"}, {"path", "/t"}, {"index", 0u}, {"text", "x"}};
  BOOST_TEST(a.doc.Local(&ins_t, {}, a.id, {a.id, 9}, &i, Hlc()).status().reason() == "type-mismatch");
  const json out_of_range = {{"op", "insert"}, {"path", "/body"}, {"index", 99u}, {"text", "x"}};
  BOOST_TEST(a.doc.Local(&out_of_range, a.declared, a.id, {a.id, 9}, &i, Hlc()).status().reason() == "text-index");
}

BOOST_AUTO_TEST_CASE(client_made_text_ops_need_a_web_origin_and_their_causal_past) {
  Replica a{R("a")};
  crdt::Text browser;
  const auto web = R("web-abc");
  auto first = browser.Insert(web, 0, "hi");
  auto second = browser.Insert(web, 2, "!");
  const json op1 = {{"op", "text"}, {"path", "/body"}, {"text", crdt::EncodeTextOp(*first)}};
  const json op2 = {{"op", "text"}, {"path", "/body"}, {"text", crdt::EncodeTextOp(*second)}};
  uint32_t i = 0;
  // The second before the first: refused, state unchanged.
  BOOST_TEST(a.doc.Local(&op2, {}, a.id, {a.id, 1}, &i, Hlc()).status().reason() == "text-causality");
  BOOST_TEST(a.doc.empty());
  LocalText(a, &op1);
  LocalText(a, &op2);
  LocalText(a, &op1);  // a resend is harmless
  BOOST_TEST(a.doc.Value({}) == json({{"body", "hi!"}}));
  auto forged = crdt::Text().Insert(R("us-east"), 0, "x");
  const json op3 = {{"op", "text"}, {"path", "/body"}, {"text", crdt::EncodeTextOp(*forged)}};
  BOOST_TEST(a.doc.Local(&op3, {}, a.id, {a.id, 9}, &i, Hlc()).status().reason() == "invalid-op");
}

BOOST_AUTO_TEST_CASE(the_direct_text_encoding_is_the_json_encoding) {
  Replica a{R("a")};
  auto same = [&] { BOOST_TEST(a.doc.EncodeText() == a.doc.Encode().dump()); };
  same();
  const json ins = {{"op", "insert"}, {"path", "/body"}, {"index", 0u}, {"text", "quote \" and \\ and é\n"}};
  LocalText(a, &ins);
  same();
  const json inc = {{"op", "incr"}, {"path", "/n"}, {"by", 3}};
  const json add = {{"op", "add"}, {"path", "/m/s"}, {"value", "x"}};
  const json nested = {{"op", "insert"}, {"path", "/m/t"}, {"index", 0u}, {"text", "deep"}};
  const json del = {{"op", "delete"}, {"path", "/body"}, {"index", 1u}, {"count", 3u}};
  for (const json* op : {&inc, &add, &nested, &del}) {
    LocalText(a, op);
    same();
  }
  BOOST_TEST(crdt::DocCrdt::Decode(json::parse(a.doc.EncodeText()))->Encode() == a.doc.Encode());
}

BOOST_AUTO_TEST_CASE(deleting_a_document_deletes_its_text_but_a_concurrent_insert_survives) {
  Replica a{R("a")}, b{R("b")};
  const json ins = {{"op", "insert"}, {"path", "/body"}, {"index", 0u}, {"text", "abc"}};
  const json title = {{"op", "set"}, {"path", "/title"}, {"value", "T"}};
  auto x = LocalText(a, &ins);
  auto t = LocalText(a, &title);
  DeliverAll(b, x, {a.id, 1});
  DeliverAll(b, t, {a.id, 2});
  auto del = LocalText(a, nullptr);  // the document delete
  const json more = {{"op", "insert"}, {"path", "/body"}, {"index", 3u}, {"text", "d"}};
  auto y = LocalText(b, &more);  // concurrent with the delete
  DeliverAll(b, del, {a.id, 3});
  BOOST_TEST(b.doc.Value({}) == json({{"body", "d"}}));
  DeliverAll(a, y, {b.id, 1});
  BOOST_TEST(a.doc.Value({}) == json({{"body", "d"}}));
  BOOST_TEST(a.doc.Encode() == b.doc.Encode());
  // Deleted without anything concurrent: nothing is shown (an empty text is not a value).
  Replica c{R("c")};
  LocalText(c, &ins);
  LocalText(c, nullptr);
  BOOST_TEST(c.doc.Value({}).empty());
}

BOOST_AUTO_TEST_SUITE_END()
