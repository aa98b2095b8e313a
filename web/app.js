// Meridian Docs: the collaborative-document demo served by every region at /ui/.
//
// The page keeps a TextReplica (text_crdt.js) of the open document's body. Local edits are
// applied to it at once and sent to the region in numbered batches over a WebSocket
// (/v1/collections/docs/docs/{key}/live); remote operations, including echoes of ours, are
// merged into it and the textarea is updated with the caret kept on its character.
// Unacknowledged batches are kept and resent in order after a reconnect. Every batch says
// which state it was made on (`base`, the region's vector `v` the replica had caught up
// with), and the page tells the region how far it has caught up (`seen`): the region keeps
// the tombstones the page may still refer to, and collects the rest once every region has
// seen them. A batch made on a state older than what the region has since promised is
// refused (`stale-base`, after the page was away for long): the page then redoes its text.
import { TextReplica, newAgentId, diff, redoOn } from './text_crdt.js';

const COLLECTION = 'docs';
const FIELD = 'body';
const COLLECTION_DEF = { policy: 'crdt', fields: { title: 'register', body: 'text' } };

const $ = (sel) => document.querySelector(sel);
const ui = {
  region: $('#region'),
  conn: $('#conn-state'),
  list: $('#doc-list'),
  newForm: $('#new-doc-form'),
  newTitle: $('#new-title'),
  refresh: $('#refresh-docs'),
  name: $('#name'),
  empty: $('#empty-state'),
  view: $('#doc-view'),
  title: $('#doc-title'),
  presence: $('#presence'),
  editor: $('#editor'),
  sync: $('#sync-state'),
  meta: $('#doc-meta'),
  toast: $('#toast'),
};

// ---------- small helpers ----------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

const enc = encodeURIComponent;
const docPath = (key) => `/v1/collections/${COLLECTION}/docs/${enc(key)}`;

let toastTimer = 0;
function toast(msg) {
  ui.toast.textContent = msg;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { ui.toast.hidden = true; }, 3500);
}

