#!/usr/bin/env node
'use strict';
/*
 * smsc-sim: plays the operator's SMSC and USSD centre for ussdgw.
 *
 * The gateway (an ESME) connects and binds; this program is the SMPP server.
 * Tests and tools/phone drive it through an HTTP control API on loopback.
 * See README.md in this folder for flags, the control API, dialects, faults
 * and logs.
 */
const fs = require('fs');
const http = require('http');
const { EventEmitter } = require('events');
const codec = require('./codec');
const smpp = codec.smpp;

const ESME_ROK = 0x00;
const ESME_RINVBNDSTS = 0x04;
const ESME_RALYBND = 0x05;
const ESME_RBINDFAIL = 0x0D;
const ESME_RINVPASWD = 0x0E;
const ESME_RINVSYSID = 0x0F;
const ESME_RMSGQFUL = 0x14;
const ESME_RTHROTTLED = 0x58;

const USSD_OP = { PSSD_IND: 0, PSSR_IND: 1, USSR_REQ: 2, USSN_REQ: 3, PSSD_RESP: 16,
	PSSR_RESP: 17, USSR_CONF: 18, USSN_CONF: 19 };

/* ---------------------------------------------------------------- options */

function usage(code) {
	process.stdout.write(`usage: smsc-sim [options]
  --port N              SMPP port on 127.0.0.1 (0 = pick; default 0)
  --control-port N      HTTP control port on 127.0.0.1 (0 = pick; default 0)
  --accounts JSON|@FILE [{"system_id":"..","password":".."}, ...]
  --system-id ID --password PW   one account (default ussdgw / ussdgw)
  --tls-key PEM --tls-cert PEM   serve SMPP over TLS
  --dialect D           standard | umr | packed | none (default standard)
  --dcs N               data_coding of USSD deliver_sm: 15 or 0 (default 15)
  --code-field F        short_message | destination_addr (default short_message)
  --service-addr A      destination_addr of USSD deliver_sm (default: digits of the code)
  --ussd-timeout-ms N   budget for the gateway's answer (default 10000)
  --timeout-abort-op N  on budget expiry send deliver_sm with this ussd_service_op
  --msgid-format F      hex | dec | HEX (default hex)
  --msgid-pad N         zero-pad message ids to N characters (default 0)
  --msgid-start N       first message id number (default: epoch seconds * 1000)
  --dlr-delay-ms N      delay before a delivery receipt (default 100)
  --dlr-stat S          DELIVRD | UNDELIV | EXPIRED | REJECTD ... (default DELIVRD)
  --early-dlr           send receipts before the submit_sm_resp
  --mt-log PATH         append + fsync every accepted MT before its submit_sm_resp
  --mo-log PATH         append every deliver_sm_resp status received
  --resp-timeout-ms N   give up waiting for a deliver_sm_resp after N ms (default 10000)
  --redeliver-ms N      redeliver an MO SMS, receipt or USSD step answered ESME_RX_T_APPN (0x64)
                        after N ms, on the same bind or another of the account (default 500)
  --redeliver-max N     redeliveries per message (default 0 = never)
  --enquire-link-ms N   send enquire_link to each bound gateway every N ms (default 0 = never)
  --verbose             log PDUs to stderr
`);
	process.exit(code);
}

function parseArgs(argv) {
	const o = {
		port: 0, controlPort: 0, accounts: [], systemId: null, password: null,
		tlsKey: null, tlsCert: null, dialect: 'standard', dcs: 0x0F,
		codeField: 'short_message', serviceAddr: null, ussdTimeoutMs: 10000,
		timeoutAbortOp: null, msgidFormat: 'hex', msgidPad: 0,
		msgidStart: Math.floor(Date.now() / 1000) * 1000, dlrDelayMs: 100,
		dlrStat: 'DELIVRD', earlyDlr: false, mtLog: null, moLog: null, verbose: false,
		respTimeoutMs: 10000, enquireLinkMs: 0, redeliverMs: 500, redeliverMax: 0,
	};
	const num = (v, name) => {
		const n = Number(v);
		if (!Number.isInteger(n) || n < 0)
			die(`${name}: not a non-negative integer: ${v}`);
		return n;
	};
	for (let i = 2; i < argv.length; i++) {
		const a = argv[i];
		const v = () => {
			if (i + 1 >= argv.length)
				die(`${a} needs a value`);
			return argv[++i];
		};
		switch (a) {
		case '--port': o.port = num(v(), a); break;
		case '--control-port': o.controlPort = num(v(), a); break;
		case '--accounts': {
			let s = v();
			if (s.startsWith('@'))
				s = fs.readFileSync(s.slice(1), 'utf8');
			const acc = JSON.parse(s);
			if (!Array.isArray(acc))
				die('--accounts: expected a JSON array');
			o.accounts.push(...acc);
			break;
		}
		case '--system-id': o.systemId = v(); break;
		case '--password': o.password = v(); break;
		case '--tls-key': o.tlsKey = v(); break;
		case '--tls-cert': o.tlsCert = v(); break;
		case '--dialect': o.dialect = v(); break;
		case '--dcs': o.dcs = num(v(), a); break;
		case '--code-field': o.codeField = v(); break;
		case '--service-addr': o.serviceAddr = v(); break;
		case '--ussd-timeout-ms': o.ussdTimeoutMs = num(v(), a); break;
		case '--timeout-abort-op': o.timeoutAbortOp = num(v(), a); break;
		case '--msgid-format': o.msgidFormat = v(); break;
		case '--msgid-pad': o.msgidPad = num(v(), a); break;
		case '--msgid-start': o.msgidStart = num(v(), a); break;
		case '--dlr-delay-ms': o.dlrDelayMs = num(v(), a); break;
		case '--dlr-stat': o.dlrStat = v(); break;
		case '--early-dlr': o.earlyDlr = true; break;
		case '--mt-log': o.mtLog = v(); break;
		case '--mo-log': o.moLog = v(); break;
		case '--resp-timeout-ms': o.respTimeoutMs = num(v(), a); break;
		case '--redeliver-ms': o.redeliverMs = num(v(), a); break;
		case '--redeliver-max': o.redeliverMax = num(v(), a); break;
		case '--enquire-link-ms': o.enquireLinkMs = num(v(), a); break;
		case '--verbose': o.verbose = true; break;
		case '-h': case '--help': usage(0); break;
		default: die(`unknown option ${a}`);
		}
	}
	if (o.systemId !== null || o.password !== null)
		o.accounts.push({ system_id: o.systemId || 'ussdgw', password: o.password || '' });
	if (!o.accounts.length)
		o.accounts.push({ system_id: 'ussdgw', password: 'ussdgw' });
	if (!['standard', 'umr', 'packed', 'none'].includes(o.dialect))
		die(`--dialect: unknown dialect ${o.dialect}`);
	if (!['short_message', 'destination_addr'].includes(o.codeField))
		die(`--code-field: ${o.codeField}`);
	if (!['hex', 'dec', 'HEX'].includes(o.msgidFormat))
		die(`--msgid-format: ${o.msgidFormat}`);
	if (!(o.dlrStat in codec.MESSAGE_STATE))
		die(`--dlr-stat: ${o.dlrStat}`);
	if ((o.tlsKey === null) !== (o.tlsCert === null))
		die('--tls-key and --tls-cert go together');
	return o;
}

