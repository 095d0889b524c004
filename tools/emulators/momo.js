#!/usr/bin/env node
// MTN MoMo Open API (Collections) emulator for ussdgw's tests.
//
// Loopback only, plain HTTP, Node.js standard library only. It follows the
// published API as the payments reference spec (specs/payments.md, section 4)
// records it: the sandbox API user provisioning, the collection token (Basic
// apiUser:apiKey + Ocp-Apim-Subscription-Key), request to pay (202 with an
// empty body; X-Reference-Id is the resource id and the idempotency key, a
// reused one gets 409 RESOURCE_ALREADY_EXIST), the status query
// (PENDING/SUCCESSFUL/FAILED with a reason), the sandbox's deterministic
// MSISDNs, and unsigned callbacks to X-Callback-Url (the gateway must confirm
// them with a status query).
//
// A control API under /__emulator/ scripts outcomes and faults (see
// tools/emulators/README.md). Every successful payment goes to the ledger,
// appended and fsynced to --ledger PATH before its callback leaves.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const L = require('./lib');

const NAME = 'momo-emulator';
const opts = L.parseArgs(NAME, {
	'--port': { key: 'port', type: 'num', def: 0, meta: 'N', help: 'listen port on 127.0.0.1 (0 = pick one)' },
	'--ledger': { key: 'ledger', type: 'str', def: null, meta: 'PATH', help: 'append every successful payment (JSON line, fsynced)' },
	'--script': { key: 'script', type: 'str', def: null, meta: 'PATH', help: 'initial rules (JSON as POST /__emulator/script)' },
	'--subscription-key': { key: 'subKey', type: 'str', def: 'demo-collection-key', meta: 'K', help: 'Ocp-Apim-Subscription-Key of the Collection product' },
	'--api-user': { key: 'apiUser', type: 'str', def: 'c72025f5-5cd1-4630-99e4-8ba4722fad56', meta: 'UUID', help: 'API user id' },
	'--api-key': { key: 'apiKey', type: 'str', def: 'demo-api-key', meta: 'K', help: 'API key of that user' },
	'--callback-host': { key: 'callbackHost', type: 'str', def: '127.0.0.1', meta: 'HOST', help: "the user's providerCallbackHost" },
	'--environment': { key: 'environment', type: 'str', def: 'sandbox', meta: 'ENV', help: 'accepted X-Target-Environment' },
	'--process-ms': { key: 'processMs', type: 'num', def: 200, meta: 'N', help: 'time until a request to pay reaches its final state' },
	'--quiet': { key: 'quiet', type: 'bool', def: false, help: 'no request log on stderr' },
}, process.argv);

const log = (m) => { if (!opts.quiet) process.stderr.write(`${NAME}: ${m}\n`); };
const clock = L.clock;

// Sandbox test numbers (spec 4.2): payer partyId -> outcome.
const SANDBOX = {
	46733123450: 'INTERNAL_PROCESSING_ERROR', // "failed"
	46733123451: 'REJECTED',
	46733123452: 'EXPIRED',
	46733123453: 'ONGOING',
	46733123454: 'DELAYED',
	46733123455: 'PAYER_NOT_FOUND',
	46733123456: 'PAYEE_NOT_ALLOWED_TO_RECEIVE',
	46733123457: 'NOT_ALLOWED',
	46733123458: 'NOT_ALLOWED_TARGET_ENVIRONMENT',
	46733123459: 'INVALID_CALLBACK_URL_HOST',
	46733123460: 'INVALID_CURRENCY',
	46733123461: 'INTERNAL_PROCESSING_ERROR',
	46733123462: 'SERVICE_UNAVAILABLE',
	46733123463: 'COULD_NOT_PERFORM_TRANSACTION',
	46733123464: 'TRANSFER_TYPE_UNKNOWN',
};
const REASONS = {
	PAYER_NOT_FOUND: 'Payer does not exist',
	PAYEE_NOT_FOUND: 'Payee does not exist',
	NOT_ENOUGH_FUNDS: 'The payer does not have enough funds',
	PAYER_LIMIT_REACHED: 'The payer has reached a limit',
	PAYEE_NOT_ALLOWED_TO_RECEIVE: 'The payee is not allowed to receive',
	NOT_ALLOWED: 'Authorization to perform the function is not allowed',
	NOT_ALLOWED_TARGET_ENVIRONMENT: 'Access to target environment is forbidden',
	INVALID_CALLBACK_URL_HOST: 'The callback URL host is not the registered one',
	INVALID_CURRENCY: 'Currency not supported',
	INTERNAL_PROCESSING_ERROR: 'An internal error occurred while processing',
	SERVICE_UNAVAILABLE: 'The service is currently not available',
	COULD_NOT_PERFORM_TRANSACTION: 'The payer did not approve in time',
	REJECTED: 'The payer rejected the request',
	APPROVAL_REJECTED: 'The payer rejected the request',
	EXPIRED: 'The request expired',
	TRANSFER_TYPE_UNKNOWN: 'The transfer type is unknown',
};
// SUCCESSFUL, a failure reason, ONGOING (pending for ever) or DELAYED (pending, then successful).
const OUTCOMES = ['SUCCESSFUL', 'ONGOING', 'DELAYED', ...Object.keys(REASONS)];

