#!/usr/bin/env node
// USSD load over the simulator's control API (tools/smsc-sim), for the audit
// fault tests. Node 20, no npm packages.
//
//   ussd_drive.js drive --control URL --seconds S [--workers N] [--prefix DIGITS]
//                       [--steps-per-session K] [--code *384#]
//       N workers, each dialling fresh MSISDNs (PREFIX + worker + counter, one
//       session per MSISDN) and walking the demo menu with pure menu steps
//       (main -> "1" Send money -> "0" back -> main ...), K inputs per session,
//       for S seconds. A refused dial (no gateway bound) or an unanswered step
//       is counted and the worker moves on. Prints one JSON summary line:
//       {dials, dials_refused, inputs, inputs_refused, screens, unanswered, sessions}.
//
//   ussd_drive.js answered --control URL --prefix DIGITS
//       The simulator's own record (GET /ussd/sessions): one line per session of
//       that prefix, "MSISDN SCREENS", and on stderr the sessions that are not
//       plain dials (pushes), which the caller treats as findings.
//
//   ussd_drive.js check --answered FILE --tokens FILE --rows FILE
//       FILE formats: answered "MSISDN SCREENS"; tokens "MSISDN TOKEN";
//       rows "TOKEN STEP EVENT" (the chain's session_step records). Every
//       answered screen k of a session must have exactly one audit record with
//       step k (replays aside). Prints a JSON summary; exit 1 with the first
//       findings on stderr.
'use strict';
const fs = require('fs');

function args(argv) {
	const o = { _: [] };
	for (let i = 0; i < argv.length; i++) {
		if (argv[i].startsWith('--')) {
			o[argv[i].slice(2)] = argv[i + 1];
			i++;
		} else {
			o._.push(argv[i]);
		}
	}
	return o;
}

async function call(base, method, path, body) {
	const ctl = new AbortController();
	const t = setTimeout(() => ctl.abort(), 15000);
	try {
		const r = await fetch(base + path, {
			method, signal: ctl.signal,
			headers: body ? { 'Content-Type': 'application/json' } : {},
			body: body ? JSON.stringify(body) : undefined,
		});
		const j = await r.json().catch(() => ({}));
		return { status: r.status, body: j };
	} catch (e) {
		return { status: 0, body: { error: String(e) } };
	} finally {
		clearTimeout(t);
	}
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function drive(o) {
	const base = o.control;
	const end = Date.now() + Number(o.seconds) * 1000;
	const workers = Number(o.workers || 16);
	const perSession = Number(o['steps-per-session'] || 30);
	const prefix = String(o.prefix || '25471');
	const code = o.code || '*384#';
	const wait = Number(o['wait-ms'] || 4000);
	const st = { dials: 0, dials_refused: 0, inputs: 0, inputs_refused: 0, screens: 0, unanswered: 0, sessions: 0 };
	const width = 12 - prefix.length - 3;
	if (width < 3)
		throw new Error('prefix too long for 12-digit MSISDNs');

	async function worker(w) {
		let n = 0;
		while (Date.now() < end) {
			const msisdn = prefix + String(w).padStart(3, '0') + String(n++).padStart(width, '0');
			const d = await call(base, 'POST', '/ussd/dial', { msisdn, code, wait_ms: wait });
			if (d.status !== 200) {
				st.dials_refused++;
				await sleep(50);
				continue;
			}
			st.dials++;
			st.sessions++;
			let r = d.body;
			for (let k = 0; ; k++) {
				if (r.status !== 'screen') {
					st.unanswered++;
					break;
				}
				st.screens++;
				if (r.screen.ends || k >= perSession || Date.now() >= end)
					break;
				/* main menu -> 1 (Send money); its input screen -> 0 (back) */
				const text = /DemoPesa/.test(r.screen.text) ? '1' : '0';
				const p = await call(base, 'POST', '/ussd/reply', { session: d.body.session, text, wait_ms: wait });
				if (p.status !== 200) {
					st.inputs_refused++;
					break;
				}
				st.inputs++;
				r = p.body;
			}
		}
	}
	await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
	console.log(JSON.stringify(st));
}

async function answered(o) {
	const r = await call(o.control, 'GET', '/ussd/sessions');
	if (r.status !== 200)
		throw new Error('GET /ussd/sessions: ' + r.status);
	const prefix = String(o.prefix);
	const out = [];
	for (const s of r.body.sessions) {
		if (!s.msisdn.startsWith(prefix))
			continue;
		if (s.origin !== 'dial')
			console.error(`session ${s.id} of ${s.msisdn}: origin ${s.origin}, ${s.screens} screens`);
		out.push(`${s.msisdn} ${s.screens}`);
	}
	process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

function lines(f) {
	return fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s+/));
}

function check(o) {
	const tok = new Map(lines(o.tokens).map(([m, t]) => [m, t]));
	const rows = new Map(); /* token -> Map(step -> count) */
	let replays = 0, nrows = 0;
	for (const [t, step, ev] of lines(o.rows)) {
		nrows++;
		if (ev === 'resend') {
			replays++;
			continue;
		}
		if (!rows.has(t))
			rows.set(t, new Map());
		const m = rows.get(t);
		m.set(step, (m.get(step) || 0) + 1);
	}
	const findings = [];
	let sessions = 0, screens = 0;
	const seen = new Set();
	for (const [msisdn, n] of lines(o.answered)) {
		if (seen.has(msisdn))
			findings.push(`${msisdn}: more than one simulator session`);
		seen.add(msisdn);
		const t = tok.get(msisdn);
		if (!t) {
			findings.push(`${msisdn}: no token`);
			continue;
		}
		sessions++;
		const m = rows.get(t) || new Map();
		for (let k = 1; k <= Number(n); k++) {
			screens++;
			const c = m.get(String(k)) || 0;
			if (c === 0)
				findings.push(`${msisdn}: answered step ${k} has no audit record`);
			else if (c > 1)
				findings.push(`${msisdn}: step ${k} audited ${c} times`);
		}
		for (const [k, c] of m)
			if (Number(k) > Number(n) && c > 1)
				findings.push(`${msisdn}: unanswered step ${k} audited ${c} times`);
	}
	const sum = { sessions, answered_steps: screens, step_rows: nrows, replays, findings: findings.length };
	console.log(JSON.stringify(sum));
	if (findings.length) {
		for (const f of findings.slice(0, 20))
			console.error(f);
		process.exit(1);
	}
}

(async () => {
	const o = args(process.argv.slice(2));
	const cmd = o._[0];
	if (cmd === 'drive')
		await drive(o);
	else if (cmd === 'answered')
		await answered(o);
	else if (cmd === 'check')
		check(o);
	else {
		console.error('usage: ussd_drive.js drive|answered|check ...');
		process.exit(2);
	}
})().catch((e) => {
	console.error(String(e && e.stack || e));
	process.exit(2);
});