// Code point index <-> UTF-16 offset (the replica counts code points, the DOM UTF-16 units).
function cpCount(s, from = 0, to = s.length) {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === from) n++;
  }
  return n;
}
function utf16Offset(s, cp) {
  let i = 0;
  for (let n = 0; n < cp && i < s.length; n++) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
  }
  return i;
}
function colorOf(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 62% 46%)`;
}

function slug(title) {
  const base = title.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
  const rand = Math.random().toString(36).slice(2, 8).padEnd(6, '0');
  return `${base || 'doc'}-${rand}`;
}

// ---------- identity ----------

const me = {
  name: localStorage.getItem('meridian.name') || `Guest ${Math.floor(100 + Math.random() * 900)}`,
};
ui.name.value = me.name;
ui.name.addEventListener('change', () => {
  me.name = ui.name.value.trim() || me.name;
  ui.name.value = me.name;
  localStorage.setItem('meridian.name', me.name);
  session?.sendPresence(true);
});

// ---------- connection state ----------

const STATE_TEXT = {
  idle: 'No document',
  connecting: 'Connecting…',
  live: 'Live',
  offline: 'Offline — retrying',
  resyncing: 'Resyncing…',
};
function showConn(state, detail = '') {
  ui.conn.dataset.state = state;
  ui.conn.textContent = STATE_TEXT[state] + detail;
}

// ---------- one open document ----------

// The live editing session of one document: its replica, the batches not yet acknowledged,
// the socket and its reconnection. Sessions are kept per key for the page's lifetime, so
// reopening a document keeps its unacknowledged edits (and never reuses a counter).
class DocSession {
  constructor(key) {
    this.key = key;
    // A fresh origin per session: its counters start at 1 in this replica and are never
    // reused, even if the page reloads before the region acknowledged anything.
    this.agent = newAgentId();
    this.replica = new TextReplica(this.agent);
    this.carry = null; // text to restore on top of the first snapshot (see abandon())
    this.carryBase = null; // the text `carry` was edited from (without our refused edits)
    this.strikes = 0; // consecutive refusals of the oldest batch
    this.seq = 0;
    this.outbox = []; // [{seq, ops}] sent or not, not acknowledged
    this.unsent = []; // local ops not yet in a batch
    this.sentUpTo = 0; // highest seq written to the current socket
    this.ws = null;
    this.state = 'idle';
    this.attempt = 0;
    this.retryTimer = 0;
    this.flushTimer = 0;
    this.pendingTimer = 0;
    this.active = false;
    this.synced = false; // a snapshot arrived on the current socket
    this.heldOps = []; // remote ops held back during an IME composition
    this.heldV = null; // the region's vector once heldOps are applied
    this.v = ''; // the region's version vector this replica has caught up with
    this.unsentBase = ''; // this.v when the oldest unsent op was made
    this.seenTimer = 0;
    this.loaded = false; // a snapshot arrived at least once (the editor is read-only before)
    this.region = '';
    this.editors = [];
    this.presenceTimer = 0;
    this.lastPresence = '';
  }

  open() {
    this.active = true;
    this.connect();
  }

  close() {
    this.active = false;
    clearTimeout(this.retryTimer);
    this.flush();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000, 'closed by the page');
      this.ws = null;
    }
  }

  setState(state, detail) {
    this.state = state;
    if (session === this) {
      showConn(state, detail);
      renderSync();
    }
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (!this.active) return;
    if (this.state !== 'resyncing') this.setState('connecting');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}${docPath(this.key)}/live?field=${FIELD}&agent=${enc(this.agent)}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      this.retry();
      return;
    }
    this.ws = ws;
    this.synced = false;
    this.sentUpTo = 0;
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.onMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      console.warn(`connection to the region lost (${ev.code}${ev.reason ? ' ' + ev.reason : ''}); reconnecting`);
      this.ws = null;
      this.synced = false;
      this.retry();
    };
    ws.onerror = () => {}; // onclose follows
  }

  retry() {
    if (!this.active) return;
    const delay = Math.min(5000, 300 * 2 ** this.attempt) * (0.6 + 0.4 * Math.random());
    this.attempt = Math.min(this.attempt + 1, 6);
    this.setState('offline', ` in ${Math.max(1, Math.round(delay / 1000))}s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // Drops the socket and reconnects (after `delay` ms): the region sends a fresh snapshot.
  resync(why, delay = 0) {
    console.warn(`resync ${this.key}: ${why}`);
    if (!this.active) return;
    this.setState('resyncing');
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(1000, 'resync');
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  onMessage(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    switch (msg.type) {
      case 'hello':
        this.region = msg.region || '';
        if (this.region) ui.region.textContent = this.region;
        break;
      case 'snapshot':
        this.onSnapshot(msg.state, msg.v);
        break;
      case 'ops':
        if (composing && session === this) {
          this.heldOps.push(...msg.ops);
          this.heldV = msg.v;
        } else {
          this.applyRemote(msg.ops, msg.v);
        }
        break;
      case 'progress': // nothing for this document, but the region moved on
        if (this.heldOps.length > 0) this.heldV = msg.v;
        else this.caughtUp(msg.v);
        break;
      case 'ack':
        this.outbox = this.outbox.filter((b) => b.seq > msg.seq);
        this.strikes = 0;
        renderSync();
        break;
      case 'error':
        this.onError(msg);
        break;
      case 'presence':
        this.editors = (msg.editors || []).filter((e) => e.agent !== this.agent);
        if (session === this) renderPresence();
        break;
    }
  }

  onSnapshot(state, v) {
    // The caret, on its characters (the textarea holds carried text instead: see below).
    const keep = session === this && this.carry === null ? saveSelection(this.replica) : null;
    let caret = null; // [start, end] in the textarea, for carried text
    try {
      this.replica.loadSnapshot(state);
    } catch (e) {
      console.error('bad snapshot', e);
      toast('The region sent a snapshot this page cannot read');
      return;
    }
    this.v = typeof v === 'string' ? v : '';
    this.loaded = true;
    if (session === this) ui.editor.readOnly = false;
    // Our edits the region has not committed yet go back on top (duplicates are ignored).
    for (const b of this.outbox) this.replica.applyOps(b.ops);
    this.replica.applyOps(this.unsent);
    this.heldOps = [];
    if (this.carry !== null) { // what the user sees, kept from a refused identity: redo it as ours
      const shown = session === this ? ui.editor.value : this.carry;
      // Our edits (what turned carryBase into what is shown) redone on the region's text:
      // what others wrote meanwhile stays.
      const target = this.carryBase === null ? shown : redoOn(this.carryBase, shown, this.replica.value());
      if (session === this) {
        // The caret moves with the text around it: where it was in what is shown, shifted by
        // what the redo changed before it.
        const [dAt, dRem, dIns] = diff(shown, target, 0);
        const move = (x) => (x <= dAt ? x : Math.max(dAt + dIns.length, x + dIns.length - dRem));
        caret = [move(ui.editor.selectionStart), move(ui.editor.selectionEnd)];
      }
      const [at, removed, inserted] = diff(this.replica.value(), target);
      const before = this.replica.value();
      const cpAt = cpCount(before, 0, at);
      if (removed > 0) this.push(this.replica.delete(cpAt, cpCount(before, at, at + removed)));
      if (inserted.length > 0) this.push(this.replica.insert(cpAt, inserted));
      this.carry = null;
      this.carryBase = null;
    }
    this.synced = true;
    this.attempt = 0;
    this.setState('live');
    if (session === this) {
      render(keep);
      if (caret) ui.editor.setSelectionRange(Math.min(...caret), Math.max(...caret));
    }
    this.pump();
    this.sendPresence(true);
    this.checkPending();
  }

  onError(msg) {
    const p = msg.problem || {};
    const type = String(p.type || '');
    console.warn('batch refused', msg.seq, p);
    if (this.outbox.length > 0 && msg.seq !== this.outbox[0].seq) return; // follows an earlier refusal
    if (p.status >= 500) {
      // The region could not commit now: try again from a fresh snapshot, backing off.
      this.resync(`batch ${msg.seq}: ${p.title || type}`, Math.min(5000, 250 * 2 ** Math.min(this.strikes++, 5)));
      return;
    }
    if (type.includes('stale-base')) {
      this.abandon('This page was away for a while: its edits were redone on the current text');
      return;
    }
    if (type.includes('text-causality') && this.strikes < 3) {
      // The region lacks something the batch builds on: resync and resend everything.
      this.resync(`batch ${msg.seq}: ${p.detail || type}`, 250 * 2 ** this.strikes++);
      return;
    }
    this.abandon(`An edit was refused: ${p.detail || p.title || type}`);
  }

  // The region will never take our batches (malformed, forbidden, or a dependency that does
  // not come back). Our counters are spent, so start a new session under a new origin from
  // the region's state and redo the text the user sees on top of it.
  abandon(why) {
    toast(why);
    const text = this.replica.value();
    // The text without our unacknowledged edits: they are the ones to redo.
    const pending = this.outbox.flatMap((b) => b.ops).concat(this.unsent);
    const from = pending.reduce((m, op) => Math.min(m, op.id[1]), Infinity);
    this.outbox = [];
    this.unsent = [];
    const wasOpen = session === this;
    this.close();
    const fresh = new DocSession(this.key);
    fresh.carry = text;
    fresh.carryBase = this.replica.valueWithout(this.agent, from);
    sessions.set(this.key, fresh);
    if (wasOpen) {
      session = null;
      openDoc(this.key);
    }
  }

  // The replica holds everything up to the region's vector `v` (unless some ops still wait
  // for their dependencies): say so, now and then.
  caughtUp(v) {
    if (typeof v !== 'string' || this.replica.pendingCount > 0) return;
    this.v = v;
    if (this.seenTimer) return;
    const tell = () => {
      this.seenTimer = 0;
      // Not while edits made on an older state are on their way: the region would let its
      // floor pass their base and refuse them.
      if (this.unsent.length > 0 || this.outbox.length > 0) {
        this.seenTimer = setTimeout(tell, 300);
        return;
      }
      if (this.ws && this.ws.readyState === WebSocket.OPEN && this.synced) {
        this.ws.send(JSON.stringify({ type: 'seen', v: this.v }));
      }
    };
    this.seenTimer = setTimeout(tell, 300);
  }

  applyRemote(ops, v) {
    if (!ops || ops.length === 0) return this.caughtUp(v);
    const mine = session === this;
    const keep = mine ? saveSelection(this.replica) : null;
    let changed;
    try {
      changed = this.replica.applyOps(ops);
    } catch (e) {
      console.error('bad ops from the region', e);
      this.resync('malformed ops');
      return;
    }
    if (changed && mine) render(keep);
    this.checkPending();
    this.caughtUp(v);
  }

  // Ops whose dependencies never arrive mean we missed something: resync.
  checkPending() {
    clearTimeout(this.pendingTimer);
    if (this.replica.pendingCount === 0) return;
    this.pendingTimer = setTimeout(() => {
      if (this.replica.pendingCount > 0) this.resync(`${this.replica.pendingCount} ops wait for dependencies`);
    }, 3000);
  }

  // A local edit: already applied to the replica; send it soon.
  push(op) {
    if (this.unsent.length === 0) this.unsentBase = this.v;
    this.unsent.push(op);
    if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), 15);
    renderSync();
  }

  flush() {
    clearTimeout(this.flushTimer);
    this.flushTimer = 0;
    if (this.unsent.length === 0) return;
    this.outbox.push({ seq: ++this.seq, base: this.unsentBase, ops: coalesce(this.unsent) });
    this.unsent = [];
    this.pump();
  }

  // Writes every batch not yet written to the current socket, in order.
  pump() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.synced) {
      renderSync();
      return;
    }
    for (const b of this.outbox) {
      if (b.seq <= this.sentUpTo) continue;
      this.ws.send(JSON.stringify({ type: 'ops', seq: b.seq, base: b.base, ops: b.ops }));
      this.sentUpTo = b.seq;
    }
    renderSync();
  }

  sendPresence(force = false) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.synced || session !== this) return;
    const index = cpCount(ui.editor.value, 0, ui.editor.selectionStart);
    const msg = JSON.stringify({ type: 'presence', name: me.name, index });
    if (!force && msg === this.lastPresence) return;
    this.lastPresence = msg;
    this.ws.send(msg);
  }
}

