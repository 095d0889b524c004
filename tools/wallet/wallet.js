#!/usr/bin/env node
// Demo wallet service for ussdgw's demo menu and tests.
//
// Accounts keyed by MSISDN (E.164 digits, no '+'), balances in integer minor
// units (KES cents), PINs stored as salted scrypt hashes with a lockout
// counter, single-use PIN tokens, idempotent transfers and airtime. JSON in,
// JSON out, errors as RFC 7807 problem documents. Loopback only, Node.js
// standard library only. State is persisted to --data PATH (temp file +
// fsync + rename + directory fsync) before a mutating request is answered.
// PINs and tokens never reach the log.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

// ---------------------------------------------------------------------------
// Command line

function usage(code) {
	const text = `usage: demo-wallet [options]
  --port N               listen port on 127.0.0.1 (0 = pick one; default 0)
  --data PATH            state file (created from the seed when missing)
  --seed PATH            seed accounts (JSON {"accounts":[{msisdn,name,pin,balance}]});
                         default: the built-in demo accounts
  --admin-token-file P   file holding the bearer token for POST /accounts
                         (without it POST /accounts is open to loopback callers)
  --test-hooks           enable POST /__wallet/clock (shift the clock in tests)
  --quiet                no request log on stderr`;
	(code ? process.stderr : process.stdout).write(text + '\n');
	process.exit(code);
}

function parseArgs(argv) {
	const o = { port: 0, data: null, seed: null, adminTokenFile: null, testHooks: false, quiet: false };
	for (let i = 2; i < argv.length; i++) {
		const a = argv[i];
		const next = () => {
			if (i + 1 >= argv.length) {
				process.stderr.write(`demo-wallet: ${a} needs a value\n`);
				process.exit(2);
			}
			return argv[++i];
		};
		switch (a) {
		case '--port': {
			const v = next();
			if (!/^\d+$/.test(v) || Number(v) > 65535)
				usage(2);
			o.port = Number(v);
			break;
		}
		case '--data': o.data = next(); break;
		case '--seed': o.seed = next(); break;
		case '--admin-token-file': o.adminTokenFile = next(); break;
		case '--test-hooks': o.testHooks = true; break;
		case '--quiet': o.quiet = true; break;
		case '-h': case '--help': usage(0); break;
		default:
			process.stderr.write(`demo-wallet: unknown option ${a}\n`);
			usage(2);
		}
	}
	return o;
}

const opts = parseArgs(process.argv);

function log(msg) {
	if (!opts.quiet)
		process.stderr.write(`demo-wallet: ${msg}\n`);
}

/** An MSISDN for logs: country code and last two digits only. */
function maskMsisdn(m) {
	const s = String(m);
	return s.length > 6 ? `${s.slice(0, 3)}${'*'.repeat(s.length - 5)}${s.slice(-2)}` : '***';
}

// ---------------------------------------------------------------------------
// Policy

const CURRENCY = 'KES';
const TOKEN_TTL_MS = 120 * 1000;
const MAX_PIN_ATTEMPTS = 3;
const LOCKOUT_MS = 15 * 60 * 1000;
const STATEMENT_DEFAULT = 5;
const STATEMENT_MAX = 50;
const HISTORY_KEEP = 200; // entries kept per account
const AIRTIME_NO_PIN_MAX = 10000; // airtime up to KES 100.00 needs no PIN token
const MAX_AMOUNT = 100000000; // KES 1,000,000.00 per operation
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

let clockShiftMs = 0;
const nowMs = () => Date.now() + clockShiftMs;

const DEMO_ACCOUNTS = [
	{ msisdn: '254700000001', name: 'Amina', pin: '1234', balance: 500000 },
	{ msisdn: '254700000002', name: 'Baraka', pin: '4321', balance: 250000 },
	{ msisdn: '254700000003', name: 'Chebet', pin: '1111', balance: 0 },
];

const MSISDN_RE = /^[1-9]\d{7,14}$/;
const PIN_RE = /^\d{4,6}$/;
const KEY_RE = /^[A-Za-z0-9_.:-]{8,128}$/;

// ---------------------------------------------------------------------------
// PIN hashing: scrypt with a 16-byte random salt, stored self-describing as
// scrypt$N$r$p$salt$hash (base64).