// ---------------------------------------------------------------------------
// State

const defaultsCfg = () => ({
	token_ttl_s: 3600,
	process_ms: opts.processMs,
	delayed_ms: 10 * opts.processMs,
	currencies: opts.environment === 'sandbox' ? ['EUR'] : [],
	callback_method: 'PUT',
	callback_retries: 0, // the older callback page: sent once; the newer: 20 x 1 s
	callback_retry_ms: 1000,
	reason_as: 'string', // "string": "reason":"PAYER_NOT_FOUND"; "object": {"code","message"}
	values_as: 'string', // "number": amount, externalId, financialTransactionId as JSON numbers (doc example)
});
let cfg = defaultsCfg();
const users = new Map([[opts.apiUser, { key: opts.apiKey, callbackHost: opts.callbackHost }]]);
const startUsers = new Map(users);
let tokens = new Map();
let txs = new Map();
const ledger = new L.Ledger(opts.ledger, log);
const notifier = new L.Notifier(log);

const ENDPOINTS = ['token', 'requesttopay', 'status', 'any'];
const rules = new L.Rules(['outcome', 'process_ms', 'callback'], ['endpoint', 'msisdn', 'amount', 'externalId'],
	(r, w) => {
		if (r.outcome !== undefined && !OUTCOMES.includes(r.outcome))
			return `${w}.outcome: one of ${OUTCOMES.join(', ')}`;
		if (r.process_ms !== undefined && !L.isUint(r.process_ms))
			return `${w}.process_ms: non-negative integer expected`;
		if (r.callback !== undefined) {
			const e = L.checkNotify(r.callback, `${w}.callback`);
			if (e)
				return e;
		}
		if (r.match.endpoint !== undefined && !ENDPOINTS.includes(r.match.endpoint))
			return `${w}.match.endpoint: one of ${ENDPOINTS.join(', ')}`;
		return null;
	});

// ---------------------------------------------------------------------------
// Errors: {code, message} (spec 4.2); the API gateway in front (Azure API
// Management) answers subscription-key and rate-limit errors itself, as
// {statusCode, message}.

const err = (status, code, message) => ({ status, body: { code, message } });
const apim = (status, message) => ({ status, body: { statusCode: status, message } });

function checkSubscription(req) {
	const k = req.headers['ocp-apim-subscription-key'];
	if (k === undefined)
		return apim(401, 'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.');
	if (!L.safeEqual(k, opts.subKey))
		return apim(401, 'Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.');
	return null;
}

function b64url(o) {
	return Buffer.from(JSON.stringify(o)).toString('base64url');
}

function issueToken(user) {
	const expires = clock.now() + cfg.token_ttl_s * 1000;
	const t = `${b64url({ typ: 'JWT', alg: 'R256' })}.${b64url({ clientId: user, expires: new Date(expires).toISOString(),
		sessionId: L.uuid4() })}.${crypto.randomBytes(64).toString('base64url')}`;
	tokens.set(t, { user, expires });
	return t;
}

function checkBearer(req) {
	const t = L.bearer(req);
	const rec = t ? tokens.get(t) : undefined;
	if (!rec || clock.now() >= rec.expires)
		return apim(401, 'Access token is missing or invalid.');
	return { user: rec.user };
}

// ---------------------------------------------------------------------------
// Request to pay (spec 4.2)

