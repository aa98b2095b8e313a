#include "region/node.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "region/internal/read_pool.h"
#include "region/internal/sqlite.h"
#include "tests/support/printers.h"

#include "tests/support/fake_clock.h"
#include "tests/support/process.h"

using region::ChangeKind;
using region::Node;
using region::NodeOptions;
using region::WriteRequest;
using testsupport::FakeClock;
using testsupport::TempDir;

namespace {

crdt::RegionId R(const char* id) { return *crdt::RegionId::Parse(id); }

std::unique_ptr<Node> OpenNode(const std::string& dir, region::Clock* clock = nullptr, int max_batch = 1024,
                               const char* region = "us-east", int checkpoint_pages = NodeOptions().checkpoint_pages) {
  NodeOptions o;
  o.region = R(region);
  o.data_dir = dir;
  o.clock = clock;
  o.max_batch = max_batch;
  o.read_connections = 2;
  o.checkpoint_pages = checkpoint_pages;
  auto n = Node::Open(o);
  BOOST_REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  return std::move(n).value();
}

// Node::Open with nothing but a region and a directory, for tests of opens that must fail.
crdt::Result<std::unique_ptr<Node>> TryOpen(const std::string& dir, const char* region) {
  NodeOptions o;
  o.region = R(region);
  o.data_dir = dir;
  return Node::Open(o);
}

WriteRequest Req(const std::string& key, const std::string& body, std::optional<std::string> if_match = {}) {
  return WriteRequest{"things", key, body, std::move(if_match)};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(node)

BOOST_AUTO_TEST_CASE(put_then_get_returns_the_canonical_value_and_version) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  auto ack = node->Put(Req("k1", R"({ "b": 2, "a": [1, {"z": null}] })"));
  BOOST_REQUIRE(ack.ok());
  BOOST_TEST(ack->created);
  BOOST_TEST(ack->dot.seq == 1u);
  auto doc = node->Get("things", "k1");
  BOOST_REQUIRE(doc.ok());
  BOOST_TEST(doc->value == R"({"a":[1,{"z":null}],"b":2})");
  BOOST_TEST(doc->version == ack->version);
  BOOST_TEST(doc->hlc == ack->hlc);
  auto again = node->Put(Req("k1", R"({"b":3})"));
  BOOST_TEST(!again->created);
  BOOST_TEST(again->version != ack->version);
}

BOOST_AUTO_TEST_CASE(try_get_answers_like_get_and_a_busy_read_pool_says_so_instead_of_waiting) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  auto ack = node->Put(Req("k1", R"({"a":1})"));
  BOOST_REQUIRE(ack.ok());
  auto tried = node->TryGet("things", "k1");
  BOOST_REQUIRE(tried.has_value());
  BOOST_REQUIRE(tried->ok());
  BOOST_TEST((*tried)->value == R"({"a":1})");
  BOOST_TEST((*tried)->version == ack->version);
  auto missing = node->TryGet("things", "nope");
  BOOST_REQUIRE(missing.has_value());
  BOOST_TEST(missing->status().reason() == "not-found");
  // A collection with large documents (over 64 KiB) is left to threads once one was read.
  const std::string big = "{\"b\":\"" + std::string(100 << 10, 'x') + "\"}";
  BOOST_REQUIRE(node->Put(WriteRequest{"large", "b1", big, {}}).ok());
  BOOST_REQUIRE(node->Put(WriteRequest{"large", "small", "{}", {}}).ok());
  BOOST_TEST(node->TryGet("large", "small").has_value());  // nothing large read yet
  BOOST_TEST(node->TryGet("large", "b1").has_value());     // the first large one is read here
  BOOST_TEST(!node->TryGet("large", "small").has_value());
  BOOST_TEST(node->Get("large", "small").ok());
  BOOST_TEST(node->TryGet("things", "k1").has_value());  // other collections are not affected
  // The pool's own behaviour: a lease held, no second connection, TryAcquire does not wait.
  region::internal::ReadPool pool;
  BOOST_REQUIRE(pool.Open(dir.path() + "/meridian.db", 1, region::Durability::kFull).ok());
  {
    auto held = pool.Acquire();
    BOOST_TEST(!pool.TryAcquire().has_value());
  }
  BOOST_TEST(pool.TryAcquire().has_value());
}

