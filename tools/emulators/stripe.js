#!/usr/bin/env node
// Stripe emulator (PaymentIntents + webhooks) for ussdgw's tests.
//
// Loopback only, plain HTTP, Node.js standard library only. It follows the
// published API as the payments reference spec (specs/payments.md, section 2)
// records it: form-encoded requests with bracket nesting, secret-key auth
// (Bearer or Basic), the PaymentIntent statuses, 402 card errors carrying the
// PaymentIntent, the Idempotency-Key layer (replay with Idempotent-Replayed,
// 400 idempotency_error on other parameters or another endpoint, 409 while the
// first request runs, 24 h retention, nothing saved for 401/429/validation
// errors), Stripe-Should-Retry, zero- and three-decimal currencies, and
// webhooks signed with Stripe-Signature (t=..,v1=..[,v1=..][,v0=..]).
//
// A control API under /__emulator/ scripts outcomes and faults (see
// tools/emulators/README.md). Every succeeded PaymentIntent goes to the
// ledger, appended and fsynced to --ledger PATH before its webhook leaves.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const L = require('./lib');

const NAME = 'stripe-emulator';
const opts = L.parseArgs(NAME, {
	'--port': { key: 'port', type: 'num', def: 0, meta: 'N', help: 'listen port on 127.0.0.1 (0 = pick one)' },
	'--ledger': { key: 'ledger', type: 'str', def: null, meta: 'PATH', help: 'append every succeeded charge (JSON line, fsynced)' },
	'--script': { key: 'script', type: 'str', def: null, meta: 'PATH', help: 'initial rules (JSON as POST /__emulator/script)' },
	'--secret-key': { key: 'keys', type: 'list', meta: 'SK', help: 'accepted secret key (repeatable; default sk_test_emulator)' },
	'--webhook-url': { key: 'webhookUrl', type: 'str', def: null, meta: 'URL', help: 'webhook endpoint (loopback http)' },
	'--webhook-secret': { key: 'secrets', type: 'list', meta: 'S', help: 'endpoint signing secret (repeatable: all active secrets sign; default whsec_emulator)' },
	'--process-ms': { key: 'processMs', type: 'num', def: 200, meta: 'N', help: 'time a processing PaymentIntent takes to settle' },
	'--quiet': { key: 'quiet', type: 'bool', def: false, help: 'no request log on stderr' },
}, process.argv);
if (opts.keys.length === 0)
	opts.keys.push('sk_test_emulator');
if (opts.secrets.length === 0)
	opts.secrets.push('whsec_emulator');

const log = (m) => { if (!opts.quiet) process.stderr.write(`${NAME}: ${m}\n`); };
const clock = L.clock;
const API_VERSION = '2024-06-20';

// ---------------------------------------------------------------------------
// Currencies (spec 6.6): exponent and the emulator's minimum charge in minor
// units. Stripe's published minimums where the spec's sources give one
// (USD/EUR 0.50, GBP 0.30, JPY 50); about USD 0.50 elsewhere.

const ZERO_DECIMAL = ['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv',
	'xaf', 'xof', 'xpf'];
const THREE_DECIMAL = ['bhd', 'jod', 'kwd', 'omr', 'tnd'];
const TWO_DECIMAL = ['usd', 'eur', 'gbp', 'kes', 'ngn', 'ghs', 'zar', 'tzs', 'cad', 'aud', 'chf', 'sek', 'nok',
	'dkk', 'inr', 'huf', 'twd', 'isk', 'mxn', 'brl', 'sgd', 'hkd', 'nzd', 'pln', 'egp', 'mad', 'aed'];
const MINIMUM = { usd: 50, eur: 50, gbp: 30, jpy: 50, cad: 50, aud: 50, chf: 50, kes: 7000, ngn: 80000,
	ugx: 2000, xof: 300, xaf: 300, rwf: 700, bhd: 200, jod: 400, kwd: 200, omr: 200, tnd: 1600 };

function currencyInfo(c) {
	if (ZERO_DECIMAL.includes(c))
		return { exp: 0, min: MINIMUM[c] || 50 };
	if (THREE_DECIMAL.includes(c))
		return { exp: 3, min: MINIMUM[c] || 500 };
	if (TWO_DECIMAL.includes(c))
		return { exp: 2, min: MINIMUM[c] || 50 };
	return null;
}

function formatMajor(minor, c) {
	const { exp } = currencyInfo(c);
	if (exp === 0)
		return String(minor);
	const s = String(minor).padStart(exp + 1, '0');
	return `${s.slice(0, -exp)}.${s.slice(-exp)}`;
}

// ---------------------------------------------------------------------------
// Test payment methods (Stripe's test PaymentMethod ids) and outcomes.

const DECLINES = {
	generic_decline: { code: 'card_declined', message: 'Your card was declined.' },
	insufficient_funds: { code: 'card_declined', message: 'Your card has insufficient funds.' },
	lost_card: { code: 'card_declined', message: 'Your card was declined.' },
	stolen_card: { code: 'card_declined', message: 'Your card was declined.' },
	fraudulent: { code: 'card_declined', message: 'Your card was declined.' },
	expired_card: { code: 'expired_card', message: 'Your card has expired.' },
	incorrect_cvc: { code: 'incorrect_cvc', message: "Your card's security code is incorrect." },
	processing_error: { code: 'processing_error', message: 'An error occurred while processing your card. Try again in a little bit.' },
};

