// Tests of web/text_crdt.js, the browser's port of crdt::Text. Run: node --test tests/browser/
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { TextReplica, TextOpError, newAgentId, redoOn } from '../../web/text_crdt.js';
import { rng } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const tracesDir = process.env.MERIDIAN_TRACES_DIR ||
    [join(here, '../../../shared/traces')].find((d) => existsSync(d));

const pick = (r, n) => Math.floor(r() * n);

function loadTrace(name) {
  const path = join(tracesDir || '', 'sequential_traces', `${name}.json.gz`);
  if (!tracesDir || !existsSync(path)) return null;
  return JSON.parse(gunzipSync(readFileSync(path)).toString('utf8'));
}

function replayTrace(t, name) {
  const trace = loadTrace(name);
  if (!trace) {
    t.skip(`trace ${name} not found (traces live in shared/traces)`);
    return;
  }
  const writer = new TextReplica('web-writer00000');
  const ops = [];
  for (const { patches } of trace.txns) {
    for (const [pos, del, ins] of patches) {
      if (del > 0) ops.push(writer.delete(pos, del));
      if (ins.length > 0) ops.push(writer.insert(pos, ins));
    }
  }
  assert.equal(writer.value(), trace.endContent, 'the writer ends with endContent');
  // A second replica that receives the ops over the wire (JSON) converges to the same state.
  const reader = new TextReplica('web-reader00000');
  reader.applyOps(JSON.parse(JSON.stringify(ops)));
  assert.equal(reader.pendingCount, 0);
  assert.equal(reader.value(), trace.endContent, 'the reader ends with endContent');
  assert.deepEqual(reader.encode(), writer.encode(), 'both encode identically');
  // And a replica loaded from the snapshot holds the same state.
  const loaded = new TextReplica('web-loaded00000');
  loaded.loadSnapshot(JSON.parse(JSON.stringify(writer.encode())));
  assert.deepEqual(loaded.encode(), writer.encode(), 'the snapshot round-trips');
}

test('sequential trace friendsforever_flat replays to its end content', (t) => replayTrace(t, 'friendsforever_flat'));
test('sequential trace sveltecomponent replays to its end content', (t) => replayTrace(t, 'sveltecomponent'));

// Random concurrent editing: each replica edits its own copy, operations are delivered
// shuffled, duplicated and late (out of causal order: the replica buffers them).
function randomSchedule(seed, replicas = 3, rounds = 300) {
  const r = rng(seed);
  const names = ['web-aaaaaaaaaaaa', 'web-zzzzzzzzzzzz', 'us-east'].slice(0, replicas);
  const reps = names.map((n) => new TextReplica(n));
  const inbox = reps.map(() => []);
  const alphabet = ['a', 'b', 'c', 'é', '😀', ' ', '\n'];
  for (let step = 0; step < rounds; step++) {
    const k = pick(r, reps.length);
    const rep = reps[k];
    const action = r();
    if (action < 0.55) {
      let text = '';
      for (let n = 1 + pick(r, 4); n > 0; n--) text += alphabet[pick(r, alphabet.length)];
      const op = rep.insert(pick(r, rep.size + 1), text);
      inbox.forEach((box, j) => j !== k && box.push(op));
    } else if (action < 0.75 && rep.size > 0) {
      const at = pick(r, rep.size);
      const op = rep.delete(at, 1 + pick(r, Math.min(3, rep.size - at)));
      inbox.forEach((box, j) => j !== k && box.push(op));
    } else {
      // Deliver a random slice of this replica's inbox in random order, some twice.
      const box = inbox[k];
      const take = pick(r, box.length + 1);
      const batch = [];
      for (let n = 0; n < take; n++) {
        const op = box.splice(pick(r, box.length), 1)[0];
        batch.push(op);
        if (r() < 0.2) box.push(op); // duplicate, delivered again later
      }
      rep.applyOps(JSON.parse(JSON.stringify(batch)));
    }
  }
  reps.forEach((rep, k) => rep.applyOps(inbox[k]));
  return reps;
}