BOOST_AUTO_TEST_CASE(patch_merges_fields_and_creates_missing_documents) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  auto created = node->Patch(Req("p", R"({"a":{"x":1},"b":1})"));
  BOOST_REQUIRE(created.ok());
  BOOST_TEST(created->created);
  BOOST_REQUIRE(node->Patch(Req("p", R"({"a":{"y":2},"b":null,"c":"s"})")).ok());
  BOOST_TEST(node->Get("things", "p")->value == R"({"a":{"x":1,"y":2},"c":"s"})");
  BOOST_REQUIRE(node->Put(Req("p", R"({"q":1})")).ok());
  BOOST_REQUIRE(node->Patch(Req("p", R"({"r":2})")).ok());
  BOOST_TEST(node->Get("things", "p")->value == R"({"q":1,"r":2})");
}

BOOST_AUTO_TEST_CASE(delete_leaves_a_tombstone_and_a_later_put_recreates) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  BOOST_REQUIRE(node->Put(Req("d", R"({"v":1})")).ok());
  BOOST_REQUIRE(node->Delete(Req("d", "")).ok());
  BOOST_TEST(node->Get("things", "d").status().reason() == "not-found");
  BOOST_TEST(node->Delete(Req("d", "")).status().reason() == "not-found");
  BOOST_TEST(node->Stats().live_docs == 0);
  auto again = node->Put(Req("d", R"({"v":2})"));
  BOOST_TEST(again->created);
  BOOST_TEST(node->Stats().live_docs == 1);
}

BOOST_AUTO_TEST_CASE(if_match_mismatch_fails_and_changes_nothing) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  auto first = node->Put(Req("m", R"({"v":1})"));
  BOOST_REQUIRE(first.ok());
  const int64_t lsn = node->Stats().last_lsn;
  auto stale = node->Put(Req("m", R"({"v":2})", "0000000000000000"));
  BOOST_TEST(stale.status().reason() == "version-mismatch");
  BOOST_TEST(node->Get("things", "m")->value == R"({"v":1})");
  BOOST_TEST(node->Stats().last_lsn == lsn);
  BOOST_TEST(node->Put(Req("m", R"({"v":3})", first->version)).ok());
  BOOST_TEST(node->Put(Req("new", R"({"v":1})", "*")).status().reason() == "version-mismatch");
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected_with_a_reason_and_writes_nothing) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  struct Case {
    std::string collection, key, body, reason;
  };
  const Case cases[] = {
      {"things", "k", "{", "invalid-json"},
      {"things", "k", R"({"a":1,"a":2})", "duplicate-key"},
      {"things", "k", "[1,2]", "invalid-document"},
      {"things", "k", R"({"_hlc":5})", "server-assigned-field"},
      {"things", "k", R"({"_origin":"x"})", "server-assigned-field"},
      {"bad name!", "k", "{}", "invalid-collection"},
      {"", "k", "{}", "invalid-collection"},
      {"things", "", "{}", "invalid-key"},
      {"things", std::string("a\x01", 2), "{}", "invalid-key"},
      {"things", "\xff", "{}", "invalid-key"},
      {"things", std::string(1025, 'k'), "{}", "invalid-key"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.reason << " " << c.body) {
      auto r = node->Put(WriteRequest{c.collection, c.key, c.body, {}});
      BOOST_TEST(!r.ok());
      BOOST_TEST(r.status().reason() == c.reason);
    }
  }
  BOOST_TEST(node->Patch(WriteRequest{"things", "k", "5", {}}).status().reason() == "invalid-patch");
  BOOST_TEST(node->Stats().last_lsn == 0);
}

BOOST_AUTO_TEST_CASE(every_write_appends_one_change_with_its_causal_context) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  BOOST_REQUIRE(node->Put(Req("c", R"({"v":1})")).ok());
  BOOST_REQUIRE(node->Patch(Req("c", R"({"w":2})")).ok());
  BOOST_REQUIRE(node->Delete(Req("c", "")).ok());
  auto page = node->LogSince(0, 100);
  BOOST_REQUIRE(page.ok());
  BOOST_REQUIRE(page->changes.size() == 3u);
  BOOST_TEST((page->changes[0].kind == ChangeKind::kPut));
  BOOST_TEST(page->changes[0].ctx.Encode() == "");
  BOOST_TEST((page->changes[1].kind == ChangeKind::kPatch));
  BOOST_TEST(page->changes[1].body == R"({"set":{"w":2},"unset":[]})");
  BOOST_TEST(page->changes[1].ctx.Encode() == "us-east:1");
  BOOST_TEST((page->changes[2].kind == ChangeKind::kDelete));
  BOOST_TEST(page->changes[2].ctx.Encode() == "us-east:2");
  BOOST_TEST(page->next == page->changes[2].lsn);
  BOOST_TEST(node->LogSince(page->next, 100)->changes.empty());
}