const PAYMENT_METHODS = {
	pm_card_visa: { outcome: 'succeeded', brand: 'visa', last4: '4242' },
	pm_card_mastercard: { outcome: 'succeeded', brand: 'mastercard', last4: '4444' },
	pm_card_amex: { outcome: 'succeeded', brand: 'amex', last4: '8431' },
	pm_card_visa_debit: { outcome: 'succeeded', brand: 'visa', last4: '5556' },
	pm_card_chargeDeclined: { outcome: 'declined', decline_code: 'generic_decline', brand: 'visa', last4: '0002' },
	pm_card_chargeDeclinedInsufficientFunds: { outcome: 'declined', decline_code: 'insufficient_funds', brand: 'visa', last4: '9995' },
	pm_card_chargeDeclinedLostCard: { outcome: 'declined', decline_code: 'lost_card', brand: 'visa', last4: '9987' },
	pm_card_chargeDeclinedFraudulent: { outcome: 'declined', decline_code: 'fraudulent', brand: 'visa', last4: '0019' },
	pm_card_chargeDeclinedExpiredCard: { outcome: 'declined', decline_code: 'expired_card', brand: 'visa', last4: '0069' },
	pm_card_chargeDeclinedIncorrectCvc: { outcome: 'declined', decline_code: 'incorrect_cvc', brand: 'visa', last4: '0127' },
	pm_card_chargeDeclinedProcessingError: { outcome: 'declined', decline_code: 'processing_error', brand: 'visa', last4: '0119' },
	pm_card_authenticationRequired: { outcome: 'requires_action', brand: 'visa', last4: '3184' },
	pm_card_threeDSecure2Required: { outcome: 'requires_action', brand: 'visa', last4: '3220' },
	pm_emulator_processing: { outcome: 'processing', brand: 'visa', last4: '1111' },
};
const OUTCOMES = ['succeeded', 'declined', 'requires_action', 'processing'];

// ---------------------------------------------------------------------------
// State

const defaultsCfg = () => ({
	webhook_url: opts.webhookUrl,
	webhook_secrets: opts.secrets.slice(),
	webhook_v0: true, // test events carry a fake v0 that clients must ignore
	webhook_retries: 3, // test mode: 3 retries
	webhook_retry_ms: 200, // compressed from "a few hours"
	idempotency_ttl_s: 24 * 3600,
	process_ms: opts.processMs,
});
let cfg = defaultsCfg();
let intents = new Map();
let idem = new Map(); // apiKey + '\0' + key -> record
let events = [];
const ledger = new L.Ledger(opts.ledger, log);
const notifier = new L.Notifier(log);
const usedIds = new Set(ledger.entries.map((e) => e.id));

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function newId(prefix, n) {
	for (;;) {
		const id = prefix + L.randFrom(ALNUM, n || 24);
		if (!usedIds.has(id)) {
			usedIds.add(id);
			return id;
		}
	}
}

const rules = new L.Rules(['outcome', 'decline_code', 'then', 'process_ms', 'webhook'],
	['endpoint', 'amount', 'currency', 'payment_method', 'customer'], (r, w) => {
		if (r.outcome !== undefined && !OUTCOMES.includes(r.outcome))
			return `${w}.outcome: one of ${OUTCOMES.join(', ')}`;
		if (r.decline_code !== undefined && !DECLINES[r.decline_code])
			return `${w}.decline_code: one of ${Object.keys(DECLINES).join(', ')}`;
		if (r.then !== undefined && !['succeeded', 'failed'].includes(r.then))
			return `${w}.then: succeeded or failed`;
		if (r.process_ms !== undefined && !L.isUint(r.process_ms))
			return `${w}.process_ms: non-negative integer expected`;
		if (r.webhook !== undefined) {
			const e = L.checkNotify(r.webhook, `${w}.webhook`, ['twin', 'stale_s', 'tamper', 'wrong_secret']);
			if (e)
				return e;
			if (r.webhook.stale_s !== undefined && !L.isUint(r.webhook.stale_s))
				return `${w}.webhook.stale_s: non-negative integer expected`;
		}
		if (r.match.endpoint !== undefined && !ENDPOINTS.includes(r.match.endpoint))
			return `${w}.match.endpoint: one of ${ENDPOINTS.join(', ')}`;
		return null;
	});
const ENDPOINTS = ['create', 'confirm', 'capture', 'cancel', 'retrieve', 'events', 'any'];

// ---------------------------------------------------------------------------
// Form decoding: a[b]=1&a[c][]=2 -> {a:{b:'1', c:['2']}}. Returns the nested
// object and the canonical text used to compare idempotent requests.