// Joins consecutive inserts that continue each other (same origin, next counters, left =
// the previous insert's last character, same right): one op with the same meaning.
function coalesce(ops) {
  const out = [];
  for (const op of ops) {
    const last = out[out.length - 1];
    if (last && last.kind === 'insert' && op.kind === 'insert' && op.id[0] === last.id[0]) {
      const n = cpCount(last.text);
      const end = last.id[1] + n;
      const sameRight = (op.right === null && last.right === null) ||
          (op.right && last.right && op.right[0] === last.right[0] && op.right[1] === last.right[1]);
      if (op.id[1] === end && op.left && op.left[0] === last.id[0] && op.left[1] === end - 1 && sameRight) {
        out[out.length - 1] = { ...last, text: last.text + op.text };
        continue;
      }
    }
    out.push(op);
  }
  return out;
}

// ---------- the editor ----------

let session = null; // the open document's session
const sessions = new Map();
let composing = false;

function saveSelection(replica) {
  const ta = ui.editor;
  const v = ta.value;
  if (v !== replica.value()) return null;
  return {
    start: replica.anchor(cpCount(v, 0, ta.selectionStart)),
    end: replica.anchor(cpCount(v, 0, ta.selectionEnd)),
    dir: ta.selectionDirection,
    focused: document.activeElement === ta,
  };
}