BOOST_AUTO_TEST_CASE(long_poll_on_the_feed_wakes_on_commit_and_the_cursor_resumes) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (void)node->Put(Req("lp", "{}"));
  });
  const auto start = std::chrono::steady_clock::now();
  auto page = node->Feed("", 10, 10'000);
  writer.join();
  BOOST_REQUIRE(page.ok());
  BOOST_TEST(page->changes.size() == 1u);
  BOOST_TEST(page->next == "us-east:1");
  BOOST_REQUIRE(node->Put(Req("lp2", "{}")).ok());
  auto next = node->Feed(page->next, 10, 0);
  BOOST_REQUIRE(next->changes.size() == 1u);
  BOOST_TEST(next->changes[0].key == "lp2");
  BOOST_TEST(node->Feed("garbage", 10, 0).status().reason() == "invalid-cursor");
  BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(5)));
}

BOOST_AUTO_TEST_CASE(stamps_stay_increasing_across_clock_step_back_and_restart) {
  TempDir dir;
  FakeClock clock(1'800'000'000'000);
  crdt::Hlc last;
  {
    auto node = OpenNode(dir.path(), &clock);
    for (int i = 0; i < 10; ++i) {
      auto ack = node->Put(Req("h" + std::to_string(i), "{}"));
      BOOST_REQUIRE(ack.ok());
      BOOST_TEST_REQUIRE(ack->hlc > last);
      last = ack->hlc;
    }
    clock.Advance(-10 * 60 * 1000);  // NTP steps the clock back ten minutes
    auto ack = node->Put(Req("after-step", "{}"));
    BOOST_TEST_REQUIRE(ack->hlc > last);
    last = ack->hlc;
  }
  auto node = OpenNode(dir.path(), &clock);  // restart with the clock still behind
  auto ack = node->Put(Req("after-restart", "{}"));
  BOOST_REQUIRE(ack.ok());
  BOOST_TEST(ack->hlc > last);
  BOOST_TEST(ack->dot.seq == 12u);  // seq numbering continues without gaps
}

BOOST_AUTO_TEST_CASE(reopening_a_data_dir_as_another_region_is_refused) {
  TempDir dir;
  { OpenNode(dir.path()); }
  auto n = TryOpen(dir.path(), "eu-west");
  BOOST_TEST(!n.ok());
  BOOST_TEST(n.status().reason() == "region-mismatch");
}

BOOST_AUTO_TEST_CASE(a_data_dir_is_open_in_one_node_at_a_time) {
  TempDir dir;
  {
    auto first = OpenNode(dir.path());
    auto second = TryOpen(dir.path(), "us-east");
    BOOST_TEST_REQUIRE(!second.ok());
    BOOST_TEST(second.status().reason() == "data-dir-in-use");
    BOOST_TEST(second.status().message().find("(pid " + std::to_string(::getpid()) + ")") != std::string::npos);
    BOOST_TEST(first->Put(Req("still-mine", "{}")).ok());  // the refused open changed nothing
  }
  auto again = OpenNode(dir.path());  // closed: the directory opens again
  BOOST_TEST(again->Put(Req("after", "{}")).ok());
}