function scryptAsync(pin, salt, p) {
	return new Promise((resolve, reject) => {
		crypto.scrypt(pin, salt, p.keylen, { N: p.N, r: p.r, p: p.p, maxmem: 64 * 1024 * 1024 },
			(err, key) => (err ? reject(err) : resolve(key)));
	});
}

async function hashPin(pin) {
	const salt = crypto.randomBytes(16);
	const key = await scryptAsync(pin, salt, SCRYPT);
	return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

async function verifyPin(pin, stored) {
	const f = String(stored).split('$');
	if (f.length !== 6 || f[0] !== 'scrypt')
		return false;
	const want = Buffer.from(f[5], 'base64');
	const got = await scryptAsync(pin, Buffer.from(f[4], 'base64'),
		{ N: Number(f[1]), r: Number(f[2]), p: Number(f[3]), keylen: want.length });
	return crypto.timingSafeEqual(got, want);
}

// ---------------------------------------------------------------------------
// State and persistence

/**
 * state = {
 *   version: 1,
 *   accounts: { msisdn: { name, balance, pin_hash, failed_pins, locked_until, created } },
 *   entries: { msisdn: [ {id, at, type, amount, counterparty, balance_after, ref} ] },  // oldest first
 *   idempotency: { "msisdn|key": { fingerprint, status, body } },
 *   next_id: n
 * }
 */
let state = null;

/**
 * Write the state durably. On failure the process exits: memory would differ
 * from disk, and an answer must never claim what a restart would forget.
 */
function persist() {
	if (!opts.data)
		return;
	try {
		persistOnce();
	} catch (e) {
		process.stderr.write(`demo-wallet: cannot write ${opts.data}: ${e.message}; exiting\n`);
		process.exit(1);
	}
}

function persistOnce() {
	const dir = path.dirname(path.resolve(opts.data));
	const tmp = `${opts.data}.tmp-${process.pid}`;
	const fd = fs.openSync(tmp, 'w', 0o600);
	try {
		fs.writeSync(fd, JSON.stringify(state));
		fs.fsyncSync(fd);
	} finally {
		fs.closeSync(fd);
	}
	fs.renameSync(tmp, opts.data);
	const dfd = fs.openSync(dir, 'r');
	try {
		fs.fsyncSync(dfd);
	} finally {
		fs.closeSync(dfd);
	}
}

function validSeedAccount(a) {
	return a && MSISDN_RE.test(String(a.msisdn)) && PIN_RE.test(String(a.pin)) &&
		Number.isInteger(a.balance) && a.balance >= 0 && a.balance <= MAX_AMOUNT * 100;
}

async function loadState() {
	if (opts.data && fs.existsSync(opts.data)) {
		state = JSON.parse(fs.readFileSync(opts.data, 'utf8'));
		if (state.version !== 1 || typeof state.accounts !== 'object')
			throw new Error(`${opts.data}: not a wallet state file`);
		return;
	}
	let seed = DEMO_ACCOUNTS;
	if (opts.seed) {
		const doc = JSON.parse(fs.readFileSync(opts.seed, 'utf8'));
		seed = doc.accounts;
		if (!Array.isArray(seed))
			throw new Error(`${opts.seed}: "accounts" array expected`);
	}
	state = { version: 1, accounts: {}, entries: {}, idempotency: {}, next_id: 1 };
	for (const a of seed) {
		if (!validSeedAccount(a))
			throw new Error(`seed account ${maskMsisdn(a && a.msisdn)}: msisdn, 4-6 digit pin, integer balance expected`);
		await createAccount(String(a.msisdn), String(a.name || ''), String(a.pin), a.balance);
	}
	persist();
}

async function createAccount(msisdn, name, pin, balance) {
	state.accounts[msisdn] = {
		name, balance, pin_hash: await hashPin(pin), failed_pins: 0, locked_until: 0,
		created: new Date(nowMs()).toISOString(),
	};
	state.entries[msisdn] = [];
	if (balance > 0)
		addEntry(msisdn, 'deposit', balance, null, null);
}

function addEntry(msisdn, type, amount, counterparty, ref) {
	const list = state.entries[msisdn] || (state.entries[msisdn] = []);
	list.push({
		id: state.next_id++, at: new Date(nowMs()).toISOString(), type, amount, counterparty,
		balance_after: state.accounts[msisdn].balance, ref,
	});
	if (list.length > HISTORY_KEEP)
		list.splice(0, list.length - HISTORY_KEEP);
}

// ---------------------------------------------------------------------------
// Tokens: single use, bound to one MSISDN, 120 s. Kept in memory only (a
// restart logs everybody out); stored by SHA-256 so a heap dump shows no
// usable token.

const tokens = new Map(); // sha256(token) -> { msisdn, expires }

function issueToken(msisdn) {
	const t = crypto.randomBytes(24).toString('base64url');
	tokens.set(crypto.createHash('sha256').update(t).digest('hex'), { msisdn, expires: nowMs() + TOKEN_TTL_MS });
	return t;
}

/** Consume a token for @msisdn; true when it was valid. */
function consumeToken(msisdn, token) {
	if (typeof token !== 'string' || !token)
		return false;
	const h = crypto.createHash('sha256').update(token).digest('hex');
	const t = tokens.get(h);
	if (!t)
		return false;
	if (t.msisdn !== msisdn)
		return false; // not ours: leave it for its owner
	tokens.delete(h);
	return nowMs() < t.expires;
}

function sweepTokens() {
	const now = nowMs();
	for (const [h, t] of tokens)
		if (now >= t.expires)
			tokens.delete(h);
}

// ---------------------------------------------------------------------------
// HTTP helpers

const MAX_BODY = 16 * 1024;

function sendJson(res, status, body, headers) {
	const text = JSON.stringify(body);
	res.writeHead(status, Object.assign({
		'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store',
	}, headers || {}));
	res.end(text);
}

const TITLES = {
	'bad-request': 'Bad request',
	'invalid-pin': 'Wrong PIN',
	'invalid-token': 'Invalid or expired token',
	'unauthorized': 'Unauthorized',
	'locked': 'Account locked',
	'not-found': 'Not found',
	'method-not-allowed': 'Method not allowed',
	'exists': 'Account exists',
	'idempotency-mismatch': 'Idempotency key reused with a different request',
	'insufficient-funds': 'Insufficient funds',
	'too-large': 'Request body too large',
	'internal': 'Internal error',
};

/** RFC 7807 problem document. */
function problem(res, status, slug, detail, ext, extraHeaders) {
	const body = Object.assign({
		type: `urn:ussdgw:wallet:problem:${slug}`, title: TITLES[slug], status, detail,
	}, ext || {});
	const text = JSON.stringify(body);
	const headers = { 'Content-Type': 'application/problem+json', 'Content-Length': Buffer.byteLength(text),
		'Cache-Control': 'no-store' };
	if (ext && ext.retry_after_s)
		headers['Retry-After'] = String(ext.retry_after_s);
	res.writeHead(status, Object.assign(headers, extraHeaders || {}));
	res.end(text);
}

function readJson(req) {
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
		req.on('end', () => {
			if (over)
				return resolve({ error: 'too-large' });
			try {
				const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
				resolve(v !== null && typeof v === 'object' && !Array.isArray(v) ? { body: v } : { error: 'bad-json' });
			} catch (e) {
				resolve({ error: 'bad-json' });
			}
		});
		req.on('error', () => resolve({ error: 'bad-json' }));
	});
}

