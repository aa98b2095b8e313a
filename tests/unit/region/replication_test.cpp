// Replication between in-process nodes, driven by hand (Pull on one, ApplyRemote on the other).
#include <csignal>
#include <thread>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "region/node.h"
#include "region/writer.h"
#include "tests/support/printers.h"
#include "tests/support/process.h"

using region::Node;
using region::WriteRequest;
using testsupport::TempDir;

namespace {

std::unique_ptr<Node> Open(const std::string& dir, const char* region) {
  region::NodeOptions o;
  o.region = *crdt::RegionId::Parse(region);
  o.data_dir = dir;
  o.read_connections = 2;
  auto n = Node::Open(o);
  BOOST_REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  return std::move(n).value();
}

// `to` pulls everything `from` has and applies it; returns the last apply result.
region::ApplyResult Sync(Node& from, Node& to) {
  region::ApplyResult last;
  for (int i = 0; i < 100; ++i) {
    auto r = from.Pull(to.region(), to.Applied(), 1000, 0);
    BOOST_REQUIRE(r.ok());
    if (r->changes.empty()) break;
    auto applied = to.ApplyRemote(from.region(), std::move(r->changes));
    BOOST_REQUIRE(applied.ok());
    last = *applied;
    if (!last.held.ok()) break;
  }
  return last;
}

std::string Nested(int depth, const std::string& leaf) {
  return std::string(static_cast<size_t>(depth), '[') + leaf + std::string(static_cast<size_t>(depth), ']');
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replication)

BOOST_AUTO_TEST_CASE(deep_documents_and_patches_replicate) {
  // Values as deep as the API allows, written whole and patched, must be accepted by peers
  // (a patch's change body wraps values two levels deeper than the document held them).
  TempDir dir;
  auto a = Open(dir.Sub("a"), "us-east");
  auto b = Open(dir.Sub("b"), "eu-west");
  const std::string deep = "{\"a\":" + Nested(63, "1") + "}";  // 64 levels with the object
  BOOST_REQUIRE(a->Put({"c", "deep", deep, {}}).ok());
  BOOST_REQUIRE(a->Patch({"c", "deep", "{\"a\":" + Nested(63, "2") + "}", {}}).ok());
  BOOST_REQUIRE(a->Put({"c", "after", "{}", {}}).ok());
  const auto result = Sync(*a, *b);
  BOOST_TEST(result.held.ok(), result.held.ToString());
  BOOST_TEST((b->Applied() == a->Applied()));
  BOOST_TEST(b->Get("c", "deep")->value == a->Get("c", "deep")->value);
}

BOOST_AUTO_TEST_CASE(a_malformed_remote_change_is_held_without_consuming_log_positions) {
  TempDir dir;
  auto b = Open(dir.Sub("b"), "eu-west");
  const int64_t before = b->Stats().last_lsn;
  region::Change bad;
  bad.dot = {*crdt::RegionId::Parse("us-east"), 1};
  bad.hlc = crdt::Hlc::FromParts(1, 0);
  bad.collection = "c";
  bad.key = "k";
  bad.kind = region::ChangeKind::kPatch;
  bad.body = "[\"not a patch\"]";
  for (int i = 0; i < 3; ++i) {
    auto applied = b->ApplyRemote(bad.dot.origin, {bad});
    BOOST_REQUIRE(applied.ok());
    BOOST_TEST(applied->held.reason() == "invalid-change");
  }
  BOOST_TEST(b->Stats().last_lsn == before);
  BOOST_TEST(b->Applied().Get(bad.dot.origin) == 0u);
  // Serving a pull with a fresh commit in between still terminates.
  BOOST_REQUIRE(b->Put({"c", "x", "{}", {}}).ok());
  auto r = b->Pull(*crdt::RegionId::Parse("ap-south"), {}, 10, 0);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->changes.size() == 1u);
}