// Shows the replica's text in the textarea, changing only the edited stretch, and puts the
// selection back on the characters it was attached to.
function render(keep) {
  const ta = ui.editor;
  const next = session.replica.value();
  const cur = ta.value;
  if (cur !== next) {
    const [at, removed, inserted] = diff(cur, next);
    const scroll = ta.scrollTop;
    ta.setRangeText(inserted, at, at + removed, 'preserve');
    if (ta.value !== next) ta.value = next; // never expected; keep them equal regardless
    ta.scrollTop = scroll;
  }
  if (keep) {
    const r = session.replica;
    const s = utf16Offset(next, r.resolveAnchor(keep.start));
    const e = utf16Offset(next, r.resolveAnchor(keep.end));
    ta.setSelectionRange(Math.min(s, e), Math.max(s, e), keep.dir);
  }
  renderMeta();
}

function onLocalInput() {
  if (!session || composing) return;
  if (session.carry !== null) return; // the textarea is the truth until the first snapshot
  const ta = ui.editor;
  const r = session.replica;
  const before = r.value();
  const after = ta.value;
  if (before === after) return;
  const [at, removed, inserted] = diff(before, after, ta.selectionEnd);
  const cpAt = cpCount(before, 0, at);
  try {
    if (removed > 0) session.push(r.delete(cpAt, cpCount(before, at, at + removed)));
    if (inserted.length > 0) session.push(r.insert(cpAt, inserted));
  } catch (e) {
    console.error('local edit failed', e);
  }
  if (r.value() !== ta.value) { // cannot happen unless the diff is wrong: trust the replica
    console.error('editor and replica disagree; showing the replica');
    const keep = { start: r.anchor(cpCount(after, 0, ta.selectionStart)), end: null, dir: 'none' };
    keep.end = keep.start;
    render(keep);
  }
  renderMeta();
  schedulePresence();
}

