// The live page of `speedlayer serve`: one section per topic with records per window (SVG bars)
// and the current window's top terms with their error bounds, lag and readiness on top.
// First paint from /v1/topics and /v1/views, then only /v1/stream (Server-Sent Events; the
// browser's EventSource reconnects and resumes with Last-Event-ID). No library, no inline
// script or style (strict Content-Security-Policy), text only through textContent and
// attributes: topic names and terms come from the data. Every chart is an <svg role="img">
// with an aria-label summary and a table of the same numbers (visually hidden unless "Show
// data tables" is pressed).
'use strict';

(() => {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const BAR_LIMIT = 150;   // more window slots than this: one path instead of one bar each
  const MIN_SLOTS = 30;    // the windows chart spans at least this many windows (newest right)
  const TABLE_ROWS = 100;  // windows listed in a windows table (the newest)
  const RENDER_MS = 250;   // a topic is redrawn at most this often
  const LABEL_CHARS = 24;  // term labels longer than this are cut (the table has them whole)

  const numberFormat = new Intl.NumberFormat();
  const timeFormat = new Intl.DateTimeFormat(undefined,
    { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const fmt = (n) => numberFormat.format(n);
  const time = (ms) => timeFormat.format(new Date(ms));
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

  function duration(ms) {
    if (ms > 0 && ms % 3600000 === 0) return `${ms / 3600000} h`;
    if (ms > 0 && ms % 60000 === 0) return `${ms / 60000} min`;
    if (ms > 0 && ms % 1000 === 0) return `${ms / 1000} s`;
    return `${fmt(ms)} ms`;
  }

  function cut(text, max) {
    const chars = Array.from(text);  // whole code points, never half a surrogate pair
    return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : text;
  }

  // A round number at least v with a whole half: the top of a chart's scale (its middle line).
  function niceMax(v) {
    if (v <= 2) return 2;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
      const top = p >= 10 ? Math.round(m * p) : m * p;
      if (top >= v && Number.isInteger(top / 2)) return top;
    }
    return 10 * p;
  }

  // --- DOM helpers (no innerHTML anywhere) -----------------------------------------------
  function build(element, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) element.setAttribute(k, String(v));
    }
    for (const c of [].concat(children ?? [])) if (c !== null && c !== undefined) element.append(c);
    return element;
  }
  const h = (tag, attrs, children) => build(document.createElement(tag), attrs, children);
  const s = (tag, attrs, children) => build(document.createElementNS(SVG_NS, tag), attrs, children);
  const $ = (id) => document.getElementById(id);

  function setValue(element, value, text) {
    const v = String(value);
    if (element.dataset.value !== v) element.dataset.value = v;
    if (element.textContent !== text) element.textContent = text;
  }
  function setText(element, text) {
    if (element.textContent !== text) element.textContent = text;
  }

  // --- state ------------------------------------------------------------------------------
  const topics = new Map();  // name -> topic state
  const status = { connection: 'connecting', received: false, ready: null, reason: '', lag: {} };
  let sections = 0;

  function topicState(name) {
    let t = topics.get(name);
    if (!t) {
      t = { name, windowMs: 0, late: null, windows: [], totals: null, streamed: false,
        timer: 0, lastRender: 0, ui: null };
      topics.set(name, t);
      t.ui = buildSection(name);
      renderHeader();
    }
    return t;
  }

  // The window whose terms are shown: the newest one still open, else the newest.
  function currentWindow(t) {
    for (let i = t.windows.length - 1; i >= 0; i--) if (!t.windows[i].final) return t.windows[i];
    return t.windows.length ? t.windows[t.windows.length - 1] : null;
  }

  function applyView(v, live) {
    if (!v || typeof v.topic !== 'string' || !Array.isArray(v.windows)) return;
    const t = topicState(v.topic);
    if (!live && t.streamed) return;  // a first-paint answer older than the stream's data
    if (typeof v.window_ms === 'number') t.windowMs = v.window_ms;
    if (typeof v.late === 'number') t.late = v.late;
    let windows;
    if (v.snapshot === false) {
      const byStart = new Map(t.windows.map((w) => [w.start, w]));
      for (const w of v.windows) byStart.set(w.start, w);
      windows = [...byStart.values()];
    } else {
      windows = v.windows.slice();
    }
    if (typeof v.oldest === 'number') windows = windows.filter((w) => w.start >= v.oldest);
    t.windows = windows.sort((a, b) => a.start - b.start);
    if (live) t.streamed = true;
    schedule(t);
  }

  function applyTotals(entry) {
    if (!entry || typeof entry.topic !== 'string') return;
    const t = topicState(entry.topic);
    t.totals = entry;
    schedule(t);
  }

  function applyStatus(st) {
    if (!st || typeof st !== 'object') return;
    status.received = true;
    status.ready = st.ready === true;
    status.reason = typeof st.reason === 'string' ? st.reason : '';
    status.lag = st.lag && typeof st.lag === 'object' ? st.lag : {};
    if (Array.isArray(st.topics)) st.topics.forEach(applyTotals);
    for (const t of topics.values()) schedule(t);  // each section shows its lag
    renderHeader();
  }

  function schedule(t) {
    if (t.timer) return;
    const wait = Math.max(0, t.lastRender + RENDER_MS - performance.now());
    t.timer = setTimeout(() => {
      t.timer = 0;
      t.lastRender = performance.now();
      renderTopic(t);
    }, wait);
  }

  // --- page header: connection, readiness, lag --------------------------------------------
  const CONNECTION_TEXT = {
    connecting: 'Connecting…', connected: 'Connected: live', reconnecting: 'Reconnecting…',
  };

  function setConnection(state) {
    if (status.connection === state) return;
    status.connection = state;
    if (state !== 'connected') {  // readiness and lag are unknown until the next status event
      status.received = false;
      status.lag = {};
      for (const t of topics.values()) schedule(t);
    }
    renderHeader();
  }

  function renderHeader() {
    const connection = $('connection');
    connection.dataset.state = status.connection;
    setText(connection, CONNECTION_TEXT[status.connection]);
    const readiness = $('readiness');
    readiness.dataset.ready = status.received ? String(status.ready) : 'unknown';
    setText(readiness, !status.received ? 'Readiness unknown'
      : status.ready ? 'Ready' : `Not ready: ${status.reason || 'no reason given'}`);

    const names = [...new Set([...topics.keys(), ...Object.keys(status.lag)])].sort();
    const list = $('lag');
    let total = 0;
    const items = names.filter((n) => typeof status.lag[n] === 'number').map((n) => {
      total += status.lag[n];
      return h('li', { 'data-topic': n, 'data-value': status.lag[n] },
        `${n}: ${fmt(status.lag[n])}`);
    });
    list.replaceChildren(...items);
    setValue($('lag-total'), status.received ? total : '',
      status.received ? fmt(total) : 'unknown');
    $('no-topics').hidden = topics.size > 0;
  }

  // --- a topic's section --------------------------------------------------------------------
  function stat(label, cls) {
    const value = h('span', { class: cls, 'data-value': '' }, '–');
    const detail = h('span', { class: `${cls}-detail detail` });
    return { node: h('div', { class: 'stat' }, [h('dt', {}, label), h('dd', {}, [value, detail])]),
      value, detail };
  }

  function chart(cls, columns) {
    const svg = s('svg', { class: `chart ${cls}`, role: 'img', 'aria-label': 'No data yet',
      viewBox: '0 0 720 200', preserveAspectRatio: 'xMinYMin meet' });
    const caption = h('caption');
    const body = h('tbody');
    const table = h('table', { class: `data-table visually-hidden ${cls}-table` }, [caption,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))), body]);
    return { svg, caption, body, table };
  }

  function legend(entries) {
    return h('ul', { class: 'legend' }, entries.map(([cls, text]) =>
      h('li', {}, [h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), text])));
  }

  function buildSection(name) {
    const id = `topic-${++sections}`;
    const stats = {
      total: stat('Records in retention', 'total-count'),
      window: stat('Current window', 'window-count'),
      late: stat('Late (not counted)', 'late-count'),
      malformed: stat('Malformed', 'malformed-count'),
      consumed: stat('Consumed', 'consumed-count'),
      lag: stat('Consumer lag', 'lag-count'),
    };
    const windows = chart('windows-chart',
      ['Window start', 'Window end', 'Records', 'Late', 'State']);
    const terms = chart('terms-chart', ['Term', 'Count', 'Error (±)', 'Certainly in the top']);
    const termsWhen = h('span', { class: 'terms-window' }, 'no window yet');
    const section = h('section', { class: 'topic', id, 'data-topic': name,
      'aria-labelledby': `${id}-title` }, [
      h('h2', { id: `${id}-title` }, [h('span', { class: 'visually-hidden' }, 'Topic '), name]),
      h('dl', { class: 'stats' }, Object.values(stats).map((x) => x.node)),
      h('h3', {}, 'Records per window'),
      h('div', { class: 'chart-box' }, [windows.svg, windows.table]),
      legend([['swatch-final', 'Final window'], ['swatch-open', 'Open window (still counting)'],
        ['swatch-late', 'Late records (arrived after the window closed)']]),
      h('h3', {}, ['Top terms, window ', termsWhen]),
      h('div', { class: 'chart-box' }, [terms.svg, terms.table]),
      legend([['swatch-term', 'Certain part of the count (count − error)'],
        ['swatch-error', 'Error bound (count ± error)'],
        ['swatch-uncertain', '* not certainly in the top terms']]),
    ]);
    insertSorted($('topics'), section, name);
    const link = h('li', { 'data-topic': name }, h('a', { href: `#${id}` }, name));
    insertSorted($('topic-nav'), link, name);
    return { section, stats, windows, terms, termsWhen };
  }

  function insertSorted(parent, node, name) {
    const after = [...parent.children].find(
      (c) => c.dataset.topic !== undefined && c.dataset.topic > name);
    parent.insertBefore(node, after || null);
  }

  function renderTopic(t) {
    const { stats } = t.ui;
    let total = 0;
    for (const w of t.windows) total += num(w.count);
    if (!t.windows.length && t.totals) total = num(t.totals.count);
    setValue(stats.total.value, total, fmt(total));
    const plural = t.windows.length === 1 ? '' : 's';
    setText(stats.total.detail,
      ` in ${fmt(t.windows.length)} window${plural} of ${duration(t.windowMs)}`);

    const cur = currentWindow(t);
    setValue(stats.window.value, cur ? num(cur.count) : 0, cur ? fmt(num(cur.count)) : '–');
    setText(stats.window.detail, cur
      ? ` (${time(cur.start)}–${time(cur.end)}, ${cur.final ? 'final' : 'open'})` : '');

    const late = t.late !== null ? t.late : (t.totals ? num(t.totals.late) : 0);
    setValue(stats.late.value, late, fmt(late));

    const reasons = t.totals && t.totals.malformed && typeof t.totals.malformed === 'object'
      ? Object.entries(t.totals.malformed).filter(([, n]) => num(n) > 0) : [];
    const malformed = reasons.reduce((sum, [, n]) => sum + num(n), 0);
    setValue(stats.malformed.value, malformed, fmt(malformed));
    setText(stats.malformed.detail, reasons.length
      ? ` (${reasons.map(([r, n]) => `${r}: ${fmt(num(n))}`).join(', ')})` : '');

    const consumed = t.totals ? num(t.totals.consumed) : 0;
    setValue(stats.consumed.value, consumed, fmt(consumed));
    const lag = status.lag[t.name];
    setValue(stats.lag.value, typeof lag === 'number' ? lag : '',
      typeof lag === 'number' ? fmt(lag) : 'unknown');

    renderWindows(t);
    renderTerms(t, cur);
  }

  // --- records per window -------------------------------------------------------------------
  function renderWindows(t) {
    const { svg, caption, body } = t.ui.windows;
    const ws = t.windows;
    const W = 720, H = 200, L = 64, R = 12, T = 12, B = 32;
    const what = `Records per ${duration(t.windowMs)} window, topic ${t.name}`;
    if (!ws.length) {
      svg.setAttribute('viewBox', `0 0 ${W} 48`);
      svg.setAttribute('aria-label', `${what}: no windows yet`);
      svg.replaceChildren(s('text', { x: W / 2, y: 28, class: 'empty', 'text-anchor': 'middle' },
        'No windows yet'));
      caption.textContent = `${what}: no windows yet`;
      body.replaceChildren();
      return;
    }
    const first = ws[0].start, lastW = ws[ws.length - 1];
    const step = t.windowMs > 0 ? t.windowMs : Math.max(1, lastW.end - lastW.start);
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const slots = Math.max(MIN_SLOTS, Math.round((lastW.start - first) / step) + 1);
    const origin = lastW.start - (slots - 1) * step;  // the left edge: newest window on the right
    let top = 1, total = 0, lateSum = 0, busiest = ws[0];
    for (const w of ws) {
      top = Math.max(top, num(w.count) + num(w.late));
      total += num(w.count);
      lateSum += num(w.late);
      if (num(w.count) > num(busiest.count)) busiest = w;
    }
    const yMax = niceMax(top);
    const pw = W - L - R, ph = H - T - B, base = T + ph;
    const slotW = pw / slots;
    const x = (start) => L + ((start - origin) / step) * slotW;
    const y = (v) => base - (v / yMax) * ph;
    const parts = [];
    for (const v of [0, yMax / 2, yMax]) {
      parts.push(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
      parts.push(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmt(v)));
    }
    const gap = slotW > 4 ? Math.min(2, slotW * 0.15) : 0;
    const bw = Math.max(0.5, slotW - gap);
    if (slots <= BAR_LIMIT) {
      for (const w of ws) {
        const c = num(w.count), l = num(w.late), x0 = x(w.start) + gap / 2;
        const cls = w.final ? 'window final' : 'window open';
        const g = s('g', { class: cls, 'data-start': w.start }, [
          s('title', {}, `${time(w.start)}–${time(w.end)}: ${fmt(c)} records, ${fmt(l)} late` +
            (w.final ? '' : ' (open)')),
          s('rect', { x: x0, y: y(c), width: bw, height: base - y(c), class: 'bar-count' }),
        ]);
        if (l > 0) {
          g.append(s('rect', { x: x0, y: y(c + l), width: bw, height: y(c) - y(c + l),
            class: 'bar-late' }));
        }
        parts.push(g);
      }
    } else {  // thousands of windows: two paths, not thousands of rects
      let counts = '', lates = '';
      for (const w of ws) {
        const c = num(w.count), l = num(w.late), x0 = x(w.start).toFixed(2);
        counts += `M${x0},${base}V${y(c).toFixed(2)}h${bw.toFixed(2)}V${base}Z`;
        const yc = y(c).toFixed(2);
        if (l > 0) lates += `M${x0},${yc}V${y(c + l).toFixed(2)}h${bw.toFixed(2)}V${yc}Z`;
      }
      parts.push(s('path', { d: counts, class: 'bar-count' }));
      if (lates) parts.push(s('path', { d: lates, class: 'bar-late' }));
    }
    parts.push(s('line', { x1: L, x2: W - R, y1: base, y2: base, class: 'baseline' }));
    // Time axis: the left edge's time, the middle's, the newest window's end (right edge).
    const ticks = [[origin, 'start'], [origin + Math.floor(slots / 2) * step, 'middle'],
      [lastW.start + step, 'end']];
    for (const [tick, anchor] of ticks) {
      parts.push(s('text', { x: x(tick), y: H - 10, 'text-anchor': anchor, class: 'axis' },
        time(tick)));
    }
    svg.replaceChildren(...parts);

    const newest = `newest ${fmt(num(lastW.count))} (${lastW.final ? 'final' : 'open'})`;
    svg.setAttribute('aria-label', `${what}: ${fmt(ws.length)} windows from ${time(first)} to ` +
      `${time(lastW.end)}, ${fmt(total)} records in all; most ${fmt(num(busiest.count))} in the ` +
      `window from ${time(busiest.start)}; ${newest}; ${fmt(lateSum)} late records.`);
    const shown = ws.slice(-TABLE_ROWS).reverse();
    caption.textContent = `${what}, newest first` +
      (shown.length < ws.length
        ? ` (the newest ${fmt(shown.length)} of ${fmt(ws.length)} windows)` : '');
    body.replaceChildren(...shown.map((w) => h('tr', { 'data-start': w.start }, [
      h('td', {}, time(w.start)), h('td', {}, time(w.end)), h('td', {}, fmt(num(w.count))),
      h('td', {}, fmt(num(w.late))), h('td', {}, w.final ? 'final' : 'open')])));
  }

  // --- top terms of the current window -------------------------------------------------------
  function renderTerms(t, w) {
    const { svg, caption, body } = t.ui.terms;
    const terms = w && Array.isArray(w.top) ? w.top : [];
    const when = w
      ? `${time(w.start)}–${time(w.end)} (${w.final ? 'final' : 'open'})` : 'none yet';
    setText(t.ui.termsWhen, when);
    const what = `Top terms, topic ${t.name}, window ${when}`;
    const rowH = 24, W = 720, L = 200, V = 150, T = 8;
    const H = Math.max(1, terms.length) * rowH + 2 * T;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.dataset.windowStart = w ? w.start : '';
    if (!terms.length) {
      svg.setAttribute('aria-label', `${what}: no terms`);
      svg.replaceChildren(s('text',
        { x: W / 2, y: H / 2 + 4, class: 'empty', 'text-anchor': 'middle' },
        'No terms in this window'));
      caption.textContent = `${what}: no terms`;
      body.replaceChildren();
      return;
    }
    let top = 1;
    for (const e of terms) top = Math.max(top, num(e.count) + num(e.error));
    const xMax = niceMax(top), pw = W - L - V;
    const x = (v) => L + (Math.max(0, v) / xMax) * pw;
    const label = (e) => `${fmt(num(e.count))}${num(e.error) ? ` ± ${fmt(num(e.error))}` : ''}`;
    const parts = terms.map((e, i) => {
      const c = num(e.count), err = num(e.error), y0 = T + i * rowH, bh = rowH - 8;
      const sure = e.guaranteed !== false;
      const term = String(e.term);
      return s('g', { class: sure ? 'term' : 'term uncertain', 'data-term': term, 'data-count': c,
        'data-error': err, 'data-guaranteed': String(sure) }, [
        s('title', {}, `${term}: ${label(e)}${sure ? '' : ', not certainly in the top terms'}`),
        s('text', { x: L - 8, y: y0 + bh / 2 + 8, 'text-anchor': 'end', class: 'term-label' },
          cut(term, LABEL_CHARS) + (sure ? '' : ' *')),
        s('rect', { x: L, y: y0 + 4, width: x(c - err) - L, height: bh, class: 'bar-term' }),
        err > 0 ? s('rect', { x: x(c - err), y: y0 + 4, width: x(c + err) - x(c - err), height: bh,
          class: 'bar-error' }) : null,
        s('line', { x1: x(c), x2: x(c), y1: y0 + 2, y2: y0 + bh + 6, class: 'count-mark' }),
        s('text', { x: x(c + err) + 6, y: y0 + bh / 2 + 8, class: 'term-value' }, label(e)),
      ]);
    });
    svg.replaceChildren(...parts);
    const errNote = w.term_error ? `; error bound of this window ${fmt(num(w.term_error))}` : '';
    svg.setAttribute('aria-label', `${what}: ` + terms.slice(0, 10).map((e) =>
      `${e.term} ${label(e)}${e.guaranteed === false ? ' (not certain)' : ''}`).join(', ') +
      (terms.length > 10 ? `, and ${terms.length - 10} more` : '') + errNote);
    caption.textContent = `${what}${errNote}`;
    body.replaceChildren(...terms.map((e) => h('tr', {}, [h('th', { scope: 'row' }, String(e.term)),
      h('td', {}, fmt(num(e.count))), h('td', {}, fmt(num(e.error))),
      h('td', {}, e.guaranteed === false ? 'no' : 'yes')])));
  }

  // --- data sources --------------------------------------------------------------------------
  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (err) {
      console.error(`speedlayer: a "${event.type}" event is not JSON:`, err.message);
      return null;
    }
  }

  let retryMs = 1000;
  function connect() {
    const source = new EventSource('/v1/stream');
    source.addEventListener('open', () => {
      retryMs = 1000;
      setConnection('connected');
    });
    source.addEventListener('error', () => {
      setConnection('reconnecting');
      if (source.readyState === EventSource.CLOSED) {  // the browser gave up: try again later
        source.close();
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    });
    source.addEventListener('view', (e) => applyView(parse(e), true));
    source.addEventListener('status', (e) => applyStatus(parse(e)));
  }

  async function getJson(url) {
    try {
      const r = await fetch(url, { headers: { Accept: 'application/json' } });
      return r.ok ? await r.json() : null;
    } catch {
      return null;  // the stream brings everything anyway
    }
  }

  async function firstPaint() {
    const body = await getJson('/v1/topics');
    if (!body || !Array.isArray(body.topics) || status.received) return;
    for (const entry of body.topics) {
      applyTotals(entry);
      if (!topics.get(entry.topic).streamed) {
        getJson(`/v1/views?topic=${encodeURIComponent(entry.topic)}`)
          .then((v) => applyView(v, false));
      }
    }
  }

  function start() {
    const toggle = $('toggle-tables');
    toggle.addEventListener('click', () => {
      const show = toggle.getAttribute('aria-pressed') !== 'true';
      toggle.setAttribute('aria-pressed', String(show));
      toggle.textContent = show ? 'Hide data tables' : 'Show data tables';
      document.body.classList.toggle('show-tables', show);
    });
    renderHeader();
    connect();
    firstPaint();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
