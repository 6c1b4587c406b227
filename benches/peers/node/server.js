// What a user writes instead of pivotforge's rule flow `main_number_tod`, in Node.js: a plain
// `http` server, one process per core (cluster), that parses Kazoo's query, decides the
// time-of-day answer the flow gives (callflows/main_number_tod.toml) and sends the JSON tree.
// No validation and no logging, as a quick hand-written pivot server has none: it is the peer
// that benches/load.sh compares pivotforge against.
//
// Usage: PORT=18090 node benches/peers/node/server.js   (listens on 127.0.0.1 only)
// `require('./server.js').answer(date)` gives the tree for an instant, for the harness's check.
'use strict';
const cluster = require('node:cluster');
const http = require('node:http');
const os = require('node:os');
const querystring = require('node:querystring');

const FRONT_DESK = '3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b';
const MAILBOX = '9a8b7c6d5e4f30211a2b3c4d5e6f7a8b';
// Holidays by month-day; `closed` in minutes of the day, [from, to), null for all day.
const HOLIDAYS = {
  '12-24': [12 * 60, 24 * 60],
  '12-25': null,
  '01-01': null,
};
const OPEN_DAYS = new Set(['Mon', 'Tue', 'Wed', 'Thu', 'Fri']);
const OPENS = 9 * 60;
const CLOSES = 17 * 60;

const newYork = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  hourCycle: 'h23',
  weekday: 'short',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
});

const voicemail = () => ({ module: 'voicemail', data: { id: MAILBOX } });

/** The reply tree for the instant `date`. */
function answer(date) {
  const parts = {};
  for (const p of newYork.formatToParts(date)) parts[p.type] = p.value;
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  const day = `${parts.month}-${parts.day}`;
  if (day in HOLIDAYS) {
    const closed = HOLIDAYS[day];
    if (closed === null || (minute >= closed[0] && minute < closed[1])) return voicemail();
  }
  if (OPEN_DAYS.has(parts.weekday) && minute >= OPENS && minute < CLOSES) {
    return {
      module: 'device',
      data: { id: FRONT_DESK, timeout: 20 },
      children: { _: voicemail() },
    };
  }
  return voicemail();
}

function handle(req, res) {
  const q = req.url.indexOf('?');
  // Parsed as a user's server would, though this flow's answer needs none of it.
  const params = querystring.parse(q < 0 ? '' : req.url.slice(q + 1));
  void params['Call-ID'];
  const body = JSON.stringify(answer(new Date()));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

if (require.main !== module) {
  module.exports = { answer };
} else if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS) || os.availableParallelism();
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  http.createServer(handle).listen(Number(process.env.PORT) || 18090, '127.0.0.1');
}
