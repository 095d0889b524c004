// Compares our text codecs (through smpp_text_tool) with node-smpp 0.5.1's
// encoders: GSM 03.38 (gsmCoder, default table), Latin-1 and UCS2 (iconv), and
// its encoding detection, for texts with extension characters, accents, Greek,
// Cyrillic, CJK and astral characters (surrogate pairs).
'use strict';
const { execFileSync } = require('child_process');
const smpp = require('smpp');
const tool = process.argv[2];
if (!tool) {
	console.error('usage: node smpp_text.js PATH/smpp_text_tool');
	process.exit(2);
}
const run = (...args) => execFileSync(tool, args, { encoding: 'utf8' }).replace(/\n$/, '');

const texts = [
	'Hello world', '*384#', '*384*1*2#', 'Café ñ Δ', '€ {x} [y] ~^|\\',
	'1. Balance\n2. Send money\r\n3. Airtime',
	'@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ÄÖÑÜ§¿äöñüà',
	'form\ffeed', 'être ou ne pas être', '`backtick` ÿ', 'Привет, мир', '日本語テキスト',
	'😀 smile', '𝄞 music 𝄞', 'mixed € and ж', 'Tsh 1,000 sent to 0712 345 678. Ref: QX12AB',
];
const encs = { GSM7: (t) => smpp.gsmCoder.encode(t, 0x00),
	       LATIN1: (t) => smpp.encodings.LATIN1.encode(t),
	       UCS2: (t) => smpp.encodings.UCS2.encode(t) };
const fits = { GSM7: (t) => smpp.encodings.ASCII.match(t),
	       LATIN1: (t) => smpp.encodings.LATIN1.match(t),
	       UCS2: () => true };
const detectName = { ASCII: 'GSM7', LATIN1: 'LATIN1', UCS2: 'UCS2' };

let failures = 0, checks = 0;
const check = (ok, what) => {
	checks++;
	if (!ok) {
		failures++;
		console.error('MISMATCH: ' + what);
	}
};

for (const t of texts) {
	for (const enc of Object.keys(encs)) {
		const ours = run('encode', enc, t);
		if (!fits[enc](t)) {
			check(ours === 'EINVAL', `${enc} ${JSON.stringify(t)}: node cannot encode, we gave ${ours}`);
			continue;
		}
		const theirs = encs[enc](t).toString('hex');
		check(ours === theirs, `${enc} ${JSON.stringify(t)}: ours ${ours} node ${theirs}`);
		// decoding node's bytes gives the text back
		check(run('decode', enc, theirs) === t, `${enc} decode of node bytes for ${JSON.stringify(t)}`);
	}
	// the same choice as node-smpp's detection for texts that fit one part
	const plan = run('plan', t).split(' ');
	const det = detectName[smpp.encodings.detect(t)];
	check(plan[0] === det, `detect ${JSON.stringify(t)}: ours ${plan[0]} node ${det}`);
}
console.log(`${checks} checks, ${failures} mismatches`);
process.exit(failures === 0 && checks > 0 ? 0 : 1);