const isAmount = (v) => Number.isInteger(v) && v > 0 && v <= MAX_AMOUNT;

function lockInfo(acct) {
	const left = acct.locked_until - nowMs();
	return left > 0 ? Math.ceil(left / 1000) : 0;
}

function sendLocked(res, acct) {
	const s = lockInfo(acct);
	problem(res, 423, 'locked', 'Too many wrong PINs; try again later.',
		{ locked_until: new Date(acct.locked_until).toISOString(), retry_after_s: s });
}

// ---------------------------------------------------------------------------
// Endpoints

async function pinVerify(req, res, url, parsed) {
	const { body, error } = parsed;
	if (error)
		return problem(res, error === 'too-large' ? 413 : 400, error === 'too-large' ? error : 'bad-request',
			'JSON object expected');
	const msisdn = body.msisdn;
	if (typeof msisdn !== 'string' || !MSISDN_RE.test(msisdn))
		return problem(res, 400, 'bad-request', 'msisdn: E.164 digits without + expected');
	if (typeof body.pin !== 'string' || !PIN_RE.test(body.pin))
		return problem(res, 400, 'bad-request', 'pin: 4 to 6 digits expected');
	const acct = state.accounts[msisdn];
	if (!acct)
		return problem(res, 404, 'not-found', 'No such account.');
	if (lockInfo(acct) > 0)
		return sendLocked(res, acct);
	if (acct.locked_until) {
		// The lockout ran out: a fresh set of attempts.
		acct.locked_until = 0;
		acct.failed_pins = 0;
	}
	const ok = await verifyPin(body.pin, acct.pin_hash);
	// Re-check after the await: another request may have locked the account.
	if (lockInfo(acct) > 0)
		return sendLocked(res, acct);
	if (!ok) {
		acct.failed_pins++;
		if (acct.failed_pins >= MAX_PIN_ATTEMPTS) {
			acct.locked_until = nowMs() + LOCKOUT_MS;
			persist();
			log(`pin: ${maskMsisdn(msisdn)} locked after ${acct.failed_pins} wrong PINs`);
			return sendLocked(res, acct);
		}
		persist();
		log(`pin: wrong PIN for ${maskMsisdn(msisdn)}`);
		return problem(res, 401, 'invalid-pin', 'Wrong PIN.',
			{ attempts_left: MAX_PIN_ATTEMPTS - acct.failed_pins });
	}
	if (acct.failed_pins) {
		acct.failed_pins = 0;
		persist();
	}
	sendJson(res, 200, { token: issueToken(msisdn), expires_in: TOKEN_TTL_MS / 1000 });
}