function decodeForm(text) {
	const pairs = [];
	for (const [k, v] of new URLSearchParams(text))
		pairs.push([k, v]);
	const root = {};
	for (const [k, v] of pairs) {
		const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(k);
		if (!m)
			return { error: `Invalid parameter name: ${k}` };
		const path = [m[1]];
		for (const part of m[2].matchAll(/\[([^[\]]*)\]/g))
			path.push(part[1]);
		let node = root;
		for (let i = 0; i < path.length; i++) {
			const seg = path[i];
			const last = i === path.length - 1;
			if (seg === '') {
				if (!Array.isArray(node))
					return { error: `Invalid array parameter: ${k}` };
				if (last)
					node.push(v);
				else {
					node.push({});
					node = node[node.length - 1];
				}
				continue;
			}
			if (Array.isArray(node))
				return { error: `Invalid parameter name: ${k}` };
			if (last) {
				node[seg] = v;
			} else {
				if (node[seg] === undefined)
					node[seg] = path[i + 1] === '' ? [] : {};
				node = node[seg];
				if (typeof node !== 'object')
					return { error: `Invalid parameter name: ${k}` };
			}
		}
	}
	const canon = JSON.stringify(pairs.map((p, i) => [p[0], p[1], i])
		.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[2] - b[2])).map((p) => [p[0], p[1]]));
	return { params: root, canon };
}

// ---------------------------------------------------------------------------
// Errors. A result is {status, body, headers, save}; save=false marks the
// failures Stripe does not store under an idempotency key.

function errorResult(status, err, opt) {
	opt = opt || {};
	const e = Object.assign({ type: 'invalid_request_error' }, err);
	if (e.code && !e.doc_url)
		e.doc_url = `https://stripe.com/docs/error-codes/${e.code.replace(/_/g, '-')}`;
	const headers = {};
	if (opt.shouldRetry !== undefined)
		headers['Stripe-Should-Retry'] = String(opt.shouldRetry);
	return { status, body: { error: e }, headers, save: opt.save !== false };
}

const invalid = (message, param, code) => errorResult(400,
	Object.assign({ message }, param ? { param } : {}, code ? { code } : {}), { save: false });

// ---------------------------------------------------------------------------
// PaymentIntents

function piView(pi) {
	return JSON.parse(JSON.stringify(pi));
}

function boolParam(v) {
	return v === 'true' ? true : v === 'false' ? false : v === undefined ? undefined : null;
}

/** Validate create parameters; returns {error} or {fields}. */
function createFields(p) {
	if (p.amount === undefined)
		return { error: invalid('Missing required param: amount.', 'amount', 'parameter_missing') };
	if (!/^\d+$/.test(p.amount))
		return { error: invalid(`Invalid integer: ${p.amount}`, 'amount', 'parameter_invalid_integer') };
	if (p.currency === undefined)
		return { error: invalid('Missing required param: currency.', 'currency', 'parameter_missing') };
	const currency = String(p.currency).toLowerCase();
	const info = currencyInfo(currency);
	if (!info)
		return { error: invalid(`Invalid currency: ${p.currency}. Stripe currently supports these currencies: ${ZERO_DECIMAL.concat(THREE_DECIMAL, TWO_DECIMAL).sort().join(', ')}`, 'currency') };
	const amount = Number(p.amount);
	if (p.amount.length > 8)
		return { error: invalid(`Amount must be no more than ${formatMajor(99999999, currency)} ${currency}`, 'amount', 'amount_too_large') };
	if (amount < info.min)
		return { error: invalid(`Amount must be at least ${formatMajor(info.min, currency)} ${currency}`, 'amount', 'amount_too_small') };
	if (info.exp === 3 && amount % 10 !== 0)
		return { error: invalid(`Amounts in ${currency} must be a multiple of 10 (the last of the three decimal digits must be 0)`, 'amount', 'invalid_amount') };
	const flags = {};
	for (const k of ['confirm', 'off_session', 'error_on_requires_action']) {
		flags[k] = boolParam(p[k]);
		if (flags[k] === null)
			return { error: invalid(`Invalid boolean: ${p[k]}`, k, 'parameter_invalid_boolean') };
	}
	if (flags.off_session && !flags.confirm)
		return { error: invalid('You can only pass `off_session` when `confirm=true`.', 'off_session') };
	if (p.capture_method !== undefined && !['automatic', 'automatic_async', 'manual'].includes(p.capture_method))
		return { error: invalid(`Invalid capture_method: must be one of automatic, automatic_async, or manual`, 'capture_method') };
	if (p.customer !== undefined && !/^cus_[A-Za-z0-9]+$/.test(p.customer))
		return { error: errorResult(400, { message: `No such customer: '${p.customer}'`, param: 'customer', code: 'resource_missing' }, { save: false }) };
	if (p.metadata !== undefined && (typeof p.metadata !== 'object' || Array.isArray(p.metadata)))
		return { error: invalid('Invalid object', 'metadata') };
	if (p.payment_method !== undefined && !PAYMENT_METHODS[p.payment_method])
		return { error: errorResult(400, { message: `No such PaymentMethod: '${p.payment_method}'`, param: 'payment_method', code: 'resource_missing' }, { save: false }) };
	if (flags.confirm && p.payment_method === undefined)
		return { error: invalid('You cannot confirm this PaymentIntent because it\'s missing a payment method. To confirm the PaymentIntent with a payment method, pass `payment_method`.', 'payment_method', 'payment_intent_unexpected_state') };
	return { fields: { amount, currency, flags } };
}

