// TextReplica: a JavaScript replica of Meridian's text sequence CRDT (crdt/text.h), for the
// browser editor and for Node tests. ES module, no dependencies.
//
// Same algorithm and wire format as the server, so a browser and a region that applied the
// same operations hold the same text (and encode() gives the same JSON as Text::Encode()):
//   - ids: (origin, counter); per origin every inserted character takes one counter and
//     every delete operation takes one, 1, 2, 3, ... without gaps.
//   - insert: a character records left = the visible character before it (none at the
//     start) and right = the character following left in the full sequence, tombstones
//     included (none at the end). In a multi-character insert, character k > 0 has left =
//     character k-1 of the same insert and the same right as the insert.
//   - integration: the YjsMod scan (equivalent to FugueMax), character by character, with
//     ties between characters with the same two origins broken by origin name, compared
//     bytewise (C++ std::string operator<): the smaller origin goes first.
//   - delete: names the ids it removes; deleted characters stay as tombstones; concurrent
//     deletes of one character keep the least delete id (origin name, counter).
// Merge is commutative, associative and idempotent.
//
// Representation: one item per character in document order (fine for documents of tens of
// thousands of characters) plus, per origin, counter -> item (null for the ids of delete
// operations and for characters a snapshot no longer holds because the server collected them).
//
// Delivery: applyOps() takes operations in any order; an operation whose dependencies
// (earlier counters of its origin, the characters it names) are missing is kept pending and
// retried when more operations arrive. Duplicates are ignored.
//
// Positions and counts are in Unicode code points, not UTF-16 units.
//
// Wire formats (same as crdt/text.h):
//   insert  := {"kind": "insert", "id": id, "left": id|null, "right": id|null, "text": s}
//   delete  := {"kind": "delete", "id": id, "spans": [[origin, counter, length], ...]}
//   id      := [origin, counter]
//   state   := {"origins": [origin, ...], "counters": [n, ...], "runs": [9 ints per run, ...],
//               "text": s}   (runs: o, c, n, lo, lc, ro, rc, do, dc; see crdt/text.h)

export class TextOpError extends Error {
  constructor(type, message) {
    super(`${type}: ${message}`);
    this.type = type;
  }
}

const ORIGIN_RE = /^[a-z][a-z0-9-]{0,31}$/;

// C++ std::string operator< on UTF-8 bytes. Origins are ASCII, so UTF-16 comparison of JS
// strings is the same order; keep it explicit anyway.
export function originLess(a, b) {
  return a < b;
}

export function isValidOrigin(s) {
  return typeof s === 'string' && ORIGIN_RE.test(s);
}

// A fresh agent id for a browser: "web-" + 12 characters [a-z0-9].
export function newAgentId(random = Math.random) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = 'web-';
  for (let k = 0; k < 12; k++) s += alphabet[Math.floor(random() * alphabet.length)];
  return s;
}

function codePoints(s) {
  return Array.from(s);
}

function isCounter(n) {
  return Number.isSafeInteger(n) && n >= 1;
}

function checkId(j, what) {
  if (!Array.isArray(j) || j.length !== 2 || !isValidOrigin(j[0]) || !isCounter(j[1])) {
    throw new TextOpError('invalid-text-op', `${what} is not an id [origin, counter >= 1]: ${JSON.stringify(j)}`);
  }
  return j;
}

// Validates the shape of a wire operation (throws TextOpError 'invalid-text-op').
export function validateOp(op) {
  if (op === null || typeof op !== 'object' || typeof op.kind !== 'string') {
    throw new TextOpError('invalid-text-op', 'a text op is an object with kind and id');
  }
  checkId(op.id, 'id');
  if (op.kind === 'insert') {
    if (op.left != null) checkId(op.left, 'left');
    if (op.right != null) checkId(op.right, 'right');
    if (typeof op.text !== 'string' || op.text.length === 0) {
      throw new TextOpError('invalid-text-op', 'an insert carries non-empty text');
    }
    return op;
  }
  if (op.kind === 'delete') {
    if (!Array.isArray(op.spans) || op.spans.length === 0) {
      throw new TextOpError('invalid-text-op', 'a delete carries spans');
    }
    for (const s of op.spans) {
      if (!Array.isArray(s) || s.length !== 3 || !isValidOrigin(s[0]) || !isCounter(s[1]) || !isCounter(s[2])) {
        throw new TextOpError('invalid-text-op', `a span is [origin, counter >= 1, length >= 1]: ${JSON.stringify(s)}`);
      }
    }
    return op;
  }
  throw new TextOpError('invalid-text-op', `unknown text op kind ${op.kind}`);
}

