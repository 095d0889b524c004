#!/usr/bin/env node
// M-Pesa Daraja emulator for ussdgw's tests and demo.
//
// Loopback only, plain HTTP, Node.js standard library only. It mimics the
// Daraja endpoints the gateway uses (OAuth, STK push, STK query, transaction
// status) with the wire formats of the payments reference spec (specs/payments.md, section 1),
// including the surprises real clients must survive: ResultCode as a number in
// the STK callback and as a string in the STK query, 64-bit numbers in the
// callback metadata, a Balance item without Value, throttling as HTTP 500,
// the overloaded 500.001.1001 code and the misspelt query description.
//
// A control API under /__emulator/ on the same port scripts outcomes and
// faults (see tools/emulators/README.md). Every successful charge is recorded
// in a ledger (in memory, and appended + fsynced to --ledger PATH before its
// callback leaves), so a test can count what was really charged.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

// ---------------------------------------------------------------------------
// Command line

function usage(code) {
	const text = `usage: daraja-emulator [options]
  --port N                 listen port on 127.0.0.1 (0 = pick one; default 0)
  --ledger PATH            append every successful charge (JSON line, fsynced)
  --script PATH            initial rules (same JSON as POST /__emulator/script)
  --consumer-key K         OAuth consumer key (default demo-consumer-key)
  --consumer-secret S      OAuth consumer secret (default demo-consumer-secret)
  --shortcode N            merchant shortcode (default 174379)
  --passkey P              merchant passkey (default: the published sandbox passkey)
  --till N                 extra till number accepted for CustomerBuyGoodsOnline (repeatable)
  --initiator NAME         initiator name for transaction status (default testapi)
  --initiator-password P   initiator password (default Demo#Initiator1)
  --process-ms N           time until a push reaches its final state (default 500)
  --token-ttl-s N          access token lifetime (default 3599)
  --timestamp-window-s N   accepted |Timestamp - now(EAT)| (default 900; 0 = any)
  --tps N                  API requests per second before 500.003.02 (default 0 = no limit)
  --quiet                  no request log on stderr`;
	(code ? process.stderr : process.stdout).write(text + '\n');
	process.exit(code);
}

function parseArgs(argv) {
	const o = {
		port: 0, ledger: null, script: null,
		consumerKey: 'demo-consumer-key', consumerSecret: 'demo-consumer-secret',
		shortcode: '174379',
		passkey: 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919',
		tills: [], initiator: 'testapi', initiatorPassword: 'Demo#Initiator1',
		processMs: 500, tokenTtlS: 3599, timestampWindowS: 900, tps: 0, quiet: false,
	};
	const num = (v, name) => {
		if (!/^\d+$/.test(v || '')) {
			process.stderr.write(`daraja-emulator: ${name} needs a non-negative integer\n`);
			process.exit(2);
		}
		return Number(v);
	};
	for (let i = 2; i < argv.length; i++) {
		const a = argv[i];
		const next = () => {
			if (i + 1 >= argv.length) {
				process.stderr.write(`daraja-emulator: ${a} needs a value\n`);
				process.exit(2);
			}
			return argv[++i];
		};
		switch (a) {
		case '--port': o.port = num(next(), a); break;
		case '--ledger': o.ledger = next(); break;
		case '--script': o.script = next(); break;
		case '--consumer-key': o.consumerKey = next(); break;
		case '--consumer-secret': o.consumerSecret = next(); break;
		case '--shortcode': o.shortcode = next(); break;
		case '--passkey': o.passkey = next(); break;
		case '--till': o.tills.push(next()); break;
		case '--initiator': o.initiator = next(); break;
		case '--initiator-password': o.initiatorPassword = next(); break;
		case '--process-ms': o.processMs = num(next(), a); break;
		case '--token-ttl-s': o.tokenTtlS = num(next(), a); break;
		case '--timestamp-window-s': o.timestampWindowS = num(next(), a); break;
		case '--tps': o.tps = num(next(), a); break;
		case '--quiet': o.quiet = true; break;
		case '-h': case '--help': usage(0); break;
		default:
			process.stderr.write(`daraja-emulator: unknown option ${a}\n`);
			usage(2);
		}
	}
	if (o.port > 65535)
		usage(2);
	return o;
}

const opts = parseArgs(process.argv);

function log(msg) {
	if (!opts.quiet)
		process.stderr.write(`daraja-emulator: ${msg}\n`);
}

// ---------------------------------------------------------------------------
// Clock: real time plus a shift set through the control API. Timestamps,
// token expiry and receipts use it; delays between events use real timers.

let clockShiftMs = 0;
const nowMs = () => Date.now() + clockShiftMs;
const EAT_OFFSET_MS = 3 * 3600 * 1000;

const pad = (n, w) => String(n).padStart(w, '0');

/** YYYYMMDDHHmmss in Kenyan time (EAT, UTC+3), the form Daraja uses. */
function eatStamp(ms) {
	const d = new Date(ms + EAT_OFFSET_MS);
	return pad(d.getUTCFullYear(), 4) + pad(d.getUTCMonth() + 1, 2) + pad(d.getUTCDate(), 2) +
		pad(d.getUTCHours(), 2) + pad(d.getUTCMinutes(), 2) + pad(d.getUTCSeconds(), 2);
}

/** Parse an EAT YYYYMMDDHHmmss stamp to epoch ms; null when not a real time. */
function parseEatStamp(s) {
	if (typeof s !== 'string' || !/^\d{14}$/.test(s))
		return null;
	const f = [s.slice(0, 4), s.slice(4, 6), s.slice(6, 8), s.slice(8, 10), s.slice(10, 12), s.slice(12, 14)]
		.map(Number);
	const ms = Date.UTC(f[0], f[1] - 1, f[2], f[3], f[4], f[5]) - EAT_OFFSET_MS;
	return eatStamp(ms) === s ? ms : null;
}

// ---------------------------------------------------------------------------
// Static data: result codes (spec 1.3) and outcome names for scripts.

const RESULTS = {
	0: 'The service request is processed successfully.',
	1: 'The balance is insufficient for the transaction.',
	2: 'Declined due to limit rule: less than the minimum transaction amount.',
	3: 'Declined due to limit rule: greater than the maximum transaction amount.',
	4: 'Declined due to limit rule: would exceed daily transfer limit.',
	8: 'Declined due to limit rule: would exceed the maximum balance.',
	17: 'Rule limited.',
	1001: 'Unable to lock subscriber, a transaction is already in process for the current subscriber',
	1019: 'Transaction has expired',
	1025: 'An error occurred while sending a push request',
	1032: 'Request cancelled by user',
	1037: 'DS timeout user cannot be reached',
	2001: 'The initiator information is invalid.',
	2028: 'The request is not permitted according to product assignment',
	8006: 'The security credential is locked',
	9999: 'An error occurred while sending a push request',
	SFC_IC0003: 'Operator does not exist',
	R000002: 'The OriginalTransactionID is invalid.',
};