function newIntent(p, f, ctx) {
	const id = newId('pi_');
	return {
		id, object: 'payment_intent', amount: f.amount, amount_capturable: 0, amount_received: 0,
		application: null, application_fee_amount: null, automatic_payment_methods: null,
		canceled_at: null, cancellation_reason: null, capture_method: p.capture_method || 'automatic',
		client_secret: `${id}_secret_${L.randFrom(ALNUM, 25)}`, confirmation_method: 'automatic',
		created: clock.nowS(), currency: f.currency, customer: p.customer || null,
		description: p.description || null, last_payment_error: null, latest_charge: null,
		livemode: false, metadata: p.metadata || {}, next_action: null, on_behalf_of: null,
		payment_method: p.payment_method || null, payment_method_types: ['card'], processing: null,
		receipt_email: p.receipt_email || null, setup_future_usage: p.setup_future_usage || null,
		shipping: null, statement_descriptor: null, statement_descriptor_suffix: null,
		status: p.payment_method ? 'requires_confirmation' : 'requires_payment_method',
		transfer_data: null, transfer_group: null,
		_idem: ctx.idemKey || null,
	};
}

function publicIntent(pi) {
	const v = piView(pi);
	for (const k of Object.keys(v))
		if (k.startsWith('_'))
			delete v[k];
	return v;
}

/**
 * Confirm @pi with its payment method (or the rule's outcome). Returns the
 * API result. flags: {off_session, error_on_requires_action, return_url}.
 */
function confirmIntent(pi, flags, rule, ctx) {
	const pm = PAYMENT_METHODS[pi.payment_method];
	let outcome = rule && rule.outcome ? rule.outcome : pm.outcome;
	let declineCode = rule && rule.decline_code ? rule.decline_code : pm.decline_code || 'generic_decline';
	const wh = rule ? rule.webhook : undefined;
	if (outcome === 'requires_action' && (flags.off_session || flags.error_on_requires_action)) {
		// Off-session (or error_on_requires_action): no customer to authenticate.
		return declineIntent(pi, 'authentication_required', 'authentication_required',
			'Your card was declined. This transaction requires authentication.', wh, ctx);
	}
	if (outcome === 'declined') {
		const d = DECLINES[declineCode];
		return declineIntent(pi, d.code, declineCode, d.message, wh, ctx);
	}
	if (outcome === 'requires_action') {
		pi.status = 'requires_action';
		pi.next_action = flags.return_url ? {
			type: 'redirect_to_url',
			redirect_to_url: { url: `${ctx.base}/__emulator/authenticate/${pi.id}`, return_url: flags.return_url },
		} : { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: `${ctx.base}/__emulator/authenticate/${pi.id}` } };
		emit('payment_intent.requires_action', pi, wh, ctx);
		return { status: 200, body: publicIntent(pi), headers: {}, save: true };
	}
	if (outcome === 'processing') {
		pi.status = 'processing';
		pi.processing = { type: 'card', card: {} };
		emit('payment_intent.processing', pi, wh, ctx);
		const then = rule && rule.then ? rule.then : 'succeeded';
		const ms = rule && rule.process_ms !== undefined ? rule.process_ms : cfg.process_ms;
		notifier.later(ms, () => {
			if (pi.status !== 'processing')
				return;
			pi.processing = null;
			if (then === 'succeeded')
				succeedIntent(pi, wh, ctx);
			else
				declineIntent(pi, 'card_declined', 'generic_decline', 'Your card was declined.', wh, ctx);
		});
		return { status: 200, body: publicIntent(pi), headers: {}, save: true };
	}
	succeedIntent(pi, wh, ctx);
	return { status: 200, body: publicIntent(pi), headers: {}, save: true };
}

function succeedIntent(pi, wh, ctx) {
	pi.latest_charge = newId('ch_');
	pi.next_action = null;
	pi.last_payment_error = null;
	if (pi.capture_method === 'manual') {
		pi.status = 'requires_capture';
		pi.amount_capturable = pi.amount;
		emit('payment_intent.amount_capturable_updated', pi, wh, ctx);
		return;
	}
	pi.status = 'succeeded';
	pi.amount_received = pi.amount;
	ledger.append({ kind: 'payment_intent', id: pi.id, charge: pi.latest_charge, amount: pi.amount,
		currency: pi.currency, customer: pi.customer, payment_method: pi.payment_method,
		idempotency_key: pi._idem, created: clock.nowS() });
	emit('payment_intent.succeeded', pi, wh, ctx);
}

function declineIntent(pi, code, declineCode, message, wh, ctx, type) {
	pi.latest_charge = newId('ch_');
	pi.status = 'requires_payment_method';
	pi.next_action = null;
	const pm = PAYMENT_METHODS[pi.payment_method] || { brand: 'visa', last4: '0000' };
	pi.last_payment_error = {
		type: type || 'card_error', code, decline_code: declineCode, message, charge: pi.latest_charge,
		doc_url: `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`,
		payment_method: { id: pi.payment_method, object: 'payment_method', type: 'card',
			card: { brand: pm.brand, last4: pm.last4 } },
	};
	emit('payment_intent.payment_failed', pi, wh, ctx);
	const err = Object.assign({}, pi.last_payment_error, { payment_intent: publicIntent(pi) });
	return { status: 402, body: { error: err }, headers: { 'Stripe-Should-Retry': 'false' }, save: true };
}

