#!/usr/bin/env node
// PayPal emulator (OAuth2 + Orders v2 + webhooks) for ussdgw's tests.
//
// Loopback only, plain HTTP, Node.js standard library plus the `openssl`
// command line (to make a throwaway CA and the webhook signing certificate at
// start). It follows the published API as the payments reference spec
// (specs/payments.md, section 3) records it: client-credentials tokens, orders
// created with intent CAPTURE and an approve link, approval by the buyer (the
// approve link itself, or the control API), capture (201 first, 200 on a
// PayPal-Request-Id replay with the order's latest state), the 6 h request-id
// retention, the REST error envelope with `details[].issue`, and webhooks
// signed as PayPal does: RSA-SHA256 over
// "transmission_id|transmission_time|webhook_id|crc32(raw body)" with the
// certificate served from this emulator at PAYPAL-CERT-URL.
//
// A control API under /__emulator/ scripts outcomes and faults (see
// tools/emulators/README.md). Every completed capture goes to the ledger,
// appended and fsynced to --ledger PATH before its webhook leaves.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { execFileSync } = require('child_process');
const L = require('./lib');

const NAME = 'paypal-emulator';
const opts = L.parseArgs(NAME, {
	'--port': { key: 'port', type: 'num', def: 0, meta: 'N', help: 'listen port on 127.0.0.1 (0 = pick one)' },
	'--ledger': { key: 'ledger', type: 'str', def: null, meta: 'PATH', help: 'append every completed capture (JSON line, fsynced)' },
	'--script': { key: 'script', type: 'str', def: null, meta: 'PATH', help: 'initial rules (JSON as POST /__emulator/script)' },
	'--client-id': { key: 'clientId', type: 'str', def: 'demo-client-id', meta: 'ID', help: 'OAuth client id' },
	'--client-secret': { key: 'clientSecret', type: 'str', def: 'demo-client-secret', meta: 'S', help: 'OAuth client secret' },
	'--webhook-url': { key: 'webhookUrl', type: 'str', def: null, meta: 'URL', help: 'webhook listener (loopback http)' },
	'--webhook-id': { key: 'webhookId', type: 'str', def: '1JE4291016473214C', meta: 'ID', help: 'the webhook id signed into every transmission' },
	'--ca-out': { key: 'caOut', type: 'str', def: null, meta: 'PATH', help: 'write the emulator CA certificate (PEM) here' },
	'--rogue': { key: 'rogue', type: 'bool', def: false, help: 'sign webhooks with a certificate from another CA than --ca-out' },
	'--quiet': { key: 'quiet', type: 'bool', def: false, help: 'no request log on stderr' },
}, process.argv);

const log = (m) => { if (!opts.quiet) process.stderr.write(`${NAME}: ${m}\n`); };
const clock = L.clock;

// ---------------------------------------------------------------------------
// Certificates: our CA -> signing cert, and a rogue CA -> rogue signing cert
// (same subject), made with the openssl command line in a private temp dir.

const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'paypal-emu-'));
const SUBJECT = '/C=US/ST=California/L=San Jose/O=PayPal, Inc./OU=Emulator/CN=messageverificationcerts.paypal.com';

