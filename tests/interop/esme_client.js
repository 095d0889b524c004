'use strict';
/*
 * A small ESME on npm `smpp`, used by the interop tests to play the gateway
 * against tools/smsc-sim. As a library: connect/bind/submit/wait helpers and
 * a JSON client for the simulator's control API. As a program:
 *
 *   node esme_client.js menu --port P [--system-id ID --password PW]
 *
 * binds as a transceiver and answers the simulator like a tiny gateway would:
 * a USSD menu on *384# and an SMS keyword (BAL), until SIGTERM or unbind.
 */
const http = require('http');
const path = require('path');
const codec = require(path.join(process.env.GW_SOURCE_DIR || path.join(__dirname, '../..'),
	'tools/smsc-sim/codec.js'));
const smpp = codec.smpp;

function connect(port, opts = {}) {
	return new Promise((resolve, reject) => {
		const o = { host: '127.0.0.1', port };
		if (opts.tls) {
			o.tls = true;
			o.rejectUnauthorized = false;
		}
		const s = smpp.connect(o);
		s.inbox = [];
		s.waiters = [];
		s.closed = false;
		s.on('pdu', (pdu) => {
			if (pdu.isResponse())
				return;
			if (opts.autoAck !== false && pdu.command === 'deliver_sm')
				s.send(pdu.response({ command_status: opts.deliverStatus || 0 }));
			if (pdu.command === 'enquire_link')
				s.send(pdu.response());
			s.inbox.push(pdu);
			s.waiters.slice().forEach((w) => w());
		});
		s.on('close', () => {
			s.closed = true;
			s.waiters.slice().forEach((w) => w());
		});
		s.on('error', (e) => {
			if (!s.connected)
				reject(e);
		});
		s.on(opts.tls ? 'secureConnect' : 'connect', () => {
			s.connected = true;
			s.socket.setNoDelay(true);
			resolve(s);
		});
	});
}

function bind(s, systemId, password, mode = 'bind_transceiver') {
	return new Promise((resolve) => {
		s[mode]({ system_id: systemId, password, interface_version: 0x34 }, (r) => resolve(r));
	});
}

function submit(s, fields, timeoutMs = 5000) {
	return new Promise((resolve) => {
		const t = setTimeout(() => resolve(null), timeoutMs);
		s.submit_sm(fields, (r) => {
			clearTimeout(t);
			resolve(r);
		});
	});
}

/* Wait for (and take) the first received request PDU matching pred. */
function nextPdu(s, pred, timeoutMs = 5000) {
	return new Promise((resolve) => {
		const check = () => {
			const i = s.inbox.findIndex(pred);
			if (i >= 0) {
				const p = s.inbox.splice(i, 1)[0];
				done(p);
				return true;
			}
			if (s.closed) {
				done(null);
				return true;
			}
			return false;
		};
		let t = null;
		const w = () => check();
		const done = (v) => {
			clearTimeout(t);
			const k = s.waiters.indexOf(w);
			if (k >= 0)
				s.waiters.splice(k, 1);
			resolve(v);
		};
		if (check())
			return;
		s.waiters.push(w);
		t = setTimeout(() => done(null), timeoutMs);
	});
}

function waitClose(s, timeoutMs = 5000) {
	return new Promise((resolve) => {
		if (s.closed)
			return resolve(true);
		const t = setTimeout(() => resolve(false), timeoutMs);
		s.once('close', () => {
			clearTimeout(t);
			resolve(true);
		});
	});
}

function api(port, method, p, body) {
	return new Promise((resolve, reject) => {
		const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
		const req = http.request({ host: '127.0.0.1', port, method, path: p,
			headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {} },
		(res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				let j = null;
				try {
					j = JSON.parse(Buffer.concat(chunks).toString('utf8'));
				} catch (e) {
					j = { raw: Buffer.concat(chunks).toString('utf8') };
				}
				j.http_status = res.statusCode;
				resolve(j);
			});
		});
		req.on('error', reject);
		if (data)
			req.write(data);
		req.end();
	});
}