// ---------------------------------------------------------------------------
// Webhooks (spec 2.6)

/** v1 signature: lowercase hex HMAC-SHA256(secret, t + "." + payload). */
function sign(secret, t, payload) {
	return crypto.createHmac('sha256', secret).update(`${t}.`).update(payload).digest('hex');
}

function signatureHeader(t, payload, secrets, v0) {
	const parts = [`t=${t}`];
	for (const s of secrets)
		parts.push(`v1=${sign(s, t, payload)}`);
	if (v0)
		parts.push(`v0=${crypto.createHash('sha256').update(`v0.${t}.`).update(payload).digest('hex')}`);
	return parts.join(',');
}

/** Queue one event (a new Event object) and schedule its delivery. */
function emit(type, pi, wh, ctx, twinOf) {
	const ev = {
		id: newId('evt_'), object: 'event', api_version: API_VERSION, created: clock.nowS(),
		data: { object: publicIntent(pi) }, livemode: false, pending_webhooks: cfg.webhook_url ? 1 : 0,
		request: { id: ctx && ctx.requestId ? ctx.requestId : null,
			idempotency_key: ctx && ctx.idemKey ? ctx.idemKey : null },
		type,
	};
	events.push({ ev, delivered: false, attempts: 0 });
	const raw = JSON.stringify(ev, null, 2); // Stripe sends pretty-printed JSON
	if (cfg.webhook_url)
		deliverRaw(ev.id, raw, wh, () => events.find((e) => e.ev.id === ev.id));
	if (wh && wh.twin && !twinOf)
		emit(type, pi, Object.assign({}, wh, { twin: false }), ctx, ev.id);
	return ev;
}

function deliverRaw(id, raw, wh, rec) {
	wh = wh || {};
	let body = raw;
	if (wh.tamper)
		body = raw.replace(/"amount": (\d+)/, (m, n) => `"amount": ${Number(n) + 1}`).replace(/}\s*$/, ' }');
	const secrets = wh.wrong_secret ? ['whsec_not_the_endpoint_secret'] : cfg.webhook_secrets;
	notifier.schedule({
		kind: 'webhook', id, url: cfg.webhook_url, method: 'POST', body,
		sign: () => ({
			'Stripe-Signature': signatureHeader(clock.nowS() - (wh.stale_s || 0), raw, secrets, cfg.webhook_v0),
			'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
		}),
		onResult: (err, status) => {
			const r = rec && rec();
			if (!r)
				return;
			r.attempts++;
			if (!err && status >= 200 && status <= 299) {
				r.delivered = true;
				r.ev.pending_webhooks = 0;
			}
		},
	}, wh, { retries: cfg.webhook_retries, retry_ms: cfg.webhook_retry_ms });
}

// ---------------------------------------------------------------------------
// Endpoints. Each returns a result {status, body, headers, save}.

function create(p, rule, ctx) {
	const r = createFields(p);
	if (r.error)
		return r.error;
	const pi = newIntent(p, r.fields, ctx);
	intents.set(pi.id, pi);
	if (!r.fields.flags.confirm)
		return { status: 200, body: publicIntent(pi), headers: {}, save: true };
	return confirmIntent(pi, Object.assign({ return_url: p.return_url }, r.fields.flags), rule, ctx);
}

function unexpectedState(pi, verb) {
	return errorResult(400, {
		code: 'payment_intent_unexpected_state',
		message: `You cannot ${verb} this PaymentIntent because it has a status of ${pi.status}.`,
		payment_intent: publicIntent(pi),
	});
}

function missing(id) {
	return errorResult(404, { code: 'resource_missing', message: `No such payment_intent: '${id}'`, param: 'intent' },
		{ save: false });
}

function confirm(id, p, rule, ctx) {
	const pi = intents.get(id);
	if (!pi)
		return missing(id);
	if (p.payment_method !== undefined) {
		if (!PAYMENT_METHODS[p.payment_method])
			return errorResult(400, { message: `No such PaymentMethod: '${p.payment_method}'`, param: 'payment_method', code: 'resource_missing' }, { save: false });
	}
	if (!['requires_payment_method', 'requires_confirmation'].includes(pi.status))
		return unexpectedState(pi, 'confirm');
	if (p.payment_method !== undefined)
		pi.payment_method = p.payment_method;
	if (!pi.payment_method)
		return invalid('You cannot confirm this PaymentIntent because it\'s missing a payment method.', 'payment_method', 'payment_intent_unexpected_state');
	const flags = { return_url: p.return_url };
	for (const k of ['off_session', 'error_on_requires_action'])
		flags[k] = boolParam(p[k]);
	return confirmIntent(pi, flags, rule, ctx);
}

