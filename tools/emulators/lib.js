// Shared pieces of the Stripe, PayPal and MTN MoMo emulators (the Daraja
// emulator predates this file and keeps its own copy): command line, the
// shiftable clock, the ledger file, HTTP helpers, scripted rules, HTTP faults
// and outbound webhook delivery with hold/flush/duplicate/retry faults.
//
// Node.js standard library only. Everything listens on and talks to
// 127.0.0.1 only.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

// ---------------------------------------------------------------------------
// Command line: spec = { '--opt': { key, type: 'num'|'str'|'bool'|'list', def, help } }

function parseArgs(name, spec, argv) {
	const o = {};
	for (const s of Object.values(spec))
		o[s.key] = s.type === 'list' ? [] : s.def;
	const usage = (code) => {
		const lines = [`usage: ${name} [options]`];
		for (const [flag, s] of Object.entries(spec))
			lines.push(`  ${(flag + (s.type === 'bool' ? '' : ' ' + (s.meta || 'V'))).padEnd(26)} ${s.help}`);
		(code ? process.stderr : process.stdout).write(lines.join('\n') + '\n');
		process.exit(code);
	};
	for (let i = 2; i < argv.length; i++) {
		const a = argv[i];
		if (a === '-h' || a === '--help')
			usage(0);
		const s = spec[a];
		if (!s) {
			process.stderr.write(`${name}: unknown option ${a}\n`);
			usage(2);
		}
		if (s.type === 'bool') {
			o[s.key] = true;
			continue;
		}
		if (i + 1 >= argv.length) {
			process.stderr.write(`${name}: ${a} needs a value\n`);
			process.exit(2);
		}
		const v = argv[++i];
		if (s.type === 'num') {
			if (!/^\d+$/.test(v)) {
				process.stderr.write(`${name}: ${a} needs a non-negative integer\n`);
				process.exit(2);
			}
			o[s.key] = Number(v);
		} else if (s.type === 'list') {
			o[s.key].push(v);
		} else {
			o[s.key] = v;
		}
	}
	if (o.port !== undefined && o.port > 65535)
		usage(2);
	return o;
}

// ---------------------------------------------------------------------------
// Clock: real time plus a shift set through the control API.

const clock = {
	shiftMs: 0,
	now() { return Date.now() + this.shiftMs; },
	nowS() { return Math.floor(this.now() / 1000); },
	/** RFC 3339 UTC without fractions, e.g. 2026-11-25T13:46:14Z */
	rfc3339(ms) { return new Date(ms === undefined ? this.now() : ms).toISOString().replace(/\.\d{3}Z$/, 'Z'); },
	/** Control body {set: unix-seconds | RFC 3339} or {shift_ms: N}; returns an error text or null. */
	control(body) {
		if (body.set !== undefined) {
			let ms;
			if (typeof body.set === 'number' && Number.isInteger(body.set))
				ms = body.set * 1000;
			else if (typeof body.set === 'string' && /^\d{4}-\d\d-\d\dT/.test(body.set))
				ms = Date.parse(body.set);
			if (ms === undefined || Number.isNaN(ms))
				return 'set: unix seconds or an RFC 3339 time expected';
			this.shiftMs = ms - Date.now();
		} else if (body.shift_ms !== undefined) {
			if (!Number.isInteger(body.shift_ms))
				return 'shift_ms: integer expected';
			this.shiftMs += body.shift_ms;
		} else {
			return 'set or shift_ms expected';
		}
		return null;
	},
	view() { return { now: this.rfc3339(), unix: this.nowS(), shift_ms: this.shiftMs }; },
};

// ---------------------------------------------------------------------------
// Ledger: one JSON line per successful charge, appended and fsynced before
// the notification about that charge leaves; reloaded at start.