BOOST_AUTO_TEST_CASE(a_database_file_removed_or_emptied_beside_its_log_is_refused_not_started_over) {
  TempDir dir, copy;
  namespace fs = std::filesystem;
  {
    auto node = OpenNode(dir.path());
    for (const char* k : {"a", "b", "c"}) BOOST_REQUIRE(node->Put(Req(k, "{}")).ok());
    // The log as it is now (no checkpoint yet), beside an emptied database file.
    fs::copy_file(dir.path() + "/meridian.db-wal", copy.path() + "/meridian.db-wal");
    std::ofstream(copy.path() + "/meridian.db").flush();
  }
  const auto wal_size = fs::file_size(copy.path() + "/meridian.db-wal");
  BOOST_REQUIRE(wal_size > 0u);
  for (const char* state : {"empty", "missing"}) {
    BOOST_TEST_CONTEXT(state) {
      auto n = TryOpen(copy.path(), "us-east");
      BOOST_TEST_REQUIRE(!n.ok());
      BOOST_TEST(n.status().reason() == "database-missing");
      BOOST_TEST(n.status().message().find(state) != std::string::npos, n.status().message());
      BOOST_TEST(fs::file_size(copy.path() + "/meridian.db-wal") == wal_size);  // the log is kept
    }
    fs::remove(copy.path() + "/meridian.db");
  }
}

BOOST_AUTO_TEST_CASE(writes_are_refused_once_the_database_or_log_file_is_removed_or_replaced) {
  namespace fs = std::filesystem;
  for (const std::string file : {"meridian.db", "meridian.db-wal"}) {
    BOOST_TEST_CONTEXT(file) {
      TempDir dir;
      auto node = OpenNode(dir.path());
      BOOST_REQUIRE(node->Put(Req("before", "{}")).ok());
      BOOST_TEST(!node->WritesRefused());
      // Replaced: a copy renamed over it (another inode at the same path).
      const std::string path = dir.path() + "/" + file;
      fs::copy_file(path, path + ".copy");
      fs::rename(path + ".copy", path);
      auto w = node->Put(Req("after", "{}"));
      BOOST_TEST_REQUIRE(!w.ok());
      BOOST_TEST(w.status().reason() == "database-gone");
      BOOST_TEST(node->WritesRefused()->reason() == "database-gone");
      BOOST_TEST(node->Put(Req("again", "{}")).status().reason() == "database-gone");  // for good
      BOOST_TEST(node->Get("things", "before").ok());                                   // reads go on
    }
  }
}