test('three replicas converge under random concurrent edits delivered shuffled and duplicated', () => {
  const base = Number(process.env.SEED || 1);
  for (let seed = base; seed < base + 200; seed++) {
    const reps = randomSchedule(seed);
    const [a, ...others] = reps;
    for (const b of others) {
      assert.equal(b.pendingCount, 0, `seed ${seed}: nothing left pending`);
      assert.equal(b.value(), a.value(), `seed ${seed}: values converge (replay with SEED=${seed})`);
      assert.deepEqual(b.encode(), a.encode(), `seed ${seed}: states converge`);
    }
  }
});

// Two replicas start from the same text; each types a run at the same place.
function concurrentRuns(runA, runB, backwards, nameA = 'web-aaaaaaaaaaaa', nameB = 'web-bbbbbbbbbbbb') {
  const a = new TextReplica(nameA);
  const b = new TextReplica(nameB);
  b.applyOps([a.insert(0, 'XY')]);
  const opsA = [], opsB = [];
  for (const ch of runA) opsA.push(a.insert(backwards ? 1 : 1 + opsA.length, ch));
  for (const ch of runB) opsB.push(b.insert(backwards ? 1 : 1 + opsB.length, ch));
  a.applyOps(opsB);
  b.applyOps(opsA);
  assert.equal(a.value(), b.value());
  return a.value();
}

test('two runs typed concurrently at the same place never interleave', () => {
  for (const backwards of [false, true]) {
    for (const [nameA, nameB] of [['web-aaaaaaaaaaaa', 'web-bbbbbbbbbbbb'], ['web-bbbbbbbbbbbb', 'web-aaaaaaaaaaaa']]) {
      const v = concurrentRuns('hello', 'world', backwards, nameA, nameB);
      const runA = backwards ? 'olleh' : 'hello';
      const runB = backwards ? 'dlrow' : 'world';
      assert.ok(v === `X${runA}${runB}Y` || v === `X${runB}${runA}Y`, `runs interleaved: ${v}`);
    }
  }
});

test('concurrent inserts between the same origins order by origin name, smaller first', () => {
  const a = new TextReplica('web-bbbbbbbbbbbb');
  const b = new TextReplica('web-aaaaaaaaaaaa');
  const base = a.insert(0, 'XY');
  b.applyOps([base]);
  const oa = a.insert(1, 'b');
  const ob = b.insert(1, 'a');
  a.applyOps([ob]);
  b.applyOps([oa]);
  assert.equal(a.value(), 'XabY');
  assert.equal(b.value(), 'XabY');
});

test('a character typed concurrently after the end of another origin\'s run converges (per-character left origin)', () => {
  // A types "a" then "b" as two ops; B, having seen only "a", inserts "x" after it. "b"
  // has left origin "a" exactly like "x", and the same right origin (none): origin names
  // decide, whatever the delivery order.
  for (const [na, nb] of [['web-aaaaaaaaaaaa', 'web-bbbbbbbbbbbb'], ['web-bbbbbbbbbbbb', 'web-aaaaaaaaaaaa']]) {
    const a = new TextReplica(na);
    const b = new TextReplica(nb);
    const o1 = a.insert(0, 'a');
    b.applyOps([o1]);
    const o2 = a.insert(1, 'b');
    const ox = b.insert(1, 'x');
    a.applyOps([ox]);
    b.applyOps([o2]);
    assert.equal(a.value(), b.value());
    assert.equal(a.value(), na < nb ? 'abx' : 'axb');
    assert.deepEqual(a.encode(), b.encode());
  }
});

test('a multi-character insert is a run: each character after the first has its predecessor as left origin', () => {
  const a = new TextReplica('web-aaaaaaaaaaaa');
  const op = a.insert(0, 'héllo😀');
  assert.deepEqual(op, { kind: 'insert', id: ['web-aaaaaaaaaaaa', 1], left: null, right: null, text: 'héllo😀' });
  const s = a.encode();
  assert.deepEqual(s, { origins: ['web-aaaaaaaaaaaa'], counters: [6], runs: [1, 1, 6, 0, 0, 0, 0, 0, 0], text: 'héllo😀' });
  const d = a.delete(1, 2);
  assert.deepEqual(d, { kind: 'delete', id: ['web-aaaaaaaaaaaa', 7], spans: [['web-aaaaaaaaaaaa', 2, 2]] });
  assert.equal(a.value(), 'hlo😀');
  assert.deepEqual(a.encode().counters, [7]);
});