/** Account + token check shared by the token-protected calls; null after an error. */
function authorise(res, msisdn, token) {
	if (typeof msisdn !== 'string' || !MSISDN_RE.test(msisdn)) {
		problem(res, 400, 'bad-request', 'msisdn: E.164 digits without + expected');
		return null;
	}
	const acct = state.accounts[msisdn];
	if (!acct) {
		problem(res, 404, 'not-found', 'No such account.');
		return null;
	}
	if (lockInfo(acct) > 0) {
		sendLocked(res, acct);
		return null;
	}
	if (!consumeToken(msisdn, token)) {
		problem(res, 401, 'invalid-token', 'Verify the PIN again to get a new token.');
		return null;
	}
	return acct;
}

function balance(req, res, url) {
	const msisdn = url.searchParams.get('msisdn');
	const acct = authorise(res, msisdn, url.searchParams.get('token'));
	if (!acct)
		return;
	sendJson(res, 200, { msisdn, name: acct.name, balance: acct.balance, currency: CURRENCY });
}

function statement(req, res, url) {
	const msisdn = url.searchParams.get('msisdn');
	let limit = STATEMENT_DEFAULT;
	const l = url.searchParams.get('limit');
	if (l !== null) {
		if (!/^\d+$/.test(l) || Number(l) < 1 || Number(l) > STATEMENT_MAX)
			return problem(res, 400, 'bad-request', `limit: 1 to ${STATEMENT_MAX}`);
		limit = Number(l);
	}
	const acct = authorise(res, msisdn, url.searchParams.get('token'));
	if (!acct)
		return;
	const list = (state.entries[msisdn] || []).slice(-limit).reverse();
	sendJson(res, 200, { msisdn, balance: acct.balance, currency: CURRENCY, entries: list });
}

/**
 * Idempotent money movement. A request whose (msisdn, idempotency_key) was
 * seen before gets the stored answer (with Idempotent-Replayed: true) without
 * a token; the same key with a different request is refused.
 */