function text(pdu) {
	const raw = pdu.message_payload && pdu.message_payload.length ? pdu.message_payload : pdu.short_message;
	return codec.decodeText(Buffer.isBuffer(raw) ? raw : Buffer.alloc(0), pdu.data_coding).text;
}

/* Reply to a USSD deliver_sm, echoing the session TLVs the dialect uses. */
function ussdAnswer(s, d, body, end) {
	const f = {
		service_type: 'USSD', source_addr: d.destination_addr, dest_addr_ton: 1, dest_addr_npi: 1,
		destination_addr: d.source_addr, data_coding: 0x0F, short_message: codec.gsmEncode(body),
		ussd_service_op: end ? 17 : 2,
	};
	if (Buffer.isBuffer(d.its_session_info)) {
		const its = Buffer.from(d.its_session_info);
		its[1] = end ? its[1] | 1 : its[1] & 0xFE;
		f.its_session_info = its;
	}
	if (d.user_message_reference !== undefined)
		f.user_message_reference = d.user_message_reference;
	return submit(s, f);
}

module.exports = { smpp, codec, connect, bind, submit, nextPdu, waitClose, api, text, ussdAnswer };

/* ------------------------------------------------------------- menu mode */

async function menuMode(argv) {
	const arg = (n, d) => {
		const i = argv.indexOf(n);
		return i >= 0 ? argv[i + 1] : d;
	};
	const port = Number(arg('--port'));
	const s = await connect(port);
	const r = await bind(s, arg('--system-id', 'ussdgw'), arg('--password', 'ussdgw'));
	if (r.command_status !== 0) {
		process.stderr.write(`menu: bind refused ${codec.hex8(r.command_status)}\n`);
		process.exit(1);
	}
	process.stdout.write('bound\n');
	const steps = new Map();
	s.on('unbind', (p) => {
		s.send(p.response());
		s.close();
	});
	s.on('close', () => process.exit(0));
	process.on('SIGTERM', () => {
		s.unbind({}, () => s.close());
		setTimeout(() => process.exit(0), 1000).unref();
	});
	s.on('deliver_sm', (d) => {
		const t = text(d);
		if (d.esm_class & 0x04)
			return;
		if (d.service_type === 'USSD') {
			const msisdn = d.source_addr;
			if (d.ussd_service_op === 1) {
				steps.set(msisdn, 'main');
				ussdAnswer(s, d, 'Welcome to Demo\n1. Balance\n2. Send money\n3. Exit', false);
				return;
			}
			const st = steps.get(msisdn);
			if (st === 'main' && t === '1') {
				ussdAnswer(s, d, 'Your balance is KES 1,250.00', true);
			} else if (st === 'main' && t === '2') {
				steps.set(msisdn, 'amount');
				ussdAnswer(s, d, 'Enter amount:', false);
			} else if (st === 'amount' && /^\d+$/.test(t)) {
				ussdAnswer(s, d, `Sent KES ${t}. Thank you`, true);
				submit(s, { source_addr: 'DEMO', destination_addr: msisdn, data_coding: 0,
					short_message: codec.gsmEncode(`You sent KES ${t}. Ref QX7`) });
			} else if (st === 'main' && t === '3') {
				ussdAnswer(s, d, 'Goodbye', true);
			} else {
				ussdAnswer(s, d, 'Invalid choice', true);
			}
			return;
		}
		if (/^BAL$/i.test(t.trim())) {
			submit(s, { source_addr: d.destination_addr, destination_addr: d.source_addr,
				data_coding: 0, registered_delivery: 1,
				short_message: codec.gsmEncode('Balance: KES 1,250.00') });
		}
	});
}

if (require.main === module) {
	const mode = process.argv[2];
	if (mode === 'menu') {
		menuMode(process.argv.slice(3)).catch((e) => {
			process.stderr.write(`menu: ${e.message}\n`);
			process.exit(1);
		});
	} else {
		process.stderr.write('usage: node esme_client.js menu --port P [--system-id ID --password PW]\n');
		process.exit(2);
	}
}