const MSISDN_RE = /^[1-9]\d{7,14}$/;
const AMOUNT_RE = /^\d{1,12}(\.\d{1,2})?$/;

function validatePay(b) {
	const bad = (m) => err(400, 'INVALID_PARAMETER', m);
	if (typeof b.amount !== 'string' || !AMOUNT_RE.test(b.amount) || Number(b.amount) <= 0)
		return bad('amount: a positive decimal number as a JSON string');
	if (typeof b.currency !== 'string' || !/^[A-Z]{3}$/.test(b.currency))
		return bad('currency: an ISO 4217 code');
	if (typeof b.externalId !== 'string' || b.externalId.length === 0 || b.externalId.length > 64)
		return bad('externalId: a string of 1..64 characters');
	const p = b.payer;
	if (!p || typeof p !== 'object' || !['MSISDN', 'EMAIL', 'PARTY_CODE'].includes(p.partyIdType))
		return bad('payer.partyIdType: MSISDN, EMAIL or PARTY_CODE');
	if (typeof p.partyId !== 'string' || p.partyId === '')
		return bad('payer.partyId: string expected');
	if (p.partyIdType === 'MSISDN' && !MSISDN_RE.test(p.partyId))
		return bad("payer.partyId: an MSISDN is the country code and number, digits only, without '+'");
	for (const k of ['payerMessage', 'payeeNote'])
		if (b[k] !== undefined && (typeof b[k] !== 'string' || b[k].length > 160))
			return bad(`${k}: a string of at most 160 characters`);
	if (cfg.currencies.length && !cfg.currencies.includes(b.currency))
		return err(400, 'INVALID_CURRENCY', 'Currency not supported.');
	return null;
}

function statusView(tx) {
	const num = cfg.values_as === 'number';
	const asNum = (s) => (num && /^\d+(\.\d+)?$/.test(s) ? Number(s) : s);
	const v = { amount: asNum(tx.amount), currency: tx.currency };
	if (tx.financialTransactionId)
		v.financialTransactionId = asNum(tx.financialTransactionId);
	v.externalId = asNum(tx.externalId);
	v.payer = tx.payer;
	if (tx.payerMessage !== undefined)
		v.payerMessage = tx.payerMessage;
	if (tx.payeeNote !== undefined)
		v.payeeNote = tx.payeeNote;
	v.status = tx.status;
	if (tx.reason)
		v.reason = cfg.reason_as === 'object' ? { code: tx.reason, message: REASONS[tx.reason] || tx.reason } : tx.reason;
	return v;
}

function finish(tx, outcome) {
	if (tx.status !== 'PENDING')
		return;
	if (outcome === 'SUCCESSFUL') {
		tx.status = 'SUCCESSFUL';
		tx.financialTransactionId = String(1000000000 + crypto.randomInt(999999999));
		ledger.append({ kind: 'requesttopay', referenceId: tx.referenceId, financialTransactionId: tx.financialTransactionId,
			amount: tx.amount, currency: tx.currency, msisdn: tx.payer.partyId, externalId: tx.externalId,
			at: clock.rfc3339() });
	} else {
		tx.status = 'FAILED';
		tx.reason = outcome;
	}
	tx.completedAt = clock.rfc3339();
	if (tx.callbackUrl) {
		notifier.schedule({ kind: 'callback', id: tx.referenceId, url: tx.callbackUrl, method: cfg.callback_method,
			body: JSON.stringify(statusView(tx)) }, tx.cb, { retries: cfg.callback_retries, retry_ms: cfg.callback_retry_ms });
	}
}

