// Browser test of the collaborative-document demo: two real meridian regions, each behind a
// TCP proxy the test can cut, and two Chromium pages (one per region) typing into the same
// document before, during and after a partition. Passes when both pages and both regions
// end with the same text holding every keystroke.
//
// Env: MERIDIAN_BINARY (default build/server/meridian of this checkout, else
// /work/main/build/server/meridian), CHROMIUM (default /usr/bin/chromium).
// Screenshots and region logs go to tests/browser/artifacts/.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, createWriteStream, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';

import { chromium } from 'playwright-core';

import { TextReplica } from '../../web/text_crdt.js';
import { rng } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const BINARY = process.env.MERIDIAN_BINARY ||
    [join(repo, 'build/server/meridian'), '/work/main/build/server/meridian'].find((p) => existsSync(p)) ||
    '/work/main/build/server/meridian';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Screenshots and region logs: $MERIDIAN_ARTIFACTS/browser when the test command sets it.
const ARTIFACTS = process.env.MERIDIAN_ARTIFACTS ? join(process.env.MERIDIAN_ARTIFACTS, 'browser') : join(here, 'artifacts');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` until it returns a truthy value; fails with `what` and the last value after `ms`.
async function until(what, fn, ms = 30000, every = 150) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${String(last?.stack || JSON.stringify(last))}`);
    await sleep(every);
  }
}

// A port for a region to listen on, and to listen on again after a restart. Chosen below
// the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up here), where no
// outgoing connection (other tests run alongside, the regions' own pulls) can take it
// between this check and the region's bind, or while the region is down.
async function freePort() {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const srv = net.createServer();
    const ok = await new Promise((r) => {
      srv.once('error', () => r(false));
      srv.listen(port, '127.0.0.1', () => r(true));
    });
    if (ok) {
      await new Promise((r) => srv.close(r));
      return port;
    }
  }
  throw new Error('no free port between 20000 and 32000');
}

// A TCP proxy in front of a region: block() destroys its connections and refuses new ones
// (a partition), heal() lets them through again.
class Proxy {
  constructor(target) {
    this.target = target;
    this.blocked = false;
    this.sockets = new Set();
    this.server = net.createServer((client) => this.accept(client));
  }
  async listen() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = this.server.address().port;
    return this;
  }
  accept(client) {
    if (this.blocked) return client.destroy();
    const upstream = net.connect(this.target, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
  block() {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
  }
  heal() {
    this.blocked = false;
  }
  async close() {
    this.block();
    await new Promise((r) => this.server.close(r));
  }
}

function meridianHelp() {
  try {
    return execFileSync(BINARY, ['--help'], { encoding: 'utf8', timeout: 10000 });
  } catch (e) {
    return String(e.stdout || '') + String(e.stderr || '');
  }
}

// One region process.
class Region {
  constructor({ id, port, peer, dataDir, secretFile, extraArgs }) {
    Object.assign(this, { id, port, peer, dataDir, secretFile, extraArgs });
    this.base = `http://127.0.0.1:${port}`;
  }
  start() {
    const args = [`--region=${this.id}`, `--listen=127.0.0.1:${this.port}`, `--data-dir=${this.dataDir}`,
      ...(this.peer ? [`--peer=${this.peer}`, `--cluster-secret-file=${this.secretFile}`] : []), ...this.extraArgs];
    const log = createWriteStream(join(ARTIFACTS, `${this.id}.log`), { flags: this.started ? 'a' : 'w' });
    this.started = true;
    this.proc = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.pipe(log);
    this.proc.stderr.pipe(log);
    this.exited = new Promise((r) => this.proc.on('exit', (code, signal) => r({ code, signal })));
  }
  async ready() {
    await until(`${this.id} to be ready`, async () => {
      if (this.proc.exitCode !== null) throw new Error(`${this.id} exited with ${this.proc.exitCode}`);
      const res = await fetch(`${this.base}/healthz`);
      return res.ok;
    }, 20000);
  }
  // A crash: SIGKILL, no goodbye to anyone.
  async kill() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const done = await Promise.race([this.exited, sleep(5000).then(() => null)]);
    if (!done) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }
  async json(path) {
    const res = await fetch(this.base + path);
    if (!res.ok) throw new Error(`GET ${path} at ${this.id}: ${res.status} ${await res.text()}`);
    return res.json();
  }
  async body(key) {
    try {
      const d = await this.json(`/v1/collections/docs/docs/${encodeURIComponent(key)}`);
      return d.value?.body ?? '';
    } catch {
      return null;
    }
  }
}

