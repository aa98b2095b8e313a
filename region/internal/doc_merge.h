// Helpers shared by local writes, remote applies and conflict resolution: moving a
// document between its stored row and its merge state, and a change into a merge write.
#pragma once

#include <optional>

#include "conflict/doc_state.h"
#include "crdt/status.h"
#include "region/store.h"
#include "region/types.h"

namespace region::internal {

// The merge state of a stored document (empty when there is no row). Internal error when
// the stored bytes are corrupt.
crdt::Result<conflict::DocState> LoadState(const std::optional<DocRow>& row);

// The row that stores `state`: its LWW view, the winning write, and the encoded state
// unless the state is a single write.
DocRow RowFor(const conflict::DocState& state, int64_t lsn);

// The merge write a logged or replicated change stands for; InvalidArgument when its body
// does not fit its kind (a put must be an object, a patch {"set": {...}, "unset": [...]}).
crdt::Result<conflict::Write> WriteFromChange(const Change& change);

// The change body of a patch write.
std::string PatchBody(const conflict::Write& write);

// If-Match against a stored row: "*" needs a live document, a token its exact version.
// FailedPrecondition("version-mismatch") otherwise.
crdt::Status CheckIfMatch(const std::optional<std::string>& if_match, const std::optional<DocRow>& row,
                          const std::string& key);

}  // namespace region::internal