function requestToPay(req, b, rule, user) {
	const ref = req.headers['x-reference-id'];
	if (typeof ref !== 'string' || !L.UUID_RE.test(ref))
		return err(400, 'INVALID_REFERENCE_ID', 'X-Reference-Id: a UUID (version 4) expected');
	if (txs.has(ref))
		return err(409, 'RESOURCE_ALREADY_EXIST', 'Duplicated reference id. Creation of resource failed.');
	const cbUrl = req.headers['x-callback-url'];
	if (cbUrl !== undefined) {
		const u = L.validUrl(cbUrl);
		const host = (users.get(user) || {}).callbackHost;
		if (!u || u.hostname !== host)
			return err(400, 'INVALID_CALLBACK_URL_HOST', 'Callback URL with different host is not allowed.');
	}
	if (!b)
		return err(400, 'INVALID_PARAMETER', 'body: a JSON object expected');
	const e = validatePay(b);
	if (e)
		return e;
	const tx = {
		referenceId: ref, amount: b.amount, currency: b.currency, externalId: b.externalId,
		payer: { partyIdType: b.payer.partyIdType, partyId: b.payer.partyId },
		payerMessage: b.payerMessage, payeeNote: b.payeeNote, status: 'PENDING', reason: null,
		financialTransactionId: null, callbackUrl: cbUrl || null, createdAt: clock.rfc3339(), completedAt: null,
		cb: rule && rule.callback ? rule.callback : {},
	};
	txs.set(ref, tx);
	const outcome = rule && rule.outcome ? rule.outcome : SANDBOX[b.payer.partyId] || 'SUCCESSFUL';
	tx.outcome = outcome;
	const ms = rule && rule.process_ms !== undefined ? rule.process_ms : cfg.process_ms;
	if (outcome === 'ONGOING')
		return { status: 202, body: null };
	notifier.later(outcome === 'DELAYED' ? cfg.delayed_ms : ms,
		() => finish(tx, outcome === 'DELAYED' ? 'SUCCESSFUL' : outcome));
	return { status: 202, body: null };
}

// ---------------------------------------------------------------------------
// Request handling

function route(method, p) {
	let m;
	if ((p === '/collection/token/' || p === '/collection/token') && method === 'POST')
		return { endpoint: 'token' };
	if (p === '/collection/v1_0/requesttopay' && method === 'POST')
		return { endpoint: 'requesttopay' };
	if ((m = /^\/collection\/v1_0\/requesttopay\/([^/]+)$/.exec(p)) && method === 'GET')
		return { endpoint: 'status', id: decodeURIComponent(m[1]) };
	if (p === '/v1_0/apiuser' && method === 'POST')
		return { endpoint: 'apiuser' };
	if ((m = /^\/v1_0\/apiuser\/([^/]+)\/apikey$/.exec(p)) && method === 'POST')
		return { endpoint: 'apikey', id: m[1] };
	if ((m = /^\/v1_0\/apiuser\/([^/]+)$/.exec(p)) && method === 'GET')
		return { endpoint: 'getuser', id: m[1] };
	return null;
}

function matchContext(r, body) {
	const ctx = { endpoint: r.endpoint, defaultEndpoint: 'requesttopay' };
	const tx = r.id ? txs.get(r.id) : null;
	const src = tx || body;
	if (src && typeof src === 'object') {
		if (src.payer && typeof src.payer === 'object')
			ctx.msisdn = src.payer.partyId;
		ctx.amount = src.amount;
		ctx.externalId = src.externalId;
	}
	return ctx;
}

function reply(res, result, extra) {
	if (result.body === null)
		return L.send(res, result.status, null, extra);
	return L.send(res, result.status, result.body, extra);
}

function faultStatus(status) {
	if (status === 429)
		return apim(429, 'Rate limit is exceeded. Try again in 1 seconds.');
	if (status === 503)
		return err(503, 'SERVICE_UNAVAILABLE', 'Service unavailable, try again later.');
	return err(status, 'INTERNAL_PROCESSING_ERROR', 'An internal error occurred while processing.');
}