BOOST_AUTO_TEST_CASE(resolving_a_conflict_by_choosing_the_winning_delete_works) {
  TempDir dir;
  auto a = Open(dir.Sub("a"), "us-east");
  auto b = Open(dir.Sub("b"), "eu-west");
  BOOST_REQUIRE(a->Put({"c", "k", R"({"v":1})", {}}).ok());
  Sync(*a, *b);
  BOOST_REQUIRE(a->Patch({"c", "k", R"({"v":2})", {}}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  BOOST_REQUIRE(b->Delete({"c", "k", "", {}}).ok());  // later: wins
  Sync(*b, *a);
  BOOST_TEST(a->Get("c", "k").status().reason() == "not-found");
  auto conflicts = a->Conflicts({});
  BOOST_REQUIRE(conflicts.ok());
  BOOST_REQUIRE(conflicts->conflicts.size() == 1u);
  auto resolved = a->ResolveConflict(conflicts->conflicts[0].id, R"({"choose":"eu-west:1"})");
  BOOST_REQUIRE_MESSAGE(resolved.ok(), resolved.status().ToString());
  BOOST_TEST(a->Conflict(conflicts->conflicts[0].id)->status == "resolved");
  Sync(*a, *b);
  BOOST_TEST(b->Get("c", "k").status().reason() == "not-found");
  BOOST_TEST(a->Digest()->digest == b->Digest()->digest);
}

BOOST_AUTO_TEST_CASE(a_failed_job_advances_nothing) {
  TempDir dir;
  auto store = region::Store::Open(dir.Sub("w.db"), /*writer=*/true, region::Durability::kFull);
  BOOST_REQUIRE(store.ok());
  region::Writer writer(std::move(store).value(), region::TxnState(), {},
                        [](region::WriteTxn&) { return crdt::Status::Ok(); }, [](const region::TxnState&) {});
  auto failed = writer.Run([](region::WriteTxn& txn) {
    txn.NextLocalSeq();
    txn.NextLsn();
    return crdt::Status::FailedPrecondition("nope", "refused after taking a seq");
  });
  BOOST_TEST(failed.reason() == "nope");
  BOOST_TEST(writer.Committed().local_seq == 0u);
  BOOST_TEST(writer.Committed().last_lsn == 0);
  BOOST_REQUIRE(writer.Run([](region::WriteTxn& txn) {
                  txn.NextLocalSeq();
                  return crdt::Status::Ok();
                }).ok());
  BOOST_TEST(writer.Committed().local_seq == 1u);
}

BOOST_AUTO_TEST_CASE(a_full_disk_fails_replicated_batches_without_killing_the_process) {
  // In a child process (file size limits are per process): replicated batches commit
  // without fsync through the WAL write coalescing; when the disk refuses, the batch must
  // fail cleanly and the region stay up.
  TempDir dir;
  auto a = Open(dir.Sub("a"), "us-east");
  const std::string big = "{\"blob\":\"" + std::string(100000, 'x') + "\"}";
  // 2 MB in one batch: under the shim's 4 MB buffer, over the 1 MB the child may write.
  for (int i = 0; i < 20; ++i) BOOST_REQUIRE(a->Put({"c", "k" + std::to_string(i), big, {}}).ok());
  auto pulled = a->Pull(*crdt::RegionId::Parse("eu-west"), {}, 1000, 0);
  BOOST_REQUIRE(pulled.ok());
  const pid_t pid = fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    auto b = Open(dir.Sub("b"), "eu-west");
    rlimit limit{1'000'000, 1'000'000};  // files may not grow past 1 MB
    setrlimit(RLIMIT_FSIZE, &limit);
    auto applied = b->ApplyRemote(pulled->region, pulled->changes);
    const bool failed_cleanly = !applied.ok() && applied.status().reason() == "storage";
    const bool still_up = b->Get("c", "k0").status().reason() == "not-found";
    _exit(failed_cleanly && still_up ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  BOOST_TEST(WIFEXITED(status), "child died with signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

BOOST_AUTO_TEST_SUITE_END()
