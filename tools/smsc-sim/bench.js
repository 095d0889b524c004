#!/usr/bin/env node
'use strict';
/*
 * Throughput of the simulator itself: one ESME, a window of outstanding
 * submit_sm, a fixed count. Not a test; a figure for the README.
 *   node tools/smsc-sim/bench.js --port P [--count 5000] [--window 50]
 *        [--system-id ussdgw --password ussdgw]
 */
const codec = require('./codec');
const smpp = codec.smpp;
const arg = (n, d) => {
	const i = process.argv.indexOf(n);
	return i >= 0 ? process.argv[i + 1] : d;
};
const port = Number(arg('--port'));
const N = Number(arg('--count', 5000));
const W = Number(arg('--window', 50));
const s = smpp.connect({ host: '127.0.0.1', port });
s.on('error', (e) => {
	process.stderr.write(`bench: ${e.message}\n`);
	process.exit(1);
});
s.on('connect', () => {
	s.socket.setNoDelay(true);
	s.bind_transceiver({ system_id: arg('--system-id', 'ussdgw'), password: arg('--password', 'ussdgw') }, (r) => {
		if (r.command_status !== 0) {
			process.stderr.write(`bench: bind refused ${codec.hex8(r.command_status)}\n`);
			process.exit(1);
		}
		let sent = 0, got = 0, bad = 0;
		const t0 = process.hrtime.bigint();
		const pump = () => {
			while (sent < N && sent - got < W) {
				sent++;
				s.submit_sm({ source_addr: 'BENCH', destination_addr: '254700000001',
					short_message: codec.gsmEncode('bench') }, (resp) => {
					got++;
					if (resp.command_status !== 0)
						bad++;
					if (got === N) {
						const ms = Number(process.hrtime.bigint() - t0) / 1e6;
						process.stdout.write(`${N} submit_sm, window ${W}: ${ms.toFixed(0)} ms, ` +
							`${(N / ms * 1000).toFixed(0)}/s, ${bad} not OK\n`);
						s.unbind({}, () => process.exit(0));
					} else {
						pump();
					}
				});
			}
		};
		pump();
	});
});
