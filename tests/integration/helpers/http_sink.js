#!/usr/bin/env node
// Test receiver for provider callbacks: listens on 127.0.0.1 (port 0 = any),
// prints `listening PORT`, appends every request as one JSON line
// {method, path, headers, body} (body as the raw text, header names lower case) to the file named by argv[2],
// and answers 200 {"ResultCode":0,"ResultDesc":"Accepted"}; a path containing
// "/reject" gets the C2B rejection {"ResultCode":"C2B00012","ResultDesc":"Rejected"}
// and one containing "/fail" gets HTTP 500. A path containing "/flaky" answers
// 503 to its first N requests (query fail=N, default 2), then 200; with a query
// reply=TEXT a 200 answer is {"reply": TEXT}. Each record also carries the status
// answered.
'use strict';
const http = require('http');
const fs = require('fs');

const out = process.argv[2];
const seen = {};
if (!out) {
	process.stderr.write('usage: http_sink.js OUTFILE [PORT]\n');
	process.exit(2);
}
const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const rec = { method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
		let status = 200;
		let text = '{"ResultCode":0,"ResultDesc":"Accepted"}';
		if (req.url.includes('/reject'))
			text = '{"ResultCode":"C2B00012","ResultDesc":"Rejected"}';
		if (req.url.includes('/fail')) {
			status = 500;
			text = '{}';
		}
		const u = new URL(req.url, 'http://127.0.0.1');
		if (u.pathname.includes('/flaky')) {
			seen[u.pathname] = (seen[u.pathname] || 0) + 1;
			if (seen[u.pathname] <= Number(u.searchParams.get('fail') || 2)) {
				status = 503;
				text = '{}';
			}
		}
		if (status === 200 && u.searchParams.get('reply'))
			text = JSON.stringify({ reply: u.searchParams.get('reply') });
		rec.status = status;
		fs.appendFileSync(out, JSON.stringify(rec) + '\n');
		res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
		res.end(text);
	});
});
server.listen(Number(process.argv[3] || 0), '127.0.0.1', () => {
	process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