function capture(id, p, rule, ctx) {
	const pi = intents.get(id);
	if (!pi)
		return missing(id);
	if (pi.status !== 'requires_capture')
		return unexpectedState(pi, 'capture');
	pi.status = 'succeeded';
	pi.amount_received = pi.amount_capturable;
	pi.amount_capturable = 0;
	ledger.append({ kind: 'payment_intent', id: pi.id, charge: pi.latest_charge, amount: pi.amount_received,
		currency: pi.currency, customer: pi.customer, payment_method: pi.payment_method,
		idempotency_key: pi._idem, created: clock.nowS() });
	emit('payment_intent.succeeded', pi, rule ? rule.webhook : undefined, ctx);
	return { status: 200, body: publicIntent(pi), headers: {}, save: true };
}

function cancel(id, p, rule, ctx) {
	const pi = intents.get(id);
	if (!pi)
		return missing(id);
	if (!['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture'].includes(pi.status))
		return unexpectedState(pi, 'cancel');
	const reasons = ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'];
	if (p.cancellation_reason !== undefined && !reasons.includes(p.cancellation_reason))
		return invalid(`Invalid cancellation_reason: must be one of ${reasons.join(', ')}`, 'cancellation_reason');
	pi.status = 'canceled';
	pi.canceled_at = clock.nowS();
	pi.cancellation_reason = p.cancellation_reason || null;
	pi.next_action = null;
	pi.amount_capturable = 0;
	emit('payment_intent.canceled', pi, rule ? rule.webhook : undefined, ctx);
	return { status: 200, body: publicIntent(pi), headers: {}, save: true };
}

function listEvents(url) {
	let list = events.slice().reverse();
	const q = url.searchParams;
	if (q.get('type'))
		list = list.filter((e) => e.ev.type === q.get('type'));
	const types = q.getAll('types[]');
	if (types.length)
		list = list.filter((e) => types.includes(e.ev.type));
	if (q.get('delivery_success') === 'false')
		list = list.filter((e) => !e.delivered);
	else if (q.get('delivery_success') === 'true')
		list = list.filter((e) => e.delivered);
	if (q.get('starting_after')) {
		const i = list.findIndex((e) => e.ev.id === q.get('starting_after'));
		list = i < 0 ? [] : list.slice(i + 1);
	}
	const limit = Math.min(100, Math.max(1, Number(q.get('limit')) || 10));
	return { status: 200, body: { object: 'list', url: '/v1/events', has_more: list.length > limit,
		data: list.slice(0, limit).map((e) => e.ev) }, headers: {}, save: false };
}

// ---------------------------------------------------------------------------
// Request handling with auth, faults and the idempotency layer (spec 2.3)

function authenticate(req) {
	const b = L.bearer(req);
	const basic = L.basicAuth(req);
	const key = b !== null ? b : basic ? basic.user : null;
	if (key === null || key === '')
		return { error: errorResult(401, { message: 'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. \'Authorization: Bearer YOUR_SECRET_KEY\').' }, { save: false }) };
	if (!opts.keys.some((k) => L.safeEqual(k, key))) {
		const shown = key.length > 8 ? `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}` : '****';
		return { error: errorResult(401, { message: `Invalid API Key provided: ${shown}` }, { save: false }) };
	}
	return { key };
}

function route(method, path) {
	let m;
	if (path === '/v1/payment_intents' && method === 'POST')
		return { endpoint: 'create' };
	if (path === '/v1/events' && method === 'GET')
		return { endpoint: 'events' };
	if ((m = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)$/.exec(path)) && method === 'GET')
		return { endpoint: 'retrieve', id: m[1] };
	if ((m = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)\/(confirm|capture|cancel)$/.exec(path)) && method === 'POST')
		return { endpoint: m[2], id: m[1] };
	return null;
}

function matchContext(r, params) {
	const ctx = { endpoint: r.endpoint, defaultEndpoint: 'any' };
	const pi = r.id ? intents.get(r.id) : null;
	ctx.amount = params.amount !== undefined ? params.amount : pi ? pi.amount : undefined;
	ctx.currency = params.currency !== undefined ? String(params.currency).toLowerCase() : pi ? pi.currency : undefined;
	ctx.payment_method = params.payment_method !== undefined ? params.payment_method : pi ? pi.payment_method : undefined;
	ctx.customer = params.customer !== undefined ? params.customer : pi ? pi.customer : undefined;
	return ctx;
}

function reply(res, result, extra) {
	L.send(res, result.status, result.body, Object.assign({}, result.headers, extra));
}

function serverError(shouldRetry) {
	return errorResult(500, { type: 'api_error', message: 'An unknown error occurred' },
		{ shouldRetry, save: true });
}