const OUTCOMES = {
	success: 0, insufficient_funds: 1, below_minimum: 2, above_maximum: 3, daily_limit: 4,
	max_balance: 8, rule_limited: 17, subscriber_locked: 1001, expired: 1019, push_error: 1025,
	cancelled: 1032, timeout: 1037, wrong_pin: 2001, not_permitted: 2028, credential_locked: 8006,
	generic_error: 9999, operator_missing: 'SFC_IC0003',
};

/** Outcome name or code -> result code (number, or string for alphanumeric codes). */
function outcomeCode(o) {
	if (typeof o === 'string' && Object.prototype.hasOwnProperty.call(OUTCOMES, o))
		return OUTCOMES[o];
	if (typeof o === 'number' && Object.prototype.hasOwnProperty.call(RESULTS, o))
		return o;
	if (typeof o === 'string' && /^\d+$/.test(o) && Object.prototype.hasOwnProperty.call(RESULTS, o))
		return Number(o);
	if (typeof o === 'string' && Object.prototype.hasOwnProperty.call(RESULTS, o))
		return o;
	return undefined;
}

// ---------------------------------------------------------------------------
// Mutable state (one emulator instance per process).

const defaultsCfg = () => ({
	token_ttl_s: opts.tokenTtlS,
	expires_in_as: 'string', // "3599" as real Daraja sends it; "number" as in the doc sample
	invalidate_previous: true,
	process_ms: opts.processMs,
	timestamp_window_s: opts.timestampWindowS,
	tps: opts.tps,
	max_amount: 250000,
	duplicate_gap_ms: 50,
	callback_timeout_ms: 5000,
	c2b_external_validation: false, // off unless Safaricom enables it for the shortcode
	c2b_validation_timeout_ms: 8000,
	c2b_register_once: false, // production registers once; the sandbox allows re-registration
});

let cfg = defaultsCfg();
const credentials = new Map([[opts.consumerKey, opts.consumerSecret]]);
const merchants = new Map([[String(opts.shortcode),
	{ passkey: opts.passkey, tills: new Set([String(opts.shortcode), ...opts.tills.map(String)]) }]]);

let tokens = new Map(); // token -> { key, expiresAt }
let latestToken = new Map(); // consumer key -> token
let rules = [];
let txs = new Map(); // CheckoutRequestID -> tx
let lockedPhones = new Map(); // phone -> CheckoutRequestID while pending
let statusReqs = [];
let ledger = [];
let held = [];
let deliveries = [];
let timers = new Set();
let hung = new Set();
let tpsWindow = { second: 0, count: 0 };
const usedReceipts = new Set();
const usedIds = new Set();

function later(ms, fn) {
	const t = setTimeout(() => {
		timers.delete(t);
		fn();
	}, ms);
	timers.add(t);
}

// ---------------------------------------------------------------------------
// Ledger file: one JSON line per successful charge, fsynced before the
// callback for that charge is sent.

let ledgerFd = null;

function ledgerOpen() {
	if (!opts.ledger)
		return;
	if (fs.existsSync(opts.ledger)) {
		const text = fs.readFileSync(opts.ledger, 'utf8');
		for (const line of text.split('\n')) {
			if (!line.trim())
				continue;
			try {
				const e = JSON.parse(line);
				ledger.push(e);
				usedReceipts.add(e.MpesaReceiptNumber);
			} catch (err) {
				log(`ledger: skipping a torn line (${err.message})`);
			}
		}
	}
	ledgerFd = fs.openSync(opts.ledger, 'a', 0o600);
}

function ledgerAppend(entry) {
	ledger.push(entry);
	if (ledgerFd === null)
		return;
	fs.writeSync(ledgerFd, JSON.stringify(entry) + '\n');
	fs.fsyncSync(ledgerFd);
}

function ledgerTruncate() {
	if (ledgerFd === null)
		return;
	fs.ftruncateSync(ledgerFd, 0);
	fs.fsyncSync(ledgerFd);
}

// ---------------------------------------------------------------------------
// Identifiers

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const UPNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

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

const randDigits = (n) => randFrom('0123456789', n);

function uniqueId(make) {
	for (;;) {
		const id = make();
		if (!usedIds.has(id)) {
			usedIds.add(id);
			return id;
		}
	}
}

/** e.g. 29115-34620561-1 */
const newMerchantRequestId = () => uniqueId(() =>
	`${randDigits(5)}-${randDigits(8)}-${1 + crypto.randomInt(3)}`);

/** ws_CO_ + DDMMYYYYHHmmss (EAT) + 4 digits, e.g. ws_CO_191220191020363925 */
const newCheckoutRequestId = () => uniqueId(() => {
	const s = eatStamp(nowMs());
	return `ws_CO_${s.slice(6, 8)}${s.slice(4, 6)}${s.slice(0, 4)}${s.slice(8)}${randDigits(4)}`;
});

/** 10 characters, upper case, e.g. NLJ7RT61SV; unique across the ledger. */
function newReceipt() {
	for (;;) {
		const r = randFrom(UPPER, 3) + randFrom(UPNUM, 7);
		if (!usedReceipts.has(r)) {
			usedReceipts.add(r);
			return r;
		}
	}
}

const newConversationId = () => uniqueId(() =>
	`AG_${eatStamp(nowMs()).slice(0, 8)}_${crypto.randomBytes(10).toString('hex')}`);

const newRequestId = () => `${randDigits(5)}-${randDigits(7)}-1`;

// ---------------------------------------------------------------------------
// HTTP helpers

const MAX_BODY = 64 * 1024;

function send(res, status, body, extraHeaders) {
	const text = typeof body === 'string' ? body : JSON.stringify(body);
	res.writeHead(status, Object.assign({
		'Content-Type': 'application/json',
		'Content-Length': Buffer.byteLength(text),
	}, extraHeaders || {}));
	res.end(text);
}

/** Daraja gateway error envelope (spec 1.1). */
function sendError(res, status, code, message, requestId) {
	send(res, status, { requestId: requestId || newRequestId(), errorCode: code, errorMessage: message });
}

const badField = (res, field) => sendError(res, 400, '400.002.02', `Bad Request - Invalid ${field}`);

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
		req.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')));
		req.on('error', () => resolve(null));
	});
}

