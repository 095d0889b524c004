'use strict';
/*
 * An operator's USSD centre played by node-smpp (npm smpp 0.5.1), an SMPP
 * implementation independent of ours: it accepts ussdgw's bind_transceiver,
 * dials the demo menu for a few subscribers, types answers, checks each screen
 * (ussd_service_op 2 continue / 17 end, its_session_info echoed with the end
 * bit on the last answer) and re-sends one deliver_sm byte for byte (same
 * sequence number) to check the session does not advance.
 *
 *   node ussd_centre.js            prints "listening PORT", then runs once bound;
 *                                  exits 0 and prints "N passed, 0 failed" when all hold.
 */
const smpp = require('smpp');

const gsm = smpp.encodings.ASCII;
let session = null;
let sessNo = 0;
const waiting = new Map(); // its session number -> resolve(submit_sm)
let passed = 0, failed = 0;

function check(cond, what) {
	if (cond) {
		passed++;
	} else {
		failed++;
		process.stdout.write(`FAIL ${what}\n`);
	}
}

const server = smpp.createServer((s) => {
	s.on('bind_transceiver', (pdu) => {
		if (pdu.system_id !== 'ussdgw' || pdu.password !== 'ussdgw') {
			s.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
			return;
		}
		s.send(pdu.response({ system_id: 'centre' }));
		session = s;
		setTimeout(run, 200);
	});
	s.on('enquire_link', (pdu) => s.send(pdu.response()));
	s.on('unbind', (pdu) => s.send(pdu.response()));
	s.on('submit_sm', (pdu) => {
		s.send(pdu.response({ message_id: String(Date.now()) }));
		const its = Buffer.isBuffer(pdu.its_session_info) ? pdu.its_session_info : null;
		const raw = pdu.short_message && pdu.short_message.message !== undefined
			? pdu.short_message.message : pdu.short_message;
		const text = Buffer.isBuffer(raw) ? gsm.decode(raw) : String(raw);
		const w = its ? waiting.get(its[0]) : null;
		if (w) {
			waiting.delete(its[0]);
			w({ op: pdu.ussd_service_op, its, text });
		}
	});
	s.on('error', () => {});
});

function deliver(fields, seq) {
	return new Promise((resolve) => {
		const pdu = new smpp.PDU('deliver_sm', fields);
		if (seq)
			pdu.sequence_number = seq;
		session.send(pdu, (resp) => resolve({ status: resp.command_status, seq: pdu.sequence_number }));
	});
}

function answer(no) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => { waiting.delete(no); reject(new Error('no answer within 10 s')); }, 10000);
		waiting.set(no, (a) => { clearTimeout(t); resolve(a); });
	});
}

/* One subscriber's dialog: steps are [input, expected substring, 'end'|'cont']. */
async function dialog(msisdn, code, steps, opts) {
	const no = (++sessNo % 250) + 1;
	let dseq = 0;
	let last = null;
	for (let i = 0; i < steps.length; i++) {
		const [input, want, kind] = steps[i];
		const fields = {
			service_type: 'USSD', source_addr_ton: 1, source_addr_npi: 1, source_addr: msisdn,
			dest_addr_ton: 0, dest_addr_npi: 0, destination_addr: '384', data_coding: 0x0F,
			short_message: gsm.encode(i === 0 ? code : input),
			ussd_service_op: i === 0 ? 1 : 18,
			its_session_info: Buffer.from([no, (dseq << 1)]),
		};
		const got = answer(no);
		const r = await deliver(fields);
		check(r.status === 0, `${msisdn} step ${i}: deliver_sm_resp 0x${r.status.toString(16)}`);
		const a = await got;
		check(a.text.includes(want), `${msisdn} step ${i}: wanted "${want}", got "${a.text}"`);
		check(a.its[0] === no && (a.its[1] >> 1) === dseq, `${msisdn} step ${i}: its_session_info echoed`);
		if (kind === 'end')
			check(a.op === 17 && (a.its[1] & 1) === 1, `${msisdn} step ${i}: end (op 17, end bit)`);
		else
			check(a.op === 2 && (a.its[1] & 1) === 0, `${msisdn} step ${i}: continue (op 2)`);
		if (opts && opts.resendAt === i) {
			/* The same PDU again, same sequence number: same answer, no new step. */
			const again = answer(no);
			const r2 = await deliver(fields, r.seq);
			check(r2.status === 0, `${msisdn} re-send: status 0x${r2.status.toString(16)}`);
			const b = await again;
			check(b.text === a.text, `${msisdn} re-send: same answer ("${b.text}" vs "${a.text}")`);
		}
		last = a;
		dseq++;
	}
	return last;
}

async function run() {
	try {
		const A = '254700000001', B = '254700000002', D = '254700000009';
		await dialog(A, '*384#', [
			['', 'DemoPesa', 'cont'], ['4', 'My account', 'cont'], ['1', 'Enter PIN', 'cont'],
			['1234', 'Your DemoPesa balance is KES 5,000.00', 'end']]);
		await dialog(A, '*384#', [
			['', '1. Send money', 'cont'], ['1', 'recipient', 'cont'], ['0700000002', 'Enter amount', 'cont'],
			['0', 'recipient', 'cont'], ['0700000002', 'Enter amount', 'cont'], ['100', 'Enter PIN', 'cont'],
			['1234', 'Send KES 100.00', 'cont'], ['1', 'Sent KES 100.00', 'end']], { resendAt: 1 });
		await dialog(B, '*384*2#', [
			['', 'Buy airtime for', 'cont'], ['1', '1. KES 10', 'cont'], ['98', '12. Other amount', 'cont'],
			['0', '1. KES 10', 'cont'], ['3', 'Enter PIN', 'cont'], ['4321', 'Buy KES 50.00 airtime', 'cont'],
			['2', 'Cancelled', 'end']]);
		await dialog(B, '*384#', [
			['', 'DemoPesa', 'cont'], ['3', 'business number', 'cont'], ['123456', 'account number', 'cont'],
			['ACC-7', 'Enter amount', 'cont'], ['300', 'Pay KES 300.00 to 123456 account ACC-7', 'cont'],
			['1', 'Payment could not be started', 'end']]);
		await dialog(D, '*384#', [
			['', 'DemoPesa', 'cont'], ['5', 'Choose language', 'cont'], ['2', '1. Tuma pesa', 'cont'],
			['8', 'Chaguo batili.', 'cont'], ['3', 'Weka namba ya biashara', 'cont'], ['00', 'Lipa bili', 'cont'],
			['7', 'Chaguo batili.', 'cont'], ['7', 'Chaguo batili.', 'cont'], ['7', 'Majaribio mengi batili', 'end']]);
		await dialog(D, '*384#', [
			['', '1. Tuma pesa', 'cont'], ['4', 'Akaunti yangu', 'cont'], ['2', 'Weka PIN', 'cont'],
			['1111', 'PIN si sahihi', 'cont']]);
	} catch (e) {
		failed++;
		process.stdout.write(`FAIL ${e.message}\n`);
	}
	process.stdout.write(`${passed} passed, ${failed} failed\n`);
	session.unbind(() => {});
	setTimeout(() => process.exit(failed ? 1 : 0), 300);
}

server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
setTimeout(() => { process.stdout.write('FAIL timeout (50 s)\n'); process.exit(1); }, 50000);