BOOST_AUTO_TEST_CASE(group_commit_batches_concurrent_writes_and_acks_each_durably) {
  TempDir dir;
  std::set<std::string> acked;
  std::mutex mu;
  {
    auto node = OpenNode(dir.path());
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
          if (node->Put(Req(key, R"({"i":)" + std::to_string(i) + "}")).ok()) {
            std::lock_guard lock(mu);
            acked.insert(key);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    const auto stats = node->Stats().writer;
    BOOST_TEST(stats.jobs == 1600u);
    BOOST_TEST(stats.batches < stats.jobs);  // some transactions carried several writes
  }
  BOOST_TEST(acked.size() == 1600u);
  auto node = OpenNode(dir.path());
  for (const auto& key : acked) BOOST_TEST_REQUIRE(node->Get("things", key).ok());
  BOOST_TEST(node->Stats().live_docs == 1600);
}

BOOST_AUTO_TEST_CASE(background_checkpoints_keep_the_wal_bounded_while_writes_and_reads_go_on) {
  TempDir dir;
  const std::string wal = dir.path() + "/meridian.db-wal";
  constexpr int kThreads = 8, kPerThread = 1000;
  const std::string pad(2000, 'x');  // ~32 MB through the WAL in all (documents and log)
  uintmax_t largest_wal = 0;
  {
    auto node = OpenNode(dir.path(), nullptr, 1024, "us-east", /*checkpoint_pages=*/64);
    std::atomic<bool> done{false};
    std::atomic<int> read_errors{0};
    std::thread reader([&] {
      // Readers hold snapshots while checkpoints run: they must keep seeing whole documents.
      for (int i = 0; !done; ++i) {
        auto doc = node->Get("things", "t0-" + std::to_string(i % 50));
        if (doc.ok() ? doc->value.find(pad) == std::string::npos : doc.status().code() != crdt::Code::kNotFound) {
          ++read_errors;
        }
        std::error_code ec;
        const auto size = std::filesystem::file_size(wal, ec);
        if (!ec) largest_wal = std::max(largest_wal, size);
      }
    });
    std::vector<std::thread> writers;
    std::atomic<int> failed{0};
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
          if (!node->Put(Req(key, R"({"pad":")" + pad + R"(","i":)" + std::to_string(i) + "}")).ok()) ++failed;
        }
      });
    }
    for (auto& th : writers) th.join();
    done = true;
    reader.join();
    BOOST_TEST(failed == 0);
    BOOST_TEST(read_errors == 0);
    const auto w = node->Stats().writer;
    BOOST_TEST_MESSAGE("checkpoints: " << w.checkpoints_background << " background, " << w.checkpoints_catch_up
                                       << " catch-up, " << w.wal_restarts << " restarts, "
                                       << w.checkpoint_background_frames << " frames found copied; largest WAL "
                                       << largest_wal << " bytes");
    BOOST_TEST(w.checkpoints_background >= 2u);
    BOOST_TEST(w.checkpoint_background_frames > 0u);
    // Each pass is followed by an fsync of the database file (durability on here), and
    // larger ones also sync along the way (a pass is counted after its syncs).
    BOOST_TEST(w.checkpoint_background_syncs >= w.checkpoints_background);
    BOOST_TEST(w.checkpoints_catch_up >= 1u);
    BOOST_TEST(w.catch_up_seconds.count == w.checkpoints_catch_up);
    BOOST_TEST(w.wal_restarts >= 1u);
    BOOST_TEST(w.checkpoints_failed == 0u);
    // The WAL starts over instead of growing with everything written (well over 32 MB of
    // pages here): 1-3 MB on a quiet machine, up to 17 MB with three test processes on the
    // two cores (a reader descheduled inside a read postpones a restart).
    BOOST_TEST(largest_wal > 0u);
    BOOST_TEST(largest_wal < uintmax_t{24} << 20);
  }
  auto node = OpenNode(dir.path());
  BOOST_TEST(node->Stats().live_docs == kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    auto doc = node->Get("things", "t" + std::to_string(t) + "-" + std::to_string(kPerThread - 1));
    BOOST_TEST_REQUIRE(doc.ok());
    BOOST_TEST(doc->value.find(pad) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(background_checkpoints_fsync_the_database_file_as_durability_asks) {
  // Rounds start at 1024 WAL frames, and the first pass of each writes several hundred
  // distinct pages (over 512 KB) to the database file. With durability full, a pass syncs
  // the file every 512 KB it writes and once at its end; with normal (commits do not
  // fsync, so none waits behind a pass's flush) only at its end; with off, never.
  for (const auto durability : {region::Durability::kFull, region::Durability::kNormal, region::Durability::kOff}) {
    TempDir dir;
    NodeOptions o;
    o.region = R("us-east");
    o.data_dir = dir.path();
    o.read_connections = 1;
    o.checkpoint_pages = 1024;
    o.durability = durability;
    auto node = Node::Open(o);
    BOOST_REQUIRE_MESSAGE(node.ok(), node.status().ToString());
    const std::string pad(2000, 'd');
    std::vector<std::thread> writers;
    std::atomic<int> failed{0};
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 800; ++i) {
          const std::string key = "d" + std::to_string(t) + "-" + std::to_string(i);
          if (!(*node)->Put(Req(key, R"({"pad":")" + pad + R"("})")).ok()) ++failed;
        }
      });
    }
    for (auto& th : writers) th.join();
    BOOST_TEST(failed == 0);
    (*node)->Close();  // the checkpoint thread is done: its counts are final
    const auto w = (*node)->Stats().writer;
    BOOST_TEST_MESSAGE("durability " << static_cast<int>(durability) << ": " << w.checkpoints_background
                                     << " passes, " << w.checkpoint_background_syncs << " fsyncs");
    BOOST_TEST(w.checkpoints_background >= 1u);
    BOOST_TEST(w.checkpoints_failed == 0u);
    if (durability == region::Durability::kFull) {
      BOOST_TEST(w.checkpoint_background_syncs > w.checkpoints_background);
    } else if (durability == region::Durability::kNormal) {
      BOOST_TEST(w.checkpoint_background_syncs == w.checkpoints_background);
    } else {
      BOOST_TEST(w.checkpoint_background_syncs == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_long_read_postpones_the_wal_restart_without_a_pause_per_batch) {
  // A reader holding its snapshot keeps the WAL from starting over. The writer tries (a
  // wait of up to 2 ms for the readers), then tries without waiting, and waits again only
  // after longer and longer pauses (up to 50 ms); once the reader is done, restarts resume.
  TempDir dir;
  auto node = OpenNode(dir.path(), nullptr, 1024, "us-east", /*checkpoint_pages=*/64);
  const std::string pad(2000, 'p');
  std::atomic<int> failed{0};
  auto write = [&](const std::string& prefix, int per_thread) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          const std::string key = prefix + std::to_string(t) + "-" + std::to_string(i);
          if (!node->Put(Req(key, R"({"pad":")" + pad + R"("})")).ok()) ++failed;
        }
      });
    }
    for (auto& th : threads) th.join();
  };
  write("a", 100);
  const auto before = node->Stats().writer;
  BOOST_TEST(before.wal_restarts >= 1u);

  auto reader = region::internal::Db::Open(dir.path() + "/meridian.db");
  BOOST_REQUIRE(reader.ok());
  BOOST_REQUIRE((*reader)->Exec("BEGIN; SELECT count(*) FROM docs;").ok());  // holds its snapshot
  const auto held_from = std::chrono::steady_clock::now();
  write("b", 500);
  const double held_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - held_from).count();
  const auto during = node->Stats().writer;
  const uint64_t tries = during.checkpoints_catch_up - before.checkpoints_catch_up;
  const double paused_s =
      static_cast<double>(during.catch_up_seconds.micros_sum - before.catch_up_seconds.micros_sum) / 1e6;
  BOOST_TEST_MESSAGE("while the reader held on (" << held_s << " s): " << tries << " catch-ups, " << paused_s
                                                   << " s in them, " << during.wal_frames << " WAL frames");
  // (One may still land: the catch-up after the last write of the first phase can finish
  // after `before` was read.)
  BOOST_TEST(during.wal_restarts <= before.wal_restarts + 1);
  BOOST_TEST(tries >= 1u);
  // Waits of 2 ms for the readers at most every 50 ms (after 1, 2, 4 ... ms), tries without
  // a wait otherwise: a small share of the time (a 2 ms wait per batch: over half of it).
  BOOST_TEST(paused_s < 0.2 * held_s);
  BOOST_TEST(during.checkpoints_failed == 0u);

  BOOST_REQUIRE((*reader)->Exec("COMMIT;").ok());
  // Restarts resume within the longest pause (50 ms): keep writing until one happens.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int round = 0;
  while (node->Stats().writer.wal_restarts == during.wal_restarts && std::chrono::steady_clock::now() < deadline) {
    write("c" + std::to_string(round++) + "-", 25);
  }
  BOOST_TEST(node->Stats().writer.wal_restarts > during.wal_restarts);
  BOOST_TEST(failed == 0);
}

