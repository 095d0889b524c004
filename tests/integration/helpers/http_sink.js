#!/usr/bin/env node
// Test receiver for provider callbacks: listens on 127.0.0.1 (port 0 = any),
// prints `listening PORT`, appends every request as one JSON line
// {method, path, headers, body} (body as the raw text, header names lower case) to the file named by argv[2],
// and answers 200 {"ResultCode":0,"ResultDesc":"Accepted"}; a path containing
// "/reject" gets the C2B rejection {"ResultCode":"C2B00012","ResultDesc":"Rejected"}
// and one containing "/fail" gets HTTP 500.
'use strict';
const http = require('http');
const fs = require('fs');

const out = process.argv[2];
if (!out) {
	process.stderr.write('usage: http_sink.js OUTFILE [PORT]\n');
	process.exit(2);
}
const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const rec = { method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
		fs.appendFileSync(out, JSON.stringify(rec) + '\n');
		let status = 200;
		let text = '{"ResultCode":0,"ResultDesc":"Accepted"}';
		if (req.url.includes('/reject'))
			text = '{"ResultCode":"C2B00012","ResultDesc":"Rejected"}';
		if (req.url.includes('/fail')) {
			status = 500;
			text = '{}';
		}
		res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': text.length });
		res.end(text);
	});
});
server.listen(Number(process.argv[3] || 0), '127.0.0.1', () => {
	process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