const editorValue = (page) => page.$eval('#editor', (ta) => ta.value);
const connState = (page) => page.$eval('#conn-state', (el) => el.dataset.state);

// The region's current state of the document's body, as its live endpoint sends it.
function regionSnapshot(page, key) {
  return page.evaluate((key) => new Promise((resolve, reject) => {
    const url = `ws://${location.host}/v1/collections/docs/docs/${encodeURIComponent(key)}/live?field=body&agent=web-probe${Math.random().toString(36).slice(2, 9)}`;
    const ws = new WebSocket(url);
    const timer = setTimeout(() => { ws.close(); reject(new Error('no snapshot')); }, 10000);
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type !== 'snapshot') return;
      clearTimeout(timer);
      ws.close();
      resolve(msg.state);
    };
    ws.onerror = () => reject(new Error('websocket error'));
  }), key);
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

// Puts the caret in the editor: 'end', 'start', or just after the first occurrence of a string.
async function caret(page, where) {
  await page.$eval('#editor', (ta, where) => {
    ta.focus();
    let at = ta.value.length;
    if (where === 'start') at = 0;
    else if (where !== 'end') at = ta.value.indexOf(where) + where.length;
    ta.setSelectionRange(at, at);
  }, where);
}

async function type(page, where, text) {
  await caret(page, where);
  await page.keyboard.type(text, { delay: 15 + Math.floor(Math.random() * 15) });
}