function die(msg) {
	process.stderr.write(`smsc-sim: ${msg}\n`);
	process.exit(2);
}

const opt = parseArgs(process.argv);

function vlog(...a) {
	if (opt.verbose)
		process.stderr.write(`smsc-sim: ${a.join(' ')}\n`);
}

/* ------------------------------------------------------------------ state */

const changed = new EventEmitter();
changed.setMaxListeners(0);
function bump() {
	changed.emit('change');
}

/* Resolve when pred() returns a truthy value, or with null after waitMs. */
function waitFor(pred, waitMs) {
	const first = pred();
	if (first || waitMs <= 0)
		return Promise.resolve(first || null);
	return new Promise((resolve) => {
		const onChange = () => {
			const r = pred();
			if (r) {
				clearTimeout(t);
				changed.removeListener('change', onChange);
				resolve(r);
			}
		};
		const t = setTimeout(() => {
			changed.removeListener('change', onChange);
			resolve(pred() || null);
		}, waitMs);
		changed.on('change', onChange);
	});
}

const stats = {
	pdus_in: {}, pdus_out: {}, status_in: {}, status_out: {},
	binds: { accepted: 0, refused: 0, active: 0, closed: 0 },
	enquire_link_answered: 0, unbinds_received: 0,
	submit_sm: { accepted: 0, rejected: 0, unanswered: 0, ussd: 0, sms: 0 },
	deliver_sm_resp: {}, mt_log_lines: 0, ussd_timeouts: 0, late_screens: 0, screens_after_end: 0,
	receipts_sent: 0, deliver_sm_resp_timeouts: 0, mt_log_fsyncs: 0, enquire_link_sent: 0,
	enquire_link_resp_received: 0, handler_errors: 0, raw_writes: 0,
};

function countPdu(dir, pdu) {
	const t = dir === 'in' ? stats.pdus_in : stats.pdus_out;
	t[pdu.command] = (t[pdu.command] || 0) + 1;
	if (pdu.isResponse()) {
		const s = dir === 'in' ? stats.status_in : stats.status_out;
		s[pdu.command] = s[pdu.command] || {};
		const k = codec.hex8(pdu.command_status);
		s[pdu.command][k] = (s[pdu.command][k] || 0) + 1;
	}
}

/* Faults are changed at run time through POST /faults. */
function freshFaults() {
	return {
		submit_error: null,     /* {status, count|until} */
		silent: null,           /* {count|until} */
		drop_bind: null,        /* {after, seen} */
		refuse_binds: null,     /* {status, count|until} */
		delay_ms: 0, delay_count: null,
		error_shape: 'header_only', /* or 'with_body' */
		dlr_stat: null, dlr_delay_ms: null, early_dlr: null, dlr_err: 0,
		crash_after_resp: null,  /* SIGKILL itself after N more accepted submit_sm_resp */
	};
}
let faults = freshFaults();

/* A {count|until} window: true while it applies; counts one use. */
function windowTake(w) {
	if (!w)
		return false;
	if (w.until !== undefined) {
		if (Date.now() < w.until)
			return true;
		return false;
	}
	if (w.count > 0) {
		w.count--;
		return true;
	}
	return false;
}

function makeWindow(spec) {
	if (spec === null || spec === false || spec === undefined)
		return null;
	if (typeof spec === 'number')
		return { count: spec };
	const w = {};
	if (spec.for_ms !== undefined)
		w.until = Date.now() + Number(spec.for_ms);
	else
		w.count = spec.count !== undefined ? Number(spec.count) : 1;
	if (spec.status !== undefined)
		w.status = Number(spec.status);
	return w;
}

let binds = [];          /* {id, session, system_id, mode, bound, remote} */
let bindSeq = 0;
let rxRobin = 0;

function canReceive(b) {
	return b.bound && (b.mode === 'transceiver' || b.mode === 'receiver');
}

function pickRx(systemId) {
	const c = binds.filter((b) => canReceive(b) && (!systemId || b.system_id === systemId));
	if (!c.length)
		return null;
	return c[rxRobin++ % c.length];
}

/* ----------------------------------------------------------------- logs */

function openLog(p) {
	return p ? fs.openSync(p, 'a') : null;
}
const mtFd = openLog(opt.mtLog);
const moFd = openLog(opt.moLog);

function appendLine(fd, obj) {
	const line = Buffer.from(JSON.stringify(obj) + '\n');
	let off = 0;
	while (off < line.length)
		off += fs.writeSync(fd, line, off, line.length - off);
	fs.fsyncSync(fd);
}

/* --------------------------------------------------------------- msg ids */

let nextMsgId = opt.msgidStart;
function newMessageId() {
	const n = nextMsgId++;
	let s;
	if (opt.msgidFormat === 'dec')
		s = String(n);
	else if (opt.msgidFormat === 'HEX')
		s = n.toString(16).toUpperCase();
	else
		s = n.toString(16);
	return opt.msgidPad ? s.padStart(opt.msgidPad, '0') : s;
}

/* ------------------------------------------------------------------ USSD */

const sessions = new Map();    /* sim session id -> session */
let sessionSeq = 0;
const netIdSpace = { standard: 256, packed: 32768, umr: 65536, none: 1 };
let nextNetId = 1;

function allocNetId() {
	const space = netIdSpace[opt.dialect];
	if (space === 1)
		return 0;
	for (let i = 0; i < space; i++) {
		const id = nextNetId;
		nextNetId = nextNetId + 1 >= space ? 1 : nextNetId + 1;
		let busy = false;
		for (const s of sessions.values())
			if (s.net_id === id && !s.ended)
				busy = true;
		if (!busy)
			return id;
	}
	return nextNetId;
}

function sessionTlvs(s, end) {
	const t = {};
	switch (opt.dialect) {
	case 'standard':
		t.its_session_info = Buffer.from([s.net_id & 0xFF, ((s.dialog_seq & 0x7F) << 1) | (end ? 1 : 0)]);
		break;
	case 'packed': {
		const b = Buffer.alloc(2);
		b.writeUInt16BE(((s.net_id & 0x7FFF) << 1) | (end ? 1 : 0), 0);
		t.its_session_info = b;
		break;
	}
	case 'umr':
		t.user_message_reference = s.net_id;
		break;
	default:
		break;
	}
	return t;
}

