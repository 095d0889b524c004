'use strict';
/*
 * An ESME on npm `smpp` for the SMPP server tests: binds to ussdgw's server (TCP,
 * or TLS with the CA verified), submits MT at a fixed rate, answers deliver_sm,
 * and prints one JSON summary on stdout.
 *
 *   node srv_esme.js --port P [--tls --ca FILE] --system-id ID --password PW
 *        [--bind transceiver|transmitter|receiver] [--count N] [--rate PER_S]
 *        [--to MSISDN] [--from ADDR] [--receipts] [--expect-mo N]
 *        [--resp-timeout-ms 5000] [--max-ms 60000]
 *
 * Summary: {bind_status, submitted, ok, errors: {status: n}, timeouts, p50_ms,
 * p99_ms, max_ms, message_ids, receipts: [{id, stat}], mo: [{from, to, text}]}.
 * Every wait is bounded by --max-ms.
 */
const fs = require('fs');
const smpp = require('smpp');

const args = process.argv.slice(2);
const opt = (name, def) => {
	const i = args.indexOf('--' + name);
	return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const flag = (name) => args.includes('--' + name);

const port = Number(opt('port'));
const count = Number(opt('count', '0'));
const rate = Number(opt('rate', '10'));
const respTimeout = Number(opt('resp-timeout-ms', '5000'));
const maxMs = Number(opt('max-ms', '60000'));
const wantReceipts = flag('receipts');
const expectMo = Number(opt('expect-mo', '0'));
const to = opt('to', '254700000001');
const from = opt('from', '5000');
const bindCmd = 'bind_' + opt('bind', 'transceiver');

const out = {
	bind_status: null, submitted: 0, ok: 0, errors: {}, timeouts: 0,
	p50_ms: null, p99_ms: null, max_ms: null, message_ids: [], receipts: [], mo: [],
};
const lat = [];
const started = Date.now();
let finished = false;

const conn = { host: '127.0.0.1', port };
if (flag('tls')) {
	conn.tls = true;
	conn.ca = fs.readFileSync(opt('ca'));
	conn.servername = 'localhost';
	conn.rejectUnauthorized = true;
}
const s = smpp.connect(conn);

function done(code) {
	if (finished)
		return;
	finished = true;
	lat.sort((a, b) => a - b);
	if (lat.length) {
		out.p50_ms = lat[Math.floor(lat.length * 0.5)];
		out.p99_ms = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))];
		out.max_ms = lat[lat.length - 1];
	}
	out.elapsed_ms = Date.now() - started;
	process.stdout.write(JSON.stringify(out) + '\n');
	try {
		s.unbind(() => s.close());
	} catch (e) { /* closing anyway */ }
	setTimeout(() => process.exit(code), 300);
}
setTimeout(() => { out.gave_up = true; done(3); }, maxMs);

s.on('error', (e) => { out.error = String(e.message || e); done(2); });
s.on('close', () => { if (!finished) { out.error = 'closed by the server'; done(2); } });

s.on('unbind', (pdu) => {
	out.unbound_by_server = true;
	s.send(pdu.response());
});

s.on('deliver_sm', (pdu) => {
	s.send(pdu.response());
	const text = Buffer.isBuffer(pdu.short_message) ? pdu.short_message.toString('latin1')
		: (pdu.short_message && pdu.short_message.message) || String(pdu.short_message || '');
	if (pdu.esm_class & 0x04) {
		const m = /id:(\S+).*stat:(\S+)/.exec(text);
		out.receipts.push({ id: pdu.receipted_message_id || (m && m[1]), stat: m && m[2] });
	} else {
		out.mo.push({ from: pdu.source_addr, to: pdu.destination_addr, text });
	}
	check();
});

function check() {
	const submitsDone = out.ok + out.timeouts + Object.values(out.errors).reduce((a, b) => a + b, 0) >= count;
	if (!submitsDone)
		return;
	if (wantReceipts && out.receipts.length < out.ok)
		return;
	if (out.mo.length < expectMo)
		return;
	done(0);
}

function submitOne(i) {
	const t0 = process.hrtime.bigint();
	let answered = false;
	const timer = setTimeout(() => {
		if (!answered) { answered = true; out.timeouts++; check(); }
	}, respTimeout);
	out.submitted++;
	s.submit_sm({
		source_addr: from, source_addr_ton: 5, source_addr_npi: 0,
		destination_addr: to, dest_addr_ton: 1, dest_addr_npi: 1,
		registered_delivery: wantReceipts ? 1 : 0, data_coding: 0,
		short_message: Buffer.from('test ' + i),
	}, (pdu) => {
		if (answered)
			return;
		answered = true;
		clearTimeout(timer);
		lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
		if (pdu.command_status === 0) {
			out.ok++;
			out.message_ids.push(pdu.message_id);
		} else {
			const k = '0x' + pdu.command_status.toString(16).padStart(8, '0');
			out.errors[k] = (out.errors[k] || 0) + 1;
		}
		check();
	});
}

s.on('connect', () => {});
s[bindCmd]({ system_id: opt('system-id'), password: opt('password') }, (pdu) => {
	out.bind_status = pdu.command_status;
	if (pdu.command_status !== 0) {
		done(1);
		return;
	}
	if (count === 0) {
		check();
		return;
	}
	let i = 0;
	const iv = setInterval(() => {
		if (i >= count) {
			clearInterval(iv);
			return;
		}
		submitOne(i++);
	}, 1000 / rate);
});
