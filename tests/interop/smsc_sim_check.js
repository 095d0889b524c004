'use strict';
/*
 * Checks for tools/smsc-sim, driven by tests/interop/smsc_sim.sh. This
 * program plays the gateway (ESME) over SMPP and the test over the control
 * API. Modes:
 *   main    --port P --control C           the functional checks
 *   dialect --port P --control C --dialect D [--code-field F]
 *   tls     --port P --control C
 *   burst   --port P --control C --pid PID --log MTLOG
 *   sigterm --port P --pid PID
 * Prints one line per check; exits 1 if any failed.
 */
const fs = require('fs');
const E = require('./esme_client');
const { codec } = E;

const argv = process.argv.slice(2);
const mode = argv[0];
const arg = (n, d) => {
	const i = argv.indexOf(n);
	return i >= 0 ? argv[i + 1] : d;
};
const PORT = Number(arg('--port'));
const CTL = Number(arg('--control'));
const SYS = arg('--system-id', 'ussdgw');
const PW = arg('--password', 'ussdgw');

let passed = 0, failed = 0;
function check(cond, what, detail) {
	if (cond) {
		passed++;
		process.stdout.write(`ok   ${what}\n`);
	} else {
		failed++;
		process.stdout.write(`FAIL ${what}${detail !== undefined ? ': ' + JSON.stringify(detail) : ''}\n`);
	}
	return cond;
}

const get = (p) => E.api(CTL, 'GET', p);
const post = (p, b) => E.api(CTL, 'POST', p, b);
const isUssdDeliver = (p) => p.command === 'deliver_sm' && p.service_type === 'USSD';
const isReceipt = (p) => p.command === 'deliver_sm' && (p.esm_class & 0x04);

async function bound(opts) {
	const s = await E.connect(PORT, opts);
	const r = await E.bind(s, SYS, PW);
	if (!check(r.command_status === 0, 'bind_transceiver accepted', r.command_status))
		throw new Error('cannot bind');
	return s;
}