async function handleApi(req, res, url) {
	const raw = await L.readBody(req);
	const r = route(req.method, url.pathname);
	if (!r)
		return reply(res, apim(404, 'Resource not found'));
	if (raw === null)
		return reply(res, err(400, 'INVALID_PARAMETER', 'body too large'));
	const text = raw.toString('utf8');
	const body = text.trim() === '' ? undefined : L.parseJson(text);
	const rule = rules.find(matchContext(r, body));
	const h = rule && rule.http ? rule.http : null;
	if (h && h.status === 429) {
		rule.used++;
		return reply(res, faultStatus(429), { 'Retry-After': String(h.retry_after !== undefined ? h.retry_after : 1) });
	}
	const lost = h && (h.reset || h.hang || h.status !== undefined) && h.process;
	if (h && !h.process && (h.reset || h.hang || h.status !== undefined)) {
		rule.used++;
		if (h.reset)
			return L.resetConn(req);
		if (h.hang)
			return L.hang(req);
		return reply(res, faultStatus(h.status));
	}
	const sub = checkSubscription(req);
	if (sub)
		return reply(res, sub);
	let result;
	if (r.endpoint === 'apiuser' || r.endpoint === 'apikey' || r.endpoint === 'getuser') {
		result = provisioning(req, r, body);
	} else if (r.endpoint === 'token') {
		const a = L.basicAuth(req);
		const u = a ? users.get(a.user) : undefined;
		if (!u || !u.key || !L.safeEqual(u.key, a.pass))
			result = { status: 401, body: { error: 'login_failed' } };
		else
			result = { status: 200, body: { access_token: issueToken(a.user), token_type: 'access_token', expires_in: cfg.token_ttl_s } };
	} else {
		const auth = checkBearer(req);
		if (auth.status)
			return reply(res, auth);
		const env = req.headers['x-target-environment'];
		if (env !== opts.environment)
			return reply(res, err(403, 'NOT_ALLOWED_TARGET_ENVIRONMENT', 'Access to target environment is forbidden.'));
		if (r.endpoint === 'status') {
			const tx = txs.get(r.id);
			result = tx ? { status: 200, body: statusView(tx) } : err(404, 'RESOURCE_NOT_FOUND', 'Requested resource was not found.');
		} else {
			if (text.trim() !== '' && body === undefined)
				return reply(res, err(400, 'INVALID_PARAMETER', 'body: a JSON object expected'));
			if (h && h.delay_ms)
				await L.sleep(h.delay_ms);
			result = requestToPay(req, body, rule, auth.user);
		}
	}
	if (rule && (result.status < 400 || h))
		rule.used++;
	if (lost) {
		if (h.reset)
			return L.resetConn(req);
		if (h.hang)
			return L.hang(req);
		return reply(res, faultStatus(h.status));
	}
	return reply(res, result);
}

/** Sandbox provisioning: POST /v1_0/apiuser, POST /v1_0/apiuser/{id}/apikey, GET /v1_0/apiuser/{id}. */
function provisioning(req, r, body) {
	if (opts.environment !== 'sandbox')
		return apim(404, 'Resource not found');
	if (r.endpoint === 'apiuser') {
		const ref = req.headers['x-reference-id'];
		if (typeof ref !== 'string' || !L.UUID_RE.test(ref))
			return err(400, 'INVALID_REFERENCE_ID', 'X-Reference-Id: a UUID (version 4) expected');
		if (users.has(ref))
			return err(409, 'RESOURCE_ALREADY_EXIST', 'Duplicated reference id. Creation of resource failed.');
		if (!body || typeof body.providerCallbackHost !== 'string' || body.providerCallbackHost === '')
			return err(400, 'INVALID_PARAMETER', 'providerCallbackHost: string expected');
		users.set(ref, { key: null, callbackHost: body.providerCallbackHost });
		return { status: 201, body: null };
	}
	const u = users.get(r.id);
	if (!u)
		return err(404, 'RESOURCE_NOT_FOUND', 'Requested resource was not found.');
	if (r.endpoint === 'getuser')
		return { status: 200, body: { providerCallbackHost: u.callbackHost, targetEnvironment: 'sandbox' } };
	u.key = crypto.randomBytes(16).toString('hex');
	return { status: 201, body: { apiKey: u.key } };
}

// ---------------------------------------------------------------------------
// Control API

function controlConfig(b) {
	const next = Object.assign({}, cfg);
	for (const [k, v] of Object.entries(b)) {
		switch (k) {
		case 'token_ttl_s': case 'process_ms': case 'delayed_ms': case 'callback_retries': case 'callback_retry_ms':
			if (!L.isUint(v))
				return `${k}: non-negative integer expected`;
			break;
		case 'currencies':
			if (!Array.isArray(v) || v.some((c) => typeof c !== 'string' || !/^[A-Z]{3}$/.test(c)))
				return `${k}: array of ISO codes expected ([] = any)`;
			break;
		case 'callback_method':
			if (v !== 'PUT' && v !== 'POST')
				return `${k}: PUT or POST`;
			break;
		case 'reason_as':
			if (v !== 'string' && v !== 'object')
				return `${k}: string or object`;
			break;
		case 'values_as':
			if (v !== 'string' && v !== 'number')
				return `${k}: string or number`;
			break;
		default:
			return `unknown key ${k}`;
		}
		next[k] = v;
	}
	cfg = next;
	return null;
}