async function moneyCall(req, res, kind, parsed) {
	const { body, error } = parsed;
	if (error)
		return problem(res, error === 'too-large' ? 413 : 400, error === 'too-large' ? error : 'bad-request',
			'JSON object expected');
	const { msisdn, to, amount } = body;
	const key = body.idempotency_key;
	if (typeof msisdn !== 'string' || !MSISDN_RE.test(msisdn))
		return problem(res, 400, 'bad-request', 'msisdn: E.164 digits without + expected');
	if (typeof to !== 'string' || !MSISDN_RE.test(to))
		return problem(res, 400, 'bad-request', 'to: E.164 digits without + expected');
	if (!isAmount(amount))
		return problem(res, 400, 'bad-request', `amount: integer minor units, 1 to ${MAX_AMOUNT}`);
	if (typeof key !== 'string' || !KEY_RE.test(key))
		return problem(res, 400, 'bad-request', 'idempotency_key: 8 to 128 characters [A-Za-z0-9_.:-]');
	pruneIdempotency();
	const fingerprint = `${kind}|${to}|${amount}`;
	const ikey = `${msisdn}|${key}`;
	const seen = state.idempotency[ikey];
	if (seen) {
		if (seen.fingerprint !== fingerprint)
			return problem(res, 409, 'idempotency-mismatch',
				'This idempotency_key was used for a different request.');
		if (seen.status >= 400)
			return problem(res, seen.status, 'insufficient-funds', seen.body.detail,
				{ balance: seen.body.balance, currency: CURRENCY }, { 'Idempotent-Replayed': 'true' });
		return sendJson(res, seen.status, seen.body, { 'Idempotent-Replayed': 'true' });
	}
	if (kind === 'transfer' && to === msisdn)
		return problem(res, 400, 'bad-request', 'to: cannot transfer to the same account');
	let acct;
	if (kind === 'airtime' && body.token === undefined && amount <= AIRTIME_NO_PIN_MAX) {
		acct = state.accounts[msisdn];
		if (!acct)
			return problem(res, 404, 'not-found', 'No such account.');
		if (lockInfo(acct) > 0)
			return sendLocked(res, acct);
	} else {
		acct = authorise(res, msisdn, body.token);
		if (!acct)
			return;
	}
	// Only an authorised caller learns whether the recipient exists.
	if (kind === 'transfer' && !state.accounts[to])
		return problem(res, 404, 'not-found', 'No such recipient account.');
	let status;
	let out;
	if (acct.balance < amount) {
		status = 422;
		out = {
			type: 'urn:ussdgw:wallet:problem:insufficient-funds', title: TITLES['insufficient-funds'],
			status, detail: 'The balance does not cover the amount.', balance: acct.balance, currency: CURRENCY,
		};
	} else {
		const ref = `${kind === 'transfer' ? 'TR' : 'AT'}${String(state.next_id).padStart(8, '0')}`;
		acct.balance -= amount;
		if (kind === 'transfer') {
			state.accounts[to].balance += amount;
			addEntry(msisdn, 'transfer_out', -amount, to, ref);
			addEntry(to, 'transfer_in', amount, msisdn, ref);
		} else {
			addEntry(msisdn, 'airtime', -amount, to, ref);
		}
		status = 200;
		out = { ref, status: 'completed', msisdn, to, amount, currency: CURRENCY, balance: acct.balance };
	}
	state.idempotency[ikey] = { fingerprint, status, body: out, at: new Date(nowMs()).toISOString() };
	persist();
	log(`${kind}: ${maskMsisdn(msisdn)} -> ${maskMsisdn(to)} ${amount} ${status === 200 ? 'done' : 'refused'}`);
	if (status === 200)
		sendJson(res, status, out);
	else
		problem(res, status, 'insufficient-funds', out.detail, { balance: out.balance, currency: CURRENCY });
}

const IDEMPOTENCY_KEEP_MS = 24 * 3600 * 1000;

/** Forget idempotency records older than a day (the gateway retries for less). */
function pruneIdempotency() {
	const cut = nowMs() - IDEMPOTENCY_KEEP_MS;
	for (const [k, v] of Object.entries(state.idempotency))
		if (Date.parse(v.at) < cut)
			delete state.idempotency[k];
}

let adminToken = null;

async function createAccountCall(req, res, url, parsed) {
	if (adminToken !== null) {
		const m = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
		const got = Buffer.from(m ? m[1] : '');
		const want = Buffer.from(adminToken);
		if (got.length !== want.length || !crypto.timingSafeEqual(got, want))
			return problem(res, 401, 'unauthorized', 'Admin bearer token required.');
	}
	const { body, error } = parsed;
	if (error)
		return problem(res, error === 'too-large' ? 413 : 400, error === 'too-large' ? error : 'bad-request',
			'JSON object expected');
	const { msisdn, pin } = body;
	const bal = body.balance === undefined ? 0 : body.balance;
	if (typeof msisdn !== 'string' || !MSISDN_RE.test(msisdn))
		return problem(res, 400, 'bad-request', 'msisdn: E.164 digits without + expected');
	if (typeof pin !== 'string' || !PIN_RE.test(pin))
		return problem(res, 400, 'bad-request', 'pin: 4 to 6 digits expected');
	if (!Number.isInteger(bal) || bal < 0 || bal > MAX_AMOUNT)
		return problem(res, 400, 'bad-request', `balance: integer minor units, 0 to ${MAX_AMOUNT}`);
	if (body.name !== undefined && (typeof body.name !== 'string' || body.name.length > 64))
		return problem(res, 400, 'bad-request', 'name: string up to 64 characters');
	if (state.accounts[msisdn])
		return problem(res, 409, 'exists', 'An account with this msisdn exists.');
	await createAccount(msisdn, body.name || '', pin, bal);
	persist();
	log(`accounts: created ${maskMsisdn(msisdn)}`);
	sendJson(res, 201, { msisdn, name: body.name || '', balance: bal, currency: CURRENCY });
}