async function mainChecks() {
	/* binds */
	let s = await E.connect(PORT);
	let r = await E.bind(s, SYS, 'wrong');
	check(r.command_status === 0x0E, 'bind with a wrong password: ESME_RINVPASWD', r.command_status);
	check(r.command_length === 16, 'bind failure is header-only (16 bytes)', r.command_length);
	r = await E.bind(s, 'nobody', PW);
	check(r.command_status === 0x0F, 'bind with an unknown system_id: ESME_RINVSYSID', r.command_status);
	r = await E.submit(s, { destination_addr: '1', short_message: Buffer.from('x') });
	check(r.command_status === 0x04, 'submit_sm before bind: ESME_RINVBNDSTS', r.command_status);
	r = await E.bind(s, SYS, PW);
	check(r.command_status === 0 && r.system_id === 'smsc-sim', 'bind_transceiver accepted', r);
	r = await E.bind(s, SYS, PW);
	check(r.command_status === 0x05, 'second bind on one connection: ESME_RALYBND', r.command_status);
	r = await new Promise((res) => s.enquire_link({}, res));
	check(r.command_status === 0, 'enquire_link answered');

	/* USSD: dial, menu, reply, end */
	const msisdn = '254700000001';
	let d = await post('/ussd/dial', { msisdn, code: '*384#' });
	check(d.http_status === 200 && /^s\d+$/.test(d.session), 'POST /ussd/dial starts a session', d);
	const sid = d.session;
	let p = await E.nextPdu(s, isUssdDeliver);
	check(p && p.ussd_service_op === 1, 'dial: deliver_sm with ussd_service_op 1 (PSSR indication)', p && p.ussd_service_op);
	check(p && p.source_addr === msisdn && p.source_addr_ton === 1, 'dial: MSISDN in source_addr, TON 1');
	check(p && p.data_coding === 0x0F && E.text(p) === '*384#', 'dial: dcs 0x0F, code in short_message', p && [p.data_coding, E.text(p)]);
	check(p && p.destination_addr === '384', 'dial: service number in destination_addr', p && p.destination_addr);
	check(p && Buffer.isBuffer(p.its_session_info) && p.its_session_info.length === 2 &&
		p.its_session_info[0] === d.net_id && p.its_session_info[1] === 0,
	'dial: its_session_info = [session number, seq 0, end 0]', p && p.its_session_info);
	const firstSeq = p.sequence_number;
	const firstIts = Buffer.from(p.its_session_info);
	let pending = await get(`/ussd/screen?session=${sid}`);
	check(pending.status === 'pending' && pending.state === 'waiting_gateway', 'screen pending before the gateway answers', pending.status);
	r = await E.ussdAnswer(s, p, 'Welcome\n1. Balance\n2. Exit', false);
	check(r.command_status === 0 && r.message_id.length > 0, 'USSR submit_sm accepted with a message_id', r.message_id);
	let sc = await get(`/ussd/screen?session=${sid}&wait_ms=3000`);
	check(sc.status === 'screen' && sc.screen.text === 'Welcome\n1. Balance\n2. Exit', 'GET /ussd/screen shows the menu text', sc.screen);
	check(sc.screen.continues === true && sc.screen.ends === false && sc.screen.ussd_service_op === 2, 'screen: continues (op 2)');
	check(sc.screen.matched_by === 'session_id' && typeof sc.screen.latency_ms === 'number', 'screen: matched by its_session_info, latency reported', sc.screen);
	check(sc.state === 'waiting_subscriber', 'session waits for the subscriber', sc.state);
	check(sc.screen.seq_echoed === true && sc.screen.echoed_seq === 0, 'screen: session number and sequence echoed', sc.screen);

	d = await post('/ussd/reply', { session: sid, text: '1' });
	check(d.http_status === 200, 'POST /ussd/reply accepted', d);
	p = await E.nextPdu(s, isUssdDeliver);
	check(p && p.ussd_service_op === 18 && E.text(p) === '1', 'reply: deliver_sm op 18 (USSR confirm) with the digits', p && [p.ussd_service_op, E.text(p)]);
	check(p && p.its_session_info[0] === firstIts[0] && p.its_session_info[1] === 2, 'reply: same session number, sequence 1', p && p.its_session_info);
	r = await E.ussdAnswer(s, p, 'Your balance is 100', true);
	sc = await get(`/ussd/screen?session=${sid}&wait_ms=3000`);
	check(sc.status === 'screen' && sc.screen.ends && sc.screen.end_bit && sc.screen.ussd_service_op === 17 &&
		!sc.screen.continues, 'screen: ends (op 17 + end bit)', sc.screen);
	check(sc.state === 'ended', 'session ended', sc.state);
	check(sc.screen.seq_echoed === true && sc.screen.echoed_seq === 1, 'screen: sequence 1 echoed on the second step', sc.screen);
	d = await post('/ussd/reply', { session: sid, text: '2' });
	check(d.http_status === 409, 'reply to an ended session refused', d.http_status);
	await E.ussdAnswer(s, p, 'Your balance is 100', true);
	sc = await get(`/ussd/screen?session=${sid}&wait_ms=3000&after=2`);
	check(sc.screen && sc.screen.after_end === true && sc.screens === 3 && sc.state === 'ended',
		'a repeated final answer stays with the ended dialog (after_end)', sc.screen);

	/* USSD: re-send shapes */
	d = await post('/ussd/dial', { msisdn: '254700000002', code: '*384*1#' });
	const sid2 = d.session;
	p = await E.nextPdu(s, isUssdDeliver);
	const seq2 = p.sequence_number;
	const its2 = p.its_session_info.toString('hex');
	await E.ussdAnswer(s, p, 'Menu A', false);
	await get(`/ussd/screen?session=${sid2}&wait_ms=3000`);
	d = await post('/ussd/resend', { session: sid2, mode: 'same_seq' });
	p = await E.nextPdu(s, isUssdDeliver);
	check(p && p.sequence_number === seq2 && p.its_session_info.toString('hex') === its2 &&
		E.text(p) === '*384*1#', 'resend same_seq: identical deliver_sm, same SMPP sequence', p && [p.sequence_number, seq2]);
	await E.ussdAnswer(s, p, 'Menu A', false);
	sc = await get(`/ussd/screen?session=${sid2}&wait_ms=3000`);
	check(sc.status === 'screen' && sc.screens === 2, 'duplicate answer recorded as a second screen', sc.screens);
	d = await post('/ussd/resend', { session: sid2, mode: 'new_seq' });
	p = await E.nextPdu(s, isUssdDeliver);
	check(p && p.sequence_number !== seq2 && p.its_session_info.toString('hex') === its2,
		'resend new_seq: same content, new SMPP sequence', p && p.sequence_number);
	await E.ussdAnswer(s, p, 'Menu A', false);
	await get(`/ussd/screen?session=${sid2}&wait_ms=3000`);

	/* USSD: the gateway never answers: timeout reported, late answer flagged */
	d = await post('/ussd/dial', { msisdn: '254700000003', code: '*384#' });
	const sid3 = d.session;
	p = await E.nextPdu(s, isUssdDeliver);
	sc = await get(`/ussd/screen?session=${sid3}&wait_ms=10000`);
	check(sc.status === 'timeout' && sc.state === 'timeout', 'no answer within budget: session timeout reported', sc.status);
	await E.ussdAnswer(s, p, 'Too late', true);
	sc = await get(`/ussd/screen?session=${sid3}&wait_ms=3000`);
	check(sc.screen && sc.screen.late === true && sc.late_screens === 1, 'late answer flagged', sc.screen);

	/* SMS MO */
	d = await post('/sms/mo', { from: '254700000001', to: '384', text: 'BAL' });
	p = await E.nextPdu(s, (x) => x.command === 'deliver_sm' && !isReceipt(x) && x.service_type !== 'USSD');
	check(p && E.text(p) === 'BAL' && p.source_addr === '254700000001' && p.destination_addr === '384',
		'MO SMS: deliver_sm with the text', p && E.text(p));
	check(d.parts === 1 && d.statuses[0] === 0, 'MO SMS: deliver_sm_resp status reported', d);
	const long = 'Long message '.repeat(20).trim();
	d = await post('/sms/mo', { from: '254700000001', to: '384', text: long, ref: 77 });
	const parts = [];
	for (let i = 0; i < d.parts; i++)
		parts.push(await E.nextPdu(s, (x) => x.command === 'deliver_sm' && x.destination_addr === '384'));
	const udhOk = parts.every((x, i) => x && (x.esm_class & 0x40) &&
		x.short_message.subarray(0, 6).equals(Buffer.from([5, 0, 3, 77, d.parts, i + 1])));
	check(d.parts === 2 && udhOk, 'long MO SMS: split in 2 parts with a UDH (ref 77)', d.parts);
	const joined = parts.map((x) => codec.gsmDecode(x.short_message.subarray(6))).join('');
	check(joined === long, 'long MO SMS: parts join to the text');
	d = await post('/sms/mo', { from: '254700000001', to: '384', text: 'Привет' });
	p = await E.nextPdu(s, (x) => x.command === 'deliver_sm' && x.destination_addr === '384');
	check(p && p.data_coding === 8 && E.text(p) === 'Привет', 'non-GSM MO SMS goes as UCS2', p && p.data_coding);

	/* SMS MT with receipt */
	r = await E.submit(s, { source_addr: 'DEMO', destination_addr: '254700000001', registered_delivery: 1,
		data_coding: 0, short_message: codec.gsmEncode('Your code is 1234') });
	check(r.command_status === 0 && /^[0-9a-f]+$/.test(r.message_id), 'MT submit_sm accepted, hex message_id', r.message_id);
	const mid = r.message_id;
	let mt = await get('/sms/mt?to=254700000001&since=0&wait_ms=3000');
	check(mt.messages.length === 1 && mt.messages[0].text === 'Your code is 1234' && mt.messages[0].message_ids[0] === mid,
		'GET /sms/mt returns the MT', mt.messages);
	let since = mt.next;
	p = await E.nextPdu(s, isReceipt);
	check(p && p.receipted_message_id === mid && p.message_state === 2, 'receipt: esm_class 0x04, receipted_message_id, message_state 2', p && [p.receipted_message_id, p.message_state]);
	const rt = p ? p.short_message.toString('ascii') : '';
	check(new RegExp(`^id:${mid} sub:001 dlvrd:001 submit date:\\d{10} done date:\\d{10} stat:DELIVRD err:000 text:Your code is 1234$`).test(rt),
		'receipt text in the id:/stat: format', rt);
	check(p && p.source_addr === '254700000001' && p.destination_addr === 'DEMO', 'receipt addressed back to the sender');

	/* MT: no receipt when not asked */
	r = await E.submit(s, { source_addr: 'DEMO', destination_addr: '254700000009', registered_delivery: 0,
		data_coding: 0, short_message: codec.gsmEncode('no receipt') });
	p = await E.nextPdu(s, isReceipt, 600);
	check(p === null, 'no receipt when registered_delivery is 0');

	/* MT: concatenated (UDH 16-bit ref) and SAR, class info */
	const mtLong = 'Concatenated MT text. '.repeat(10);
	const enc = codec.encodeText(mtLong);
	const segs = codec.splitBytes(enc, 152);
	for (let i = 0; i < segs.length; i++) {
		await E.submit(s, { source_addr: 'DEMO', destination_addr: '254700000004', esm_class: 0x40, data_coding: 0,
			short_message: Buffer.concat([Buffer.from([6, 8, 4, 0x12, 0x34, segs.length, i + 1]), segs[i]]) });
	}
	mt = await get('/sms/mt?to=254700000004&wait_ms=3000');
	check(mt.messages.length === 1 && mt.messages[0].text === mtLong && mt.messages[0].parts === segs.length &&
		mt.messages[0].message_ids.length === segs.length, 'UDH-concatenated MT reassembled', mt.messages.map((m) => m.parts));
	const u = codec.ucs2Encode('Ηλεκτρονικό μήνυμα σε δύο μέρη, '.repeat(3));
	const half = u.length / 2 & ~1;
	for (const [i, part] of [[2, u.subarray(half)], [1, u.subarray(0, half)]]) {
		await E.submit(s, { source_addr: 'DEMO', destination_addr: '254700000005', data_coding: 8,
			short_message: part, sar_msg_ref_num: 9, sar_total_segments: 2, sar_segment_seqnum: i });
	}
	mt = await get('/sms/mt?to=254700000005&wait_ms=3000');
	check(mt.messages.length === 1 && mt.messages[0].text === codec.ucs2Decode(u), 'SAR MT (UCS2, parts out of order) reassembled');
	await E.submit(s, { source_addr: 'DEMO', destination_addr: '254700000006', data_coding: 0xF0,
		short_message: codec.gsmEncode('Flash') });
	mt = await get('/sms/mt?to=254700000006&wait_ms=3000');
	check(mt.messages.length === 1 && mt.messages[0].msg_class === 0 && mt.messages[0].text === 'Flash', 'MT class 0 (dcs 0xF0) reported', mt.messages[0]);

	/* early receipt: before the submit_sm_resp */
	await post('/faults', { early_dlr: true });
	const order = [];
	const rec = (x) => order.push(x.command + (x.esm_class & 0x04 ? ':receipt' : ''));
	s.on('pdu', rec);
	r = await E.submit(s, { source_addr: 'DEMO', destination_addr: '254700000007', registered_delivery: 1,
		data_coding: 0, short_message: codec.gsmEncode('early') });
	p = await E.nextPdu(s, isReceipt);
	s.removeListener('pdu', rec);
	check(order[0] === 'deliver_sm:receipt' && order[1] === 'submit_sm_resp' && p.receipted_message_id === r.message_id,
		'early receipt arrives before the submit_sm_resp', order);
	await post('/faults', { early_dlr: null, dlr_stat: 'UNDELIV', dlr_err: 34 });
	r = await E.submit(s, { source_addr: 'DEMO', destination_addr: '254700000007', registered_delivery: 2,
		data_coding: 0, short_message: codec.gsmEncode('fails') });
	p = await E.nextPdu(s, isReceipt);
	check(p && p.message_state === 5 && /stat:UNDELIV err:034/.test(p.short_message.toString()),
		'failure receipt (registered_delivery 2, stat UNDELIV)', p && p.short_message.toString());
	await post('/faults', { reset: true });

	/* faults: throttle, queue full, shapes */
	const mtf = (t) => ({ source_addr: 'DEMO', destination_addr: '254700000008', data_coding: 0,
		short_message: codec.gsmEncode(t) });
	let f = await post('/faults', { throttle: { count: 2 } });
	check(f.submit_error && f.submit_error.status === 0x58 && f.submit_error.count === 2, 'POST /faults sets throttle', f);
	const t1 = await E.submit(s, mtf('a'));
	const t2 = await E.submit(s, mtf('b'));
	const t3 = await E.submit(s, mtf('c'));
	check(t1.command_status === 0x58 && t2.command_status === 0x58 && t3.command_status === 0,
		'throttle: next 2 submit_sm get ESME_RTHROTTLED, then OK', [t1.command_status, t2.command_status, t3.command_status]);
	check(t1.command_length === 16, 'throttle response is header-only (16 bytes)', t1.command_length);
	await post('/faults', { queue_full: { count: 1 }, error_shape: 'with_body' });
	const q1 = await E.submit(s, mtf('d'));
	check(q1.command_status === 0x14 && q1.command_length === 17, 'queue full 0x14 with a body (empty message_id)', [q1.command_status, q1.command_length]);
	await post('/faults', { reset: true, throttle: { for_ms: 60000 } });
	const t4 = await E.submit(s, mtf('e'));
	await post('/faults', { throttle: null });
	const t5 = await E.submit(s, mtf('f'));
	check(t4.command_status === 0x58 && t5.command_status === 0, 'throttle for a time, cleared by throttle:null', [t4.command_status, t5.command_status]);

	/* faults: silent */
	await post('/faults', { silent: { count: 1 } });
	const sl = await E.submit(s, mtf('silent'), 800);
	const sl2 = await E.submit(s, mtf('after silent'));
	check(sl === null && sl2 && sl2.command_status === 0, 'silent: one submit_sm never answered, the next is');

	/* faults: delay */
	await post('/faults', { delay: { ms: 300, count: 1 } });
	const dl = await E.submit(s, mtf('delayed'));
	check(dl && dl.command_status === 0, 'delayed response still arrives');
	await post('/faults', { reset: true });

	/* deliver_sm_resp statuses the gateway returns are counted */
	const s2 = await E.connect(PORT, { deliverStatus: 0x64 });
	r = await E.bind(s2, SYS, PW, 'bind_receiver');
	check(r.command_status === 0, 'bind_receiver accepted');
	r = await E.submit(s2, mtf('rx only'));
	check(r.command_status === 0x04, 'submit_sm on a receiver bind: ESME_RINVBNDSTS', r.command_status);
	let st0 = await get('/stats');
	const before64 = st0.deliver_sm_resp['0x00000064'] || 0;
	/* route the MO to the receiver bind through its system_id: same account, so send twice and count */
	const mo1 = await post('/sms/mo', { from: '254700000001', to: '385', text: 'one' });
	const mo2 = await post('/sms/mo', { from: '254700000001', to: '385', text: 'two' });
	const sts = [mo1.statuses[0], mo2.statuses[0]].sort();
	check(sts[0] === 0 && sts[1] === 0x64, 'MO round robin over binds; ESME_RX_T_APPN from one reported', sts);
	st0 = await get('/stats');
	check((st0.deliver_sm_resp['0x00000064'] || 0) === before64 + 1, 'GET /stats counts deliver_sm_resp by status', st0.deliver_sm_resp);
	s2.close();
	await E.waitClose(s2);

	/* a gateway that never answers deliver_sm: the MO reports no status */
	const s4 = await E.connect(PORT, { autoAck: false });
	r = await E.bind(s4, 'other', 'pw2');
	check(r.command_status === 0, 'second account binds');
	const mo4 = await post('/sms/mo', { from: '254700000001', to: '386', text: 'unanswered', system_id: 'other' });
	check(mo4.statuses.length === 1 && mo4.statuses[0] === null, 'deliver_sm_resp never sent: status null after --resp-timeout-ms', mo4);
	st0 = await get('/stats');
	check(st0.deliver_sm_resp_timeouts === 1, 'GET /stats counts deliver_sm_resp timeouts', st0.deliver_sm_resp_timeouts);
	/* malformed PDUs from the gateway do not stop the simulator */
	const trunc = new Promise((res) => {
		const t = setTimeout(() => res(null), 3000);
		s4.on('submit_sm_resp', (x) => { clearTimeout(t); res(x); });
	});
	s4.socket.write(Buffer.from('000000140000000400000000000000aa41424344', 'hex'));
	const tr = await trunc;
	check(tr && tr.sequence_number === 0xaa && tr.command_status === 0x0B, 'truncated submit_sm (no destination): ESME_RINVDSTADR', tr);
	s4.socket.write(Buffer.from('00000010000001ff0000000000000abc', 'hex'));
	const nack = await new Promise((res) => {
		const t = setTimeout(() => res(null), 3000);
		s4.on('generic_nack', (x) => { clearTimeout(t); res(x); });
	});
	check(nack && nack.sequence_number === 0xabc && nack.command_status === 0x03, 'unknown command_id: generic_nack ESME_RINVCMDID', nack);
	const hz = await get('/healthz');
	check(hz.ok === true, 'simulator alive after a truncated submit_sm and an unknown command');
	s4.close();
	await E.waitClose(s4);

	/* faults: refuse binds */
	await post('/faults', { refuse_binds: { count: 1 } });
	const s3 = await E.connect(PORT);
	r = await E.bind(s3, SYS, PW);
	check(r.command_status === 0x0D && r.command_length === 16, 'refuse_binds: ESME_RBINDFAIL, header-only', r.command_status);
	r = await E.bind(s3, SYS, PW);
	check(r.command_status === 0, 'bind accepted once the refusal window is used');

	/* resend after_rebind: the simulator drops the bind and re-sends on the new one */
	s3.close();
	await E.waitClose(s3);
	d = await post('/ussd/dial', { msisdn: '254700000010', code: '*384#' });
	const sid4 = d.session;
	p = await E.nextPdu(s, isUssdDeliver);
	const its4 = p.its_session_info.toString('hex');
	const resendP = post('/ussd/resend', { session: sid4, mode: 'after_rebind', wait_ms: 10000 });
	check(await E.waitClose(s), 'after_rebind: the simulator closed the bind');
	s = await bound();
	d = await resendP;
	p = await E.nextPdu(s, isUssdDeliver);
	check(d.http_status === 200 && p && p.its_session_info.toString('hex') === its4 && E.text(p) === '*384#',
		'after_rebind: same deliver_sm content on the new bind', d);
	await E.ussdAnswer(s, p, 'Back again', true);
	sc = await get(`/ussd/screen?session=${sid4}&wait_ms=3000`);
	check(sc.status === 'screen' && sc.screen.text === 'Back again', 'after_rebind: the answer reaches the session');

	/* faults: drop the bind mid-window */
	await post('/faults', { drop_bind: { after: 3 } });
	const drops = await Promise.all([1, 2, 3].map((i) => E.submit(s, mtf('drop ' + i), 3000)));
	check(drops.every((x) => x === null) && await E.waitClose(s), 'drop_bind: 3 submit_sm unanswered, then the socket is closed');
	const st = await get('/stats');
	check(st.submit_sm.unanswered >= 4 && st.enquire_link_answered >= 1 && st.binds.refused >= 3 &&
		st.status_out.submit_sm_resp['0x00000058'] === 3 && st.pdus_in.submit_sm > 10,
	'GET /stats: pdus by type and status, binds, enquire_links', { u: st.submit_sm, e: st.enquire_link_answered, b: st.binds });
	const mtAll = await get('/sms/mt?since=0');
	check(mtAll.messages.length > 5 && mtAll.messages.every((m, i) => m.cursor === i + 1), 'MT cursor is monotonic');
	void since;
}