BOOST_AUTO_TEST_CASE(large_documents_and_large_batches_survive_a_reopen) {
  // Exercises the WAL write coalescing: frames far beyond one write call, and batches of
  // many frames, read back by other connections and after a restart.
  TempDir dir;
  const std::string big = R"({"blob":")" + std::string(3 << 20, 'b') + R"("})";
  std::string expected_medium;
  {
    auto node = OpenNode(dir.path());
    BOOST_REQUIRE(node->Put(Req("big", big)).ok());
    BOOST_TEST(node->Get("things", "big")->value == big);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          const std::string v = R"({"m":")" + std::string(50000 + t * 1000 + i, 'm') + R"("})";
          BOOST_REQUIRE(node->Put(Req("m" + std::to_string(t) + "-" + std::to_string(i), v)).ok());
        }
      });
    }
    for (auto& th : threads) th.join();
    expected_medium = node->Get("things", "m7-19")->value;
  }
  auto node = OpenNode(dir.path());
  BOOST_TEST(node->Get("things", "big")->value == big);
  BOOST_TEST(node->Get("things", "m7-19")->value == expected_medium);
  BOOST_TEST(expected_medium.size() == 50000u + 7000 + 19 + 8);
  BOOST_TEST(node->Stats().live_docs == 161);
}

BOOST_AUTO_TEST_CASE(group_commit_off_runs_one_transaction_per_write) {
  TempDir dir;
  auto node = OpenNode(dir.path(), nullptr, /*max_batch=*/1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) (void)node->Put(Req("x" + std::to_string(t * 100 + i), "{}"));
    });
  }
  for (auto& th : threads) th.join();
  const auto stats = node->Stats().writer;
  BOOST_TEST(stats.batches == stats.jobs);
}