function openssl(args) {
	execFileSync('openssl', args, { cwd: certDir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeChain(tag, caName) {
	fs.writeFileSync(path.join(certDir, 'leaf.ext'),
		'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
	openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '30',
		'-keyout', `${tag}-ca.key`, '-out', `${tag}-ca.pem`, '-subj', `/O=ussdgw test/CN=${caName}`,
		'-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
	openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', `${tag}-leaf.key`,
		'-out', `${tag}-leaf.csr`, '-subj', SUBJECT]);
	openssl(['x509', '-req', '-in', `${tag}-leaf.csr`, '-CA', `${tag}-ca.pem`, '-CAkey', `${tag}-ca.key`,
		'-CAcreateserial', '-days', '30', '-sha256', '-extfile', 'leaf.ext', '-out', `${tag}-leaf.pem`]);
	const read = (f) => fs.readFileSync(path.join(certDir, f), 'utf8');
	return { ca: read(`${tag}-ca.pem`), cert: read(`${tag}-leaf.pem`), key: read(`${tag}-leaf.key`),
		certId: `CERT-360caa42-fca2a594-${crypto.createHash('sha256').update(read(`${tag}-leaf.pem`)).digest('hex').slice(0, 8)}` };
}

let good;
let rogue;
try {
	good = makeChain('good', 'PayPal emulator CA');
	rogue = makeChain('rogue', 'PayPal emulator CA'); // same names, other keys
} catch (e) {
	process.stderr.write(`${NAME}: openssl failed: ${e.stderr ? e.stderr.toString() : e.message}\n`);
	process.exit(1);
}
if (opts.caOut)
	fs.writeFileSync(opts.caOut, good.ca, { mode: 0o644 });
const certsById = new Map([[good.certId, good], [rogue.certId, rogue]]);

// ---------------------------------------------------------------------------
// Money (spec 3.2, 6.6)

const NO_DECIMALS = ['JPY', 'HUF', 'TWD'];
const CURRENCIES = ['AUD', 'BRL', 'CAD', 'CNY', 'CZK', 'DKK', 'EUR', 'HKD', 'HUF', 'ILS', 'JPY', 'MYR', 'MXN',
	'TWD', 'NZD', 'NOK', 'PHP', 'PLN', 'GBP', 'SGD', 'SEK', 'CHF', 'THB', 'USD'];

/** Minor units (BigInt) of a validated value string. */
function toMinor(value, currency) {
	const exp = NO_DECIMALS.includes(currency) ? 0 : 2;
	const [i, f = ''] = value.replace(/^-/, '').split('.');
	return BigInt(i + f.padEnd(exp, '0')) * (value.startsWith('-') ? -1n : 1n);
}

function fromMinor(minor, currency) {
	const exp = NO_DECIMALS.includes(currency) ? 0 : 2;
	if (exp === 0)
		return String(minor);
	const s = String(minor).padStart(3, '0');
	return `${s.slice(0, -2)}.${s.slice(-2)}`;
}

// ---------------------------------------------------------------------------
// State

const defaultsCfg = () => ({
	webhook_url: opts.webhookUrl,
	webhook_id: opts.webhookId,
	webhook_retries: 25, // PayPal: up to 25 retries over 3 days
	webhook_retry_ms: 200, // compressed
	retry_new_time: true, // a retry is a new transmission (new id and time); false: re-sent as is
	rogue: opts.rogue,
	foreign_cert_host: 'api.paypal.com.attacker.invalid',
	request_id_ttl_s: 6 * 3600,
	token_ttl_s: 32400,
	approval_ttl_s: 3 * 3600,
});
let cfg = defaultsCfg();
let tokens = new Map();
let orders = new Map();
let captures = new Map(); // capture id -> order id
let requestIds = new Map();
let events = [];
const ledger = new L.Ledger(opts.ledger, log);
const notifier = new L.Notifier(log);
const usedIds = new Set();

const UPNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function newId(prefix, n) {
	for (;;) {
		const id = prefix + L.randFrom(UPNUM, n || 17);
		if (!usedIds.has(id)) {
			usedIds.add(id);
			return id;
		}
	}
}
const debugId = () => crypto.randomBytes(7).toString('hex').slice(0, 13);

const OUTCOMES = ['completed', 'pending', 'declined', 'refused'];
const PENDING_REASONS = ['BUYER_COMPLAINT', 'CHARGEBACK', 'ECHECK', 'INTERNATIONAL_WITHDRAWAL', 'OTHER',
	'PENDING_REVIEW', 'RECEIVING_PREFERENCE_MANDATES_MANUAL_ACTION', 'REFUNDED',
	'TRANSACTION_APPROVED_AWAITING_FUNDING', 'UNILATERAL', 'VERIFICATION_REQUIRED'];
const ENDPOINTS = ['oauth', 'create', 'get', 'capture', 'any'];
const rules = new L.Rules(['outcome', 'pending_reason', 'webhook'], ['endpoint', 'value', 'currency', 'custom_id'],
	(r, w) => {
		if (r.outcome !== undefined && !OUTCOMES.includes(r.outcome))
			return `${w}.outcome: one of ${OUTCOMES.join(', ')}`;
		if (r.pending_reason !== undefined && !PENDING_REASONS.includes(r.pending_reason))
			return `${w}.pending_reason: one of ${PENDING_REASONS.join(', ')}`;
		if (r.webhook !== undefined) {
			const e = L.checkNotify(r.webhook, `${w}.webhook`,
				['foreign_cert_url', 'rogue_cert', 'tamper', 'wrong_webhook_id']);
			if (e)
				return e;
		}
		if (r.match.endpoint !== undefined && !ENDPOINTS.includes(r.match.endpoint))
			return `${w}.match.endpoint: one of ${ENDPOINTS.join(', ')}`;
		return null;
	});

// ---------------------------------------------------------------------------
// Errors (spec 3.5)

const NAMES = {
	400: ['INVALID_REQUEST', 'Request is not well-formed, syntactically incorrect, or violates schema.'],
	401: ['AUTHENTICATION_FAILURE', 'Authentication failed due to invalid authentication credentials or a missing Authorization header.'],
	403: ['NOT_AUTHORIZED', 'Authorization failed due to insufficient permissions.'],
	404: ['RESOURCE_NOT_FOUND', 'The specified resource does not exist.'],
	409: ['RESOURCE_CONFLICT', 'The server has detected a conflict while processing this request.'],
	415: ['UNSUPPORTED_MEDIA_TYPE', 'The server does not support the request payload\'s media type.'],
	422: ['UNPROCESSABLE_ENTITY', 'The requested action could not be performed, semantically incorrect, or failed business validation.'],
	429: ['RATE_LIMIT_REACHED', 'Too many requests. Blocked due to rate limiting.'],
	500: ['INTERNAL_SERVER_ERROR', 'An internal server error has occurred.'],
	502: ['BAD_GATEWAY', 'Bad gateway.'],
	503: ['SERVICE_UNAVAILABLE', 'Service Unavailable.'],
	504: ['GATEWAY_TIMEOUT', 'Gateway timeout.'],
};

function ppError(status, issue, description, field, location, value) {
	const [name, message] = NAMES[status] || ['INTERNAL_SERVER_ERROR', 'An internal server error has occurred.'];
	const body = { name, message, debug_id: debugId() };
	if (issue) {
		const d = { issue, description };
		if (field !== undefined)
			d.field = field;
		if (value !== undefined)
			d.value = value;
		d.location = location || 'body';
		body.details = [d];
		body.links = [{ href: `https://developer.paypal.com/docs/api/orders/v2/#error-${issue}`, rel: 'information_link', method: 'GET' }];
	}
	return { status, body };
}

// ---------------------------------------------------------------------------
// Orders

function link(base, p, rel, method) {
	return { href: `${base}${p}`, rel, method };
}

function orderLinks(o, base) {
	const self = `/v2/checkout/orders/${o.id}`;
	const approve = `/checkoutnow?token=${o.id}`;
	switch (o.status) {
	case 'CREATED':
		return [link(base, self, 'self', 'GET'), link(base, approve, 'approve', 'GET'),
			link(base, self, 'update', 'PATCH'), link(base, `${self}/capture`, 'capture', 'POST')];
	case 'PAYER_ACTION_REQUIRED':
		return [link(base, self, 'self', 'GET'), link(base, approve, 'payer-action', 'GET')];
	case 'APPROVED':
		return [link(base, self, 'self', 'GET'), link(base, self, 'update', 'PATCH'),
			link(base, `${self}/capture`, 'capture', 'POST')];
	default:
		return [link(base, self, 'self', 'GET')];
	}
}

function orderView(o, base, minimal) {
	if (minimal)
		return { id: o.id, status: o.status, links: orderLinks(o, base) };
	const v = { id: o.id, intent: o.intent, status: o.status };
	if (o.payment_source)
		v.payment_source = o.payment_source;
	v.purchase_units = JSON.parse(JSON.stringify(o.purchase_units));
	if (o.payer)
		v.payer = o.payer;
	v.create_time = o.create_time;
	v.update_time = o.update_time;
	v.links = orderLinks(o, base);
	return v;
}

function expired(o) {
	return o.status !== 'COMPLETED' && clock.now() - o.created_ms > cfg.approval_ttl_s * 1000;
}

const VALUE_RE = /^-?\d+(\.\d+)?$/;

/** Validate an order request; returns an error result or the purchase units. */
function validateOrder(b) {
	if (b.intent === undefined)
		return ppError(400, 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', '/intent');
	if (b.intent !== 'CAPTURE' && b.intent !== 'AUTHORIZE')
		return ppError(400, 'INVALID_PARAMETER_VALUE', 'The value of a field is invalid.', '/intent', 'body', String(b.intent));
	if (!Array.isArray(b.purchase_units) || b.purchase_units.length === 0)
		return ppError(400, 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', '/purchase_units');
	const units = b.purchase_units;
	const refs = new Set();
	let currency = null;
	for (let i = 0; i < units.length; i++) {
		const u = units[i];
		const f = `/purchase_units/${i}`;
		if (u === null || typeof u !== 'object')
			return ppError(400, 'INVALID_PARAMETER_SYNTAX', 'The value of a field does not conform to the expected format.', f);
		if (units.length > 1 && u.reference_id === undefined)
			return ppError(422, 'REFERENCE_ID_REQUIRED', "'reference_id' is required for each 'purchase_unit' when multiple purchase units are present.", `${f}/reference_id`);
		const ref = u.reference_id === undefined ? 'default' : u.reference_id;
		if (typeof ref !== 'string' || ref.length < 1 || ref.length > 256)
			return ppError(400, 'INVALID_STRING_LENGTH', 'The value of a field is either too short or too long.', `${f}/reference_id`);
		if (refs.has(ref))
			return ppError(422, 'DUPLICATE_REFERENCE_ID', "'reference_id' must be unique if multiple purchase units are provided.", `${f}/reference_id`);
		refs.add(ref);
		for (const k of ['description', 'custom_id', 'invoice_id'])
			if (u[k] !== undefined && (typeof u[k] !== 'string' || u[k].length > 127))
				return ppError(400, 'INVALID_STRING_LENGTH', 'The value of a field is either too short or too long.', `${f}/${k}`);
		if (u.soft_descriptor !== undefined && (typeof u.soft_descriptor !== 'string' || u.soft_descriptor.length > 22))
			return ppError(400, 'INVALID_STRING_LENGTH', 'The value of a field is either too short or too long.', `${f}/soft_descriptor`);
		const a = u.amount;
		if (!a || typeof a !== 'object')
			return ppError(400, 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', `${f}/amount`);
		if (a.currency_code === undefined)
			return ppError(400, 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', `${f}/amount/currency_code`);
		if (typeof a.currency_code !== 'string' || a.currency_code.length !== 3)
			return ppError(400, 'INVALID_STRING_LENGTH', 'The value of a field is either too short or too long.', `${f}/amount/currency_code`);
		if (!CURRENCIES.includes(a.currency_code))
			return ppError(422, 'CURRENCY_NOT_SUPPORTED', 'Currency code is not currently supported.', `${f}/amount/currency_code`, 'body', a.currency_code);
		if (currency !== null && a.currency_code !== currency)
			return ppError(422, 'MULTI_CURRENCY_ORDER', 'Multiple differing values of currency_code are not supported.', `${f}/amount/currency_code`);
		currency = a.currency_code;
		if (a.value === undefined)
			return ppError(400, 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', `${f}/amount/value`);
		if (typeof a.value !== 'string' || a.value.length > 32 || !VALUE_RE.test(a.value))
			return ppError(400, 'INVALID_PARAMETER_SYNTAX', 'The value of a field does not conform to the expected format.', `${f}/amount/value`, 'body', String(a.value));
		const dp = (a.value.split('.')[1] || '').length;
		if (dp > (NO_DECIMALS.includes(currency) ? 0 : 2))
			return ppError(422, 'DECIMAL_PRECISION', 'If the currency supports decimals, only two decimal place precision is supported.', `${f}/amount/value`, 'body', a.value);
		const minor = toMinor(a.value, currency);
		if (minor <= 0n)
			return ppError(422, 'CANNOT_BE_ZERO_OR_NEGATIVE', 'Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported.', `${f}/amount/value`, 'body', a.value);
		if (toMinor(a.value, 'USD') > 99999999999999999n)
			return ppError(422, 'MAX_VALUE_EXCEEDED', 'Should be less than or equal to 999999999999999.99.', `${f}/amount/value`, 'body', a.value);
		if (a.breakdown !== undefined) {
			let sum = 0n;
			const parts = { item_total: 1n, tax_total: 1n, shipping: 1n, handling: 1n, insurance: 1n, shipping_discount: -1n, discount: -1n };
			for (const [k, sign] of Object.entries(parts)) {
				const m = a.breakdown[k];
				if (m === undefined)
					continue;
				if (!m || typeof m.value !== 'string' || !VALUE_RE.test(m.value) || m.currency_code !== currency)
					return ppError(400, 'INVALID_PARAMETER_SYNTAX', 'The value of a field does not conform to the expected format.', `${f}/amount/breakdown/${k}`);
				sum += sign * toMinor(m.value, currency);
			}
			if (sum !== minor)
				return ppError(422, 'AMOUNT_MISMATCH', 'Should equal item_total + tax_total + shipping + handling + insurance - shipping_discount - discount.', `${f}/amount/value`);
		}
	}
	return { units };
}

function createOrder(b, base, minimal) {
	const v = validateOrder(b);
	if (v.status)
		return v;
	const now = clock.rfc3339();
	const o = {
		id: newId(''), intent: b.intent, status: b.payment_source && b.payment_source.paypal ? 'PAYER_ACTION_REQUIRED' : 'CREATED',
		purchase_units: v.units.map((u) => {
			const pu = { reference_id: u.reference_id === undefined ? 'default' : u.reference_id, amount: u.amount,
				payee: u.payee || { email_address: 'merchant@example.com', merchant_id: 'EMULATORMERCHNT' } };
			for (const k of ['description', 'custom_id', 'invoice_id', 'soft_descriptor', 'items', 'shipping'])
				if (u[k] !== undefined)
					pu[k] = u[k];
			return pu;
		}),
		payment_source: b.payment_source ? JSON.parse(JSON.stringify(b.payment_source)) : undefined,
		create_time: now, update_time: now, created_ms: clock.now(), payer: null, declines: 0,
	};
	if (o.payment_source && o.payment_source.paypal)
		delete o.payment_source.paypal.experience_context;
	orders.set(o.id, o);
	return { status: 201, body: orderView(o, base, minimal) };
}

const BUYER = () => ({
	name: { given_name: 'John', surname: 'Doe' }, email_address: 'buyer@example.com',
	payer_id: newId('', 13), address: { country_code: 'US' },
});

function approveOrder(o, base) {
	if (expired(o))
		return { status: 410, body: { error: 'approval window over' } };
	if (o.status !== 'CREATED' && o.status !== 'PAYER_ACTION_REQUIRED')
		return { status: 409, body: { error: `order is ${o.status}` } };
	o.status = 'APPROVED';
	o.payer = BUYER();
	o.payment_source = { paypal: { email_address: o.payer.email_address, account_id: o.payer.payer_id,
		account_status: 'VERIFIED', name: o.payer.name, address: o.payer.address } };
	o.update_time = clock.rfc3339();
	emit('CHECKOUT.ORDER.APPROVED', 'checkout-order', `An order has been approved by buyer`,
		orderView(o, base, false), undefined);
	return { status: 200, body: orderView(o, base, false) };
}

function fee(minor, currency) {
	// 3.49% + a fixed 49 minor units (the emulator's figures).
	return (minor * 349n + 9999n) / 10000n + 49n;
}

function captureOrder(o, base, rule, requestId) {
	if (o.intent !== 'CAPTURE')
		return ppError(422, 'ACTION_DOES_NOT_MATCH_INTENT', 'Order was created with an intent to \'AUTHORIZE\'. Please use authorize instead.', undefined, 'path');
	if (o.status === 'COMPLETED')
		return ppError(422, 'ORDER_ALREADY_CAPTURED', 'Order already captured. If \'intent=CAPTURE\' only one capture per order is allowed.');
	if (o.status !== 'APPROVED')
		return ppError(422, 'ORDER_NOT_APPROVED', 'Payer has not yet approved the Order for payment. Please redirect the payer to the \'rel\':\'approve\' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.');
	const outcome = rule && rule.outcome ? rule.outcome : 'completed';
	if (outcome === 'declined') {
		o.declines++;
		return ppError(422, 'INSTRUMENT_DECLINED', 'The instrument presented  was either declined by the processor or bank, or it can\'t be used for this payment.');
	}
	if (outcome === 'refused')
		return ppError(422, 'TRANSACTION_REFUSED', 'The request was refused.');
	const now = clock.rfc3339();
	o.status = 'COMPLETED';
	o.update_time = now;
	for (const pu of o.purchase_units) {
		const cur = pu.amount.currency_code;
		const gross = toMinor(pu.amount.value, cur);
		const f = fee(gross, cur);
		const cap = {
			id: newId(''), status: outcome === 'pending' ? 'PENDING' : 'COMPLETED',
			amount: { currency_code: cur, value: pu.amount.value }, final_capture: true,
			seller_protection: { status: 'ELIGIBLE', dispute_categories: ['ITEM_NOT_RECEIVED', 'UNAUTHORIZED_TRANSACTION'] },
			seller_receivable_breakdown: {
				gross_amount: { currency_code: cur, value: pu.amount.value },
				paypal_fee: { currency_code: cur, value: fromMinor(f, cur) },
				net_amount: { currency_code: cur, value: fromMinor(gross - f, cur) },
			},
			links: [link(base, `/v2/payments/captures/PLACEHOLDER`, 'self', 'GET'),
				link(base, `/v2/checkout/orders/${o.id}`, 'up', 'GET')],
			create_time: now, update_time: now,
		};
		cap.links[0].href = `${base}/v2/payments/captures/${cap.id}`;
		if (outcome === 'pending')
			cap.status_details = { reason: rule.pending_reason || 'PENDING_REVIEW' };
		if (pu.custom_id !== undefined)
			cap.custom_id = pu.custom_id;
		if (pu.invoice_id !== undefined)
			cap.invoice_id = pu.invoice_id;
		pu.payments = { captures: [cap] };
		captures.set(cap.id, { order: o.id, requestId });
	}
	for (const pu of o.purchase_units)
		captureSettled(o, pu.payments.captures[0], rule ? rule.webhook : undefined, base);
	return { status: 201, body: orderView(o, base, false) };
}

/** A capture reached COMPLETED, PENDING or DECLINED: ledger and webhook. */
function captureSettled(o, cap, wh, base) {
	const resource = Object.assign({}, cap, { supplementary_data: { related_ids: { order_id: o.id } } });
	if (cap.status === 'COMPLETED') {
		ledger.append({ kind: 'capture', capture_id: cap.id, order_id: o.id, value: cap.amount.value,
			currency: cap.amount.currency_code, custom_id: cap.custom_id || null,
			request_id: (captures.get(cap.id) || {}).requestId || null, at: clock.rfc3339() });
		emit('PAYMENT.CAPTURE.COMPLETED', 'capture',
			`Payment completed for ${cap.amount.currency_code} ${cap.amount.value}`, resource, wh);
	} else if (cap.status === 'PENDING') {
		emit('PAYMENT.CAPTURE.PENDING', 'capture',
			`Payment pending for ${cap.amount.currency_code} ${cap.amount.value}`, resource, wh);
	} else {
		emit('PAYMENT.CAPTURE.DENIED', 'capture',
			`A ${cap.amount.currency_code} ${cap.amount.value} payment was denied`, resource, wh);
	}
	void base;
}

// ---------------------------------------------------------------------------
// Webhooks (spec 3.6)

const crc32 = (buf) => zlib.crc32(buf) >>> 0;

function signMessage(key, transmissionId, time, webhookId, raw) {
	const msg = `${transmissionId}|${time}|${webhookId}|${crc32(Buffer.from(raw, 'utf8'))}`;
	return crypto.sign('sha256', Buffer.from(msg, 'utf8'), key).toString('base64');
}

function emit(type, resourceType, summary, resource, wh) {
	const id = `WH-${L.randFrom(UPNUM, 17)}-${L.randFrom(UPNUM, 17)}`;
	const ev = {
		id, event_version: '1.0', create_time: clock.rfc3339(), resource_type: resourceType,
		resource_version: '2.0', event_type: type, summary, resource,
		links: [
			{ href: `https://api-m.sandbox.paypal.com/v1/notifications/webhooks-events/${id}`, rel: 'self', method: 'GET' },
			{ href: `https://api-m.sandbox.paypal.com/v1/notifications/webhooks-events/${id}/resend`, rel: 'resend', method: 'POST' },
		],
	};
	const rec = { ev, delivered: false, attempts: 0 };
	events.push(rec);
	if (cfg.webhook_url)
		deliverRaw(id, JSON.stringify(ev), wh, rec);
	return ev;
}

function deliverRaw(id, raw, wh, rec) {
	wh = wh || {};
	const chain = wh.rogue_cert || cfg.rogue ? rogue : good;
	const webhookId = wh.wrong_webhook_id ? 'WRONG-WEBHOOK-ID' : cfg.webhook_id;
	const host = wh.foreign_cert_url ? cfg.foreign_cert_host : `127.0.0.1:${serverPort}`;
	const certUrl = `http://${host}/v1/notifications/certs/${chain.certId}`;
	let body = raw;
	if (wh.tamper)
		body = raw.replace(/"value":"(\d+)/, (m, n) => `"value":"${Number(n) + 1}`);
	const first = new Map(); // copy -> {tid, time} of its first attempt
	notifier.schedule({
		kind: 'webhook', id, url: cfg.webhook_url, method: 'POST', body,
		sign: (attempt, copy) => {
			let t;
			if (attempt > 1 && !cfg.retry_new_time && first.has(copy))
				t = first.get(copy);
			else
				t = { tid: L.uuid4(), time: clock.rfc3339() };
			if (!first.has(copy))
				first.set(copy, t);
			return {
				'PAYPAL-TRANSMISSION-ID': t.tid,
				'PAYPAL-TRANSMISSION-TIME': t.time,
				'PAYPAL-TRANSMISSION-SIG': signMessage(chain.key, t.tid, t.time, webhookId, raw),
				'PAYPAL-CERT-URL': certUrl,
				'PAYPAL-AUTH-ALGO': 'SHA256withRSA',
				'User-Agent': 'PayPal/AUHD-214.0-56199089',
			};
		},
		onResult: (err, status) => {
			if (!rec)
				return;
			rec.attempts++;
			if (!err && status >= 200 && status <= 299)
				rec.delivered = true;
		},
	}, wh, { retries: cfg.webhook_retries, retry_ms: cfg.webhook_retry_ms });
}

/** POST /v1/notifications/verify-webhook-signature: the same check as a listener does. */
function verifyWebhook(b) {
	for (const k of ['auth_algo', 'cert_url', 'transmission_id', 'transmission_sig', 'transmission_time', 'webhook_id'])
		if (typeof b[k] !== 'string')
			return ppError(400, 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', `/${k}`);
	if (!b.webhook_event || typeof b.webhook_event !== 'object')
		return ppError(400, 'MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', '/webhook_event');
	let ok = false;
	const u = L.validUrl(b.cert_url);
	const m = u && /^\/v1\/notifications\/certs\/(CERT-[0-9a-f-]+)$/.exec(u.pathname);
	const chain = m && certsById.get(m[1]);
	if (chain && chain === good && u.host === `127.0.0.1:${serverPort}` && b.auth_algo === 'SHA256withRSA') {
		const raw = JSON.stringify(b.webhook_event);
		const msg = `${b.transmission_id}|${b.transmission_time}|${b.webhook_id}|${crc32(Buffer.from(raw, 'utf8'))}`;
		try {
			ok = crypto.verify('sha256', Buffer.from(msg, 'utf8'), crypto.createPublicKey(chain.cert),
				Buffer.from(b.transmission_sig, 'base64'));
		} catch (e) {
			ok = false;
		}
	}
	return { status: 200, body: { verification_status: ok ? 'SUCCESS' : 'FAILURE' } };
}

// ---------------------------------------------------------------------------
// OAuth (spec 3.1)

function handleToken(req, raw) {
	const auth = L.basicAuth(req);
	if (!auth || !L.safeEqual(auth.user, opts.clientId) || !L.safeEqual(auth.pass, opts.clientSecret))
		return { status: 401, body: { error: 'invalid_client', error_description: 'Client Authentication failed' } };
	const form = new URLSearchParams(raw.toString('utf8'));
	if (form.get('grant_type') !== 'client_credentials')
		return { status: 400, body: { error: 'unsupported_grant_type', error_description: `Grant Type is ${form.get('grant_type') === null ? 'NULL' : 'not supported'}` } };
	const token = `A21AA${L.randFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 92)}`;
	tokens.set(token, clock.now() + cfg.token_ttl_s * 1000);
	return { status: 200, body: {
		scope: 'https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/checkout/one-click-with-merchant-issued-token https://uri.paypal.com/services/notifications/webhooks',
		access_token: token, token_type: 'Bearer', app_id: 'APP-80W284485P519543T',
		expires_in: cfg.token_ttl_s, nonce: `${clock.rfc3339()}${crypto.randomBytes(16).toString('base64url')}`,
	} };
}

// ---------------------------------------------------------------------------
// Request handling

let serverPort = 0;

function route(method, p) {
	let m;
	if (p === '/v1/oauth2/token' && method === 'POST')
		return { endpoint: 'oauth' };
	if (p === '/v2/checkout/orders' && method === 'POST')
		return { endpoint: 'create', idem: 'create' };
	if ((m = /^\/v2\/checkout\/orders\/([A-Z0-9]+)$/.exec(p)) && method === 'GET')
		return { endpoint: 'get', id: m[1] };
	if ((m = /^\/v2\/checkout\/orders\/([A-Z0-9]+)\/capture$/.exec(p)) && method === 'POST')
		return { endpoint: 'capture', id: m[1], idem: `capture:${m[1]}` };
	if (p === '/v1/notifications/verify-webhook-signature' && method === 'POST')
		return { endpoint: 'verify' };
	if ((m = /^\/v1\/notifications\/certs\/(CERT-[0-9a-f-]+)$/.exec(p)) && method === 'GET')
		return { endpoint: 'cert', id: m[1] };
	if (p === '/checkoutnow' && method === 'GET')
		return { endpoint: 'checkout' };
	return null;
}

function matchContext(r, body) {
	const ctx = { endpoint: r.endpoint, defaultEndpoint: 'any' };
	const o = r.id ? orders.get(r.id) : null;
	const pu = o ? o.purchase_units[0] : body && Array.isArray(body.purchase_units) ? body.purchase_units[0] : null;
	if (pu && pu.amount) {
		ctx.value = pu.amount.value;
		ctx.currency = pu.amount.currency_code;
	}
	if (pu)
		ctx.custom_id = pu.custom_id;
	return ctx;
}

function reply(res, result, extra) {
	L.send(res, result.status, result.body, Object.assign({ 'Paypal-Debug-Id': debugId() }, extra || {}));
}

async function handleApi(req, res, url) {
	const raw = await L.readBody(req);
	const r = route(req.method, url.pathname);
	if (!r)
		return reply(res, ppError(404, 'INVALID_RESOURCE_ID', 'Specified resource ID does not exist. Please check the resource ID and try again.', undefined, 'path'));
	if (raw === null)
		return reply(res, ppError(400, 'INVALID_REQUEST', 'Request body too large.'));
	const base = `http://127.0.0.1:${req.socket.localPort}`;
	if (r.endpoint === 'cert') {
		const c = certsById.get(r.id);
		if (!c)
			return reply(res, ppError(404));
		return L.send(res, 200, c.cert, { 'Content-Type': 'application/x-x509-ca-cert' });
	}
	if (r.endpoint === 'checkout') {
		// The buyer follows the approve link and approves.
		const o = orders.get(url.searchParams.get('token') || '');
		if (!o)
			return L.send(res, 404, 'unknown order', { 'Content-Type': 'text/plain' });
		const a = approveOrder(o, base);
		return L.send(res, a.status, a.status === 200 ? 'approved\n' : `${a.body.error}\n`, { 'Content-Type': 'text/plain' });
	}
	let body;
	const text = raw.toString('utf8');
	if (r.endpoint !== 'oauth') {
		if (text.trim() !== '' || r.endpoint === 'create' || r.endpoint === 'verify') {
			body = L.parseJson(text);
			if (body === undefined)
				return reply(res, ppError(400, 'MALFORMED_REQUEST_JSON', 'The request JSON is not well formed.'));
		}
	}
	const rule = rules.find(matchContext(r, body));
	const h = rule && rule.http ? rule.http : null;
	if (rule)
		rule.used++;
	if (h && h.status === 429)
		return reply(res, { status: 429, body: { name: 'RATE_LIMIT_REACHED', message: NAMES[429][1], debug_id: debugId() } },
			h.retry_after !== undefined ? { 'Retry-After': String(h.retry_after) } : {});
	const lost = h && (h.reset || h.hang || h.status !== undefined) && h.process;
	if (h && !h.process) {
		if (h.reset)
			return L.resetConn(req);
		if (h.hang)
			return L.hang(req);
		if (h.status !== undefined)
			return reply(res, ppError(h.status));
	}
	if (r.endpoint === 'oauth')
		return reply(res, handleToken(req, raw));

	const token = L.bearer(req);
	const exp = token ? tokens.get(token) : undefined;
	if (exp === undefined || clock.now() >= exp)
		return reply(res, { status: 401, body: { name: NAMES[401][0], message: NAMES[401][1], debug_id: debugId(),
			links: [{ href: 'https://developer.paypal.com/api/rest/authentication/', rel: 'information_link' }] } });
	if (r.endpoint === 'verify')
		return reply(res, verifyWebhook(body));
	if (r.endpoint === 'get') {
		const o = orders.get(r.id);
		if (!o || expired(o))
			return reply(res, ppError(404, 'INVALID_RESOURCE_ID', 'Specified resource ID does not exist. Please check the resource ID and try again.', undefined, 'path', r.id));
		return reply(res, { status: 200, body: orderView(o, base, false) });
	}

	// PayPal-Request-Id (spec 3.4): per client, API call type and id.
	const rid = req.headers['paypal-request-id'];
	const minimal = !/return=representation/.test(req.headers.prefer || '');
	if (rid !== undefined && (rid.length < 1 || rid.length > 108))
		return reply(res, ppError(400, 'INVALID_STRING_LENGTH', 'The value of a field is either too short or too long.', 'PayPal-Request-Id', 'header'));
	if (r.endpoint === 'create' && body && body.payment_source !== undefined && rid === undefined)
		return reply(res, ppError(400, 'PAYPAL_REQUEST_ID_REQUIRED', 'A PayPal-Request-Id is required if you are trying to process payment for an Order. Please specify a PayPal-Request-Id or Create the Order without a \'payment_source\' specified.', 'PayPal-Request-Id', 'header'));
	let slot = null;
	const sk = rid === undefined ? null : `${opts.clientId}\0${r.idem}\0${rid}`;
	if (sk) {
		let rec = requestIds.get(sk);
		if (rec && rec.state === 'done' && clock.now() - rec.at >= cfg.request_id_ttl_s * 1000) {
			requestIds.delete(sk);
			rec = undefined;
		}
		if (rec && rec.state === 'inflight')
			return reply(res, ppError(409, 'PREVIOUS_REQUEST_IN_PROGRESS', 'A previous request with this PayPal-Request-Id is still being processed.', 'PayPal-Request-Id', 'header'));
		if (rec) {
			// Replay: the latest state of the original request's order, 200.
			rec.replays++;
			const o = orders.get(rec.order);
			return reply(res, { status: 200, body: orderView(o, base, r.endpoint === 'create' ? minimal : false) });
		}
		slot = { state: 'inflight', at: clock.now(), replays: 0, order: null };
		requestIds.set(sk, slot);
	}
	try {
		if (h && h.delay_ms)
			await L.sleep(h.delay_ms);
		let result;
		if (r.endpoint === 'create') {
			result = createOrder(body, base, minimal);
		} else {
			const o = orders.get(r.id);
			if (!o || expired(o))
				result = ppError(404, 'INVALID_RESOURCE_ID', 'Specified resource ID does not exist. Please check the resource ID and try again.', undefined, 'path', r.id);
			else
				result = captureOrder(o, base, rule, rid || null);
		}
		if (slot) {
			if (result.status >= 200 && result.status <= 299) {
				Object.assign(slot, { state: 'done', at: clock.now(), order: result.body.id });
			} else {
				requestIds.delete(sk);
				slot = null;
			}
		}
		if (lost) {
			if (h.reset)
				return L.resetConn(req);
			if (h.hang)
				return L.hang(req);
			return reply(res, ppError(h.status));
		}
		return reply(res, result);
	} finally {
		if (slot && slot.state === 'inflight')
			requestIds.delete(sk);
	}
}

// ---------------------------------------------------------------------------
// Control API

function controlConfig(b) {
	const next = Object.assign({}, cfg);
	for (const [k, v] of Object.entries(b)) {
		switch (k) {
		case 'webhook_url':
			if (v !== null && !L.validUrl(v))
				return `${k}: URL or null expected`;
			break;
		case 'webhook_id': case 'foreign_cert_host':
			if (typeof v !== 'string' || v === '')
				return `${k}: string expected`;
			break;
		case 'retry_new_time': case 'rogue':
			if (typeof v !== 'boolean')
				return `${k}: boolean expected`;
			break;
		case 'webhook_retries': case 'webhook_retry_ms': case 'request_id_ttl_s': case 'token_ttl_s': case 'approval_ttl_s':
			if (!L.isUint(v))
				return `${k}: non-negative integer expected`;
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
	orders = new Map();
	captures = new Map();
	requestIds = new Map();
	events = [];
	notifier.reset();
	clock.shiftMs = 0;
	ledger.truncate();
}

async function handleControl(req, res, url) {
	const p = url.pathname.slice('/__emulator'.length);
	const raw = req.method === 'POST' ? await L.readBody(req) : Buffer.alloc(0);
	const text = raw === null ? null : raw.toString('utf8');
	const body = req.method === 'POST' ? (text === '' ? {} : L.parseJson(text)) : {};
	if (body === undefined)
		return L.send(res, 400, { error: 'JSON object expected' });
	const base = `http://127.0.0.1:${req.socket.localPort}`;
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
	case 'POST /approve': {
		const o = orders.get(body.id || '');
		if (!o)
			return L.send(res, 404, { error: 'unknown order' });
		const a = approveOrder(o, base);
		return L.send(res, a.status, a.body);
	}
	case 'POST /settle': {
		// A PENDING capture completes or is denied.
		const c = captures.get(body.capture_id || '');
		if (!c)
			return L.send(res, 404, { error: 'unknown capture' });
		if (body.status !== 'COMPLETED' && body.status !== 'DECLINED')
			return L.send(res, 400, { error: 'status: COMPLETED or DECLINED' });
		const o = orders.get(c.order);
		const cap = o.purchase_units.map((pu) => pu.payments.captures[0]).find((x) => x.id === body.capture_id);
		if (cap.status !== 'PENDING')
			return L.send(res, 409, { error: `capture is ${cap.status}` });
		cap.status = body.status;
		delete cap.status_details;
		cap.update_time = clock.rfc3339();
		captureSettled(o, cap, undefined, base);
		return L.send(res, 200, cap);
	}
	case 'GET /orders':
		return L.send(res, 200, { orders: [...orders.values()].map((o) => orderView(o, base, false)) });
	case 'GET /webhooks':
		return L.send(res, 200, { held: notifier.held.length, deliveries: notifier.deliveries,
			events: events.map((e) => ({ id: e.ev.id, event_type: e.ev.event_type, delivered: e.delivered, attempts: e.attempts })) });
	case 'POST /flush': {
		const order = body.order || 'fifo';
		if (order !== 'fifo' && order !== 'lifo')
			return L.send(res, 400, { error: 'order: fifo or lifo' });
		const ids = notifier.flush(order);
		return L.send(res, 200, { delivered: ids.length, order: ids });
	}
	case 'POST /send': {
		if (typeof body.payload !== 'string' || !cfg.webhook_url)
			return L.send(res, 400, { error: 'payload (string) and a configured webhook_url expected' });
		if (body.webhook !== undefined) {
			const e = L.checkNotify(body.webhook, 'webhook', ['foreign_cert_url', 'rogue_cert', 'tamper', 'wrong_webhook_id']);
			if (e)
				return L.send(res, 400, { error: e });
		}
		deliverRaw(`raw-${crypto.randomBytes(4).toString('hex')}`, body.payload, body.webhook, null);
		return L.send(res, 200, { sent: true });
	}
	case 'POST /crc32':
		if (typeof body.payload !== 'string')
			return L.send(res, 400, { error: 'payload (string) expected' });
		return L.send(res, 200, { crc32: crc32(Buffer.from(body.payload, 'utf8')) });
	case 'GET /certs':
		return L.send(res, 200, { ca: good.ca, cert: good.cert, cert_url: `${base}/v1/notifications/certs/${good.certId}`,
			rogue_cert_url: `${base}/v1/notifications/certs/${rogue.certId}` });
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
		return reply(res, ppError(400));
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
const server = L.serve(NAME, opts.port, onRequest, () => {
	ledger.close();
	fs.rmSync(certDir, { recursive: true, force: true });
});
server.on('listening', () => { serverPort = server.address().port; });
process.on('exit', () => fs.rmSync(certDir, { recursive: true, force: true }));