async function dialectChecks() {
	const dialect = arg('--dialect');
	const codeField = arg('--code-field', 'short_message');
	const s = await bound();
	const d = await post('/ussd/dial', { msisdn: '254711000001', code: '*384*7#' });
	const p = await E.nextPdu(s, isUssdDeliver);
	check(p && p.ussd_service_op === 1, `${dialect}: PSSR indication`);
	if (dialect === 'umr')
		check(p.user_message_reference === d.net_id && p.its_session_info === undefined, 'umr: session id in user_message_reference', p.user_message_reference);
	if (dialect === 'packed')
		check(p.its_session_info.readUInt16BE(0) === d.net_id << 1, 'packed: its_session_info = id << 1 | end', p.its_session_info);
	if (dialect === 'none')
		check(p.its_session_info === undefined && p.user_message_reference === undefined, 'none: no session id at all');
	if (codeField === 'destination_addr')
		check(p.destination_addr === '*384*7#' && p.short_message.length === 0, 'code in destination_addr', p.destination_addr);
	if (arg('--dcs'))
		check(p.data_coding === Number(arg('--dcs')), 'data_coding as configured', p.data_coding);
	/* a second session to another subscriber so matching cannot lean on order */
	await post('/ussd/dial', { msisdn: '254711000002', code: '*384#' });
	const p2 = await E.nextPdu(s, isUssdDeliver);
	await E.ussdAnswer(s, p2, 'Other', false);
	await E.ussdAnswer(s, p, 'Menu ' + dialect, false);
	let sc = await get(`/ussd/screen?session=${d.session}&wait_ms=3000`);
	check(sc.status === 'screen' && sc.screen.text === 'Menu ' + dialect && sc.screen.continues,
		`${dialect}: screen matched (${sc.screen && sc.screen.matched_by})`, sc.screen);
	await post('/ussd/reply', { session: d.session, text: '9' });
	const p3 = await E.nextPdu(s, isUssdDeliver);
	check(p3 && p3.ussd_service_op === 18 && E.text(p3) === '9', `${dialect}: USSR confirm with input`);
	if (dialect === 'umr')
		check(p3.user_message_reference === d.net_id, 'umr: same id on continue');
	if (dialect === 'packed')
		check(p3.its_session_info.readUInt16BE(0) === d.net_id << 1, 'packed: same id on continue');
	await E.ussdAnswer(s, p3, 'Bye', true);
	sc = await get(`/ussd/screen?session=${d.session}&wait_ms=3000`);
	check(sc.screen && sc.screen.ends && sc.state === 'ended', `${dialect}: end recognised`, sc.screen);
	s.close();
}

