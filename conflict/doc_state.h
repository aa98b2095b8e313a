// DocState: the exact merge state of one document in an lww, merge or manual collection.
//
// Every write names the document versions it has seen (its causal context). For each
// thing a write assigns, the state keeps the set of maximal versions: those no later write
// has seen. A new write removes the versions in its context (it dominates them) and joins
// the set; versions it has not seen stay beside it as concurrent siblings. With causal
// delivery (region/ guarantees it) a set is the same whatever order writes arrive in, so
// regions converge; the policy (LWW, callback, manual) only decides what a set shows.
//
// What a write assigns:
//   PUT    assigns every field: the ones in its value, and absent to all others;
//   DELETE assigns absent to every field and to the document;
//   PATCH  assigns only the top-level fields it names (conflicts are per field);
//   every write assigns the document's presence (PUT/PATCH: present, DELETE: absent).
// Representation: `base` holds the maximal PUT/DELETE versions with their whole values;
// a field or the presence whose set equals the one implied by `base` is not stored
// (canonical form), so the usual state is a single PUT and nothing else.
//
// Text encoding (canonical; equal states encode to equal bytes):
//   state    := {"ctx": vector, "base": set, ["presence": set], ["fields": {name: set}]}
//   set      := [version, ...]                 sorted by dot
//   version  := [origin, seq, hlc] | [origin, seq, hlc, value]   (absent | present)
//   vector   := crdt::VersionVector text
//
// Thread-safety: values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/hlc.h"
#include "crdt/status.h"
#include "crdt/version_vector.h"

namespace conflict {

struct Version {
  crdt::Dot dot;
  crdt::Hlc hlc;
  std::optional<nlohmann::json> value;  // nullopt: absent (deleted)
  friend bool operator==(const Version&, const Version&) = default;
};

// Sorted by dot; no member's dot is in another member's context.
using SiblingSet = std::vector<Version>;

// Last-writer-wins order: larger hlc wins, ties broken by the larger origin.
bool LwwLess(const Version& a, const Version& b);
// The LWW winner of a non-empty set.
const Version& LwwWinner(const SiblingSet& set);

enum class WriteKind { kPut, kPatch, kDelete };

struct Write {
  crdt::Dot dot;
  crdt::Hlc hlc;
  crdt::VersionVector ctx;  // the document's versions the writer had seen (excludes `dot`)
  WriteKind kind = WriteKind::kPut;
  nlohmann::json value;     // kPut: the whole document (an object)
  std::map<std::string, std::optional<nlohmann::json>> fields;  // kPatch: set or unset
};

struct DocState {
  crdt::VersionVector ctx;                    // every write applied to this document
  SiblingSet base;                            // maximal PUT/DELETE versions
  std::optional<SiblingSet> presence;         // nullopt: implied by base
  std::map<std::string, SiblingSet> fields;   // only fields that differ from base

  friend bool operator==(const DocState&, const DocState&) = default;
};

// Applies `w`. Precondition: causal delivery (every dot in w.ctx was applied before) and
// w.dot not applied yet. Returns the dots of existing versions that `w` conflicts with:
// concurrent versions of what it assigns whose value could be lost (sorted, unique).
std::vector<crdt::Dot> Apply(DocState& state, const Write& w);

struct Visible {
  bool exists = false;     // false: never written, or deleted
  nlohmann::json value;    // the LWW view; an object when exists
  crdt::Dot dot;           // the winning write of the document's presence
  crdt::Hlc hlc;
  bool conflicted = false; // some assigned thing holds more than one version
};

// The last-writer-wins view of the state.
Visible ResolveLww(const DocState& state);

// True when the state is one PUT or DELETE and nothing else, so it can be stored as
// (value, dot, hlc, ctx) without the encoded state.
bool IsSingleVersion(const DocState& state);
DocState SingleVersion(crdt::VersionVector ctx, Version version);

std::string EncodeState(const DocState& state);
// InvalidArgument("invalid-state") on malformed text.
crdt::Result<DocState> DecodeState(const std::string& text);

}  // namespace conflict
