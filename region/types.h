// Values exchanged between region::Node and its callers (server/, tests, the simulation).
// JSON travels as text here so that this header stays light; region/ and server/ parse it
// where they need to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crdt/hlc.h"
#include "crdt/version_vector.h"

namespace region {

// What a change does. Stored as an integer in the change log; never renumber.
enum class ChangeKind : int {
  kPut = 1,     // body: the whole document (a JSON object)
  kPatch = 2,   // body: {"set": {field: value, ...}, "unset": [field, ...]}
  kDelete = 3,  // body: empty
  kDefine = 4,  // body: collection definition; collection = its name, key = ""
  kOps = 5,     // body: {"ops": [crdt::CrdtOp, ...]} on a document of a crdt collection
  kPurge = 6,   // body: empty; collection, key: ""; ctx: the stable vector purged (Node::Purge)
};
const char* ChangeKindName(ChangeKind kind);

// One entry of the change log, and the unit of replication.
struct Change {
  int64_t lsn = 0;           // position in this region's log; local, not replicated
  crdt::Dot dot;             // (origin region, seq)
  crdt::Hlc hlc;
  std::string collection;
  std::string key;
  ChangeKind kind = ChangeKind::kPut;
  crdt::VersionVector ctx;   // the document versions the writer had seen
  std::string body;          // JSON text, per kind (see ChangeKind)
};

struct WriteAck {
  std::string key;
  std::string version;       // opaque token for ETag / If-Match
  crdt::Dot dot;
  crdt::Hlc hlc;
  bool created = false;      // the document did not exist (or was deleted) before
  std::string session;       // token for read-your-writes at any region
  std::string value;         // ops: the document's value after the write (JSON text)
};

struct Document {
  std::string key;
  std::string value;         // JSON text of the visible value
  std::string version;
  crdt::Hlc hlc;
  crdt::RegionId origin;
  bool conflicted = false;
  std::string siblings;      // manual collections: JSON array of the concurrent versions
                             // (the newest max_siblings of them)
  int siblings_total = 0;    // how many concurrent versions there are in all
};

struct DocPage {
  std::vector<Document> docs;
  std::optional<std::string> next;  // last key of this page when more may follow
};

struct ChangePage {
  std::vector<Change> changes;
  int64_t next = 0;           // pass back as `since` to resume
};

struct FeedPage {
  std::vector<Change> changes;
  std::string next;           // cursor covering everything seen so far
};

struct CollectionInfo {
  std::string name;
  std::string definition;     // JSON text: {"policy": ..., ...}
  bool defined = false;       // false: implicit (documents exist, never defined): lww
  crdt::Hlc hlc;
  crdt::RegionId origin;
};

enum class AckLevel { kLocal, kOne, kMajority, kAll };

}  // namespace region