function codeServiceAddr(code) {
	if (opt.serviceAddr)
		return opt.serviceAddr;
	const m = /^\*?(\d+)/.exec(code);
	return m ? m[1] : code;
}

/* Build the deliver_sm fields for a subscriber step of a session. */
function ussdDeliverFields(s, op, text, dial) {
	const enc = codec.encodeText(text, opt.dcs === 0x08 ? 0x08 : opt.dcs);
	const f = {
		service_type: 'USSD',
		source_addr_ton: 1, source_addr_npi: 1, source_addr: s.msisdn,
		dest_addr_ton: 0, dest_addr_npi: 0,
		destination_addr: codeServiceAddr(s.code),
		esm_class: 0, protocol_id: 0, priority_flag: 0, registered_delivery: 0,
		data_coding: enc.dcs, short_message: enc.bytes,
		ussd_service_op: op,
	};
	if (dial && opt.codeField === 'destination_addr') {
		f.destination_addr = s.code;
		f.short_message = Buffer.alloc(0);
	}
	Object.assign(f, sessionTlvs(s, false));
	return f;
}

function sessionView(s) {
	const last = s.screens.length ? s.screens[s.screens.length - 1] : null;
	return {
		session: s.id, msisdn: s.msisdn, code: s.code, dialect: opt.dialect,
		net_id: s.net_id, dialog_seq: s.dialog_seq, state: s.state, origin: s.origin,
		screens: s.screens.length, inputs: s.inputs.length,
		last_screen: last, deliver_resp_status: s.deliver_resp_status,
		deliver_resp: s.deliver_resp, late_screens: s.late_screens, redeliveries: s.redeliveries || 0,
	};
}

function armBudget(s) {
	clearTimeout(s.timer);
	s.timer = setTimeout(() => {
		if (s.state !== 'waiting_gateway')
			return;
		s.state = 'timeout';
		s.ended = true;
		stats.ussd_timeouts++;
		if (opt.timeoutAbortOp !== null && s.bind && s.bind.bound) {
			s.dialog_seq++;
			const f = ussdDeliverFields(s, opt.timeoutAbortOp, '', false);
			Object.assign(f, sessionTlvs(s, true));
			sendDeliver(s.bind, f, () => {});
		}
		bump();
	}, opt.ussdTimeoutMs);
}

/* Send a deliver_sm; cb(status|null on close) runs once with the resp status. */
function sendDeliver(b, fields, cb, seqOverride) {
	const pdu = new smpp.PDU('deliver_sm', fields);
	if (seqOverride)
		pdu.sequence_number = seqOverride;
	let done = false;
	let timer = null;
	const once = (st) => {
		if (done)
			return;
		done = true;
		clearTimeout(timer);
		b.pending.delete(once);
		cb(st);
	};
	const onResp = (resp) => {
		const st = resp.command_status;
		stats.deliver_sm_resp[codec.hex8(st)] = (stats.deliver_sm_resp[codec.hex8(st)] || 0) + 1;
		if (moFd !== null) {
			appendLine(moFd, { ts: new Date().toISOString(), seq: pdu.sequence_number,
				kind: fields.esm_class & 0x04 ? 'receipt' : fields.service_type === 'USSD' ? 'ussd' : 'sms',
				source_addr: fields.source_addr, status: st });
		}
		once(st);
	};
	const ok = b.session.send(pdu, onResp);
	if (!ok) {
		once(null);
		return pdu;
	}
	b.pending.add(once);
	timer = setTimeout(() => {
		stats.deliver_sm_resp_timeouts++;
		/* a same_seq resend may have taken over this sequence number */
		if (b.session._callbacks[pdu.sequence_number] === onResp)
			delete b.session._callbacks[pdu.sequence_number];
		once(null);
	}, opt.respTimeoutMs);
	countPdu('out', pdu);
	vlog('>', 'deliver_sm', pdu.sequence_number, 'bind', b.id);
	return pdu;
}

/* As sendDeliver, and on ESME_RX_T_APPN (temporary application error) deliver the
 * same message again later, as SMSCs do: on the same bind if still bound, else on
 * another receiver of the account. cb(final status, attempts). */
function sendDeliverRedeliver(b, fields, cb, attempt) {
	attempt = attempt || 1;
	sendDeliver(b, fields, (st) => {
		if (st === 0x64 && attempt <= opt.redeliverMax) {
			stats.redeliveries = (stats.redeliveries || 0) + 1;
			setTimeout(() => {
				const rx = b.bound && canReceive(b) ? b : pickRx(b.system_id);
				if (!rx) {
					cb(st, attempt);
					return;
				}
				sendDeliverRedeliver(rx, fields, cb, attempt + 1);
			}, opt.redeliverMs);
			return;
		}
		cb(st, attempt);
	});
}

function deliverSessionStep(s, b, fields, seqOverride, attempt) {
	attempt = attempt || 1;
	s.bind = b;
	s.state = 'waiting_gateway';
	s.input_mark = s.screens.length;
	s.input_at = Date.now();
	const pdu = sendDeliver(b, fields, (st) => {
		s.deliver_resp_status = st;
		s.deliver_resp.push(st);
		/* ESME_RX_T_APPN: the centre delivers the same step again (new sequence
		 * number), as it does for MO SMS, while the dialog still waits for it. */
		if (st === 0x64 && attempt <= opt.redeliverMax) {
			stats.redeliveries = (stats.redeliveries || 0) + 1;
			s.redeliveries = (s.redeliveries || 0) + 1;
			setTimeout(() => {
				if (s.ended || s.screens.length > s.input_mark)
					return;
				const rx = s.bind && s.bind.bound ? s.bind : pickRx();
				if (rx)
					deliverSessionStep(s, rx, fields, undefined, attempt + 1);
			}, opt.redeliverMs);
		}
		bump();
	}, seqOverride);
	s.last_deliver = { fields, seq: pdu.sequence_number };
	armBudget(s);
	bump();
	return pdu;
}

