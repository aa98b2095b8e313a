// Collections: definitions (replicated like data), the committed-definitions cache that
// writes and reads consult, and listing.
#include <algorithm>

#include "conflict/merge.h"
#include "region/internal/read_pool.h"
#include "region/node.h"

namespace region {

using crdt::Result;
using crdt::Status;

namespace {
CollectionInfo InfoFrom(const CollectionRow& row) {
  return CollectionInfo{row.name, row.def, true, row.hlc, row.dot.origin};
}
}  // namespace

Status Node::ReloadDefinitions() {
  auto reader = readers_->Acquire();
  auto rows = reader->LoadCollections();
  if (!rows.ok()) return rows.status();
  auto defs = std::make_shared<CollectionDefs>();
  for (const auto& row : *rows) {
    auto def = CollectionDef::Parse(row.def);
    if (def.ok()) (*defs)[row.name] = std::move(def).value();
  }
  std::lock_guard lock(defs_mu_);
  defs_ = std::move(defs);
  return Status::Ok();
}

std::shared_ptr<const CollectionDefs> Node::Definitions() const {
  std::lock_guard lock(defs_mu_);
  return defs_;
}

CollectionDef Node::DefinitionOf(const std::string& collection) const {
  auto defs = Definitions();
  auto it = defs->find(collection);
  return it == defs->end() ? CollectionDef() : it->second;
}

Result<CollectionInfo> Node::DefineCollection(const std::string& name, const std::string& definition) {
  MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(name));
  auto parsed = CollectionDef::Parse(definition);
  if (!parsed.ok()) return parsed.status();
  if (parsed->policy == Policy::kMerge) {
    auto callback = registry_->Find(parsed->merge);
    if (!callback.ok()) {
      return Status::InvalidArgument("unknown-callback", callback.status().message() + " (this region knows: " +
                                                             [&] {
                                                               std::string names;
                                                               for (const auto& n : registry_->Names()) {
                                                                 names += (names.empty() ? "" : ", ") + n;
                                                               }
                                                               return names;
                                                             }() +
                                                             ")");
    }
  }
  const std::string& canonical = parsed->canonical;
  MERIDIAN_RETURN_IF_ERROR(CheckWritable());
  CollectionInfo info;
  Status status = writer_->Run([&](WriteTxn& txn) -> Status {
    auto rows = txn.store().LoadCollections();
    if (!rows.ok()) return rows.status();
    crdt::VersionVector ctx;
    Policy current = Policy::kLww;  // what an undefined collection behaves as
    std::map<std::string, crdt::FieldType> current_fields;
    for (const auto& row : *rows) {
      if (row.name != name) continue;
      if (row.def == canonical) {  // unchanged: nothing to write
        info = InfoFrom(row);
        return Status::Ok();
      }
      auto def = CollectionDef::Parse(row.def);
      if (def.ok()) {
        current = def->policy;
        current_fields = def->fields;
      }
      ctx.Add(row.dot);
    }
    // A field declared with another type than the documents were written with would make
    // every later operation on it fail: declarations may be added, not changed, once
    // documents exist.
    std::string retyped;
    if (current == Policy::kCrdt && parsed->policy == Policy::kCrdt) {
      for (const auto& [field, type] : parsed->fields) {
        auto old = current_fields.find(field);
        if (old != current_fields.end() && old->second != type) {
          retyped = "field '" + field + "' is declared " + crdt::FieldTypeName(old->second) + "; it cannot become " +
                    crdt::FieldTypeName(type);
          break;
        }
      }
    }
    if (current != parsed->policy || !retyped.empty()) {
      auto has = txn.store().HasDocs(name);
      if (!has.ok()) return has.status();
      if (*has && current != parsed->policy) {
        return Status::FailedPrecondition(
            "policy-change", "collection '" + name + "' holds documents under policy " + PolicyName(current) +
                                 "; its policy cannot change to " + PolicyName(parsed->policy));
      }
      if (*has) {
        return Status::FailedPrecondition("field-type-change",
                                          "collection '" + name + "' holds documents: " + retyped);
      }
    }
    auto hlc = hlc_->Now();
    if (!hlc.ok()) return hlc.status();
    Change change;
    change.dot = {options_.region, txn.NextLocalSeq()};
    change.hlc = *hlc;
    change.collection = name;
    change.kind = ChangeKind::kDefine;
    change.ctx = ctx;
    change.body = canonical;
    change.lsn = txn.NextLsn();
    CollectionRow row{name, canonical, change.dot, change.hlc};
    MERIDIAN_RETURN_IF_ERROR(txn.store().SaveCollection(row, change.lsn));
    MERIDIAN_RETURN_IF_ERROR(txn.store().AppendChange(change));
    txn.MarkApplied(change.dot);
    txn.MarkDefinitionsChanged();
    info = InfoFrom(row);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return info;
}

Result<std::vector<CollectionInfo>> Node::Collections() {
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  auto reader = readers_->Acquire();
  auto rows = reader->LoadCollections();
  if (!rows.ok()) return rows.status();
  auto implicit = reader->ImplicitCollections();
  if (!implicit.ok()) return implicit.status();
  std::vector<CollectionInfo> out;
  for (const auto& row : *rows) out.push_back(InfoFrom(row));
  for (const auto& name : *implicit) out.push_back(CollectionInfo{name, R"({"policy":"lww"})", false, {}, {}});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace region