function parseJson(text) {
	if (text === null)
		return undefined;
	try {
		const v = JSON.parse(text);
		return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
	} catch (e) {
		return undefined;
	}
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

// ---------------------------------------------------------------------------
// Rules: first rule whose match fits (and that has uses left) applies.

const ENDPOINTS = ['oauth', 'stkpush', 'stkquery', 'transactionstatus', 'c2bregister', 'c2bsimulate', 'any'];
const RULE_KEYS = ['match', 'outcome', 'callback', 'http', 'query', 'process_ms', 'times'];
const CALLBACK_KEYS = ['delay_ms', 'duplicate', 'missing', 'hold', 'amount_format', 'balance_item',
	'items_reversed'];
const HTTP_KEYS = ['status', 'reset', 'hang', 'throttle', 'quota', 'body', 'process'];

function checkKeys(obj, allowed, where) {
	if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
		return `${where}: must be an object`;
	for (const k of Object.keys(obj))
		if (!allowed.includes(k))
			return `${where}: unknown key ${k}`;
	return null;
}

const isUint = (v) => Number.isInteger(v) && v >= 0;

function validateRule(r, i) {
	const w = `rules[${i}]`;
	let e = checkKeys(r, RULE_KEYS, w);
	if (e)
		return e;
	const m = r.match === undefined ? {} : r.match;
	if ((e = checkKeys(m, ['phone', 'amount', 'endpoint'], `${w}.match`)))
		return e;
	if (m.phone !== undefined && !/^\d{6,15}$/.test(String(m.phone)))
		return `${w}.match.phone: digits expected`;
	if (m.amount !== undefined && !/^\d+$/.test(String(m.amount)))
		return `${w}.match.amount: whole shillings expected`;
	if (m.endpoint !== undefined && !ENDPOINTS.includes(m.endpoint))
		return `${w}.match.endpoint: one of ${ENDPOINTS.join(', ')}`;
	if (r.outcome !== undefined && outcomeCode(r.outcome) === undefined)
		return `${w}.outcome: unknown outcome ${JSON.stringify(r.outcome)}`;
	if (r.callback !== undefined) {
		const c = r.callback;
		if ((e = checkKeys(c, CALLBACK_KEYS, `${w}.callback`)))
			return e;
		if (c.delay_ms !== undefined && !isUint(c.delay_ms))
			return `${w}.callback.delay_ms: non-negative integer expected`;
		if (c.duplicate !== undefined && typeof c.duplicate !== 'boolean' && !isUint(c.duplicate))
			return `${w}.callback.duplicate: boolean or count expected`;
		if (c.amount_format !== undefined && !['decimal', 'integer'].includes(c.amount_format))
			return `${w}.callback.amount_format: decimal or integer`;
		for (const k of ['missing', 'hold', 'balance_item', 'items_reversed'])
			if (c[k] !== undefined && typeof c[k] !== 'boolean')
				return `${w}.callback.${k}: boolean expected`;
	}
	if (r.http !== undefined) {
		const h = r.http;
		if ((e = checkKeys(h, HTTP_KEYS, `${w}.http`)))
			return e;
		if (h.status !== undefined && !(Number.isInteger(h.status) && h.status >= 400 && h.status <= 599))
			return `${w}.http.status: 400..599 expected`;
		for (const k of ['reset', 'hang', 'throttle', 'quota', 'process'])
			if (h[k] !== undefined && typeof h[k] !== 'boolean')
				return `${w}.http.${k}: boolean expected`;
		if (h.body !== undefined && typeof h.body !== 'string')
			return `${w}.http.body: string expected`;
	}
	if (r.query !== undefined) {
		if ((e = checkKeys(r.query, ['result_code'], `${w}.query`)))
			return e;
		if (outcomeCode(r.query.result_code) === undefined)
			return `${w}.query.result_code: unknown code`;
	}
	if (r.process_ms !== undefined && !isUint(r.process_ms))
		return `${w}.process_ms: non-negative integer expected`;
	if (r.times !== undefined && !(Number.isInteger(r.times) && r.times > 0))
		return `${w}.times: positive integer expected`;
	return null;
}

function loadRules(list) {
	if (!Array.isArray(list))
		return 'rules: array expected';
	for (let i = 0; i < list.length; i++) {
		const e = validateRule(list[i], i);
		if (e)
			return e;
	}
	rules = list.map((r) => Object.assign({ match: {} }, JSON.parse(JSON.stringify(r)), { used: 0 }));
	return null;
}

/**
 * The first usable rule for a request to @endpoint with context {phone, amount}.
 * A rule without match.endpoint applies to STK pushes only.
 */
function findRule(endpoint, ctx) {
	for (const r of rules) {
		if (r.times !== undefined && r.used >= r.times)
			continue;
		const ep = r.match.endpoint || 'stkpush';
		if (ep !== 'any' && ep !== endpoint)
			continue;
		if (r.match.phone !== undefined && String(r.match.phone) !== String(ctx.phone))
			continue;
		if (r.match.amount !== undefined && Number(r.match.amount) !== Number(ctx.amount))
			continue;
		return r;
	}
	return null;
}

// ---------------------------------------------------------------------------
// Callback delivery

/**
 * POST a JSON text to a loopback http URL; done(err, status, text) runs once.
 * Other hosts and https are refused: test traffic stays on 127.0.0.1.
 */
function postJson(url, body, timeoutMs, done) {
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
		method: 'POST',
		headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
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

function deliver(kind, id, url, body) {
	const rec = { kind, id, url, at: eatStamp(nowMs()), bytes: Buffer.byteLength(body), status: null, error: null };
	deliveries.push(rec);
	postJson(url, body, cfg.callback_timeout_ms, (err, status) => {
		if (err)
			rec.error = err.message;
		else
			rec.status = status;
		log(`callback ${kind} ${id} -> ${err ? err.message : status}`);
	});
}

/** Send (or hold, drop, delay, repeat) the callback of one event. */
function scheduleCallback(kind, id, url, body, cb) {
	cb = cb || {};
	if (cb.missing) {
		deliveries.push({ kind, id, url, at: eatStamp(nowMs()), bytes: Buffer.byteLength(body),
			status: null, error: 'dropped (missing callback fault)' });
		return;
	}
	const copies = 1 + (cb.duplicate === true ? 1 : (cb.duplicate || 0));
	for (let n = 0; n < copies; n++) {
		const go = () => {
			if (cb.hold)
				held.push({ kind, id, url, body });
			else
				deliver(kind, id, url, body);
		};
		const delay = (cb.delay_ms || 0) + n * cfg.duplicate_gap_ms;
		if (delay === 0)
			go();
		else
			later(delay, go);
	}
}

// ---------------------------------------------------------------------------
// OAuth (spec 1.2)

function issueToken(key) {
	if (cfg.invalidate_previous && latestToken.has(key))
		tokens.delete(latestToken.get(key));
	let t;
	do
		t = randFrom(ALNUM, 28);
	while (tokens.has(t));
	tokens.set(t, { key, expiresAt: nowMs() + cfg.token_ttl_s * 1000 });
	latestToken.set(key, t);
	return t;
}

function handleOauth(req, res, url) {
	if (req.method !== 'GET')
		return sendError(res, 405, '405.001', 'Method Not Allowed');
	const auth = req.headers.authorization || '';
	const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(auth);
	if (!m)
		return sendError(res, 400, '400.008.01', 'Invalid Authentication passed');
	if (url.searchParams.get('grant_type') !== 'client_credentials')
		return sendError(res, 400, '400.008.02', 'Invalid grant type passed');
	const dec = Buffer.from(m[1], 'base64').toString('utf8');
	const colon = dec.indexOf(':');
	const key = colon < 0 ? dec : dec.slice(0, colon);
	const secret = colon < 0 ? '' : dec.slice(colon + 1);
	if (!credentials.has(key) || credentials.get(key) !== secret)
		return sendError(res, 400, '400.008.01', 'Invalid Authentication passed');
	const token = issueToken(key);
	const ttl = cfg.expires_in_as === 'number' ? cfg.token_ttl_s : String(cfg.token_ttl_s);
	send(res, 200, { access_token: token, expires_in: ttl });
}

/** Bearer check for the M-Pesa APIs; false when an error was sent. */
function checkBearer(req, res, endpoint) {
	const m = /^Bearer (\S+)$/i.exec(req.headers.authorization || '');
	if (!m) {
		sendError(res, 404, '404.001.04', 'Invalid Authentication passed');
		return false;
	}
	const t = tokens.get(m[1]);
	if (!t || nowMs() >= t.expiresAt) {
		if (endpoint === 'transactionstatus')
			sendError(res, 400, '400.003.01', 'Invalid Access Token');
		else
			sendError(res, 404, '404.001.03', 'Invalid Access Token');
		return false;
	}
	return true;
}

// ---------------------------------------------------------------------------
// Shared field checks for STK push and query

function shortcodeOf(v) {
	if (typeof v === 'number' && Number.isInteger(v))
		v = String(v);
	return typeof v === 'string' && /^\d{5,7}$/.test(v) ? v : null;
}

const MSISDN_KE = /^254[17]\d{8}$/;

function msisdnOf(v) {
	if (typeof v === 'number' && Number.isInteger(v))
		v = String(v);
	return typeof v === 'string' && MSISDN_KE.test(v) ? v : null;
}

/** Whole shillings >= 1 as a number or numeric string; null otherwise. */
function amountOf(v) {
	if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1e9)
		return v;
	if (typeof v === 'string' && /^\d{1,9}(\.0{1,2})?$/.test(v) && Number(v) >= 1)
		return Number(v);
	return null;
}

/**
 * Timestamp and Password, in the order Daraja reports them. Returns the
 * merchant when both are right, else null after sending the error.
 */
function checkCredentials(res, body, shortcode) {
	const ts = body.Timestamp;
	const tsMs = parseEatStamp(ts);
	if (tsMs === null ||
	    (cfg.timestamp_window_s > 0 && Math.abs(tsMs - nowMs()) > cfg.timestamp_window_s * 1000)) {
		badField(res, 'Timestamp');
		return null;
	}
	const merchant = merchants.get(shortcode);
	if (!merchant) {
		sendError(res, 500, '500.001.1001', 'Merchant does not exist');
		return null;
	}
	const want = Buffer.from(shortcode + merchant.passkey + ts).toString('base64');
	const got = typeof body.Password === 'string' ? body.Password : '';
	if (got.length !== want.length || !crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want))) {
		sendError(res, 500, '500.001.1001', 'Wrong credentials');
		return null;
	}
	return merchant;
}

