'use strict';
/*
 * A tiny HTTP endpoint for the Kannel test: appends each request's path and query
 * (one line per request) to FILE and answers 200 with an empty body, so smsbox's
 * get-url (MO) and dlr-url (receipts) can be checked. Prints "listening PORT".
 *   node http_sink.js FILE
 */
const http = require('http');
const fs = require('fs');
const file = process.argv[2];
const srv = http.createServer((req, res) => {
	fs.appendFileSync(file, req.url + '\n');
	res.writeHead(200, { 'Content-Type': 'text/plain' });
	res.end('');
});
srv.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + srv.address().port + '\n'));
