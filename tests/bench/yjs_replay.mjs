// Replays a sequential editing trace (shared/traces format) with Yjs, for comparison with
// crdt::Text in text_bench.cpp. Needs `npm install --prefix tests/bench` once.
//
//   node --expose-gc tests/bench/yjs_replay.mjs <trace.json.gz> [runs]
//
// Prints one JSON line: median replay time (ms), the heap a finished document keeps
// (process.memoryUsage().heapUsed after forced GCs, delta per document), and the size of the
// encoded document (Y.encodeStateAsUpdate).
import fs from 'node:fs';
import zlib from 'node:zlib';
import * as Y from 'yjs';

const [trace, runsArg] = process.argv.slice(2);
if (!trace) {
  console.error('usage: node --expose-gc yjs_replay.mjs <trace.json.gz> [runs]');
  process.exit(2);
}
const data = JSON.parse(zlib.gunzipSync(fs.readFileSync(trace)).toString('utf8'));
const patches = [];
for (const txn of data.txns) for (const p of txn.patches) patches.push(p);
// Trace positions count code points; Yjs counts UTF-16 units. They agree unless the text
// has astral characters, which none of the shared traces has.
const runs = Number(runsArg ?? 5);
const gc = globalThis.gc ?? (() => {});
const version = JSON.parse(fs.readFileSync(new URL('./node_modules/yjs/package.json', import.meta.url))).version;

const replay = () => {
  const doc = new Y.Doc();
  const text = doc.getText('text');
  for (const [pos, del, ins] of patches) {
    if (del > 0) text.delete(pos, del);
    if (ins !== '') text.insert(pos, ins);
  }
  return doc;
};

// Time: median of `runs` replays, after one warm-up replay (JIT).
replay().destroy();
const times = [];
let encoded = 0;
for (let r = 0; r < runs; r++) {
  const start = performance.now();
  const doc = replay();
  times.push(performance.now() - start);
  if (doc.getText('text').toString() !== data.endContent) {
    console.error('yjs replay does not reach endContent');
    process.exit(1);
  }
  encoded = Y.encodeStateAsUpdate(doc).length;
  doc.destroy();
}
// Memory: heap kept by finished documents, averaged over three kept alive at once (a single
// document's delta drowns in the noise of the collector).
gc();
gc();
const before = process.memoryUsage().heapUsed;
const kept = [replay(), replay(), replay()];
gc();
gc();
const heap = (process.memoryUsage().heapUsed - before) / kept.length;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(JSON.stringify({ version, time_ms: median(times), heap_bytes: heap, encoded_bytes: encoded, patches: patches.length }));