async function handleApi(req, res, url) {
	const requestId = `req_${L.randFrom(ALNUM, 14)}`;
	const base = { 'Request-Id': requestId, 'Stripe-Version': API_VERSION };
	const raw = await L.readBody(req);
	const r = route(req.method, url.pathname);
	if (!r)
		return reply(res, errorResult(404, { message: `Unrecognized request URL (${req.method}: ${url.pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.` }), base);
	if (raw === null)
		return reply(res, invalid('Request body too large'), base);
	const ctype = (req.headers['content-type'] || '').toLowerCase();
	const text = raw.toString('utf8');
	if (req.method === 'POST' && text !== '' && !ctype.startsWith('application/x-www-form-urlencoded'))
		return reply(res, invalid(`Invalid request (check that your POST content type is application/x-www-form-urlencoded). If you have any questions, we can help at https://support.stripe.com/.`), base);
	const form = decodeForm(req.method === 'POST' ? text : '');
	if (form.error)
		return reply(res, invalid(form.error), base);
	const auth = authenticate(req);
	if (auth.error)
		return reply(res, auth.error, base);

	const rule = rules.find(matchContext(r, form.params));
	const h = rule && rule.http ? rule.http : null;
	if (rule)
		rule.used++;
	// The rate limiter runs before the idempotency layer: a 429 is never saved.
	if (h && h.status === 429) {
		const ra = h.retry_after !== undefined ? h.retry_after : 1;
		return reply(res, errorResult(429, { code: 'rate_limit', message: 'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.' },
			{ save: false }), Object.assign({ 'Retry-After': String(ra), 'Stripe-Should-Retry': 'true' }, base));
	}
	const lost = h && (h.reset || h.hang || (h.status !== undefined && !h.saved)) && h.process;
	if (h && !h.process && !h.saved) {
		if (h.reset)
			return L.resetConn(req);
		if (h.hang)
			return L.hang(req);
		if (h.status !== undefined)
			return reply(res, errorResult(h.status, { type: 'api_error', message: 'An unknown error occurred' },
				{ shouldRetry: true }), base);
	}

	// Idempotency layer: POST only; GET and DELETE ignore the key.
	const ikey = req.headers['idempotency-key'];
	const ctx = { requestId, idemKey: null, base: `http://127.0.0.1:${req.socket.localPort}` };
	let slot = null;
	if (ikey !== undefined && req.method === 'POST') {
		if (ikey.length === 0 || ikey.length > 255)
			return reply(res, invalid('Invalid Idempotency-Key: must be between 1 and 255 characters.'), base);
		ctx.idemKey = ikey;
		base['Idempotency-Key'] = ikey;
		const sk = `${auth.key}\0${ikey}`;
		let rec = idem.get(sk);
		if (rec && rec.state === 'done' && clock.now() - rec.at >= cfg.idempotency_ttl_s * 1000) {
			idem.delete(sk); // pruned: reuse executes as a new request
			rec = undefined;
		}
		if (rec) {
			if (rec.state === 'inflight')
				return reply(res, errorResult(409, { type: 'invalid_request_error', code: 'idempotency_key_in_use',
					message: `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${ikey}. Please try again later.` },
				{ save: false, shouldRetry: true }), base);
			if (rec.path !== url.pathname)
				return reply(res, errorResult(400, { type: 'idempotency_error',
					message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${rec.path}' vs '${url.pathname}'). Try using a key other than '${ikey}' if you meant to execute a different request.` },
				{ save: false, shouldRetry: false }), base);
			if (rec.canon !== form.canon)
				return reply(res, errorResult(400, { type: 'idempotency_error',
					message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${ikey}' if you meant to execute a different request.` },
				{ save: false, shouldRetry: false }), base);
			rec.replays++;
			return L.send(res, rec.status, rec.text, Object.assign({}, rec.headers, base,
				{ 'Idempotent-Replayed': 'true', 'Original-Request': rec.requestId }));
		}
		slot = { state: 'inflight', path: url.pathname, canon: form.canon, at: clock.now(), requestId, replays: 0 };
		idem.set(sk, slot);
	}
	try {
		if (h && h.delay_ms)
			await L.sleep(h.delay_ms);
		let result;
		if (h && h.saved && h.status !== undefined)
			result = errorResult(h.status, { type: 'api_error', message: 'An unknown error occurred' },
				{ shouldRetry: false, save: true }); // an error inside the endpoint: saved and replayed
		else if (r.endpoint === 'create')
			result = create(form.params, rule, ctx);
		else if (r.endpoint === 'retrieve')
			result = intents.has(r.id) ? { status: 200, body: publicIntent(intents.get(r.id)), headers: {}, save: false } : missing(r.id);
		else if (r.endpoint === 'confirm')
			result = confirm(r.id, form.params, rule, ctx);
		else if (r.endpoint === 'capture')
			result = capture(r.id, form.params, rule, ctx);
		else if (r.endpoint === 'cancel')
			result = cancel(r.id, form.params, rule, ctx);
		else
			result = listEvents(url);
		if (slot) {
			if (result.save) {
				Object.assign(slot, { state: 'done', status: result.status, text: JSON.stringify(result.body),
					headers: result.headers, at: clock.now() });
			} else {
				idem.delete(`${auth.key}\0${ikey}`);
				slot = null;
			}
		}
		if (lost) {
			if (h.reset)
				return L.resetConn(req);
			if (h.hang)
				return L.hang(req);
			return reply(res, errorResult(h.status, { type: 'api_error', message: 'An unknown error occurred' },
				{ shouldRetry: true }), base);
		}
		if (slot)
			return L.send(res, slot.status, slot.text, Object.assign({}, slot.headers, base));
		return reply(res, result, base);
	} finally {
		if (slot && slot.state === 'inflight')
			idem.delete(`${auth.key}\0${ikey}`);
	}
}

// ---------------------------------------------------------------------------
// Control API

function controlConfig(body) {
	const next = Object.assign({}, cfg);
	for (const [k, v] of Object.entries(body)) {
		switch (k) {
		case 'webhook_url':
			if (v !== null && !L.validUrl(v))
				return `${k}: URL or null expected`;
			break;
		case 'webhook_secrets':
			if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string' || s === ''))
				return `${k}: non-empty array of strings expected`;
			break;
		case 'webhook_v0':
			if (typeof v !== 'boolean')
				return `${k}: boolean expected`;
			break;
		case 'webhook_retries': case 'webhook_retry_ms': case 'idempotency_ttl_s': case 'process_ms':
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
	intents = new Map();
	idem = new Map();
	events = [];
	notifier.reset();
	L.clock.shiftMs = 0;
	ledger.truncate();
}

async function handleControl(req, res, url) {
	const p = url.pathname.slice('/__emulator'.length);
	const raw = req.method === 'POST' ? await L.readBody(req) : Buffer.alloc(0);
	const text = raw === null ? null : raw.toString('utf8');
	const body = req.method === 'POST' ? (text === '' ? {} : L.parseJson(text)) : {};
	if (body === undefined)
		return L.send(res, 400, { error: 'JSON object expected' });
	let m;
	if ((m = /^\/authenticate\/(pi_[A-Za-z0-9]+)$/.exec(p)) && (req.method === 'GET' || req.method === 'POST')) {
		// The customer completes (or fails) 3-D Secure: GET on the redirect URL
		// succeeds; POST {"result":"fail"} fails.
		const pi = intents.get(m[1]);
		if (!pi)
			return L.send(res, 404, { error: 'unknown PaymentIntent' });
		if (pi.status !== 'requires_action')
			return L.send(res, 409, { error: `status is ${pi.status}` });
		const result = body.result || 'succeed';
		if (result !== 'succeed' && result !== 'fail')
			return L.send(res, 400, { error: 'result: succeed or fail' });
		const ctx = { requestId: null, idemKey: null };
		if (result === 'succeed')
			succeedIntent(pi, undefined, ctx);
		else
			declineIntent(pi, 'payment_intent_authentication_failure', null,
				'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.', undefined, ctx,
				'invalid_request_error');
		return L.send(res, 200, publicIntent(pi));
	}
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
	case 'GET /intents':
		return L.send(res, 200, { intents: [...intents.values()].map(publicIntent) });
	case 'GET /idempotency':
		return L.send(res, 200, { keys: [...idem.entries()].map(([k, v]) => ({ key: k.split('\0')[1],
			state: v.state, path: v.path, status: v.status, at: v.at, replays: v.replays })) });
	case 'GET /webhooks':
		return L.send(res, 200, { held: notifier.held.length, deliveries: notifier.deliveries,
			events: events.map((e) => ({ id: e.ev.id, type: e.ev.type, delivered: e.delivered, attempts: e.attempts })) });
	case 'POST /flush': {
		const order = body.order || 'fifo';
		if (order !== 'fifo' && order !== 'lifo')
			return L.send(res, 400, { error: 'order: fifo or lifo' });
		const ids = notifier.flush(order);
		return L.send(res, 200, { delivered: ids.length, order: ids });
	}
	case 'POST /sign': {
		// The signature the emulator would put on a payload: for checking vectors.
		if (typeof body.payload !== 'string' || !Number.isInteger(body.t))
			return L.send(res, 400, { error: 'payload (string) and t (integer) expected' });
		const secrets = Array.isArray(body.secrets) ? body.secrets : [body.secret || cfg.webhook_secrets[0]];
		return L.send(res, 200, { header: signatureHeader(body.t, body.payload, secrets, false),
			v1: secrets.map((s) => sign(s, body.t, body.payload)) });
	}
	case 'POST /send': {
		// Deliver a raw payload to the webhook endpoint, signed like an event
		// (with the rule-style faults in "webhook").
		if (typeof body.payload !== 'string' || !cfg.webhook_url)
			return L.send(res, 400, { error: 'payload (string) and a configured webhook_url expected' });
		if (body.webhook !== undefined) {
			const e = L.checkNotify(body.webhook, 'webhook', ['stale_s', 'tamper', 'wrong_secret']);
			if (e)
				return L.send(res, 400, { error: e });
		}
		deliverRaw(`raw-${crypto.randomBytes(4).toString('hex')}`, body.payload, body.webhook, null);
		return L.send(res, 200, { sent: true });
	}
	case 'POST /clock': {
		const e = L.clock.control(body);
		return e ? L.send(res, 400, { error: e }) : L.send(res, 200, L.clock.view());
	}
	case 'GET /clock':
		return L.send(res, 200, L.clock.view());
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
		return L.send(res, 400, { error: { type: 'invalid_request_error', message: 'Invalid URL' } });
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