class Ledger {
	constructor(path, log) {
		this.entries = [];
		this.fd = null;
		if (!path)
			return;
		if (fs.existsSync(path)) {
			for (const line of fs.readFileSync(path, 'utf8').split('\n')) {
				if (!line.trim())
					continue;
				try {
					this.entries.push(JSON.parse(line));
				} catch (err) {
					log(`ledger: skipping a torn line (${err.message})`);
				}
			}
		}
		this.fd = fs.openSync(path, 'a', 0o600);
	}
	append(entry) {
		this.entries.push(entry);
		if (this.fd === null)
			return;
		fs.writeSync(this.fd, JSON.stringify(entry) + '\n');
		fs.fsyncSync(this.fd);
	}
	truncate() {
		this.entries = [];
		if (this.fd === null)
			return;
		fs.ftruncateSync(this.fd, 0);
		fs.fsyncSync(this.fd);
	}
	close() {
		if (this.fd !== null)
			fs.closeSync(this.fd);
		this.fd = null;
	}
}

// ---------------------------------------------------------------------------
// HTTP helpers

const MAX_BODY = 64 * 1024;

function send(res, status, body, headers) {
	const text = body === null ? '' : typeof body === 'string' ? body : JSON.stringify(body);
	const h = Object.assign({}, headers || {});
	if (text !== '' && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type'))
		h['Content-Type'] = 'application/json';
	h['Content-Length'] = Buffer.byteLength(text);
	res.writeHead(status, h);
	res.end(text);
}

/** The raw request body as a Buffer, or null when over MAX_BODY. */
function readBody(req) {
	return new Promise((resolve) => {
		const chunks = [];
		let size = 0;
		let over = false;
		req.on('data', (c) => {
			size += c.length;
			if (size > MAX_BODY)
				over = true;
			else
				chunks.push(c);
		});
		req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
		req.on('error', () => resolve(null));
	});
}

/** A JSON object, or undefined. */
function parseJson(text) {
	if (text === null || text === undefined)
		return undefined;
	try {
		const v = JSON.parse(text);
		return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
	} catch (e) {
		return undefined;
	}
}

function basicAuth(req) {
	const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization || '');
	if (!m)
		return null;
	const dec = Buffer.from(m[1], 'base64').toString('utf8');
	const c = dec.indexOf(':');
	return c < 0 ? { user: dec, pass: '' } : { user: dec.slice(0, c), pass: dec.slice(c + 1) };
}

function bearer(req) {
	const m = /^Bearer (\S+)$/i.exec(req.headers.authorization || '');
	return m ? m[1] : null;
}

