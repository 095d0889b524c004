'use strict';
/*
 * Text and segment helpers shared by the SMSC simulator and the test ESME.
 *
 * SMPP carries GSM 03.38 text unpacked (one septet per octet). The septet
 * tables come from node-smpp's gsmCoder; everything else (data_coding
 * classification, splitting, UDH and receipt text) is ours.
 */
const path = require('path');

function loadSmpp() {
	const tries = [];
	if (process.env.SMPP_MODULE)
		tries.push(process.env.SMPP_MODULE);
	if (process.env.GW_SOURCE_DIR)
		tries.push(path.join(process.env.GW_SOURCE_DIR, 'tests/interop/node_modules/smpp'));
	tries.push(path.join(__dirname, '../../tests/interop/node_modules/smpp'));
	tries.push('smpp');
	for (const t of tries) {
		try {
			return require(t);
		} catch (e) {
			if (e.code !== 'MODULE_NOT_FOUND')
				throw e;
		}
	}
	throw new Error('npm smpp not found: run `cd tests/interop && npm ci` (or tools/bootstrap)');
}

const smpp = loadSmpp();

/*
 * node-smpp decodes short_message and message_payload through a filter that
 * guesses encodings (and leaves 0x0F undecoded). Both programs want the raw
 * octets, so the filters are switched off in this process.
 */
function rawMessages() {
	for (const name of Object.keys(smpp.commands)) {
		const p = smpp.commands[name].params;
		if (p && p.short_message)
			delete p.short_message.filter;
	}
	delete smpp.tlvs.message_payload.filter;
}
rawMessages();

const gsm = smpp.gsmCoder;

function gsmFits(text) {
	return gsm.GSM.charRegex.test(text);
}

function gsmEncode(text) {
	return gsm.encode(text, 0x00);
}

function gsmDecode(buf) {
	return gsm.decode(buf, 0x00);
}

function ucs2Encode(text) {
	const b = Buffer.from(text, 'utf16le');
	b.swap16();
	return b;
}

function ucs2Decode(buf) {
	const n = buf.length & ~1;
	const b = Buffer.from(buf.subarray(0, n));
	b.swap16();
	return b.toString('utf16le');
}

/*
 * Classify an SMPP data_coding octet. USSD centres often put the CBS/USSD
 * DCS of 3GPP TS 23.038 here (0x0F = GSM 7-bit, language unspecified).
 * Returns {alphabet: 'gsm'|'ascii'|'latin1'|'ucs2'|'binary', msg_class}.
 */
function classifyDcs(dcs) {
	let msgClass = null;
	let alphabet;
	if (dcs === 0x00 || dcs === 0x0F)
		alphabet = 'gsm';
	else if (dcs === 0x01)
		alphabet = 'ascii';
	else if (dcs === 0x03)
		alphabet = 'latin1';
	else if (dcs === 0x08)
		alphabet = 'ucs2';
	else if (dcs === 0x02 || dcs === 0x04)
		alphabet = 'binary';
	else if ((dcs & 0xF0) === 0xF0) {
		alphabet = (dcs & 0x04) ? 'binary' : 'gsm';
		msgClass = dcs & 0x03;
	} else if ((dcs & 0xC0) === 0x00 || (dcs & 0xF0) === 0x40) {
		/* general data coding group (and the USSD group 0100) */
		const cs = (dcs >> 2) & 0x03;
		alphabet = cs === 0 ? 'gsm' : cs === 1 ? 'binary' : 'ucs2';
		if (dcs & 0x10)
			msgClass = dcs & 0x03;
	} else {
		alphabet = 'gsm';
	}
	return { alphabet, msg_class: msgClass };
}

function decodeText(buf, dcs) {
	const c = classifyDcs(dcs);
	let text;
	switch (c.alphabet) {
	case 'gsm': text = gsmDecode(buf); break;
	case 'ascii': text = buf.toString('ascii'); break;
	case 'latin1': text = buf.toString('latin1'); break;
	case 'ucs2': text = ucs2Decode(buf); break;
	default: text = buf.toString('hex'); break;
	}
	return { text, alphabet: c.alphabet, msg_class: c.msg_class };
}

/* Encode text for a deliver_sm: GSM unpacked when it fits, else UCS2. */
function encodeText(text, forceDcs) {
	if (forceDcs === 0x08 || (forceDcs === undefined && !gsmFits(text)))
		return { dcs: 0x08, bytes: ucs2Encode(text), unit: 2 };
	const dcs = forceDcs === undefined ? 0x00 : forceDcs;
	return { dcs, bytes: gsmEncode(text), unit: 1 };
}

/*
 * Split encoded bytes into segments: 153 septets (GSM) or 134 octets (UCS2)
 * per part with a 6-octet UDH. Never splits an ESC pair or a UTF-16
 * surrogate pair.
 */
function splitBytes(enc, perPart) {
	const parts = [];
	let off = 0;
	while (off < enc.bytes.length) {
		let end = Math.min(off + perPart, enc.bytes.length);
		if (end < enc.bytes.length) {
			if (enc.unit === 1 && enc.bytes[end - 1] === 0x1B)
				end--;
			if (enc.unit === 2) {
				const hi = enc.bytes.readUInt16BE(end - 2);
				if (hi >= 0xD800 && hi <= 0xDBFF)
					end -= 2;
			}
		}
		parts.push(enc.bytes.subarray(off, end));
		off = end;
	}
	return parts;
}

function singleCapacity(enc) {
	return enc.unit === 2 ? 140 : 160;
}

function partCapacity(enc) {
	return enc.unit === 2 ? 134 : 153;
}

/* Parse a UDH for the concatenation IEs (0x00 8-bit ref, 0x08 16-bit ref). */
function parseUdh(buf) {
	if (!buf.length)
		return null;
	const udhl = buf[0];
	if (udhl + 1 > buf.length)
		return null;
	let concat = null;
	let i = 1;
	while (i + 2 <= udhl + 1) {
		const iei = buf[i], len = buf[i + 1];
		if (i + 2 + len > udhl + 1)
			break;
		const v = buf.subarray(i + 2, i + 2 + len);
		if (iei === 0x00 && len === 3)
			concat = { ref: v[0], total: v[1], seq: v[2] };
		else if (iei === 0x08 && len === 4)
			concat = { ref: v.readUInt16BE(0), total: v[2], seq: v[3] };
		i += 2 + len;
	}
	return { length: udhl + 1, concat };
}

function pad2(n) {
	return String(n).padStart(2, '0');
}

function smppDate(d) {
	return pad2(d.getUTCFullYear() % 100) + pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) +
		pad2(d.getUTCHours()) + pad2(d.getUTCMinutes());
}

/* Receipt text in the common (vendor-specific, Appendix B) shape. */
function receiptText(id, stat, err, submitted, done, text) {
	const dl = stat === 'DELIVRD' ? '001' : '000';
	return `id:${id} sub:001 dlvrd:${dl} submit date:${smppDate(submitted)} ` +
		`done date:${smppDate(done)} stat:${stat} err:${String(err).padStart(3, '0')} ` +
		`text:${(text || '').slice(0, 20)}`;
}

const MESSAGE_STATE = {
	ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5,
	ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8,
};

function hex8(n) {
	return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

module.exports = {
	smpp, gsmFits, gsmEncode, gsmDecode, ucs2Encode, ucs2Decode, classifyDcs,
	decodeText, encodeText, splitBytes, singleCapacity, partCapacity, parseUdh,
	receiptText, smppDate, MESSAGE_STATE, hex8,
};