function schedulePresence() {
  if (!session || session.presenceTimer) return;
  session.presenceTimer = setTimeout(() => {
    if (!session) return;
    session.presenceTimer = 0;
    session.sendPresence();
  }, 150);
}

ui.editor.addEventListener('input', (e) => {
  if (e.isComposing) return;
  onLocalInput();
});
ui.editor.addEventListener('compositionstart', () => { composing = true; });
ui.editor.addEventListener('compositionend', () => {
  composing = false;
  onLocalInput();
  if (session && session.heldOps.length > 0) {
    const held = session.heldOps;
    session.heldOps = [];
    session.applyRemote(held, session.heldV);
    session.heldV = null;
  }
});
for (const ev of ['keyup', 'mouseup', 'select', 'focus']) ui.editor.addEventListener(ev, schedulePresence);
ui.editor.addEventListener('keydown', (e) => {
  if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
    e.preventDefault(); // a tab character rather than leaving the editor
    document.execCommand('insertText', false, '\t');
  }
});

function renderSync() {
  if (!session) return;
  const waiting = session.outbox.length + (session.unsent.length > 0 ? 1 : 0);
  const el = ui.sync;
  if (waiting === 0) {
    el.dataset.state = 'saved';
    el.textContent = `Saved at ${session.region || 'the region'}`;
  } else if (session.state === 'live') {
    el.dataset.state = 'saving';
    el.textContent = `Saving ${waiting} batch${waiting === 1 ? '' : 'es'}…`;
  } else {
    el.dataset.state = 'waiting';
    el.textContent = `${waiting} batch${waiting === 1 ? '' : 'es'} of edits kept until the connection is back`;
  }
}

function renderMeta() {
  if (!session) return;
  const r = session.replica;
  const snippet = ui.list.querySelector('a.active .s');
  if (snippet) snippet.textContent = r.value().trim().slice(0, 80) || session.key;
  ui.meta.textContent = `${r.size} chars · ${Object.keys(r.version()).length} authors · you are ${session.agent}`;
}

function renderPresence() {
  ui.presence.replaceChildren();
  if (!session) return;
  const text = session.replica.value();
  for (const e of session.editors) {
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.title = `${e.name || e.agent} (${e.agent})`;
    const dot = document.createElement('span');
    dot.className = 'dot';
    dot.style.background = colorOf(e.agent || '');
    dot.textContent = (e.name || '?').trim().charAt(0).toUpperCase() || '?';
    const name = document.createElement('span');
    name.textContent = e.name || e.agent;
    const where = document.createElement('span');
    where.className = 'where';
    if (Number.isInteger(e.index)) {
      const upto = text.slice(0, utf16Offset(text, e.index));
      where.textContent = `line ${upto.split('\n').length}`;
    }
    chip.append(dot, name, where);
    ui.presence.append(chip);
  }
}

// ---------- documents ----------

let docs = [];

async function ensureCollection() {
  try {
    const c = await api('GET', `/v1/collections/${COLLECTION}`);
    if (c && c.defined !== false && c.fields && c.fields[FIELD] === 'text') return;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
  }
  await api('PUT', `/v1/collections/${COLLECTION}`, COLLECTION_DEF);
}

async function loadDocs() {
  try {
    const res = await api('GET', `/v1/collections/${COLLECTION}/docs?limit=100`);
    docs = res.docs || [];
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) console.warn('listing documents failed', e);
  }
  renderDocs();
}

function renderDocs() {
  const list = ui.list;
  list.replaceChildren();
  const open = session?.key;
  const shown = [...docs];
  if (open && !shown.some((d) => d.key === open)) shown.unshift({ key: open, value: { title: ui.title.value } });
  if (shown.length === 0) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = 'No documents yet.';
    list.append(li);
    return;
  }
  for (const d of shown) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `#doc=${enc(d.key)}`;
    a.dataset.key = d.key;
    if (d.key === open) a.className = 'active';
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = d.value?.title || d.key;
    const s = document.createElement('span');
    s.className = 's';
    const body = d.key === open ? session.replica.value() : d.value?.[FIELD];
    s.textContent = typeof body === 'string' && body.trim() ? body.trim().slice(0, 80) : d.key;
    a.append(t, s);
    li.append(a);
    list.append(li);
  }
}