// ---------------------------------------------------------------------------
// STK push (spec 1.3)

/** Validate and start an STK push; true when accepted (the answer is sent either way). */
function stkPush(res, body, rule) {
	const shortcode = shortcodeOf(body.BusinessShortCode);
	if (!shortcode)
		return badField(res, 'BusinessShortCode');
	if (parseEatStamp(body.Timestamp) === null)
		return badField(res, 'Timestamp');
	if (body.TransactionType !== 'CustomerPayBillOnline' && body.TransactionType !== 'CustomerBuyGoodsOnline')
		return badField(res, 'TransactionType');
	const amount = amountOf(body.Amount);
	if (amount === null)
		return badField(res, 'Amount');
	const partyA = msisdnOf(body.PartyA);
	if (!partyA)
		return badField(res, 'PartyA');
	const partyB = shortcodeOf(body.PartyB);
	if (!partyB)
		return badField(res, 'PartyB');
	const phone = msisdnOf(body.PhoneNumber);
	if (!phone)
		return badField(res, 'PhoneNumber');
	if (!validUrl(body.CallBackURL))
		return badField(res, 'CallBackURL');
	if (typeof body.AccountReference !== 'string' || !/^[A-Za-z0-9]{1,12}$/.test(body.AccountReference))
		return badField(res, 'AccountReference');
	if (body.TransactionDesc !== undefined &&
	    (typeof body.TransactionDesc !== 'string' || body.TransactionDesc.length > 13))
		return badField(res, 'TransactionDesc');
	const merchant = checkCredentials(res, body, shortcode);
	if (!merchant)
		return;
	if (lockedPhones.has(phone))
		return sendError(res, 500, '500.001.1001',
			'Unable to lock subscriber, a transaction is already in process for the current subscriber');

	// The result, in the order a real switch would find it.
	let code = 0;
	const coherent = body.TransactionType === 'CustomerPayBillOnline'
		? partyB === shortcode : merchant.tills.has(partyB);
	if (!coherent)
		code = 2028;
	else if (amount > cfg.max_amount)
		code = 3;
	if (rule && rule.outcome !== undefined)
		code = outcomeCode(rule.outcome);

	const tx = {
		MerchantRequestID: newMerchantRequestId(),
		CheckoutRequestID: newCheckoutRequestId(),
		shortcode, phone, partyA, partyB, amount,
		transactionType: body.TransactionType,
		accountReference: body.AccountReference,
		callbackUrl: body.CallBackURL,
		createdAt: eatStamp(nowMs()),
		state: 'pending',
		resultCode: code,
		receipt: null,
		completedAt: null,
		rule: rule ? { callback: rule.callback, query: rule.query } : null,
	};
	txs.set(tx.CheckoutRequestID, tx);
	lockedPhones.set(phone, tx.CheckoutRequestID);
	const processMs = rule && rule.process_ms !== undefined ? rule.process_ms : cfg.process_ms;
	later(processMs, () => completePush(tx));
	log(`stkpush ${tx.CheckoutRequestID} amount ${amount} -> result ${code} in ${processMs} ms`);
	send(res, 200, {
		MerchantRequestID: tx.MerchantRequestID,
		CheckoutRequestID: tx.CheckoutRequestID,
		ResponseCode: '0',
		ResponseDescription: 'Success. Request accepted for processing',
		CustomerMessage: 'Success. Request accepted for processing',
	});
	return true;
}