function safeEqual(a, b) {
	const x = Buffer.from(String(a));
	const y = Buffer.from(String(b));
	return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function isLoopbackHost(h) {
	return h === '127.0.0.1' || h === 'localhost' || h === '[::1]' || h === '::1';
}

function validUrl(s) {
	if (typeof s !== 'string' || s.length > 2048)
		return null;
	try {
		const u = new URL(s);
		return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname ? u : null;
	} catch (e) {
		return null;
	}
}

const uuid4 = () => crypto.randomUUID();
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function randFrom(alphabet, n) {
	let s = '';
	while (s.length < n) {
		for (const b of crypto.randomBytes(n * 2)) {
			if (b < 256 - (256 % alphabet.length))
				s += alphabet[b % alphabet.length];
			if (s.length === n)
				break;
		}
	}
	return s;
}

// ---------------------------------------------------------------------------
// Rules: {match:{...}, outcome, http:{...}, notify:{...}, times}. The first
// rule whose match fits and whose times is not used up applies.

function checkKeys(obj, allowed, where) {
	if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
		return `${where}: must be an object`;
	for (const k of Object.keys(obj))
		if (!allowed.includes(k))
			return `${where}: unknown key ${k}`;
	return null;
}

const isUint = (v) => Number.isInteger(v) && v >= 0;

const HTTP_KEYS = ['status', 'reset', 'hang', 'delay_ms', 'process', 'retry_after', 'saved', 'body'];
const NOTIFY_KEYS = ['delay_ms', 'duplicate', 'missing', 'hold'];

function checkHttp(h, w) {
	let e = checkKeys(h, HTTP_KEYS, w);
	if (e)
		return e;
	if (h.status !== undefined && !(Number.isInteger(h.status) && h.status >= 400 && h.status <= 599))
		return `${w}.status: 400..599 expected`;
	for (const k of ['reset', 'hang', 'process', 'saved'])
		if (h[k] !== undefined && typeof h[k] !== 'boolean')
			return `${w}.${k}: boolean expected`;
	for (const k of ['delay_ms', 'retry_after'])
		if (h[k] !== undefined && !isUint(h[k]))
			return `${w}.${k}: non-negative integer expected`;
	if (h.body !== undefined && typeof h.body !== 'string')
		return `${w}.body: string expected`;
	return null;
}

function checkNotify(n, w, extra) {
	const e = checkKeys(n, NOTIFY_KEYS.concat(extra || []), w);
	if (e)
		return e;
	if (n.delay_ms !== undefined && !isUint(n.delay_ms))
		return `${w}.delay_ms: non-negative integer expected`;
	if (n.duplicate !== undefined && typeof n.duplicate !== 'boolean' && !isUint(n.duplicate))
		return `${w}.duplicate: boolean or count expected`;
	for (const k of ['missing', 'hold'])
		if (n[k] !== undefined && typeof n[k] !== 'boolean')
			return `${w}.${k}: boolean expected`;
	return null;
}

class Rules {
	/**
	 * @param validate (rule, where) -> error text or null, for the
	 *        emulator-specific keys; match keys are compared with === on String().
	 */
	constructor(ruleKeys, matchKeys, validate) {
		this.ruleKeys = ruleKeys;
		this.matchKeys = matchKeys;
		this.validate = validate;
		this.list = [];
	}
	load(list) {
		if (!Array.isArray(list))
			return 'rules: array expected';
		for (let i = 0; i < list.length; i++) {
			const r = list[i];
			const w = `rules[${i}]`;
			let e = checkKeys(r, this.ruleKeys.concat(['match', 'http', 'times']), w);
			if (!e && r.match !== undefined)
				e = checkKeys(r.match, this.matchKeys, `${w}.match`);
			if (!e && r.http !== undefined)
				e = checkHttp(r.http, `${w}.http`);
			if (!e && r.times !== undefined && !(Number.isInteger(r.times) && r.times > 0))
				e = `${w}.times: positive integer expected`;
			if (!e)
				e = this.validate(r, w);
			if (e)
				return e;
		}
		this.list = list.map((r) => Object.assign({ match: {} }, JSON.parse(JSON.stringify(r)), { used: 0 }));
		return null;
	}
	/** First usable rule; ctx holds the request's values for the match keys (endpoint included). */
	find(ctx) {
		for (const r of this.list) {
			if (r.times !== undefined && r.used >= r.times)
				continue;
			const ep = r.match.endpoint || ctx.defaultEndpoint;
			if (ep !== 'any' && ep !== ctx.endpoint)
				continue;
			let ok = true;
			for (const k of this.matchKeys) {
				if (k === 'endpoint' || r.match[k] === undefined)
					continue;
				if (ctx[k] === undefined || String(r.match[k]) !== String(ctx[k]))
					ok = false;
			}
			if (ok)
				return r;
		}
		return null;
	}
}

// ---------------------------------------------------------------------------
// HTTP faults shared by the emulators: reset, hang. Status answers are the
// emulator's (each has its own error envelope).

const hung = new Set();

function resetConn(req) {
	req.socket.resetAndDestroy();
}

function hang(req) {
	hung.add(req.socket);
	req.socket.on('close', () => hung.delete(req.socket));
}

/** A response sink for answers that a fault throws away. */
function nullRes() {
	return { writeHead() {}, end() {}, setHeader() {}, headersSent: false };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Outbound notifications (webhooks, callbacks).
//
// A notification is {kind, id, url, method, body (string), sign(attempt) ->
// headers}. sign() runs at each attempt, so every attempt carries a fresh
// timestamp/signature where the provider does that. Faults: delay_ms,
// duplicate (N more copies), missing, hold (until flush). Retries on non-2xx
// or transport errors: retries (count) every retry_ms.

class Notifier {
	constructor(log) {
		this.log = log;
		this.held = [];
		this.deliveries = [];
		this.timers = new Set();
		this.timeoutMs = 5000;
		this.gapMs = 50;
	}
	later(ms, fn) {
		const t = setTimeout(() => {
			this.timers.delete(t);
			fn();
		}, ms);
		this.timers.add(t);
	}
	reset() {
		for (const t of this.timers)
			clearTimeout(t);
		this.timers.clear();
		this.held = [];
		this.deliveries = [];
	}
	/** n: notification; f: fault object; retry: {retries, retry_ms}. */
	schedule(n, f, retry) {
		f = f || {};
		if (f.missing) {
			this.deliveries.push({ kind: n.kind, id: n.id, url: n.url, at: clock.rfc3339(), attempt: 0,
				status: null, error: 'dropped (missing fault)' });
			return;
		}
		const copies = 1 + (f.duplicate === true ? 1 : (f.duplicate || 0));
		for (let c = 0; c < copies; c++) {
			const go = () => {
				if (f.hold)
					this.held.push({ n, retry, copy: c });
				else
					this.attempt(n, retry, 1, c);
			};
			const delay = (f.delay_ms || 0) + c * this.gapMs;
			if (delay === 0)
				go();
			else
				this.later(delay, go);
		}
	}
	flush(order) {
		const batch = this.held;
		this.held = [];
		if (order === 'lifo')
			batch.reverse();
		for (const h of batch)
			this.attempt(h.n, h.retry, 1, h.copy);
		return batch.map((h) => h.n.id);
	}
	attempt(n, retry, attempt, copy) {
		const headers = n.sign ? n.sign(attempt, copy) : {};
		const rec = { kind: n.kind, id: n.id, url: n.url, at: clock.rfc3339(), attempt, copy,
			headers, bytes: Buffer.byteLength(n.body), status: null, error: null };
		this.deliveries.push(rec);
		const again = () => {
			if (retry && attempt <= (retry.retries || 0))
				this.later(retry.retry_ms || 1000, () => this.attempt(n, retry, attempt + 1, copy));
		};
		sendHttp(n.method || 'POST', n.url, n.body, headers, this.timeoutMs, (err, status) => {
			if (err)
				rec.error = err.message;
			else
				rec.status = status;
			this.log(`${n.kind} ${n.id} attempt ${attempt} -> ${err ? err.message : status}`);
			if (n.onResult)
				n.onResult(err, status, attempt);
			if (err || status < 200 || status > 299)
				again();
		});
	}
}

/** Send a body to a loopback http URL; done(err, status, text) runs once. */
function sendHttp(method, url, body, headers, timeoutMs, done) {
	const u = validUrl(url);
	if (!u || u.protocol !== 'http:' || !isLoopbackHost(u.hostname))
		return done(new Error('not sent: the emulator delivers to http://127.0.0.1 (loopback) only'));
	let finished = false;
	const finish = (err, status, text) => {
		if (!finished) {
			finished = true;
			done(err, status, text);
		}
	};
	const req = http.request(u, {
		method,
		headers: Object.assign({ 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
			headers),
		timeout: timeoutMs,
	}, (res) => {
		const chunks = [];
		res.on('data', (c) => chunks.push(c));
		res.on('end', () => finish(null, res.statusCode, Buffer.concat(chunks).toString('utf8')));
		res.on('error', (err) => finish(err));
	});
	req.on('timeout', () => req.destroy(new Error('timeout')));
	req.on('error', (err) => finish(err));
	req.end(body);
}

// ---------------------------------------------------------------------------
// Server start

function serve(name, port, handler, onStop) {
	const log = (m) => process.stderr.write(`${name}: ${m}\n`);
	const server = http.createServer((req, res) => {
		handler(req, res).catch((err) => {
			log(`internal error: ${err.stack}`);
			if (!res.headersSent)
				send(res, 500, { error: 'emulator internal error' });
		});
	});
	server.keepAliveTimeout = 5000;
	server.on('error', (err) => {
		log(err.message);
		process.exit(1);
	});
	server.listen(port, '127.0.0.1', () => {
		process.stdout.write(`listening ${server.address().port}\n`);
	});
	const stop = () => {
		for (const s of hung)
			s.destroy();
		server.close();
		if (onStop)
			onStop();
		process.exit(0);
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
	return server;
}

module.exports = {
	parseArgs, clock, Ledger, send, readBody, parseJson, basicAuth, bearer, safeEqual, isLoopbackHost,
	validUrl, uuid4, UUID_RE, randFrom, checkKeys, checkNotify, isUint, Rules, resetConn, hang, nullRes,
	sleep, Notifier, sendHttp, serve,
};