test('duplicates are ignored and out-of-order ops wait for their dependencies', () => {
  const a = new TextReplica('web-aaaaaaaaaaaa');
  const ops = [a.insert(0, 'abc'), a.insert(3, 'd'), a.delete(0, 1), a.insert(0, 'Z')];
  const b = new TextReplica('web-bbbbbbbbbbbb');
  assert.equal(b.applyOps([ops[3], ops[1]]), false);
  assert.equal(b.pendingCount, 2);
  assert.equal(b.value(), '');
  assert.throws(() => b.apply(ops[2]), TextOpError);
  b.applyOps([ops[0], ops[0], ops[2]]);
  assert.equal(b.pendingCount, 0);
  assert.equal(b.value(), a.value());
  assert.equal(b.applyOps(ops), false, 'all duplicates: nothing changes');
  assert.throws(() => b.applyOps([{ kind: 'insert', id: ['web-x', 0], text: 'q' }]), TextOpError);
  // A partly duplicated insert integrates only its new characters.
  const c = new TextReplica('web-cccccccccccc');
  c.applyOps([{ kind: 'insert', id: ['web-aaaaaaaaaaaa', 1], left: null, right: null, text: 'ab' }]);
  c.applyOps([ops[0]]);
  assert.equal(c.value(), 'abc');
});

test('concurrent deletes of one character keep the least delete id', () => {
  const a = new TextReplica('web-aaaaaaaaaaaa');
  const b = new TextReplica('web-bbbbbbbbbbbb');
  b.applyOps([a.insert(0, 'xyz')]);
  const da = a.delete(1, 1);
  const db = b.delete(1, 1);
  a.applyOps([db]);
  b.applyOps([da]);
  assert.deepEqual(a.encode(), b.encode());
  assert.equal(a.value(), 'xz');
});

test('anchors keep the caret on its character across remote edits', () => {
  const a = new TextReplica('web-aaaaaaaaaaaa');
  const b = new TextReplica('web-bbbbbbbbbbbb');
  b.applyOps([a.insert(0, 'hello world')]);
  const caret = a.anchor(5); // after "hello"
  a.applyOps([b.insert(0, '>> '), b.delete(3 + 6, 5)]);
  assert.equal(a.value(), '>> hello ');
  assert.equal(a.resolveAnchor(caret), 8);
  assert.equal(a.resolveAnchor(a.anchor(0)), 0);
  a.applyOps([b.delete(0, 6)]); // deletes ">> hel": the anchor's character "o" stays
  assert.equal(a.resolveAnchor(caret), 2);
});

test('agent ids are valid origins', () => {
  const id = newAgentId();
  assert.match(id, /^web-[a-z0-9]{12}$/);
  new TextReplica(id);
});

test('a refused page redoes its own edits on the region text, keeping what others wrote', () => {
  const a = new TextReplica('web-aaaaaaaaaaaa');
  a.insert(0, 'hello world'); // acknowledged
  const first = a.insert(5, ','); // the refused edits start here
  a.delete(0, 1);
  a.insert(a.size, '!');
  assert.equal(a.value(), 'ello, world!');
  assert.equal(a.valueWithout('web-aaaaaaaaaaaa', first.id[1]), 'hello world');
  // Others edited elsewhere meanwhile: both kept.
  assert.equal(redoOn('hello world', 'hello, world', 'hello world, bye'), 'hello, world, bye');
  assert.equal(redoOn('hello world', 'hello world!', '>> hello world'), '>> hello world!');
  // Nothing of ours, or nothing of theirs.
  assert.equal(redoOn('abc', 'abc', 'xabc'), 'xabc');
  assert.equal(redoOn('abc', 'abXc', 'abc'), 'abXc');
  // Overlapping edits: theirs stays whole, ours follows it.
  assert.equal(redoOn('abcdef', 'abXYef', 'abZZef'), 'abZZXYef');
  // Surrogate pairs are never split.
  assert.equal(redoOn('a😀b', 'a😀!b', 'xa😀b'), 'xa😀!b');
});