/** The STK callback body, built as text so number forms are exact. */
function stkCallbackBody(tx, cb) {
	const J = JSON.stringify;
	const rc = typeof tx.resultCode === 'number' ? String(tx.resultCode) : J(tx.resultCode);
	let s = `{"Body":{"stkCallback":{"MerchantRequestID":${J(tx.MerchantRequestID)},` +
		`"CheckoutRequestID":${J(tx.CheckoutRequestID)},"ResultCode":${rc},` +
		`"ResultDesc":${J(RESULTS[tx.resultCode])}`;
	if (tx.resultCode === 0) {
		const amount = cb.amount_format === 'integer' ? String(tx.amount) : tx.amount.toFixed(2);
		const items = [
			`{"Name":"Amount","Value":${amount}}`,
			`{"Name":"MpesaReceiptNumber","Value":${J(tx.receipt)}}`,
		];
		if (cb.balance_item !== false)
			items.push('{"Name":"Balance"}');
		items.push(`{"Name":"TransactionDate","Value":${tx.completedAt}}`);
		items.push(`{"Name":"PhoneNumber","Value":${tx.phone}}`);
		if (cb.items_reversed)
			items.reverse();
		s += `,"CallbackMetadata":{"Item":[${items.join(',')}]}`;
	}
	return s + '}}}';
}

function completePush(tx) {
	if (tx.state !== 'pending')
		return;
	tx.state = 'final';
	tx.completedAt = eatStamp(nowMs());
	if (lockedPhones.get(tx.phone) === tx.CheckoutRequestID)
		lockedPhones.delete(tx.phone);
	if (tx.resultCode === 0) {
		tx.receipt = newReceipt();
		// Durable before the callback can tell anyone about it.
		ledgerAppend({
			kind: 'stk',
			CheckoutRequestID: tx.CheckoutRequestID,
			MerchantRequestID: tx.MerchantRequestID,
			MpesaReceiptNumber: tx.receipt,
			amount: tx.amount,
			phone: tx.phone,
			shortcode: tx.shortcode,
			TransactionDate: tx.completedAt,
		});
	}
	const cb = (tx.rule && tx.rule.callback) || {};
	scheduleCallback('stk', tx.CheckoutRequestID, tx.callbackUrl, stkCallbackBody(tx, cb), cb);
}

// ---------------------------------------------------------------------------
// STK push query (spec 1.4)

function stkQuery(res, body) {
	const shortcode = shortcodeOf(body.BusinessShortCode);
	if (!shortcode)
		return badField(res, 'BusinessShortCode');
	if (!checkCredentials(res, body, shortcode))
		return;
	const tx = typeof body.CheckoutRequestID === 'string' ? txs.get(body.CheckoutRequestID) : undefined;
	if (!tx || tx.shortcode !== shortcode)
		return badField(res, 'CheckoutRequestID');
	if (tx.state === 'pending')
		return sendError(res, 500, '500.001.1001', 'The transaction is being processed', tx.CheckoutRequestID);
	let code = tx.resultCode;
	if (tx.rule && tx.rule.query && tx.rule.query.result_code !== undefined)
		code = outcomeCode(tx.rule.query.result_code);
	send(res, 200, {
		ResponseCode: '0',
		ResponseDescription: 'The service request has been accepted successsfully',
		MerchantRequestID: tx.MerchantRequestID,
		CheckoutRequestID: tx.CheckoutRequestID,
		ResultCode: String(code),
		ResultDesc: RESULTS[code],
	});
	return true;
}

// ---------------------------------------------------------------------------
// Transaction status (spec 1.8) with an RSA-encrypted SecurityCredential (1.6)

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const certificatePem = rsa.publicKey.export({ type: 'spki', format: 'pem' });

/**
 * Decrypt an RSA PKCS#1 v1.5 credential. Node 20 refuses PKCS#1 v1.5 private
 * decryption (CVE-2023-46809), so decrypt raw and strip the padding here; the
 * timing side channel does not matter for a loopback test double.
 */
function decryptCredential(b64) {
	try {
		const raw = crypto.privateDecrypt({ key: rsa.privateKey, padding: crypto.constants.RSA_NO_PADDING },
			Buffer.from(b64, 'base64'));
		if (raw[0] !== 0 || raw[1] !== 2)
			return null;
		const sep = raw.indexOf(0, 2);
		if (sep < 10)
			return null;
		return raw.subarray(sep + 1).toString('utf8');
	} catch (e) {
		return null;
	}
}

function pick(body, a, b) {
	return body[a] !== undefined ? body[a] : body[b];
}

function statusParams(tx, entry) {
	return [
		{ Key: 'DebitPartyName', Value: `${entry.phone} - Demo Customer` },
		{ Key: 'CreditPartyName', Value: `${entry.shortcode} - Demo Merchant` },
		{ Key: 'OriginatorConversationID', Value: entry.MerchantRequestID || '' },
		{ Key: 'InitiatedTime', Value: Number(tx ? tx.createdAt : entry.TransactionDate) },
		{ Key: 'DebitAccountType', Value: 'MMF Account For Customer' },
		{ Key: 'DebitPartyCharges', Value: '' },
		{ Key: 'TransactionReason' },
		{ Key: 'ReasonType', Value: entry.kind === 'c2b' ? 'Pay Bill' : 'Pay Bill Online' },
		{ Key: 'TransactionStatus', Value: 'Completed' },
		{ Key: 'FinalisedTime', Value: Number(entry.TransactionDate) },
		{ Key: 'Amount', Value: String(entry.amount) },
		{ Key: 'ConversationID', Value: entry.CheckoutRequestID || entry.TransID },
		{ Key: 'ReceiptNo', Value: entry.MpesaReceiptNumber },
	];
}

/** Find the ledger entry (and the push, if still known) a status query names. */
function statusLookup(body) {
	const tid = pick(body, 'TransactionID', 'Transaction ID');
	const ocid = body.OriginalConversationID;
	let entry = null;
	if (typeof tid === 'string' && tid)
		entry = ledger.find((e) => e.MpesaReceiptNumber === tid) || null;
	if (!entry && typeof ocid === 'string' && ocid)
		entry = ledger.find((e) => e.CheckoutRequestID === ocid || e.MerchantRequestID === ocid) || null;
	const tx = entry ? txs.get(entry.CheckoutRequestID) : null;
	return { entry, tx };
}