async function clockHook(req, res, url, parsed) {
	const { body, error } = parsed;
	if (error || !Number.isInteger(body.shift_ms))
		return problem(res, 400, 'bad-request', 'shift_ms: integer expected');
	clockShiftMs += body.shift_ms;
	sendJson(res, 200, { now: new Date(nowMs()).toISOString(), shift_ms: clockShiftMs });
}

const ROUTES = {
	'POST /pin/verify': pinVerify,
	'GET /balance': balance,
	'POST /transfer': (req, res, url, parsed) => moneyCall(req, res, 'transfer', parsed),
	'POST /airtime': (req, res, url, parsed) => moneyCall(req, res, 'airtime', parsed),
	'GET /statement': statement,
	'POST /accounts': createAccountCall,
	'GET /healthz': (req, res) => sendJson(res, 200, { status: 'ok', accounts: Object.keys(state.accounts).length }),
};

/**
 * Route one request whose body (for POST) is already read. Handlers run one
 * at a time (see main), so the state changes around their awaits (scrypt)
 * never interleave.
 */
async function onRequest(req, res, url, parsed) {
	if (opts.testHooks && req.method === 'POST' && url.pathname === '/__wallet/clock')
		return clockHook(req, res, url, parsed);
	const h = ROUTES[`${req.method} ${url.pathname}`];
	if (h)
		return h(req, res, url, parsed);
	const known = Object.keys(ROUTES).some((r) => r.endsWith(` ${url.pathname}`));
	if (known)
		return problem(res, 405, 'method-not-allowed', `${req.method} is not allowed here.`);
	return problem(res, 404, 'not-found', `No route ${url.pathname}.`);
}

async function main() {
	if (opts.adminTokenFile) {
		const st = fs.statSync(opts.adminTokenFile);
		if (st.mode & 0o077) {
			process.stderr.write(`demo-wallet: ${opts.adminTokenFile}: readable by others; chmod 600\n`);
			process.exit(2);
		}
		adminToken = fs.readFileSync(opts.adminTokenFile, 'utf8').trim();
		if (adminToken.length < 16) {
			process.stderr.write(`demo-wallet: ${opts.adminTokenFile}: token shorter than 16 characters\n`);
			process.exit(2);
		}
	}
	try {
		await loadState();
	} catch (e) {
		process.stderr.write(`demo-wallet: ${e.message}\n`);
		process.exit(2);
	}
	// Bodies are read concurrently; handlers then run one at a time.
	let chain = Promise.resolve();
	const server = http.createServer(async (req, res) => {
		let url;
		try {
			url = new URL(req.url, 'http://127.0.0.1');
		} catch (e) {
			req.resume();
			return problem(res, 400, 'bad-request', 'Bad request target.');
		}
		// Log the path only: query strings carry tokens.
		log(`${req.method} ${url.pathname}`);
		let parsed = { body: {}, error: null };
		if (req.method === 'POST')
			parsed = await readJson(req);
		else
			req.resume();
		chain = chain.then(() => onRequest(req, res, url, parsed)).catch((err) => {
			log(`internal error: ${err.message}`);
			if (!res.headersSent)
				problem(res, 500, 'internal', 'Internal error.');
		});
	});
	server.on('error', (err) => {
		process.stderr.write(`demo-wallet: ${err.message}\n`);
		process.exit(1);
	});
	server.listen(opts.port, '127.0.0.1', () => {
		process.stdout.write(`listening ${server.address().port}\n`);
	});
	const sweep = setInterval(sweepTokens, 30000);
	sweep.unref();
	const stop = () => {
		server.close();
		process.exit(0);
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main();