function resetAll() {
	cfg = defaultsCfg();
	rules.list = [];
	tokens = new Map();
	txs = new Map();
	users.clear();
	for (const [k, v] of startUsers)
		users.set(k, Object.assign({}, v));
	notifier.reset();
	clock.shiftMs = 0;
	ledger.truncate();
}

function txView(tx) {
	return Object.assign({ referenceId: tx.referenceId, callbackUrl: tx.callbackUrl, createdAt: tx.createdAt,
		completedAt: tx.completedAt }, statusView(tx));
}

async function handleControl(req, res, url) {
	const p = url.pathname.slice('/__emulator'.length);
	const raw = req.method === 'POST' ? await L.readBody(req) : Buffer.alloc(0);
	const text = raw === null ? null : raw.toString('utf8');
	const body = req.method === 'POST' ? (text === '' ? {} : L.parseJson(text)) : {};
	if (body === undefined)
		return L.send(res, 400, { error: 'JSON object expected' });
	switch (`${req.method} ${p}`) {
	case 'GET /health':
		return L.send(res, 200, { status: 'ok' });
	case 'POST /script': {
		const e = rules.load(body.rules);
		return e ? L.send(res, 400, { error: e }) : L.send(res, 200, { rules: rules.list.length });
	}
	case 'GET /script':
		return L.send(res, 200, { rules: rules.list });
	case 'GET /ledger':
		return L.send(res, 200, { count: ledger.entries.length, entries: ledger.entries });
	case 'POST /reset':
		resetAll();
		return L.send(res, 200, { reset: true });
	case 'POST /complete': {
		// The payer answers a pending request now (ONGOING ones too).
		const tx = txs.get(body.referenceId || '');
		if (!tx)
			return L.send(res, 404, { error: 'unknown referenceId' });
		if (tx.status !== 'PENDING')
			return L.send(res, 409, { error: `already ${tx.status}` });
		const outcome = body.outcome || 'SUCCESSFUL';
		if (outcome !== 'SUCCESSFUL' && !REASONS[outcome])
			return L.send(res, 400, { error: `outcome: SUCCESSFUL or one of ${Object.keys(REASONS).join(', ')}` });
		finish(tx, outcome);
		return L.send(res, 200, txView(tx));
	}
	case 'GET /transactions':
		return L.send(res, 200, { transactions: [...txs.values()].map(txView) });
	case 'GET /callbacks':
		return L.send(res, 200, { held: notifier.held.length, deliveries: notifier.deliveries });
	case 'POST /flush': {
		const order = body.order || 'fifo';
		if (order !== 'fifo' && order !== 'lifo')
			return L.send(res, 400, { error: 'order: fifo or lifo' });
		const ids = notifier.flush(order);
		return L.send(res, 200, { delivered: ids.length, order: ids });
	}
	case 'POST /clock': {
		const e = clock.control(body);
		return e ? L.send(res, 400, { error: e }) : L.send(res, 200, clock.view());
	}
	case 'GET /clock':
		return L.send(res, 200, clock.view());
	case 'POST /config': {
		const e = controlConfig(body);
		return e ? L.send(res, 400, { error: e }) : L.send(res, 200, cfg);
	}
	case 'GET /config':
		return L.send(res, 200, cfg);
	default:
		return L.send(res, 404, { error: `no control route ${req.method} ${p}` });
	}
}

async function onRequest(req, res) {
	let url;
	try {
		url = new URL(req.url, 'http://127.0.0.1');
	} catch (e) {
		return reply(res, err(400, 'INVALID_PARAMETER', 'bad URL'));
	}
	log(`${req.method} ${url.pathname}`);
	if (url.pathname.startsWith('/__emulator/'))
		return handleControl(req, res, url);
	return handleApi(req, res, url);
}

if (opts.script) {
	let doc;
	try {
		doc = JSON.parse(fs.readFileSync(opts.script, 'utf8'));
	} catch (e) {
		process.stderr.write(`${NAME}: ${opts.script}: ${e.message}\n`);
		process.exit(2);
	}
	const e = rules.load(doc.rules);
	if (e) {
		process.stderr.write(`${NAME}: ${opts.script}: ${e}\n`);
		process.exit(2);
	}
}
L.serve(NAME, opts.port, onRequest, () => ledger.close());