function transactionStatus(res, body, rule) {
	const required = [
		['Initiator', body.Initiator],
		['SecurityCredential', body.SecurityCredential],
	];
	for (const [name, v] of required)
		if (typeof v !== 'string' || !v)
			return badField(res, name);
	if (pick(body, 'CommandID', 'Command ID') !== 'TransactionStatusQuery')
		return badField(res, 'CommandID');
	const tid = pick(body, 'TransactionID', 'Transaction ID');
	if ((typeof tid !== 'string' || !tid) &&
	    (typeof body.OriginalConversationID !== 'string' || !body.OriginalConversationID))
		return badField(res, 'TransactionID');
	if (!shortcodeOf(body.PartyA) && !msisdnOf(body.PartyA))
		return badField(res, 'PartyA');
	if (!['1', '2', '4'].includes(String(body.IdentifierType)))
		return badField(res, 'IdentifierType');
	if (!validUrl(body.ResultURL))
		return badField(res, 'ResultURL');
	if (!validUrl(body.QueueTimeOutURL))
		return badField(res, 'QueueTimeOutURL');

	const req = {
		OriginatorConversationID: newMerchantRequestId(),
		ConversationID: newConversationId(),
	};
	const { entry, tx } = statusLookup(body);
	let code;
	if (body.Initiator !== opts.initiator || decryptCredential(body.SecurityCredential) !== opts.initiatorPassword)
		code = 2001;
	else if (!entry)
		code = 'R000002';
	else
		code = 0;
	if (rule && rule.outcome !== undefined)
		code = outcomeCode(rule.outcome);
	const result = {
		ResultType: 0,
		ResultCode: code,
		ResultDesc: RESULTS[code],
		OriginatorConversationID: req.OriginatorConversationID,
		ConversationID: req.ConversationID,
		TransactionID: entry ? entry.MpesaReceiptNumber : (typeof tid === 'string' ? tid : ''),
	};
	if (code === 0 && entry)
		result.ResultParameters = { ResultParameter: statusParams(tx, entry) };
	const ref = { Key: 'Occasion' };
	if (typeof body.Occasion === 'string' && body.Occasion)
		ref.Value = body.Occasion;
	result.ReferenceData = { ReferenceItem: ref };
	statusReqs.push(Object.assign({ ResultURL: body.ResultURL, ResultCode: code }, req));
	const cb = (rule && rule.callback) || {};
	const processMs = rule && rule.process_ms !== undefined ? rule.process_ms : cfg.process_ms;
	later(processMs, () => scheduleCallback('status', req.ConversationID, body.ResultURL,
		JSON.stringify({ Result: result }), cb));
	send(res, 200, Object.assign({}, req, {
		ResponseCode: '0',
		ResponseDescription: 'Accept the service request successfully.',
	}));
	return true;
}

// ---------------------------------------------------------------------------
// C2B: register URLs, simulate, validation and confirmation (spec 1.5)

let c2bUrls = new Map(); // shortcode -> { ResponseType, ConfirmationURL, ValidationURL }
let c2bBalances = new Map(); // shortcode -> whole shillings received

// Words Daraja refuses inside registered URLs (any case).
const C2B_URL_BANNED = /m-pesa|mpesa|safaricom|exe|exec|cmd|sql|query/i;

/** A new OriginatorCoversationID (sic, the wire spelling). */
const newOriginatorId = () => uniqueId(() => `${randDigits(5)}-${randDigits(7)}-1`);

function c2bRegister(res, body) {
	const shortcode = shortcodeOf(body.ShortCode);
	if (!shortcode)
		return badField(res, 'ShortCode');
	if (body.ResponseType !== 'Completed' && body.ResponseType !== 'Cancelled')
		return badField(res, 'ResponseType');
	for (const k of ['ConfirmationURL', 'ValidationURL']) {
		const v = body[k];
		if (k === 'ValidationURL' && v === undefined)
			continue;
		if (!validUrl(v) || C2B_URL_BANNED.test(v))
			return badField(res, k);
	}
	if (!merchants.has(shortcode))
		return sendError(res, 500, '500.001.1001', 'Merchant does not exist');
	if (cfg.c2b_register_once && c2bUrls.has(shortcode))
		return sendError(res, 500, '500.003.1001', 'URLs are already registered');
	c2bUrls.set(shortcode, {
		ResponseType: body.ResponseType, ConfirmationURL: body.ConfirmationURL, ValidationURL: body.ValidationURL,
	});
	send(res, 200, { OriginatorCoversationID: newOriginatorId(), ResponseCode: '0', ResponseDescription: 'success' });
	return true;
}

/** "2547 ***** 149": Daraja masks the payer on C2B notifications. */
const maskC2bMsisdn = (m) => `${m.slice(0, 4)} ***** ${m.slice(-3)}`;

function c2bSimulate(res, body, rule) {
	const shortcode = shortcodeOf(body.ShortCode);
	if (!shortcode)
		return badField(res, 'ShortCode');
	if (body.CommandID !== 'CustomerPayBillOnline' && body.CommandID !== 'CustomerBuyGoodsOnline')
		return badField(res, 'CommandID');
	const amount = amountOf(body.Amount);
	if (amount === null)
		return badField(res, 'Amount');
	const msisdn = msisdnOf(body.Msisdn);
	if (!msisdn)
		return badField(res, 'Msisdn');
	const billRef = body.BillRefNumber === undefined || body.BillRefNumber === null ? '' : body.BillRefNumber;
	if (typeof billRef !== 'string' || billRef.length > 20)
		return badField(res, 'BillRefNumber');
	if (!merchants.has(shortcode))
		return sendError(res, 500, '500.001.1001', 'Merchant does not exist');
	const reg = c2bUrls.get(shortcode);
	const pay = {
		TransactionType: body.CommandID === 'CustomerPayBillOnline' ? 'Pay Bill' : 'Buy Goods',
		TransID: newReceipt(),
		TransTime: eatStamp(nowMs()),
		TransAmount: amount.toFixed(2),
		BusinessShortCode: shortcode,
		BillRefNumber: billRef,
		InvoiceNumber: '',
		OrgAccountBalance: '',
		ThirdPartyTransID: '',
		MSISDN: maskC2bMsisdn(msisdn),
		FirstName: 'John',
		MiddleName: '',
		LastName: 'Doe',
	};
	send(res, 200, {
		OriginatorCoversationID: newOriginatorId(), ResponseCode: '0',
		ResponseDescription: 'Accept the service request successfully.',
	});
	log(`c2b ${pay.TransID} amount ${amount} for ${shortcode}`);
	if (!reg)
		return true; // no URLs: M-Pesa completes silently
	const cb = (rule && rule.callback) || {};
	const confirm = (thirdParty) => {
		const received = (c2bBalances.get(shortcode) || 0) + amount;
		c2bBalances.set(shortcode, received);
		ledgerAppend({ kind: 'c2b', TransID: pay.TransID, MpesaReceiptNumber: pay.TransID, amount, phone: msisdn,
			shortcode, BillRefNumber: billRef, TransactionDate: pay.TransTime });
		const conf = Object.assign({}, pay, { OrgAccountBalance: received.toFixed(2), ThirdPartyTransID: thirdParty });
		scheduleCallback('c2b-confirmation', pay.TransID, reg.ConfirmationURL, JSON.stringify(conf), cb);
	};
	if (!cfg.c2b_external_validation || !reg.ValidationURL) {
		later(cfg.process_ms, () => confirm(''));
		return true;
	}
	later(cfg.process_ms, () => {
		const text = JSON.stringify(pay);
		const rec = { kind: 'c2b-validation', id: pay.TransID, url: reg.ValidationURL, at: eatStamp(nowMs()),
			bytes: Buffer.byteLength(text), status: null, error: null, result: null };
		deliveries.push(rec);
		postJson(reg.ValidationURL, text, cfg.c2b_validation_timeout_ms, (err, status, answer) => {
			let accept;
			let third = '';
			if (err || status < 200 || status > 299) {
				rec.error = err ? err.message : null;
				rec.status = err ? null : status;
				accept = reg.ResponseType === 'Completed'; // the registered default
			} else {
				rec.status = status;
				const a = parseJson(answer) || {};
				rec.result = a.ResultCode === undefined ? null : String(a.ResultCode);
				accept = rec.result === '0';
				if (typeof a.ThirdPartyTransID === 'string')
					third = a.ThirdPartyTransID;
			}
			log(`c2b ${pay.TransID} validation -> ${accept ? 'accepted' : 'rejected'}`);
			if (accept)
				confirm(third);
		});
	});
	return true;
}