test('two pages on two regions edit one document through a partition and converge', { timeout: 240000 }, async () => {
  assert.ok(existsSync(BINARY), `meridian binary not found at ${BINARY} (set MERIDIAN_BINARY)`);
  assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const t0 = Date.now();
  const timings = {};
  const mark = (name) => { timings[name] = Date.now() - t0; };

  const tmp = mkdtempSync(join(tmpdir(), 'meridian-browser-'));
  const secretFile = join(tmp, 'cluster-secret');
  writeFileSync(secretFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const help = meridianHelp();
  // Serve this checkout's web/ if the binary has a flag for it (else it uses its default).
  const webFlag = /--(web-root|web-dir|ui-dir|web)=/.exec(help)?.[1];
  const extraArgs = webFlag ? [`--${webFlag}=${join(repo, 'web')}`] : [];
  if (/--durability=/.test(help)) extraArgs.push('--durability=normal');

  const [p1, p2] = [await freePort(), await freePort()];
  const to1 = await new Proxy(p1).listen(); // eu-west reaches us-east through this
  const to2 = await new Proxy(p2).listen(); // us-east reaches eu-west through this
  const east = new Region({ id: 'us-east', port: p1, peer: `eu-west=http://127.0.0.1:${to2.port}`,
    dataDir: join(tmp, 'us-east'), secretFile, extraArgs });
  const west = new Region({ id: 'eu-west', port: p2, peer: `us-east=http://127.0.0.1:${to1.port}`,
    dataDir: join(tmp, 'eu-west'), secretFile, extraArgs });
  const partition = () => { to1.block(); to2.block(); };
  const heal = () => { to1.heal(); to2.heal(); };

  let browser;
  const pageErrors = [];
  try {
    east.start();
    west.start();
    await Promise.all([east.ready(), west.ready()]);
    mark('regions ready');
    for (const r of [east, west]) {
      const res = await fetch(`${r.base}/ui/`);
      assert.equal(res.status, 200, `${r.id} serves the app at /ui/ (got ${res.status})`);
    }

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
      timeout: 30000,
    });
    // One context per page: like two people on two machines.
    const pageA = await (await browser.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
    const pageB = await (await browser.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
    for (const [name, p] of [['A', pageA], ['B', pageB]]) {
      p.setDefaultTimeout(20000);
      p.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
      p.on('console', (m) => { if (m.type() === 'warning') console.log(`[page ${name}] ${m.text()}`); });
    }
    mark('browser up');

    // Page A creates the document at us-east.
    await pageA.goto(`${east.base}/ui/`);
    await pageA.fill('#new-title', 'Partition drill notes');
    await pageA.click('#new-doc');
    await until('page A live on its new document', async () => (await connState(pageA)) === 'live');
    const key = await pageA.evaluate(() => decodeURIComponent(/doc=([^&]+)/.exec(location.hash)[1]));
    assert.match(key, /^[a-z0-9-]{1,64}$/);
    assert.equal((await pageA.textContent('#region')).trim(), 'us-east');

    // Page B finds it in eu-west's list once it has replicated, and opens it.
    await until('the document to replicate to eu-west', async () => (await west.body(key)) !== null);
    await pageB.goto(`${west.base}/ui/`);
    await until('the document in eu-west\'s list', async () => {
      if (await pageB.$(`#doc-list a[data-key="${key}"]`)) return true;
      await pageB.click('#refresh-docs');
      return false;
    });
    await pageB.click(`#doc-list a[data-key="${key}"]`);
    await until('page B live', async () => (await connState(pageB)) === 'live');
    assert.equal((await pageB.textContent('#region')).trim(), 'eu-west');
    mark('pages open');

    // Connected: both type at once, at different places.
    const a1 = '[A1 alpha bravo charlie from us-east]';
    const b1 = '[B1 xray yankee zulu from eu-west]';
    await type(pageA, 'end', 'Intro. ');
    await until('page B to see the intro', async () => (await editorValue(pageB)).includes('Intro. '));
    await Promise.all([type(pageA, 'end', a1), type(pageB, 'start', b1)]);
    const converged = async (strings) => {
      const [va, vb] = [await editorValue(pageA), await editorValue(pageB)];
      return va === vb && strings.every((s) => va.includes(s)) ? va : false;
    };
    await until('pages to converge before the partition', () => converged([a1, b1]));
    mark('phase 1 converged');
    await shot(pageA, '1-before-partition-A');
    await shot(pageB, '1-before-partition-B');

    // Partitioned: each page keeps editing at its own region, live.
    partition();
    const a2 = '[A2 during the partition, typed at us-east]';
    const b2 = '[B2 meanwhile at eu-west, nobody across the ocean sees this yet]';
    await Promise.all([type(pageA, 'end', a2), type(pageB, b1, b2)]);
    for (const [p, r] of [[pageA, east], [pageB, west]]) {
      await until(`${r.id}'s page to have its edits acknowledged`, () => p.evaluate(() => window.meridianDocs.unacknowledged === 0));
      assert.equal(await connState(p), 'live', `the page at ${r.id} stays live during the partition`);
      assert.equal((await p.textContent('#conn-state')).trim(), 'Live');
    }
    const [midA, midB] = [await editorValue(pageA), await editorValue(pageB)];
    assert.ok(midA.includes(a2) && !midA.includes(b2), `us-east's page has only its side: ${midA}`);
    assert.ok(midB.includes(b2) && !midB.includes(a2), `eu-west's page has only its side: ${midB}`);
    assert.equal(await east.body(key), midA, 'us-east committed what its page shows');
    assert.equal(await west.body(key), midB, 'eu-west committed what its page shows');
    // A little more typing on both sides while cut off, one of them at the same place.
    const a3 = '{a3 more from A}';
    const b3 = '{b3 more from B}';
    await Promise.all([type(pageA, 'Intro.', a3), type(pageB, 'Intro.', b3)]);
    await sleep(300);
    mark('phase 2 typed');
    await shot(pageA, '2-during-partition-A');
    await shot(pageB, '2-during-partition-B');

    // Healed: the regions exchange what they missed and push it to the pages.
    heal();
    const all = ['Intro.', a1, b1, a2, b2, a3, b3];
    const diagnose = async () => {
      const info = {};
      for (const [name, p] of [['A', pageA], ['B', pageB]]) {
        info[`page ${name}`] = await p.evaluate(() => ({ state: window.meridianDocs.state, value: window.meridianDocs.value,
          unacknowledged: window.meridianDocs.unacknowledged, pending: window.meridianDocs.pending,
          version: window.meridianDocs.version }));
      }
      for (const r of [east, west]) {
        info[r.id] = { body: await r.body(key), cluster: await r.json('/v1/cluster').catch((e) => String(e)) };
      }
      return JSON.stringify(info, null, 1);
    };
    const final = await until('pages to converge after the heal', () => converged(all), 60000, 200)
      .catch(async (e) => { throw new Error(`${e.message}\n${await diagnose()}`); });
    mark('phase 3 pages converged');
    await until('both regions to hold the pages\' text', async () =>
      (await east.body(key)) === final && (await west.body(key)) === final, 30000, 200);
    mark('phase 3 regions converged');
    await shot(pageA, '3-after-heal-A');
    await shot(pageB, '3-after-heal-B');

    // The page's replica and the region's Text hold the same state, byte for byte.
    for (const [p, r] of [[pageA, east], [pageB, west]]) {
      const [mine, theirs] = [await p.evaluate(() => window.meridianDocs.encode()), await regionSnapshot(p, key)];
      assert.deepEqual(mine, theirs, `page and ${r.id} encode the text identically`);
    }
    for (const s of all) assert.ok(final.includes(s), `every keystroke survives: ${s} in ${final}`);
    // Concurrent runs at one place never interleave: a3 and b3 sit whole, side by side.
    assert.ok(final.includes(a3 + b3) || final.includes(b3 + a3), `runs at one place do not interleave: ${final}`);
    assert.equal(await editorValue(pageA), final);
    assert.equal(await editorValue(pageB), final);
    for (const p of [pageA, pageB]) assert.equal(await connState(p), 'live');

    // A region crash and restart: its page goes offline, keeps its edits, reconnects and
    // resends them.
    await west.kill();
    mark('eu-west killed');
    await until('page B to show it is offline', async () => (await connState(pageB)) === 'offline', 15000);
    const offlineText = (await pageB.textContent('#conn-state')).trim();
    assert.match(offlineText, /^Offline/);
    const b4 = '[B4 typed while eu-west was down]';
    await type(pageB, 'end', b4);
    assert.ok(await pageB.evaluate(() => window.meridianDocs.unacknowledged > 0), 'the edit waits for the region');
    await shot(pageB, '4-region-down-B');
    west.start();
    await west.ready();
    mark('eu-west restarted');
    const after = await until('everyone to converge after the restart', async () => {
      const v = await converged([...all, b4]);
      return v && (await east.body(key)) === v && (await west.body(key)) === v ? v : false;
    }, 60000, 200).catch(async (e) => { throw new Error(`${e.message}\n${await diagnose()}`); });
    mark('converged after restart');
    for (const p of [pageA, pageB]) assert.equal(await connState(p), 'live');
    await shot(pageB, '5-after-restart-B');

    // With both pages open, text deleted elsewhere is still collected once both regions
    // have it: the pages keep telling their region what they have seen, so an open page
    // does not hold its region's floor back.
    const probe = async (r, ops) => {
      const res = await fetch(`${r.base}/v1/collections/docs/docs/gc-probe/ops`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ops }) });
      assert.ok(res.ok, `probe write at ${r.id}: ${res.status} ${await res.text()}`);
    };
    const collected = async (r) => {
      const m = (await (await fetch(`${r.base}/metrics`)).text()).match(/^meridian_text_tombstones_collected_total (\d+)$/m);
      return m ? Number(m[1]) : 0;
    };
    await probe(east, [{ op: 'insert', path: '/body', index: 0, text: 'x'.repeat(500) },
                       { op: 'delete', path: '/body', index: 100, count: 300 }]);
    let probes = 0;
    await until('both regions to collect deleted text while the pages are open', async () => {
      await probe(probes++ % 2 ? west : east, [{ op: 'insert', path: '/body', index: 0, text: 'y' }]);
      return (await collected(east)) >= 299 && (await collected(west)) >= 299;
    }, 30000, 200).catch(async (e) => {
      const cluster = async (r) => JSON.stringify(await (await fetch(`${r.base}/v1/cluster`)).json());
      const seen = async (p) => JSON.stringify(await p.evaluate(() => ({ seen: window.meridianDocs.seen,
        unacknowledged: window.meridianDocs.unacknowledged, pending: window.meridianDocs.pending })));
      throw new Error(`${e.message}\neast: ${await cluster(east)}\nwest: ${await cluster(west)}\n` +
                      `page A: ${await seen(pageA)}\npage B: ${await seen(pageB)}`);
    });
    mark(`tombstones collected after ${probes} probe writes`);

    // A page whose edits the region refuses as made on too old a state (as after a long
    // absence) redoes them on the region's text, under a new agent, and keeps what the other
    // page typed meanwhile.
    const agentBefore = await pageA.evaluate(() => window.meridianDocs.agent);
    await pageA.evaluate(() => window.meridianDocs.debugForgetSeen());
    const a5 = '[A5 redone after a refusal]';
    const b5 = '[B5 typed meanwhile]';
    await Promise.all([type(pageA, 'end', a5), type(pageB, 'start', b5)]);
    const redone = await until('the refused edits to be redone and everyone to converge', async () => {
      const v = await converged([...all, b4, a5, b5]);
      return v && (await east.body(key)) === v && (await west.body(key)) === v ? v : false;
    }, 60000, 200).catch(async (e) => { throw new Error(`${e.message}\n${await diagnose()}`); });
    assert.notEqual(await pageA.evaluate(() => window.meridianDocs.agent), agentBefore, 'page A started afresh');
    assert.equal(redone.split(a5).length, 2, 'the refused text appears exactly once');
    await shot(pageA, '6-after-refusal-A');
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the pages');
    console.log(`final text: ${JSON.stringify(after)}`);
    console.log(`timings (ms since start): ${JSON.stringify(timings)}`);
  } finally {
    await browser?.close().catch(() => {});
    await Promise.all([east.stop(), west.stop()]);
    await Promise.all([to1.close(), to2.close()]);
    rmSync(tmp, { recursive: true, force: true });
  }
});

