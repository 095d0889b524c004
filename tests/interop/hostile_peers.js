'use strict';
/*
 * Hostile peers against ussdgw's SMPP server, for a bounded time, each kind from
 * its own loopback source address (127.0.0.2 ...), so per-IP caps are exercised
 * without touching the well-behaved account on 127.0.0.1:
 *
 *   malformed   valid headers over broken bodies, unknown command ids, garbage
 *   oversized   command_length 0x7fffffff and 100000
 *   tlvflood    a submit_sm with 10,000 TLVs (over the PDU cap) and one with 600
 *               TLVs that fits the cap (over the TLV cap)
 *   slowdrip    bind_transceiver one byte every 100 ms, 8 connections at once
 *   bindflood   binds with wrong passwords as fast as answered, many connections
 *   unauth      submit_sm without a bind, as fast as answered
 *   connflood   as many connections as possible from one address
 *
 *   node hostile_peers.js --port P --duration-ms 20000 --system-id ID
 *
 * Prints one JSON object: per kind, connections made, bytes/PDUs sent, answers
 * seen by command/status, and closes by the server.
 */
const net = require('net');

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf('--' + n); return i >= 0 ? args[i + 1] : d; };
const port = Number(opt('port'));
const duration = Number(opt('duration-ms', '20000'));
const sysid = opt('system-id', 'good');
const endAt = Date.now() + duration;
const stats = {};
const live = new Set();

function st(kind) {
	if (!stats[kind])
		stats[kind] = { conns: 0, sent: 0, answers: {}, closed_by_server: 0, refused: 0 };
	return stats[kind];
}

function hdr(len, id, status, seq) {
	const b = Buffer.alloc(16);
	b.writeUInt32BE(len >>> 0, 0);
	b.writeUInt32BE(id >>> 0, 4);
	b.writeUInt32BE(status >>> 0, 8);
	b.writeUInt32BE(seq >>> 0, 12);
	return b;
}
function pdu(id, seq, body) {
	return Buffer.concat([hdr(16 + body.length, id, 0, seq), body]);
}
const cstr = (s) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from([0])]);
function bindBody(pw) {
	return Buffer.concat([cstr(sysid), cstr(pw), cstr(''), Buffer.from([0x34, 0, 0]), cstr('')]);
}
function submitBody(tlvs) {
	const fixed = Buffer.concat([cstr(''), Buffer.from([5, 0]), cstr('5000'), Buffer.from([1, 1]),
		cstr('254700000009'), Buffer.from([0, 0, 0]), cstr(''), cstr(''),
		Buffer.from([0, 0, 0, 0]), Buffer.from([4]), Buffer.from('evil')]);
	const t = Buffer.alloc(5 * tlvs);
	for (let i = 0; i < tlvs; i++) {
		t.writeUInt16BE(0x0501, i * 5);
		t.writeUInt16BE(1, i * 5 + 2);
		t[i * 5 + 4] = 1;
	}
	return Buffer.concat([fixed, t]);
}

// One connection of a kind. onOpen(sock) writes; answers are parsed and counted.
function open(kind, src, onOpen, onAnswer) {
	if (Date.now() >= endAt)
		return;
	const s = st(kind);
	const sock = net.connect({ host: '127.0.0.1', port, localAddress: src });
	live.add(sock);
	s.conns++;
	let buf = Buffer.alloc(0);
	let gotData = false;
	sock.on('connect', () => onOpen(sock, s));
	sock.on('data', (d) => {
		gotData = true;
		buf = Buffer.concat([buf, d]);
		while (buf.length >= 16) {
			const len = buf.readUInt32BE(0);
			if (len < 16 || buf.length < len)
				break;
			const k = '0x' + buf.readUInt32BE(4).toString(16) + '/0x' + buf.readUInt32BE(8).toString(16);
			s.answers[k] = (s.answers[k] || 0) + 1;
			if (onAnswer)
				onAnswer(sock, buf.readUInt32BE(4), buf.readUInt32BE(8));
			buf = buf.subarray(len);
		}
	});
	sock.on('error', () => {});
	sock.on('close', () => {
		live.delete(sock);
		if (!sock.ourClose) {
			if (gotData || sock.wroteSome)
				s.closed_by_server++;
			else
				s.refused++;
		}
		// Reconnect after a pause, until the end.
		setTimeout(() => open(kind, src, onOpen, onAnswer), 50);
	});
	return sock;
}
function send(sock, s, b) {
	if (sock.destroyed)
		return;
	sock.wroteSome = true;
	s.sent++;
	sock.write(b);
}

let seq = 1;
// malformed: a burst of bad PDUs each connection
open('malformed', '127.0.0.2', (sock, s) => {
	send(sock, s, pdu(0x00000004, seq++, Buffer.from([1, 2, 3]))); // submit_sm body cut short
	send(sock, s, pdu(0x00000777, seq++, Buffer.alloc(10))); // unknown command id
	send(sock, s, pdu(0x00000009, seq++, Buffer.from('no terminators at all'))); // bind, bad strings
	send(sock, s, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')); // garbage: length 0x47455420
});
// oversized command_length
open('oversized', '127.0.0.3', (sock, s) => {
	send(sock, s, hdr(0x7fffffff, 0x00000004, 0, seq++));
});
open('oversized', '127.0.0.3', (sock, s) => {
	send(sock, s, Buffer.concat([hdr(100000, 0x00000004, 0, seq++), Buffer.alloc(2000)]));
});
// TLV floods
open('tlvflood', '127.0.0.4', (sock, s) => send(sock, s, pdu(0x00000004, seq++, submitBody(10000))));
open('tlvflood', '127.0.0.4', (sock, s) => send(sock, s, pdu(0x00000004, seq++, submitBody(600))));
// slow drip: 8 connections, one byte per 100 ms
for (let c = 0; c < 8; c++) {
	open('slowdrip', '127.0.0.5', (sock, s) => {
		const b = pdu(0x00000009, seq++, bindBody('whatever'));
		let i = 0;
		const iv = setInterval(() => {
			if (sock.destroyed || i >= b.length) {
				clearInterval(iv);
				return;
			}
			sock.wroteSome = true;
			sock.write(b.subarray(i, i + 1));
			if (i === 0)
				s.sent++;
			i++;
		}, 100);
	});
}
// bind flood: wrong passwords, rebinding after each answer, 6 connections
for (let c = 0; c < 6; c++) {
	open('bindflood', '127.0.0.6', (sock, s) => send(sock, s, pdu(0x00000009, seq++, bindBody('wrong' + c))),
		(sock, id) => {
			if (id === 0x80000009)
				send(sock, st('bindflood'), pdu(0x00000009, seq++, bindBody('wrong')));
		});
}
// unauthenticated submits
open('unauth', '127.0.0.7', (sock, s) => send(sock, s, pdu(0x00000004, seq++, submitBody(0))),
	(sock) => send(sock, st('unauth'), pdu(0x00000004, seq++, submitBody(0))));
// connection flood: 64 idle connections from one address
for (let c = 0; c < 64; c++)
	open('connflood', '127.0.0.8', () => {});

setTimeout(() => {
	for (const sock of live) {
		sock.ourClose = true;
		sock.destroy();
	}
	process.stdout.write(JSON.stringify(stats) + '\n');
	setTimeout(() => process.exit(0), 100);
}, duration);