const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

// The edit turning `a` into `b`: [start, removed length, inserted string] in UTF-16 units.
// `caret` (the caret in b after the edit) disambiguates repeated characters.
export function diff(a, b, caret = b.length) {
  const maxSuffix = Math.min(a.length, b.length, Math.max(0, b.length - caret));
  let suffix = 0;
  while (suffix < maxSuffix && a.charCodeAt(a.length - 1 - suffix) === b.charCodeAt(b.length - 1 - suffix)) suffix++;
  const maxPrefix = Math.min(a.length, b.length) - suffix;
  let prefix = 0;
  while (prefix < maxPrefix && a.charCodeAt(prefix) === b.charCodeAt(prefix)) prefix++;
  if (prefix > 0 && isHigh(a.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isLow(a.charCodeAt(a.length - suffix))) suffix--;
  return [prefix, a.length - suffix - prefix, b.slice(prefix, b.length - suffix)];
}

// Redoes on `theirs` the edit that turned `base` into `mine` (each taken as one stretch
// changed, as diff() finds it): a three-way merge of plain texts for a page whose
// operations a region refused. Where the two edits do not overlap both are kept; where they
// do, `mine`'s inserted text goes after `theirs`'s, and nothing of `theirs` is deleted.
export function redoOn(base, mine, theirs) {
  const [at1, rem1, ins1] = diff(base, mine, 0);  // caret 0: common suffixes count too
  const [at2, rem2, ins2] = diff(base, theirs, 0);
  if (rem1 === 0 && ins1 === '') return theirs;
  if (rem2 === 0 && ins2 === '') return mine;
  if (at1 + rem1 <= at2 && !(at1 === at2 && rem1 === 0 && rem2 === 0)) {
    return theirs.slice(0, at1) + ins1 + theirs.slice(at1 + rem1);  // ours wholly before theirs
  }
  if (at2 + rem2 <= at1) {
    const at = at1 + ins2.length - rem2;  // ours wholly after theirs
    return theirs.slice(0, at) + ins1 + theirs.slice(at + rem1);
  }
  const at = at2 + ins2.length;  // overlapping: keep theirs whole, add ours after it
  return theirs.slice(0, at) + ins1 + theirs.slice(at);
}

// One character. left/right are ids ([origin, counter]) or null; leftItem/rightItem cache
// their resolution (undefined: not resolved yet).
class Item {
  constructor(origin, counter, left, right, ch) {
    this.origin = origin;
    this.counter = counter;
    this.left = left;
    this.right = right;
    this.ch = ch; // one code point; '' for a tombstone loaded from a snapshot
    this.deletedBy = null; // [origin, counter] of the (least) delete that removed it
    this.leftItem = undefined;
    this.rightItem = undefined;
  }
  get visible() {
    return this.deletedBy === null;
  }
}

const APPLIED = 'applied';
const DUPLICATE = 'duplicate';
const MISSING = 'missing';

export class TextReplica {
  // agent: this replica's origin for local edits (validated like a region id).
  constructor(agent) {
    if (!isValidOrigin(agent)) throw new TextOpError('invalid-origin', `bad agent id ${agent}`);
    this.agent = agent;
    this.reset();
  }

  reset() {
    this.items = []; // document order, tombstones included
    this.agents = new Map(); // origin -> Array: counter-1 -> Item | null
    this.pending = []; // ops waiting for their dependencies
    this.visibleCount = 0;
    this.cachedValue = '';
  }

  // ---- reading ----

  value() {
    if (this.cachedValue === null) {
      let s = '';
      for (const it of this.items) if (it.deletedBy === null) s += it.ch;
      this.cachedValue = s;
    }
    return this.cachedValue;
  }

  get size() {
    return this.visibleCount;
  }

  // The text as it would be without the operations `agent` made from counter `from` on:
  // its characters inserted by them hidden, those deleted by them shown again.
  valueWithout(agent, from) {
    const mine = (origin, counter) => origin === agent && counter >= from;
    let s = '';
    for (const it of this.items) {
      if (mine(it.origin, it.counter)) continue;
      if (it.deletedBy === null || mine(it.deletedBy[0], it.deletedBy[1])) s += it.ch;
    }
    return s;
  }

  // Highest counter applied per origin: {origin: n}.
  version() {
    const v = {};
    for (const [name, index] of this.agents) v[name] = index.length;
    return v;
  }

  versionOf(origin) {
    const index = this.agents.get(origin);
    return index ? index.length : 0;
  }

  get pendingCount() {
    return this.pending.length;
  }

  // ---- snapshots ----

  // Replaces the state with a server snapshot (Text::Encode() JSON; null: empty text).
  // Pending operations are kept and retried on the new state.
  loadSnapshot(state) {
    const pending = this.pending;
    this.reset();
    if (state != null) this.decode(state);
    this.pending = pending;
    this.retryPending();
  }

  decode(state) {
    const bad = (why) => new TextOpError('invalid-text-state', why);
    const { origins, counters, runs, text } = state;
    if (!Array.isArray(origins) || !Array.isArray(counters) || !Array.isArray(runs) || typeof text !== 'string' ||
        origins.length !== counters.length || runs.length % 9 !== 0) {
      throw bad('a text state is {origins, counters, runs, text}');
    }
    origins.forEach((o, k) => {
      if (!isValidOrigin(o) || !isCounter(counters[k]) || (k > 0 && !originLess(origins[k - 1], o))) {
        throw bad('origins are sorted origin ids with counters >= 1');
      }
      this.agents.set(o, new Array(counters[k]).fill(null));
    });
    const ref = (o, c) => {
      if (o === 0) {
        if (c !== 0) throw bad('a none reference has counter 0');
        return null;
      }
      if (!(o >= 1 && o <= origins.length) || !(c >= 1 && c <= counters[o - 1])) throw bad('unknown reference');
      return [origins[o - 1], c];
    };
    const chars = codePoints(text);
    let next = 0;
    for (let k = 0; k < runs.length; k += 9) {
      const [o, c, n, lo, lc, ro, rc, dO, dc] = runs.slice(k, k + 9);
      if (!(o >= 1 && o <= origins.length) || !(n >= 1) || !(c >= 1) || c + n - 1 > counters[o - 1]) {
        throw bad(`run ${k / 9} names unknown ids`);
      }
      const name = origins[o - 1];
      const index = this.agents.get(name);
      const left = ref(lo, lc);
      const right = ref(ro, rc);
      const deletedBy = ref(dO, dc);
      if (deletedBy === null && next + n > chars.length) throw bad('text shorter than the visible runs');
      for (let j = 0; j < n; j++) {
        const counter = c + j;
        if (index[counter - 1] !== null) throw bad(`character ${name}:${counter} appears twice`);
        const it = new Item(name, counter, j === 0 ? left : [name, counter - 1], right,
                            deletedBy === null ? chars[next++] : '');
        it.deletedBy = deletedBy;
        index[counter - 1] = it;
        this.items.push(it);
        if (deletedBy === null) this.visibleCount++;
      }
    }
    if (next !== chars.length) throw bad('text longer than the visible runs');
    this.cachedValue = null;
  }

  // The canonical snapshot, equal to the server's Text::Encode() for the same operations
  // (as long as the server has not collected tombstones).
  encode() {
    const origins = [...this.agents.keys()].sort((a, b) => (originLess(a, b) ? -1 : originLess(b, a) ? 1 : 0));
    const rank = new Map(origins.map((o, k) => [o, k + 1]));
    const counters = origins.map((o) => this.agents.get(o).length);
    const runs = [];
    const pushRef = (id) => {
      if (id === null) runs.push(0, 0);
      else runs.push(rank.get(id[0]), id[1]);
    };
    const sameId = (a, b) => (a === null ? b === null : b !== null && a[0] === b[0] && a[1] === b[1]);
    let cur = null;
    let len = 0;
    const emit = () => {
      runs.push(rank.get(cur.origin), cur.counter, len);
      pushRef(cur.left);
      pushRef(cur.right);
      pushRef(cur.deletedBy);
    };
    let prev = null;
    for (const it of this.items) {
      if (cur !== null && it.origin === prev.origin && it.counter === prev.counter + 1 &&
          sameId(it.left, [prev.origin, prev.counter]) && sameId(it.right, cur.right) &&
          sameId(it.deletedBy, cur.deletedBy)) {
        len++;
        prev = it;
        continue;
      }
      if (cur !== null) emit();
      cur = it;
      prev = it;
      len = 1;
    }
    if (cur !== null) emit();
    return { origins, counters, runs, text: this.value() };
  }

  // ---- local edits ----

  // Inserts `text` at visible code point `index`; returns the operation to send.
  insert(index, text) {
    const chars = codePoints(text);
    if (chars.length === 0) throw new TextOpError('empty-edit', 'nothing to insert');
    if (!(index >= 0 && index <= this.visibleCount)) {
      throw new TextOpError('text-index', `insert at ${index} in a text of ${this.visibleCount}`);
    }
    this.retryPending(); // local edits come after everything we could apply
    const counter = this.versionOf(this.agent) + 1;
    let at = 0; // array position of the first new character
    let left = null;
    let right = null;
    if (index === 0) {
      if (this.items.length > 0) right = this.items[0];
    } else {
      at = this.visibleToArray(index - 1) + 1;
      left = this.items[at - 1];
      if (at < this.items.length) right = this.items[at];
    }
    const op = {
      kind: 'insert',
      id: [this.agent, counter],
      left: left && [left.origin, left.counter],
      right: right && [right.origin, right.counter],
      text,
    };
    this.place(at, this.agent, counter, op.left, op.right, chars);
    return op;
  }

  // Deletes `count` visible code points from `index`; returns the operation to send.
  delete(index, count) {
    if (!(count >= 1)) throw new TextOpError('empty-edit', 'nothing to delete');
    if (!(index >= 0 && index + count <= this.visibleCount)) {
      throw new TextOpError('text-index', `delete of ${count} at ${index} in a text of ${this.visibleCount}`);
    }
    this.retryPending();
    const spans = [];
    let x = this.visibleToArray(index);
    for (let remaining = count; remaining > 0; x++) {
      const it = this.items[x];
      if (it.deletedBy !== null) continue;
      const last = spans[spans.length - 1];
      if (last && last[0] === it.origin && last[1] + last[2] === it.counter) last[2]++;
      else spans.push([it.origin, it.counter, 1]);
      remaining--;
    }
    const op = { kind: 'delete', id: [this.agent, this.versionOf(this.agent) + 1], spans };
    this.applyDelete(op);
    return op;
  }

  // ---- remote operations ----

  // Applies operations from anywhere (including echoes of ours). Returns true if the
  // visible text or the state changed. Operations that cannot be applied yet are kept and
  // retried later; malformed ones throw TextOpError (the state keeps what was applied).
  applyOps(ops) {
    let changed = false;
    for (const op of ops) {
      validateOp(op);
      const r = this.tryApply(op);
      if (r === APPLIED) changed = true;
      else if (r === MISSING) this.pending.push(op);
    }
    if (changed && this.retryPending()) changed = true;
    return changed;
  }

  // Applies one operation now or throws: TextOpError 'text-causality' if a dependency is
  // missing (the state is unchanged).
  apply(op) {
    validateOp(op);
    const r = this.tryApply(op);
    if (r === MISSING) throw new TextOpError('text-causality', `operation ${op.id[0]}:${op.id[1]} misses a dependency`);
    return r === APPLIED;
  }

  retryPending() {
    let any = false;
    let progress = true;
    while (progress && this.pending.length > 0) {
      progress = false;
      const still = [];
      for (const op of this.pending) {
        const r = this.tryApply(op);
        if (r === MISSING) still.push(op);
        else if (r === APPLIED) progress = any = true;
      }
      this.pending = still;
    }
    return any;
  }

  tryApply(op) {
    return op.kind === 'insert' ? this.applyInsert(op) : this.applyDelete(op);
  }

  resolve(id) {
    const index = this.agents.get(id[0]);
    const it = index && id[1] <= index.length ? index[id[1] - 1] : null;
    return it || null;
  }

  applyInsert(op) {
    const [name, counter] = op.id;
    let chars = codePoints(op.text);
    const next = this.versionOf(name) + 1;
    if (counter + chars.length - 1 < next) return DUPLICATE;
    if (counter > next) return MISSING;
    let left = op.left;
    if (counter < next) { // partly a duplicate: the rest goes after what we have
      chars = chars.slice(next - counter);
      left = [name, next - 1];
    }
    let leftItem = null;
    let rightItem = null;
    if (left) {
      leftItem = this.resolve(left);
      if (!leftItem) return MISSING;
    }
    if (op.right) {
      rightItem = this.resolve(op.right);
      if (!rightItem) return MISSING;
    }
    const at = this.integrate(name, leftItem, rightItem);
    this.place(at, name, next, left, op.right, chars);
    return APPLIED;
  }

  applyDelete(op) {
    const [name, counter] = op.id;
    const next = this.versionOf(name) + 1;
    if (counter < next) return DUPLICATE;
    if (counter > next) return MISSING;
    for (const [o, c, n] of op.spans) {
      if (c + n - 1 > this.versionOf(o)) return MISSING;
    }
    this.agentIndex(name).push(null);
    const by = op.id;
    for (const [o, c, n] of op.spans) {
      const index = this.agents.get(o);
      for (let k = c; k < c + n; k++) {
        const it = index[k - 1];
        if (!it) continue; // a delete's own id, or collected
        if (it.deletedBy === null) {
          it.deletedBy = [by[0], by[1]];
          this.visibleCount--;
          this.cachedValue = null;
        } else if (deleteLess(by, it.deletedBy)) {
          it.deletedBy = [by[0], by[1]];
        }
      }
    }
    return APPLIED;
  }

  agentIndex(name) {
    let index = this.agents.get(name);
    if (!index) {
      index = [];
      this.agents.set(name, index);
    }
    return index;
  }

  // Array position of an item (tombstones included).
  positionOf(it) {
    const i = this.items.indexOf(it);
    if (i < 0) throw new Error('internal: item not in the sequence');
    return i;
  }

  originItem(it, side) {
    const key = side === 'left' ? 'leftItem' : 'rightItem';
    if (it[key] === undefined) {
      const id = it[side];
      if (id === null) {
        it[key] = null;
      } else {
        const r = this.resolve(id);
        if (!r) throw new TextOpError('text-causality', 'a character names a collected origin');
        it[key] = r;
      }
    }
    return it[key];
  }

  // YjsMod's scan (crdt/text.h), one character at a time: the array position where a
  // character of origin `name` with origins leftItem/rightItem goes.
  integrate(name, leftItem, rightItem) {
    const items = this.items;
    const total = items.length;
    const lpos = leftItem ? this.positionOf(leftItem) : -1;
    const rpos = rightItem ? this.positionOf(rightItem) : total;
    if (lpos >= rpos) throw new TextOpError('invalid-text-op', 'left origin is not before right origin');
    let i = lpos + 1;
    let dest = i;
    let scanning = false;
    for (;;) {
      if (!scanning) dest = i;
      if (i === rpos) break; // also i === total when there is no right origin
      const o = items[i];
      const ol = this.originItem(o, 'left');
      // Most characters continue their left neighbour: position known without a search.
      const oleft = ol === null ? -1 : (i > 0 && items[i - 1] === ol) ? i - 1 : this.positionOf(ol);
      if (oleft < lpos) break;
      if (oleft === lpos) {
        const or = this.originItem(o, 'right');
        const oright = or === null ? total : this.positionOf(or);
        if (oright < rpos) {
          scanning = true;
        } else if (oright === rpos && originLess(name, o.origin)) {
          break;
        } else {
          scanning = false;
        }
      }
      i++;
    }
    return dest;
  }

  // Places characters (name, counter..) at array position `at`; the first has origins
  // left/right (ids), the others left = their predecessor.
  place(at, name, counter, left, right, chars) {
    const index = this.agentIndex(name);
    const fresh = new Array(chars.length);
    let l = left;
    for (let k = 0; k < chars.length; k++) {
      const it = new Item(name, counter + k, l, right, chars[k]);
      if (k > 0) it.leftItem = fresh[k - 1];
      fresh[k] = it;
      index.push(it);
      l = [name, counter + k];
    }
    if (at === this.items.length) {
      for (const it of fresh) this.items.push(it);
    } else if (fresh.length < 1000) {
      this.items.splice(at, 0, ...fresh);
    } else {
      this.items = this.items.slice(0, at).concat(fresh, this.items.slice(at));
    }
    this.visibleCount += chars.length;
    this.cachedValue = null;
  }

  // Array position of visible character `v` (< size).
  visibleToArray(v) {
    const items = this.items;
    let seen = 0;
    for (let i = 0; i < items.length; i++) {
      if (items[i].deletedBy === null) {
        if (seen === v) return i;
        seen++;
      }
    }
    throw new Error(`internal: visible index ${v} out of range`);
  }

  // ---- cursors ----

  // An anchor for the caret at visible index `index`: the id of the character before it
  // (null: the start). It stays attached to that character when others edit.
  anchor(index) {
    if (index <= 0) return null;
    const it = this.items[this.visibleToArray(Math.min(index, this.visibleCount) - 1)];
    return [it.origin, it.counter];
  }

  // The visible index of an anchor now: just after its character (or where the character
  // was, if it was deleted). Unknown anchors resolve to 0.
  resolveAnchor(anchor) {
    if (anchor == null) return 0;
    const it = this.resolve(anchor);
    if (!it) return 0;
    let v = 0;
    for (const x of this.items) {
      if (x.deletedBy === null) v++;
      if (x === it) return v;
    }
    return 0;
  }
}

function deleteLess(a, b) {
  return originLess(a[0], b[0]) || (a[0] === b[0] && a[1] < b[1]);
}