async function createDoc(title) {
  const key = slug(title);
  await api('POST', `${docPath(key)}/ops`, { ops: [{ op: 'set', path: '/title', value: title }] });
  docs.unshift({ key, value: { title } });
  location.hash = `doc=${enc(key)}`;
}

function openDoc(key) {
  if (session && session.key === key) return;
  if (session) {
    session.close();
    session = null;
  }
  ui.empty.hidden = !!key;
  ui.view.hidden = !key;
  if (!key) {
    showConn('idle');
    ui.editor.disabled = true;
    renderDocs();
    return;
  }
  let s = sessions.get(key);
  if (!s) {
    s = new DocSession(key);
    sessions.set(key, s);
  }
  session = s;
  const d = docs.find((x) => x.key === key);
  ui.title.value = d?.value?.title || '';
  ui.editor.value = s.carry ?? s.replica.value();
  ui.editor.disabled = false;
  // Nothing to make operations on before the first snapshot (a page carrying text from a
  // refused session keeps typing: that text is redone on the snapshot).
  ui.editor.readOnly = !s.loaded && s.carry === null;
  ui.presence.replaceChildren();
  renderDocs();
  renderSync();
  renderMeta();
  s.open();
  fetchTitle(key);
}

async function fetchTitle(key) {
  try {
    const d = await api('GET', docPath(key));
    if (session?.key === key && document.activeElement !== ui.title) ui.title.value = d.value?.title || '';
  } catch { /* not created yet */ }
}

ui.title.addEventListener('change', async () => {
  if (!session) return;
  const key = session.key;
  const title = ui.title.value.trim() || 'Untitled';
  try {
    await api('POST', `${docPath(key)}/ops`, { ops: [{ op: 'set', path: '/title', value: title }] });
    const d = docs.find((x) => x.key === key);
    if (d) d.value = { ...d.value, title };
    renderDocs();
  } catch (e) {
    toast(`Could not rename: ${e.message}`);
  }
});
ui.title.addEventListener('keydown', (e) => { if (e.key === 'Enter') ui.editor.focus(); });

ui.newForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const title = ui.newTitle.value.trim() || `Untitled ${new Date().toLocaleTimeString()}`;
  try {
    await ensureCollection();
    await createDoc(title);
    ui.newTitle.value = '';
    ui.editor.focus();
  } catch (err) {
    toast(`Could not create the document: ${err.message}`);
  }
});
ui.refresh.addEventListener('click', loadDocs);

function keyFromHash() {
  const m = /(?:^#|&)doc=([^&]+)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}
window.addEventListener('hashchange', () => openDoc(keyFromHash()));

async function showRegion() {
  try {
    const c = await api('GET', '/v1/cluster');
    if (c?.region) ui.region.textContent = c.region;
  } catch {
    ui.region.textContent = 'unreachable';
  }
}

async function start() {
  showRegion();
  try {
    await ensureCollection();
  } catch (e) {
    toast(`Could not set up the docs collection: ${e.message}`);
  }
  await loadDocs();
  openDoc(keyFromHash());
  setInterval(() => { if (!document.hidden) loadDocs(); }, 5000);
}

// For tests and debugging: the open session's state.
window.meridianDocs = {
  get agent() { return session?.agent ?? null; },
  get state() { return session?.state ?? 'idle'; },
  get value() { return session?.replica.value() ?? null; },
  get unacknowledged() { return session ? session.outbox.length + session.unsent.length : 0; },
  get pending() { return session ? session.replica.pendingCount : 0; },
  get version() { return session ? session.replica.version() : {}; },
  get seen() { return session?.v ?? ''; }, // the region's vector the page has caught up with
  // For tests: the next edits claim to be made on an empty state, which the region refuses
  // as stale once it has promised anything (what a page away for long meets).
  debugForgetSeen() { if (session) session.v = ''; },
  encode() { return session ? session.replica.encode() : null; },
};

start();