// A replica that records every operation in the order it applied it (local ones included).
class LoggedReplica extends TextReplica {
  constructor(agent) {
    super(agent);
    this.log = [];
  }
  tryApply(op) {
    const r = super.tryApply(op);
    if (r === 'applied' && this.log) this.log.push(op);
    return r;
  }
  insert(index, text) {
    const op = super.insert(index, text);
    this.log.push(op);
    return op;
  }
  delete(index, count) {
    const op = super.delete(index, count); // applied directly, not through tryApply
    this.log.push(op);
    return op;
  }
}


test('a region integrates concurrent text operations exactly like the browser replica', { timeout: 120000 }, async () => {
  assert.ok(existsSync(BINARY), `meridian binary not found at ${BINARY} (set MERIDIAN_BINARY)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'meridian-text-'));
  const region = new Region({ id: 'ap-south', port: await freePort(), peer: null, dataDir: join(tmp, 'data'),
    secretFile: null, extraArgs: ['--durability=off'] });
  try {
    region.start();
    await region.ready();
    const post = async (path, method, body) => {
      const res = await fetch(region.base + path, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    await post('/v1/collections/docs', 'PUT', { policy: 'crdt', fields: { title: 'register', body: 'text' } });
    const seed0 = Number(process.env.SEED || 1);
    let compared = 0;
    for (let seed = seed0; seed < seed0 + 30; seed++) {
      // Three browsers edit concurrently; each receives the others' ops late and shuffled.
      const r = rng(seed);
      const reps = ['web-aaaaaaaaaaaa', 'web-zzzzzzzzzzzz', 'web-mmmmmmmmmmmm'].map((n) => new LoggedReplica(n));
      const inbox = reps.map(() => []);
      const alphabet = ['a', 'b', 'é', '😀', ' '];
      for (let step = 0; step < 150; step++) {
        const k = Math.floor(r() * 3);
        const rep = reps[k];
        const x = r();
        let op = null;
        if (x < 0.55) {
          let text = '';
          for (let n = 1 + Math.floor(r() * 3); n > 0; n--) text += alphabet[Math.floor(r() * alphabet.length)];
          rep.cursor = rep.cursor === undefined || r() < 0.3 ? Math.floor(r() * (rep.size + 1)) : Math.min(rep.cursor, rep.size);
          op = rep.insert(rep.cursor, text);
          rep.cursor += Array.from(text).length;
        } else if (x < 0.7 && rep.size > 0) {
          const at = Math.floor(r() * rep.size);
          op = rep.delete(at, 1 + Math.floor(r() * Math.min(3, rep.size - at)));
        } else {
          const box = inbox[k];
          const batch = [];
          for (let n = Math.floor(r() * (box.length + 1)); n > 0; n--) batch.push(box.splice(Math.floor(r() * box.length), 1)[0]);
          rep.applyOps(batch);
        }
        if (op) inbox.forEach((box, j) => j !== k && box.push(op));
      }
      reps.forEach((rep, k) => rep.applyOps(inbox[k]));
      // The region applies each replica's history in that replica's order (a causal order).
      for (const rep of reps) {
        const key = `diff-${seed}-${rep.agent}`;
        const ops = rep.log.map((op) => ({ op: 'text', path: '/body', text: op }));
        // Operations made elsewhere say what state they were made on: nothing of this new
        // document, on a region state no older than its vector now.
        const { applied } = await (await fetch(region.base + '/v1/cluster')).json();
        const base = Object.entries(applied).map(([o, n]) => `${o}:${n}`).join(',');
        const res = await post(`/v1/collections/docs/docs/${key}/ops`, 'POST', { ops, base });
        assert.equal(res.value.body ?? '', rep.value(), `seed ${seed}, ${rep.agent}: region and replica agree (SEED=${seed})`);
        compared++;
      }
      assert.equal(reps[1].value(), reps[0].value(), `seed ${seed}: replicas converge`);
      assert.equal(reps[2].value(), reps[0].value(), `seed ${seed}: replicas converge`);
    }
    console.log(`region and JS replica agreed on ${compared} histories`);
  } finally {
    await region.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});
