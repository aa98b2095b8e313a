// The conflict log: listing, reading and resolving conflicts.
#include <nlohmann/json.hpp>

#include "crdt/json_text.h"
#include "crdt/reserved.h"
#include "region/internal/read_pool.h"
#include "region/node.h"

namespace region {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

Result<ConflictPage> Node::Conflicts(const ConflictQuery& q) {
  if (q.limit < 1 || q.limit > 1000) return Status::InvalidArgument("invalid-limit", "limit must be 1..1000");
  if (!q.status.empty() && q.status != "auto" && q.status != "resolved" && q.status != "needs-attention") {
    return Status::InvalidArgument("invalid-parameter", "status must be auto, resolved or needs-attention");
  }
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  auto reader = readers_->Acquire();
  auto rows = reader->ListConflicts({q.collection, q.key, q.status, q.since_ms, q.after, q.limit + 1});
  if (!rows.ok()) return rows.status();
  ConflictPage page;
  page.conflicts = std::move(rows).value();
  if (static_cast<int>(page.conflicts.size()) > q.limit) {
    page.conflicts.pop_back();
    page.next = page.conflicts.back().id;
  }
  return page;
}

Result<ConflictRow> Node::Conflict(int64_t id) {
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  auto reader = readers_->Acquire();
  auto row = reader->GetConflict(id);
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("not-found", "no conflict " + std::to_string(id) + " in this region");
  return std::move(**row);
}

namespace {

// The local write that a resolution asks for.
struct Plan {
  ChangeKind kind = ChangeKind::kPut;
  json value;       // kPut: the document; kPatch: fields to assign exactly (null unsets)
  std::string choice;
};

Result<Plan> PlanResolution(const json& request, const ConflictRow& conflict) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("invalid-resolution", m); };
  if (!request.is_object() || request.size() != 1 || (!request.contains("value") && !request.contains("choose"))) {
    return bad("a resolution is {\"value\": <document>} or {\"choose\": \"<version>\"}");
  }
  Plan plan;
  if (auto v = request.find("value"); v != request.end()) {
    if (!v->is_object()) return bad("'value' must be a JSON object (a whole document)");
    plan.value = *v;
    plan.choice = "value";
    return plan;
  }
  const json& choose = request["choose"];
  if (!choose.is_string()) return bad("'choose' names a version of the conflict, e.g. \"eu-west:7\"");
  const json versions = json::parse(conflict.versions, nullptr, false);
  for (const auto& v : versions) {
    if (v.value("version", "") != choose.get<std::string>()) continue;
    plan.choice = choose.get<std::string>();
    const std::string kind = v.value("kind", "");
    if (kind == "delete") {
      plan.kind = ChangeKind::kDelete;
    } else if (kind == "patch") {
      plan.kind = ChangeKind::kPatch;
      plan.value = v["value"].value("set", json::object());
      for (const auto& name : v["value"].value("unset", json::array())) plan.value[name.get<std::string>()] = nullptr;
    } else {
      plan.kind = ChangeKind::kPut;
      plan.value = v["value"];
    }
    return plan;
  }
  return Status::NotFound("not-found", "conflict " + std::to_string(conflict.id) + " has no version " +
                                           choose.get<std::string>());
}

}  // namespace

Result<WriteAck> Node::ResolveConflict(int64_t id, const std::string& resolution) {
  auto request = crdt::ParseJson(resolution);
  if (!request.ok()) return request.status();
  MERIDIAN_RETURN_IF_ERROR(CheckWritable());
  WriteAck ack;
  Status status = writer_->Run([&](WriteTxn& txn) -> Status {
    auto conflict = txn.store().GetConflict(id);
    if (!conflict.ok()) return conflict.status();
    if (!*conflict) return Status::NotFound("not-found", "no conflict " + std::to_string(id) + " in this region");
    if ((*conflict)->status == "resolved") {
      return Status::FailedPrecondition("already-resolved", "conflict " + std::to_string(id) + " is resolved");
    }
    auto plan = PlanResolution(*request, **conflict);
    if (!plan.ok()) return plan.status();
    if (plan->kind == ChangeKind::kPut) {
      for (std::string_view reserved : crdt::kServerAssignedFields) {
        if (plan->value.contains(reserved)) return crdt::ServerAssignedField(reserved);
      }
    }
    LocalWrite w{(*conflict)->collection, (*conflict)->key, plan->kind, std::nullopt,
                 plan->kind == ChangeKind::kPut ? plan->value.dump() : "",
                 plan->kind == ChangeKind::kPatch ? &plan->value : nullptr, true, true};
    MERIDIAN_RETURN_IF_ERROR(LocalDocWrite(txn, w, &ack));
    const json how = {{"by", options_.region.str()},
                      {"at", hlc_->PhysicalMs()},
                      {"choice", plan->choice},
                      {"write", ack.dot.ToString()},
                      {"version", ack.version}};
    return txn.store().ResolveConflict(id, "resolved", how.dump());
  });
  if (!status.ok()) return status;
  return ack;
}

}  // namespace region