async function tlsChecks() {
	const s = await bound({ tls: true });
	check(s.socket.encrypted === true, 'TLS: the SMPP socket is encrypted');
	const el = await E.nextPdu(s, (x) => x.command === 'enquire_link');
	check(el !== null, 'the simulator sends enquire_link (--enquire-link-ms)');
	const rw = await post('/smpp/raw', { hex: '00000010000000150000000000007777' });
	const el2 = await E.nextPdu(s, (x) => x.command === 'enquire_link' && x.sequence_number === 0x7777);
	check(rw.http_status === 200 && el2 !== null, 'POST /smpp/raw writes bytes to the bind', rw);
	const st = await get('/stats');
	check(st.enquire_link_sent >= 1 && st.enquire_link_resp_received >= 1, 'enquire_link answers counted', st.enquire_link_resp_received);
	const d = await post('/ussd/dial', { msisdn: '254722000001', code: '*384#' });
	const p = await E.nextPdu(s, isUssdDeliver);
	await E.ussdAnswer(s, p, 'Secure hello', true);
	const sc = await get(`/ussd/screen?session=${d.session}&wait_ms=3000`);
	check(sc.screen && sc.screen.text === 'Secure hello', 'TLS: USSD round trip');
	s.close();
}

async function burstChecks() {
	const pid = Number(arg('--pid'));
	const log = arg('--log');
	const selfKill = argv.includes('--self-kill');
	const s = await bound();
	const acked = [];
	const total = 5000, window = 50, killAt = 200;
	let sent = 0, killed = false;
	if (selfKill) {
		/* the simulator kills itself right after writing the 150th response */
		const f = await post('/faults', { crash_after_resp: 150 });
		check(f.crash_after_resp === 150, 'crash_after_resp armed');
		killed = true;
	}
	await new Promise((resolve) => {
		const pump = () => {
			while (!s.closed && sent < total && sent - acked.length < window) {
				const n = sent++;
				s.submit_sm({ source_addr: 'DEMO', destination_addr: '254733' + String(n).padStart(6, '0'),
					data_coding: 0, short_message: codec.gsmEncode('burst ' + n) }, (r) => {
					if (r.command_status === 0)
						acked.push(r.message_id);
					if (!killed && acked.length >= killAt) {
						killed = true;
						process.kill(pid, 'SIGKILL');
					}
					pump();
				});
			}
			if (sent >= total && acked.length >= total)
				resolve();
		};
		s.on('close', resolve);
		pump();
	});
	check(killed, 'simulator killed with SIGKILL during the burst', { sent, acked: acked.length });
	if (selfKill) {
		/* responses still queued in the simulator's socket buffer die with it */
		check(acked.length >= 1 && acked.length <= 150, 'responses up to the crash reached the ESME', acked.length);
	}
	const lines = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.length);
	const ids = new Set();
	for (const l of lines) {
		try {
			ids.add(JSON.parse(l).message_id);
		} catch (e) { /* a torn last line is not an acknowledged MT */ }
	}
	const missing = acked.filter((id) => !ids.has(id));
	check(missing.length === 0, `every acknowledged MT is in --mt-log (acked ${acked.length}, logged ${ids.size}, sent ${sent})`, missing.slice(0, 5));
	check(acked.length < sent, 'the kill happened with submit_sm outstanding', { acked: acked.length, sent });
}

async function sigtermChecks() {
	const pid = Number(arg('--pid'));
	const s = await bound();
	const un = E.nextPdu(s, (x) => x.command === 'unbind', 5000);
	process.kill(pid, 'SIGTERM');
	const p = await un;
	check(p !== null, 'SIGTERM: the simulator sends unbind');
	if (p)
		s.send(p.response());
	check(await E.waitClose(s), 'SIGTERM: then closes the connection');
}

const modes = { main: mainChecks, dialect: dialectChecks, tls: tlsChecks, burst: burstChecks, sigterm: sigtermChecks };
(async () => {
	if (!modes[mode]) {
		process.stderr.write(`unknown mode ${mode}\n`);
		process.exit(2);
	}
	const guard = setTimeout(() => {
		check(false, `${mode}: finished within 60 s`);
		process.exit(1);
	}, 60000);
	try {
		await modes[mode]();
	} catch (e) {
		check(false, `${mode}: ${e.stack}`);
	}
	clearTimeout(guard);
	process.stdout.write(`${mode}: ${passed} passed, ${failed} failed\n`);
	process.exit(failed ? 1 : 0);
})();
