// Test support: stream printers so that Boost.Test can show Meridian values in failures.
#pragma once

#include <ostream>

#include "crdt/hlc.h"
#include "crdt/version_vector.h"

namespace crdt {
inline std::ostream& operator<<(std::ostream& o, const Hlc& h) { return o << h.ToString(); }
inline std::ostream& operator<<(std::ostream& o, const Dot& d) { return o << d.ToString(); }
inline std::ostream& operator<<(std::ostream& o, const RegionId& r) { return o << r.str(); }
inline std::ostream& operator<<(std::ostream& o, const VersionVector& v) { return o << "{" << v.Encode() << "}"; }
}  // namespace crdt