BOOST_AUTO_TEST_CASE(list_pages_in_key_order_with_prefix) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  for (const char* k : {"a1", "a2", "a3", "b1", "a4"}) BOOST_REQUIRE(node->Put(Req(k, "{}")).ok());
  BOOST_REQUIRE(node->Delete(Req("a3", "")).ok());
  auto p1 = node->List("things", "a", "", 2);
  BOOST_REQUIRE(p1.ok());
  BOOST_REQUIRE(p1->docs.size() == 2u);
  BOOST_TEST(p1->docs[0].key == "a1");
  BOOST_TEST(p1->docs[1].key == "a2");
  BOOST_REQUIRE(p1->next);
  auto p2 = node->List("things", "a", *p1->next, 2);
  BOOST_REQUIRE(p2->docs.size() == 1u);
  BOOST_TEST(p2->docs[0].key == "a4");  // a3 is deleted, b1 has another prefix
  BOOST_TEST(!p2->next);
  BOOST_TEST(node->List("things", "", "", 0).status().reason() == "invalid-limit");
}

BOOST_AUTO_TEST_CASE(pages_of_large_documents_and_changes_stop_at_their_byte_limit) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  // Three 5 MB documents: a page stops once 8 MB of values are read, at least one row in.
  const std::string big = "{\"blob\":\"" + std::string(5 << 20, 'x') + "\"}";
  for (const char* k : {"b1", "b2", "b3"}) BOOST_REQUIRE(node->Put(Req(k, big)).ok());
  auto p1 = node->List("things", "", "", 1000);
  BOOST_REQUIRE(p1.ok());
  BOOST_TEST(p1->docs.size() == 2u);
  BOOST_REQUIRE(p1->next);  // the page was cut, not the listing
  auto p2 = node->List("things", "", *p1->next, 1000);
  BOOST_REQUIRE(p2->docs.size() == 1u);
  BOOST_TEST(p2->docs[0].key == "b3");
  BOOST_TEST(!p2->next);
  auto f1 = node->Feed("", 1000, 0);
  BOOST_REQUIRE(f1.ok());
  BOOST_TEST(f1->changes.size() == 2u);
  auto f2 = node->Feed(f1->next, 1000, 0);
  BOOST_REQUIRE(f2->changes.size() == 1u);
  BOOST_TEST(f2->changes[0].key == "b3");
  BOOST_TEST(node->Feed(f2->next, 1000, 0)->changes.empty());
}

BOOST_AUTO_TEST_CASE(collections_are_defined_idempotently_and_validated) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  BOOST_REQUIRE(node->Put(Req("k", "{}")).ok());
  auto def = node->DefineCollection("users", R"({"policy":"lww"})");
  BOOST_REQUIRE(def.ok());
  const int64_t lsn = node->Stats().last_lsn;
  BOOST_REQUIRE(node->DefineCollection("users", R"({ "policy" : "lww" })").ok());
  BOOST_TEST(node->Stats().last_lsn == lsn);  // same definition: nothing written
  BOOST_TEST(node->DefineCollection("users", R"({"policy":"fifo"})").status().reason() == "invalid-definition");
  BOOST_TEST(node->DefineCollection("users", R"({"policy":"lww","x":1})").status().reason() == "invalid-definition");
  auto all = node->Collections();
  BOOST_REQUIRE(all->size() == 2u);
  BOOST_TEST((*all)[0].name == "things");
  BOOST_TEST(!(*all)[0].defined);
  BOOST_TEST((*all)[1].name == "users");
  BOOST_TEST((*all)[1].defined);
}

BOOST_AUTO_TEST_CASE(digest_changes_with_state_and_not_with_reads) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  const auto empty = node->Digest()->digest;
  BOOST_REQUIRE(node->Put(Req("k", R"({"v":1})")).ok());
  const auto one = node->Digest()->digest;
  BOOST_TEST(one != empty);
  (void)node->Get("things", "k");
  BOOST_TEST(node->Digest()->digest == one);
}

BOOST_AUTO_TEST_CASE(writes_after_close_are_refused) {
  TempDir dir;
  auto node = OpenNode(dir.path());
  node->Close();
  BOOST_TEST(node->Put(Req("k", "{}")).status().reason() == "shutting-down");
}

BOOST_AUTO_TEST_SUITE_END()