// ---------------------------------------------------------------------------
// Control API (/__emulator/...)

function controlConfig(body) {
	const spec = {
		token_ttl_s: isUint, process_ms: isUint, timestamp_window_s: isUint, tps: isUint,
		max_amount: isUint, duplicate_gap_ms: isUint, callback_timeout_ms: isUint,
		c2b_validation_timeout_ms: isUint,
		invalidate_previous: (v) => typeof v === 'boolean',
		c2b_external_validation: (v) => typeof v === 'boolean',
		c2b_register_once: (v) => typeof v === 'boolean',
		expires_in_as: (v) => v === 'string' || v === 'number',
	};
	for (const [k, v] of Object.entries(body)) {
		if (!spec[k])
			return `unknown key ${k}`;
		if (!spec[k](v))
			return `${k}: bad value ${JSON.stringify(v)}`;
	}
	Object.assign(cfg, body);
	return null;
}

function resetAll() {
	for (const t of timers)
		clearTimeout(t);
	timers = new Set();
	for (const s of hung)
		s.destroy();
	hung = new Set();
	cfg = defaultsCfg();
	clockShiftMs = 0;
	tokens = new Map();
	latestToken = new Map();
	rules = [];
	txs = new Map();
	lockedPhones = new Map();
	statusReqs = [];
	c2bUrls = new Map();
	c2bBalances = new Map();
	ledger = [];
	ledgerTruncate();
	held = [];
	deliveries = [];
	tpsWindow = { second: 0, count: 0 };
}

function txView(tx) {
	return {
		CheckoutRequestID: tx.CheckoutRequestID, MerchantRequestID: tx.MerchantRequestID,
		state: tx.state, ResultCode: tx.resultCode, amount: tx.amount, phone: tx.phone,
		shortcode: tx.shortcode, MpesaReceiptNumber: tx.receipt, created: tx.createdAt,
		completed: tx.completedAt, CallBackURL: tx.callbackUrl,
	};
}

async function handleControl(req, res, url) {
	const p = url.pathname.slice('/__emulator'.length);
	const text = req.method === 'POST' ? await readBody(req) : '';
	const body = req.method === 'POST' ? (text === '' ? {} : parseJson(text)) : {};
	if (body === undefined)
		return send(res, 400, { error: 'JSON object expected' });
	const route = `${req.method} ${p}`;
	switch (route) {
	case 'GET /health':
		return send(res, 200, { status: 'ok' });
	case 'POST /script': {
		const e = loadRules(body.rules);
		return e ? send(res, 400, { error: e }) : send(res, 200, { rules: rules.length });
	}
	case 'GET /script':
		return send(res, 200, { rules });
	case 'GET /ledger':
		return send(res, 200, { count: ledger.length, entries: ledger });
	case 'POST /reset':
		resetAll();
		return send(res, 200, { reset: true });
	case 'POST /complete': {
		// The subscriber answers the prompt now (demo phone, manual tests).
		const tx = typeof body.CheckoutRequestID === 'string' ? txs.get(body.CheckoutRequestID) : undefined;
		if (!tx)
			return send(res, 404, { error: 'unknown CheckoutRequestID' });
		if (tx.state !== 'pending')
			return send(res, 409, { error: 'already final' });
		if (body.outcome !== undefined) {
			const code = outcomeCode(body.outcome);
			if (code === undefined)
				return send(res, 400, { error: `unknown outcome ${JSON.stringify(body.outcome)}` });
			tx.resultCode = code;
		}
		completePush(tx);
		return send(res, 200, txView(tx));
	}
	case 'GET /transactions':
		return send(res, 200, { transactions: [...txs.values()].map(txView), status_queries: statusReqs });
	case 'GET /callbacks':
		return send(res, 200, { held: held.length, deliveries });
	case 'POST /flush': {
		const order = body.order || 'fifo';
		if (order !== 'fifo' && order !== 'lifo')
			return send(res, 400, { error: 'order: fifo or lifo' });
		const batch = held;
		held = [];
		if (order === 'lifo')
			batch.reverse();
		for (const h of batch)
			deliver(h.kind, h.id, h.url, h.body);
		return send(res, 200, { delivered: batch.length, order: batch.map((h) => h.id) });
	}
	case 'POST /clock': {
		if (body.set !== undefined) {
			const ms = parseEatStamp(body.set);
			if (ms === null)
				return send(res, 400, { error: 'set: YYYYMMDDHHmmss (EAT) expected' });
			clockShiftMs = ms - Date.now();
		} else if (body.shift_ms !== undefined) {
			if (!Number.isInteger(body.shift_ms))
				return send(res, 400, { error: 'shift_ms: integer expected' });
			clockShiftMs += body.shift_ms;
		} else {
			return send(res, 400, { error: 'set or shift_ms expected' });
		}
		return send(res, 200, { now: eatStamp(nowMs()), shift_ms: clockShiftMs });
	}
	case 'GET /clock':
		return send(res, 200, { now: eatStamp(nowMs()), shift_ms: clockShiftMs });
	case 'POST /config': {
		const e = controlConfig(body);
		return e ? send(res, 400, { error: e }) : send(res, 200, cfg);
	}
	case 'GET /config':
		return send(res, 200, cfg);
	case 'GET /certificate':
		res.writeHead(200, { 'Content-Type': 'application/x-pem-file' });
		return res.end(certificatePem);
	default:
		return send(res, 404, { error: `no control route ${route}` });
	}
}