function ussdDial(body) {
	const msisdn = String(body.msisdn || '');
	const code = String(body.code || '');
	if (!/^\d{5,15}$/.test(msisdn))
		return [400, { error: 'msisdn: 5-15 digits' }];
	if (!/^[*#0-9]{1,40}$/.test(code))
		return [400, { error: 'code: *, # and digits' }];
	const b = pickRx(body.system_id);
	if (!b)
		return [409, { error: 'no_bind', hint: 'no gateway bound as transceiver or receiver' }];
	/* One dialog per subscriber: a new dial releases the old one here. */
	for (const o of sessions.values())
		if (o.msisdn === msisdn && !o.ended) {
			o.ended = true;
			o.state = 'replaced';
			clearTimeout(o.timer);
		}
	const s = {
		id: 's' + (++sessionSeq), msisdn, code, net_id: allocNetId(), dialog_seq: 0,
		state: 'new', origin: 'dial', ended: false, screens: [], inputs: [code],
		input_mark: 0, input_at: 0, deliver_resp_status: null, deliver_resp: [],
		late_screens: 0, timer: null, bind: null, last_deliver: null,
	};
	addSession(s);
	const pdu = deliverSessionStep(s, b, ussdDeliverFields(s, USSD_OP.PSSR_IND, code, true));
	return [200, { session: s.id, net_id: s.net_id, deliver_sm_seq: pdu.sequence_number, bind: b.id }];
}

function ussdReply(body) {
	const s = sessions.get(String(body.session || ''));
	if (!s)
		return [404, { error: 'no such session' }];
	if (s.state !== 'waiting_subscriber')
		return [409, { error: 'session not waiting for input', state: s.state }];
	const text = String(body.text === undefined ? '' : body.text);
	if (text.length > 182)
		return [400, { error: 'text longer than 182 characters' }];
	let b = s.bind && s.bind.bound ? s.bind : pickRx();
	if (body.bind !== undefined) {
		/* a centre with several binds of one gateway account may use any of them */
		b = binds.find((x) => x.id === Number(body.bind) && x.bound && canReceive(x)) || null;
		if (!b)
			return [409, { error: 'no such bound receiver', bind: body.bind }];
	}
	if (!b)
		return [409, { error: 'no_bind' }];
	s.dialog_seq++;
	s.inputs.push(text);
	const pdu = deliverSessionStep(s, b, ussdDeliverFields(s, USSD_OP.USSR_CONF, text, false));
	return [200, { session: s.id, deliver_sm_seq: pdu.sequence_number }];
}

async function ussdResend(body) {
	const s = sessions.get(String(body.session || ''));
	if (!s || !s.last_deliver)
		return [404, { error: 'no such session or nothing sent yet' }];
	const mode = String(body.mode || 'same_seq');
	if (!['same_seq', 'new_seq', 'after_rebind'].includes(mode))
		return [400, { error: 'mode: same_seq | new_seq | after_rebind' }];
	const fields = s.last_deliver.fields;
	s.ended = false;
	if (mode === 'same_seq') {
		const b = s.bind && s.bind.bound ? s.bind : null;
		if (!b)
			return [409, { error: 'bind of the original deliver_sm is gone; use after_rebind' }];
		const pdu = deliverSessionStep(s, b, fields, s.last_deliver.seq);
		return [200, { session: s.id, mode, deliver_sm_seq: pdu.sequence_number, bind: b.id }];
	}
	if (mode === 'new_seq') {
		let b = s.bind && s.bind.bound ? s.bind : pickRx();
		if (body.bind !== undefined)
			b = binds.find((x) => x.id === Number(body.bind) && x.bound && canReceive(x)) || null;
		if (!b)
			return [409, { error: 'no_bind' }];
		const pdu = deliverSessionStep(s, b, fields);
		return [200, { session: s.id, mode, deliver_sm_seq: pdu.sequence_number, bind: b.id }];
	}
	if (mode === 'after_rebind') {
		const old = s.bind;
		const oldId = old ? old.id : 0;
		if (old && old.bound)
			old.session.destroy();
		const waitMs = clampWait(body.wait_ms, 15000);
		const nb = await waitFor(() => {
			const c = binds.filter((x) => canReceive(x) && x.id > oldId);
			return c.length ? c[0] : null;
		}, waitMs);
		if (!nb)
			return [504, { error: 'gateway did not rebind', waited_ms: waitMs }];
		const pdu = deliverSessionStep(s, nb, fields);
		return [200, { session: s.id, mode, deliver_sm_seq: pdu.sequence_number, bind: nb.id }];
	}
	return [400, { error: 'mode: same_seq | new_seq | after_rebind' }];
}

async function ussdScreen(q) {
	const s = sessions.get(String(q.session || ''));
	if (!s)
		return [404, { error: 'no such session' }];
	const after = q.after !== undefined ? Number(q.after) : s.input_mark;
	const waitMs = clampWait(q.wait_ms, 0);
	await waitFor(() => s.screens.length > after || s.state === 'timeout' ||
		s.state === 'replaced', waitMs);
	const v = sessionView(s);
	if (s.screens.length > after)
		v.status = 'screen';
	else if (s.state === 'timeout')
		v.status = 'timeout';
	else if (s.state === 'replaced')
		v.status = 'replaced';
	else
		v.status = 'pending';
	v.screen = s.screens.length > after ? s.screens[s.screens.length - 1] : null;
	return [200, v];
}

/* Find the session a USSD submit_sm belongs to. */
function matchSession(pdu) {
	const dest = pdu.destination_addr;
	const its = Buffer.isBuffer(pdu.its_session_info) ? pdu.its_session_info : null;
	let key = null;
	if (opt.dialect === 'standard' && its && its.length >= 1)
		key = its[0];
	else if (opt.dialect === 'packed' && its && its.length >= 2)
		key = its.readUInt16BE(0) >> 1;
	else if (opt.dialect === 'umr' && pdu.user_message_reference !== undefined)
		key = pdu.user_message_reference;
	const mine = [...sessions.values()].filter((s) => s.msisdn === dest).reverse();
	if (key !== null) {
		const m = mine.find((s) => s.net_id === key && !s.ended) || mine.find((s) => s.net_id === key);
		if (m)
			return { s: m, by: 'session_id' };
	}
	const m = mine.find((s) => !s.ended) || null;
	return m ? { s: m, by: 'msisdn' } : { s: null, by: null };
}

function handleUssdSubmit(b, pdu, messageId) {
	const raw = pdu.message_payload && pdu.message_payload.length ? pdu.message_payload : pdu.short_message;
	const d = codec.decodeText(Buffer.isBuffer(raw) ? raw : Buffer.alloc(0), pdu.data_coding);
	const op = pdu.ussd_service_op;
	const its = Buffer.isBuffer(pdu.its_session_info) ? pdu.its_session_info : null;
	let endBit = false;
	if (its && its.length >= 2 && (opt.dialect === 'standard' || opt.dialect === 'packed'))
		endBit = !!(its[1] & 1);
	const ends = op === USSD_OP.PSSR_RESP || op === USSD_OP.PSSD_RESP || op === USSD_OP.USSN_REQ || endBit;
	const { s: found, by } = matchSession(pdu);
	let s = found;
	const now = Date.now();
	/* a second final answer to a finished dialog stays with that dialog */
	const afterEnd = !!s && s.state === 'ended' && by === 'session_id' && ends;
	if (!s || (s.ended && s.state !== 'timeout' && !afterEnd)) {
		/* network-initiated push (USSR / USSN) */
		s = {
			id: 's' + (++sessionSeq), msisdn: pdu.destination_addr, code: pdu.source_addr,
			net_id: its ? its[0] : pdu.user_message_reference || 0, dialog_seq: 0, state: 'new',
			origin: 'push', ended: false, screens: [], inputs: [], input_mark: 0, input_at: now,
			deliver_resp_status: null, deliver_resp: [], late_screens: 0, timer: null, bind: b,
			last_deliver: null,
		};
		if (opt.dialect === 'packed' && its && its.length >= 2)
			s.net_id = its.readUInt16BE(0) >> 1;
		addSession(s);
	}
	const late = s.state === 'timeout';
	const screen = {
		no: s.screens.length + 1, text: d.text, alphabet: d.alphabet, data_coding: pdu.data_coding,
		ussd_service_op: op === undefined ? null : op, continues: !ends && op === USSD_OP.USSR_REQ,
		ends, end_bit: endBit, its_session_info: its ? its.toString('hex') : null,
		user_message_reference: pdu.user_message_reference === undefined ? null : pdu.user_message_reference,
		matched_by: by || 'new', service_type: pdu.service_type, source_addr: pdu.source_addr,
		latency_ms: s.input_at ? now - s.input_at : null, late, after_end: afterEnd, message_id: messageId,
		submit_sm_seq: pdu.sequence_number, bind: b.id,
	};
	if (its && opt.dialect === 'standard' && its.length >= 2) {
		screen.echoed_seq = its[1] >> 1;
		/* did the gateway echo the session number and dialogue sequence it was sent? */
		screen.seq_echoed = found !== null && its[0] === s.net_id && (its[1] >> 1) === (s.dialog_seq & 0x7F);
	}
	s.screens.push(screen);
	s.bind = b;
	clearTimeout(s.timer);
	if (late) {
		s.late_screens++;
		stats.late_screens++;
	} else if (afterEnd) {
		stats.screens_after_end++;
	} else if (ends) {
		s.state = 'ended';
		s.ended = true;
	} else {
		s.state = 'waiting_subscriber';
	}
	bump();
}

/* ------------------------------------------------------------------- SMS */

const MT_KEEP = 10000;           /* MTs kept for GET /sms/mt */
const REASM_MAX_AGE_MS = 600000; /* incomplete concatenations dropped after */
const SESSIONS_KEEP = 5000;      /* finished USSD sessions kept */
const mts = [];                  /* reassembled MT messages, oldest first */
let mtCursor = 0;
const reasm = new Map();

function storeMt(entry) {
	entry.cursor = ++mtCursor;
	mts.push(entry);
	if (mts.length > MT_KEEP)
		mts.shift();
	bump();
}

function addSession(s) {
	sessions.set(s.id, s);
	if (sessions.size <= SESSIONS_KEEP)
		return;
	for (const [id, o] of sessions) {
		if (sessions.size <= SESSIONS_KEEP)
			break;
		if (o.ended)
			sessions.delete(id);
	}
}

function handleSmsSubmit(b, pdu, messageId) {
	let raw = Buffer.isBuffer(pdu.short_message) ? pdu.short_message : Buffer.alloc(0);
	if (pdu.message_payload && pdu.message_payload.length)
		raw = pdu.message_payload;
	let concat = null;
	if ((pdu.esm_class & 0x40) && raw.length) {
		const u = codec.parseUdh(raw);
		if (u) {
			concat = u.concat;
			raw = raw.subarray(u.length);
		}
	}
	if (!concat && pdu.sar_msg_ref_num !== undefined && pdu.sar_total_segments)
		concat = { ref: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum };
	const c = codec.classifyDcs(pdu.data_coding);
	const base = {
		to: pdu.destination_addr, from: pdu.source_addr, data_coding: pdu.data_coding,
		alphabet: c.alphabet, msg_class: c.msg_class, registered_delivery: pdu.registered_delivery,
		esm_class: pdu.esm_class, service_type: pdu.service_type, bind: b.id,
		received_at: new Date().toISOString(),
	};
	if (!concat || concat.total <= 1) {
		const d = codec.decodeText(raw, pdu.data_coding);
		storeMt(Object.assign(base, { text: d.text, parts: 1, message_ids: [messageId] }));
		return;
	}
	const key = `${pdu.source_addr}|${pdu.destination_addr}|${concat.ref}|${concat.total}`;
	let r = reasm.get(key);
	if (!r) {
		for (const [k, o] of reasm)
			if (Date.now() - o.first > REASM_MAX_AGE_MS)
				reasm.delete(k);
		r = { parts: new Map(), ids: new Map(), first: Date.now() };
		reasm.set(key, r);
	}
	r.parts.set(concat.seq, raw);
	r.ids.set(concat.seq, messageId);
	if (r.parts.size < concat.total)
		return;
	reasm.delete(key);
	const seqs = [...r.parts.keys()].sort((x, y) => x - y);
	const all = Buffer.concat(seqs.map((k) => r.parts.get(k)));
	const d = codec.decodeText(all, pdu.data_coding);
	storeMt(Object.assign(base, { text: d.text, parts: concat.total, concat_ref: concat.ref,
		message_ids: seqs.map((k) => r.ids.get(k)) }));
}

async function smsMt(q) {
	const since = Number(q.since || 0);
	const to = q.to ? String(q.to) : null;
	const waitMs = clampWait(q.wait_ms, 0);
	const pick = () => {
		const r = mts.filter((m) => m.cursor > since && (!to || m.to === to));
		return r.length ? r : null;
	};
	const r = (await waitFor(pick, waitMs)) || [];
	return [200, { messages: r, next: mtCursor, pending_parts: reasm.size }];
}

async function smsMo(body) {
	const from = String(body.from || '');
	const to = String(body.to || '');
	const text = String(body.text === undefined ? '' : body.text);
	if (!/^\d{3,15}$/.test(from) || !/^[0-9A-Za-z*#]{1,20}$/.test(to))
		return [400, { error: 'from: 3-15 digits; to: a short code' }];
	const b = pickRx(body.system_id);
	if (!b)
		return [409, { error: 'no_bind' }];
	const dcs = body.dcs === undefined ? undefined : Number(body.dcs);
	const enc = codec.encodeText(text, dcs);
	const split = String(body.split || 'udh');
	const common = {
		service_type: '', source_addr_ton: 1, source_addr_npi: 1, source_addr: from,
		dest_addr_ton: 0, dest_addr_npi: 0, destination_addr: to, esm_class: 0,
		data_coding: enc.dcs,
	};
	const list = [];
	if (enc.bytes.length <= codec.singleCapacity(enc) || split === 'payload') {
		if (split === 'payload' && enc.bytes.length > codec.singleCapacity(enc))
			list.push(Object.assign({}, common, { short_message: Buffer.alloc(0), message_payload: enc.bytes }));
		else
			list.push(Object.assign({}, common, { short_message: enc.bytes }));
	} else {
		const parts = codec.splitBytes(enc, codec.partCapacity(enc));
		const ref = body.ref !== undefined ? Number(body.ref) & 0xFF : Math.floor(Math.random() * 256);
		parts.forEach((p, i) => {
			if (split === 'sar') {
				list.push(Object.assign({}, common, { short_message: p, sar_msg_ref_num: ref,
					sar_total_segments: parts.length, sar_segment_seqnum: i + 1 }));
			} else {
				const udh = Buffer.from([5, 0, 3, ref, parts.length, i + 1]);
				list.push(Object.assign({}, common, { esm_class: 0x40,
					short_message: Buffer.concat([udh, p]) }));
			}
		});
	}
	const attempts = [];
	const statuses = await Promise.all(list.map((f, i) => new Promise((res) => {
		sendDeliverRedeliver(b, f, (st, n) => {
			attempts[i] = n;
			res(st);
		});
	})));
	return [200, { parts: list.length, data_coding: enc.dcs, statuses, attempts, bind: b.id }];
}

function scheduleReceipt(b, pdu, messageId, text) {
	const rd = pdu.registered_delivery & 0x03;
	const stat = faults.dlr_stat || opt.dlrStat;
	if (rd === 0 || rd === 3 || (rd === 2 && stat === 'DELIVRD'))
		return;
	const submitted = new Date();
	const delay = faults.dlr_delay_ms !== null ? faults.dlr_delay_ms : opt.dlrDelayMs;
	const early = faults.early_dlr !== null ? faults.early_dlr : opt.earlyDlr;
	const send = () => {
		/* receipts go back to the account that submitted */
		const rx = b.bound && canReceive(b) ? b : pickRx(b.system_id);
		if (!rx)
			return;
		const err = faults.dlr_err || 0;
		const body = codec.receiptText(messageId, stat, err, submitted, new Date(), text);
		sendDeliverRedeliver(rx, {
			service_type: '', source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi,
			source_addr: pdu.destination_addr, dest_addr_ton: pdu.source_addr_ton,
			dest_addr_npi: pdu.source_addr_npi, destination_addr: pdu.source_addr,
			esm_class: 0x04, data_coding: 0, short_message: Buffer.from(body, 'ascii'),
			receipted_message_id: messageId, message_state: codec.MESSAGE_STATE[stat],
			network_error_code: Buffer.from([3, (err >> 8) & 0xFF, err & 0xFF]),
		}, () => {}, 1);
		stats.receipts_sent++;
	};
	if (early)
		send();
	else
		setTimeout(send, delay);
}

/* --------------------------------------------------------------- SMPP side */

function respond(b, pdu, status, fields) {
	let r;
	if (status && faults.error_shape === 'with_body') {
		/* node-smpp writes non-zero status PDUs header-only; build the body ourselves */
		r = pdu.response(Object.assign({}, fields || {}));
		const buf = r.toBuffer();
		buf.writeUInt32BE(status, 8);
		r.command_status = status;
		countPdu('out', r);
		b.session.socket.write(buf);
		return;
	}
	r = pdu.response(Object.assign({ command_status: status }, fields || {}));
	countPdu('out', r);
	b.session.send(r);
}

function accountCheck(pdu) {
	const acc = opt.accounts.find((a) => a.system_id === pdu.system_id);
	if (!acc)
		return ESME_RINVSYSID;
	if ((acc.password || '') !== pdu.password)
		return ESME_RINVPASWD;
	return ESME_ROK;
}

function onBind(b, pdu, mode) {
	if (b.bound)
		return respond(b, pdu, ESME_RALYBND);
	const rf = faults.refuse_binds;
	if (windowTake(rf)) {
		stats.binds.refused++;
		respond(b, pdu, rf.status || ESME_RBINDFAIL);
		return;
	}
	const st = accountCheck(pdu);
	if (st) {
		stats.binds.refused++;
		respond(b, pdu, st);
		return;
	}
	b.bound = true;
	b.mode = mode;
	b.system_id = pdu.system_id;
	b.interface_version = pdu.interface_version;
	stats.binds.accepted++;
	stats.binds.active++;
	respond(b, pdu, ESME_ROK, { system_id: 'smsc-sim' });
	vlog('bind', mode, pdu.system_id, 'id', b.id);
	bump();
}

function onSubmit(b, pdu) {
	if (!b.bound || b.mode === 'receiver')
		return respond(b, pdu, ESME_RINVBNDSTS);
	if (!pdu.destination_addr) {
		stats.submit_sm.rejected++;
		return respond(b, pdu, 0x0B); /* ESME_RINVDSTADR */
	}
	const isUssd = pdu.ussd_service_op !== undefined || pdu.service_type === 'USSD';
	const df = faults.drop_bind;
	if (df) {
		df.seen++;
		stats.submit_sm.unanswered++;
		if (df.seen >= df.after) {
			faults.drop_bind = null;
			vlog('fault: dropping bind', b.id, 'after', df.seen, 'submit_sm');
			b.session.destroy();
		}
		return;
	}
	if (windowTake(faults.silent)) {
		stats.submit_sm.unanswered++;
		return;
	}
	const se = faults.submit_error;
	if (windowTake(se)) {
		stats.submit_sm.rejected++;
		const delay = faults.delay_ms;
		if (delay)
			setTimeout(() => respond(b, pdu, se.status), delay);
		else
			respond(b, pdu, se.status);
		return;
	}
	const messageId = newMessageId();
	const raw = pdu.message_payload && pdu.message_payload.length ? pdu.message_payload : pdu.short_message;
	const textGuess = codec.decodeText(Buffer.isBuffer(raw) ? raw : Buffer.alloc(0), pdu.data_coding).text;
	const logLine = mtFd === null ? null : {
			ts: new Date().toISOString(), message_id: messageId, system_id: b.system_id,
			seq: pdu.sequence_number, kind: isUssd ? 'ussd' : 'sms', service_type: pdu.service_type,
			source_addr: pdu.source_addr, destination_addr: pdu.destination_addr,
			data_coding: pdu.data_coding, esm_class: pdu.esm_class,
			registered_delivery: pdu.registered_delivery,
			ussd_service_op: pdu.ussd_service_op === undefined ? null : pdu.ussd_service_op,
			its_session_info: Buffer.isBuffer(pdu.its_session_info) ? pdu.its_session_info.toString('hex') : null,
			short_message_hex: Buffer.isBuffer(raw) ? raw.toString('hex') : '',
	};
	stats.submit_sm.accepted++;
	if (isUssd) {
		stats.submit_sm.ussd++;
		handleUssdSubmit(b, pdu, messageId);
	} else {
		stats.submit_sm.sms++;
		handleSmsSubmit(b, pdu, messageId);
		scheduleReceipt(b, pdu, messageId, textGuess);
	}
	let delay = 0;
	if (faults.delay_ms && (faults.delay_count === null || faults.delay_count-- > 0))
		delay = faults.delay_ms;
	const ack = () => {
		if (!b.session.socket.writable)
			return;
		if (delay) {
			setTimeout(() => respond(b, pdu, ESME_ROK, { message_id: messageId }), delay);
			return;
		}
		respond(b, pdu, ESME_ROK, { message_id: messageId });
		if (faults.crash_after_resp !== null && --faults.crash_after_resp <= 0) {
			/* a crash right after an acknowledgement, for loss tests */
			process.kill(process.pid, 'SIGKILL');
		}
	};
	if (logLine)
		mtLogThenAck(logLine, ack);
	else
		ack();
}

/*
 * Group commit of the MT log: the lines of every submit_sm that arrived in
 * this turn of the event loop are written with one fsync, and only then are
 * their submit_sm_resp sent.
 */
const mtBatch = { lines: [], acks: [], scheduled: false };
function mtLogThenAck(obj, ack) {
	mtBatch.lines.push(JSON.stringify(obj) + '\n');
	mtBatch.acks.push(ack);
	if (!mtBatch.scheduled) {
		mtBatch.scheduled = true;
		setImmediate(mtFlush);
	}
}

function mtFlush() {
	const lines = mtBatch.lines, acks = mtBatch.acks;
	mtBatch.lines = [];
	mtBatch.acks = [];
	mtBatch.scheduled = false;
	const buf = Buffer.from(lines.join(''));
	let off = 0;
	while (off < buf.length)
		off += fs.writeSync(mtFd, buf, off, buf.length - off);
	fs.fsyncSync(mtFd);
	stats.mt_log_lines += lines.length;
	stats.mt_log_fsyncs++;
	for (const a of acks)
		a();
}

function onSession(session) {
	/* no Nagle: a 40 ms delayed-ACK stall would show up as gateway latency */
	session.socket.setNoDelay(true);
	const b = { id: ++bindSeq, session, bound: false, mode: null, system_id: null,
		pending: new Set(), remote: session.socket.remoteAddress };
	binds.push(b);
	session.on('pdu', (pdu) => {
		try {
			onPdu(b, session, pdu);
		} catch (e) {
			/* a malformed PDU from the gateway must not stop the simulator */
			stats.handler_errors++;
			vlog('handler error on', pdu.command, e.message);
			if (!pdu.isResponse() && session.socket.writable)
				respond(b, pdu, 0x08);
		}
	});
	if (opt.enquireLinkMs) {
		b.elTimer = setInterval(() => {
			if (!b.bound)
				return;
			stats.enquire_link_sent++;
			const el = new smpp.PDU('enquire_link');
			countPdu('out', el);
			session.send(el, () => {
				stats.enquire_link_resp_received++;
			});
		}, opt.enquireLinkMs);
	}
	session.on('error', (e) => {
		vlog('session error', b.id, e.message);
		session.destroy();
	});
	session.on('close', () => {
		clearInterval(b.elTimer);
		markClosed(b);
		binds = binds.filter((x) => x !== b);
		for (const cb of [...b.pending])
			cb(null);
		b.pending.clear();
		bump();
	});
}

function onPdu(b, session, pdu) {
	countPdu('in', pdu);
	vlog('<', pdu.command, pdu.sequence_number, codec.hex8(pdu.command_status), 'bind', b.id);
	if (pdu.isResponse())
		return;
	switch (pdu.command) {
	case 'bind_transceiver': return onBind(b, pdu, 'transceiver');
	case 'bind_transmitter': return onBind(b, pdu, 'transmitter');
	case 'bind_receiver': return onBind(b, pdu, 'receiver');
	case 'enquire_link':
		stats.enquire_link_answered++;
		return respond(b, pdu, ESME_ROK);
	case 'unbind':
		stats.unbinds_received++;
		respond(b, pdu, ESME_ROK);
		markClosed(b);
		session.close();
		return;
	case 'submit_sm': return onSubmit(b, pdu);
	case 'unknown': return respond(b, pdu, 0x03);
	default:
		if (!b.bound)
			return respond(b, pdu, ESME_RINVBNDSTS);
		return respond(b, pdu, 0x03);
	}
}

function markClosed(b) {
	if (b.bound) {
		b.bound = false;
		stats.binds.active--;
		stats.binds.closed++;
		bump();
	}
}

/* ------------------------------------------------------------ control API */

function clampWait(v, dflt) {
	const n = v === undefined ? dflt : Number(v);
	if (!Number.isFinite(n) || n < 0)
		return dflt;
	return Math.min(n, 60000);
}

function setFaults(body) {
	if (body.reset)
		faults = freshFaults();
	if ('throttle' in body)
		faults.submit_error = body.throttle ? Object.assign(makeWindow(body.throttle), { status: ESME_RTHROTTLED }) : null;
	if ('queue_full' in body)
		faults.submit_error = body.queue_full ? Object.assign(makeWindow(body.queue_full), { status: ESME_RMSGQFUL }) : null;
	if ('submit_error' in body) {
		faults.submit_error = makeWindow(body.submit_error);
		if (faults.submit_error && faults.submit_error.status === undefined)
			faults.submit_error.status = 0x08;
	}
	if ('silent' in body)
		faults.silent = makeWindow(body.silent);
	if ('drop_bind' in body)
		faults.drop_bind = body.drop_bind ? { after: Number(body.drop_bind.after || 1), seen: 0 } : null;
	if ('refuse_binds' in body) {
		faults.refuse_binds = makeWindow(body.refuse_binds);
		if (faults.refuse_binds && faults.refuse_binds.status === undefined)
			faults.refuse_binds.status = ESME_RBINDFAIL;
	}
	if ('delay' in body) {
		const d = body.delay || {};
		faults.delay_ms = Number(d.ms || 0);
		faults.delay_count = d.count === undefined ? null : Number(d.count);
	}
	if ('error_shape' in body) {
		if (!['header_only', 'with_body'].includes(body.error_shape))
			return [400, { error: 'error_shape: header_only | with_body' }];
		faults.error_shape = body.error_shape;
	}
	if ('dlr_stat' in body) {
		if (body.dlr_stat !== null && !(body.dlr_stat in codec.MESSAGE_STATE))
			return [400, { error: 'dlr_stat: unknown' }];
		faults.dlr_stat = body.dlr_stat;
	}
	if ('dlr_err' in body)
		faults.dlr_err = Number(body.dlr_err) || 0;
	if ('dlr_delay_ms' in body)
		faults.dlr_delay_ms = body.dlr_delay_ms === null ? null : Number(body.dlr_delay_ms);
	if ('early_dlr' in body)
		faults.early_dlr = body.early_dlr === null ? null : !!body.early_dlr;
	if ('crash_after_resp' in body)
		faults.crash_after_resp = body.crash_after_resp === null ? null : Number(body.crash_after_resp);
	if ('drop_all_binds' in body && body.drop_all_binds)
		for (const b of binds)
			b.session.destroy();
	return [200, faultsView()];
}

function faultsView() {
	const w = (x) => x && Object.assign({}, x, x.until !== undefined ?
		{ remaining_ms: Math.max(0, x.until - Date.now()) } : {});
	return {
		submit_error: w(faults.submit_error), silent: w(faults.silent), drop_bind: faults.drop_bind,
		refuse_binds: w(faults.refuse_binds), delay: { ms: faults.delay_ms, count: faults.delay_count },
		error_shape: faults.error_shape, dlr_stat: faults.dlr_stat, dlr_err: faults.dlr_err,
		dlr_delay_ms: faults.dlr_delay_ms, early_dlr: faults.early_dlr,
		crash_after_resp: faults.crash_after_resp,
	};
}

function bindsView() {
	return binds.map((b) => ({ id: b.id, bound: b.bound, mode: b.mode, system_id: b.system_id,
		interface_version: b.interface_version, pending_deliver: b.pending.size }));
}

async function route(method, url, body) {
	const p = url.pathname;
	const q = Object.fromEntries(url.searchParams.entries());
	const key = `${method} ${p}`;
	switch (key) {
	case 'POST /ussd/dial': {
		const r = ussdDial(body);
		if (r[0] !== 200 || body.wait_ms === undefined)
			return r;
		const scr = await ussdScreen({ session: r[1].session, wait_ms: body.wait_ms });
		return [200, Object.assign(scr[1], r[1])];
	}
	case 'POST /ussd/reply': {
		const r = ussdReply(body);
		if (r[0] !== 200 || body.wait_ms === undefined)
			return r;
		const scr = await ussdScreen({ session: r[1].session, wait_ms: body.wait_ms });
		return [200, Object.assign(scr[1], r[1])];
	}
	case 'POST /ussd/resend': return ussdResend(body);
	case 'GET /ussd/screen': return ussdScreen(q);
	case 'GET /ussd/session': {
		const s = sessions.get(String(q.session || ''));
		return s ? [200, Object.assign(sessionView(s), { all_screens: s.screens, all_inputs: s.inputs })]
			: [404, { error: 'no such session' }];
	}
	case 'GET /ussd/sessions':
		return [200, { sessions: [...sessions.values()].filter((s) => !q.msisdn || s.msisdn === q.msisdn)
			.map(sessionView) }];
	case 'POST /sms/mo': return smsMo(body);
	case 'GET /sms/mt': return smsMt(q);
	case 'GET /faults': return [200, faultsView()];
	case 'POST /faults': return setFaults(body);
	case 'GET /stats': return [200, Object.assign({}, stats, { binds_now: bindsView() })];
	case 'GET /binds': {
		const waitMs = clampWait(q.wait_ms, 0);
		const n = Number(q.min || 0);
		await waitFor(() => binds.filter((b) => b.bound).length >= n, waitMs);
		return [200, { binds: bindsView() }];
	}
	case 'POST /smpp/raw': {
		/* raw bytes to a bound gateway, for robustness tests of its decoder */
		const hex = String(body.hex || '');
		if (!/^([0-9a-fA-F]{2})+$/.test(hex) || hex.length > 2 * 65536)
			return [400, { error: 'hex: an even number of hex digits, at most 64 KiB' }];
		const b = binds.find((x) => x.bound && (!body.system_id || x.system_id === body.system_id));
		if (!b)
			return [409, { error: 'no_bind' }];
		b.session.socket.write(Buffer.from(hex, 'hex'));
		stats.raw_writes++;
		return [200, { bind: b.id, bytes: hex.length / 2 }];
	}
	case 'GET /healthz': return [200, { ok: true }];
	default: return [404, { error: `no route ${key}` }];
	}
}

const control = http.createServer((req, res) => {
	let size = 0;
	const chunks = [];
	req.on('data', (c) => {
		size += c.length;
		if (size > 65536) {
			res.writeHead(413).end();
			req.destroy();
			return;
		}
		chunks.push(c);
	});
	req.on('end', async () => {
		let body = {};
		try {
			if (chunks.length)
				body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
			if (typeof body !== 'object' || body === null)
				throw new Error('body is not an object');
		} catch (e) {
			res.writeHead(400, { 'content-type': 'application/json' });
			res.end(JSON.stringify({ error: `bad JSON: ${e.message}` }) + '\n');
			return;
		}
		let status, out;
		try {
			[status, out] = await route(req.method, new URL(req.url, 'http://x'), body);
		} catch (e) {
			status = 500;
			out = { error: e.message };
		}
		res.writeHead(status, { 'content-type': 'application/json' });
		res.end(JSON.stringify(out) + '\n');
	});
});

/* ---------------------------------------------------------------- startup */

const srvOpts = {};
if (opt.tlsKey) {
	srvOpts.key = fs.readFileSync(opt.tlsKey);
	srvOpts.cert = fs.readFileSync(opt.tlsCert);
}
const server = smpp.createServer(srvOpts, onSession);
server.on('error', (e) => die(`SMPP listener: ${e.message}`));
control.on('error', (e) => die(`control listener: ${e.message}`));

server.listen(opt.port, '127.0.0.1', () => {
	control.listen(opt.controlPort, '127.0.0.1', () => {
		process.stdout.write(`listening ${server.address().port} ${control.address().port}\n`);
	});
});

let stopping = false;
function shutdown() {
	if (stopping)
		return;
	stopping = true;
	server.close();
	control.close();
	const live = binds.filter((b) => b.session.socket.writable);
	let left = live.length;
	const finish = () => {
		if (mtFd !== null)
			fs.closeSync(mtFd);
		if (moFd !== null)
			fs.closeSync(moFd);
		process.exit(0);
	};
	const hard = setTimeout(() => {
		for (const b of binds)
			b.session.destroy();
		finish();
	}, 3000);
	if (!left) {
		clearTimeout(hard);
		finish();
		return;
	}
	for (const b of live) {
		let closed = false;
		const close = () => {
			if (closed)
				return;
			closed = true;
			b.session.destroy();
			if (--left === 0) {
				clearTimeout(hard);
				finish();
			}
		};
		if (b.bound) {
			b.session.unbind({}, close);
			b.session.socket.once('close', close);
		} else {
			close();
		}
	}
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