// ---------------------------------------------------------------------------
// API dispatch with fault injection

const API = {
	'/mpesa/stkpush/v1/processrequest': 'stkpush',
	'/mpesa/stkpushquery/v1/query': 'stkquery',
	'/mpesa/transactionstatus/v1/query': 'transactionstatus',
	'/mpesa/c2b/v1/registerurl': 'c2bregister',
	'/mpesa/c2b/v2/registerurl': 'c2bregister',
	'/mpesa/c2b/v1/simulate': 'c2bsimulate',
	'/mpesa/c2b/v2/simulate': 'c2bsimulate',
};

/** Context a rule matches on: the phone and amount the request is about. */
function matchContext(endpoint, body) {
	if (!body)
		return {};
	if (endpoint === 'stkpush')
		return { phone: msisdnOf(body.PhoneNumber), amount: amountOf(body.Amount) };
	if (endpoint === 'stkquery') {
		const tx = typeof body.CheckoutRequestID === 'string' ? txs.get(body.CheckoutRequestID) : null;
		return tx ? { phone: tx.phone, amount: tx.amount } : {};
	}
	if (endpoint === 'c2bsimulate')
		return { phone: msisdnOf(body.Msisdn), amount: amountOf(body.Amount) };
	if (endpoint === 'transactionstatus') {
		const { entry } = statusLookup(body);
		return entry ? { phone: entry.phone, amount: entry.amount } : {};
	}
	return {};
}

function overTps() {
	if (!cfg.tps)
		return false;
	const sec = Math.floor(Date.now() / 1000);
	if (tpsWindow.second !== sec)
		tpsWindow = { second: sec, count: 0 };
	return ++tpsWindow.count > cfg.tps;
}

/** Apply an HTTP fault; true when the request was answered (or never will be). */
function applyHttpFault(req, res, h) {
	if (h.reset) {
		log('fault: connection reset');
		req.socket.resetAndDestroy();
		return true;
	}
	if (h.hang) {
		log('fault: request left unanswered');
		hung.add(req.socket);
		req.socket.on('close', () => hung.delete(req.socket));
		return true;
	}
	if (h.throttle) {
		sendError(res, 500, '500.003.02', 'Spike Arrest Violation');
		return true;
	}
	if (h.quota) {
		sendError(res, 500, '500.003.03', 'Quota Violation');
		return true;
	}
	if (h.status !== undefined) {
		if (h.body !== undefined) {
			res.writeHead(h.status, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(h.body) });
			res.end(h.body);
		} else {
			sendError(res, h.status, '500.003.1001', 'Internal Server Error');
		}
		return true;
	}
	return false;
}

async function handleApi(req, res, endpoint) {
	if (req.method !== 'POST') {
		req.resume();
		return sendError(res, 404, '404.001.04', 'Invalid Authentication passed');
	}
	const text = await readBody(req);
	const body = parseJson(text);
	const rule = findRule(endpoint, matchContext(endpoint, body));
	const fault = rule && rule.http && Object.keys(rule.http).some((k) => k !== 'process') ? rule.http : null;
	if (fault && !fault.process) {
		rule.used++;
		applyHttpFault(req, res, fault);
		return;
	}
	if (overTps())
		return sendError(res, 500, '500.003.02', 'Spike Arrest Violation');
	if (!checkBearer(req, res, endpoint))
		return;
	if (body === undefined)
		return sendError(res, 400, '400.002.05', 'Invalid request payload');
	// With http.process the request takes effect but its answer is lost.
	const out = fault ? nullRes() : res;
	let accepted = false;
	if (endpoint === 'stkpush')
		accepted = stkPush(out, body, rule);
	else if (endpoint === 'c2bregister')
		accepted = c2bRegister(out, body);
	else if (endpoint === 'c2bsimulate')
		accepted = c2bSimulate(out, body, rule);
	else if (endpoint === 'transactionstatus')
		accepted = transactionStatus(out, body, rule);
	else
		accepted = stkQuery(out, body);
	if (rule && (accepted || fault))
		rule.used++;
	if (fault)
		applyHttpFault(req, res, fault);
}

/** A response sink for answers that a fault throws away. */
function nullRes() {
	return { writeHead() {}, end() {} };
}

async function onRequest(req, res) {
	let url;
	try {
		url = new URL(req.url, 'http://127.0.0.1');
	} catch (e) {
		return sendError(res, 400, '400.002.05', 'Invalid request payload');
	}
	if (!opts.quiet)
		log(`${req.method} ${url.pathname}`);
	if (url.pathname.startsWith('/__emulator/'))
		return handleControl(req, res, url);
	if (url.pathname === '/oauth/v1/generate') {
		req.resume();
		const rule = findRule('oauth', {});
		if (rule && rule.http) {
			rule.used++;
			if (applyHttpFault(req, res, rule.http))
				return;
		}
		if (overTps())
			return sendError(res, 500, '500.003.02', 'Spike Arrest Violation');
		return handleOauth(req, res, url);
	}
	const endpoint = API[url.pathname];
	if (endpoint)
		return handleApi(req, res, endpoint);
	req.resume();
	return sendError(res, 404, '404.001.01', 'Resource not found');
}

// ---------------------------------------------------------------------------
// Start

function main() {
	ledgerOpen();
	if (opts.script) {
		let doc;
		try {
			doc = JSON.parse(fs.readFileSync(opts.script, 'utf8'));
		} catch (e) {
			process.stderr.write(`daraja-emulator: ${opts.script}: ${e.message}\n`);
			process.exit(2);
		}
		const e = loadRules(doc.rules);
		if (e) {
			process.stderr.write(`daraja-emulator: ${opts.script}: ${e}\n`);
			process.exit(2);
		}
	}
	const server = http.createServer((req, res) => {
		onRequest(req, res).catch((err) => {
			log(`internal error: ${err.stack}`);
			if (!res.headersSent)
				sendError(res, 500, '500.003.1001', 'Internal Server Error');
		});
	});
	server.keepAliveTimeout = 5000;
	server.on('error', (err) => {
		process.stderr.write(`daraja-emulator: ${err.message}\n`);
		process.exit(1);
	});
	server.listen(opts.port, '127.0.0.1', () => {
		process.stdout.write(`listening ${server.address().port}\n`);
	});
	const stop = () => {
		for (const s of hung)
			s.destroy();
		server.close();
		if (ledgerFd !== null)
			fs.closeSync(ledgerFd);
		process.exit(0);
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main();
