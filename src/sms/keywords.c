/* Keyword file loader/compiler and matcher (sms_keywords.h). */
#include "ussdgw/sms_keywords.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ussdgw/gw_error.h"

#define MAX_CODES 64
#define MAX_WORDS 256

struct word {
	char w[SMS_KW_WORD_MAX + 1];
	size_t len;
	unsigned entry;
};

struct sms_kw_code {
	char code[24];
	char service[40];
	char *text[SMS_KW_TEXT_COUNT];
	struct sms_kw_entry *entries;
	unsigned nentries;
	struct word *words;
	unsigned nwords;
	unsigned builtin_entry[SMS_KW_BUILTIN_COUNT];
};

struct sms_keywords {
	struct sms_kw_code codes[MAX_CODES];
	unsigned ncodes;
	char **menus, **forwards;
	unsigned nmenus, nforwards;
};

static const char *const target_names[] = {"builtin", "menu", "forward", "reply"};
static const char *const builtin_names[] = {"help", "stop", "stopall", "start"};

const char *sms_kw_target_name(enum sms_kw_target t)
{
	return (unsigned)t < 4 ? target_names[t] : "UNKNOWN";
}

const char *sms_kw_builtin_name(enum sms_kw_builtin b)
{
	return (unsigned)b < SMS_KW_BUILTIN_COUNT ? builtin_names[b] : "UNKNOWN";
}

/* English (the opt-out words carriers and aggregators honour) and Swahili. */
static const char *const syn_help[] = {"HELP", "INFO", "MSAADA", "SAIDIA", NULL};
static const char *const syn_stop[] = {"STOP",	 "UNSUBSCRIBE", "CANCEL", "END",       "QUIT",
				       "OPTOUT", "SITISHA",	"ACHA",	  "SIMAMISHA", NULL};
static const char *const syn_stopall[] = {"STOPALL",	  "STOP ALL",  "UNSUBSCRIBE ALL",
					  "SITISHA YOTE", "ACHA YOTE", NULL};
static const char *const syn_start[] = {"START", "UNSTOP",  "SUBSCRIBE", "YES",
					"ANZA",	 "ANZISHA", "REJESHA",	 NULL};

const char *const *sms_kw_builtin_synonyms(enum sms_kw_builtin b)
{
	switch (b) {
	case SMS_KW_HELP:
		return syn_help;
	case SMS_KW_STOP:
		return syn_stop;
	case SMS_KW_STOPALL:
		return syn_stopall;
	case SMS_KW_START:
		return syn_start;
	default:
		return NULL;
	}
}

static const char *const default_text[SMS_KW_TEXT_COUNT] = {
    [SMS_KW_TEXT_HELP] = "{service}: send {keywords}. STOP to opt out, START to opt in. "
			 "Tuma MSAADA kwa usaidizi.",
    [SMS_KW_TEXT_STOP] = "You will get no more promotional messages from {service}. "
			 "Send START to opt back in. Umejiondoa.",
    [SMS_KW_TEXT_STOPALL] = "You will get no more promotional messages from any service here. "
			    "Send START to opt back in. Umejiondoa kwa huduma zote.",
    [SMS_KW_TEXT_START] = "You will again get messages from {service}. Send STOP to opt out. "
			  "Umejiunga tena.",
    [SMS_KW_TEXT_UNKNOWN] = "Sorry, \"{keyword}\" is not a keyword of {service}. "
			    "Send HELP for the list. Tuma MSAADA.",
};
static const char *const text_keys[SMS_KW_TEXT_COUNT] = {"help", "stop", "stopall", "start",
							 "unknown"};

/* ---- normalisation -------------------------------------------------------------------- */

/* Base letters (upper case) of U+00C0..U+017F; "" = not a letter (× ÷), two letters
 * for ligatures. Index = code point - 0xC0. */
static const char *const fold_tab[0x180 - 0xC0] = {
    /* C0 */ "A",  "A", "A",  "A",  "A", "A", "AE", "C",
    "E",	   "E", "E",  "E",  "I", "I", "I",  "I",
    /* D0 */ "D",  "N", "O",  "O",  "O", "O", "O",  "",
    "O",	   "U", "U",  "U",  "U", "Y", "TH", "SS",
    /* E0 */ "A",  "A", "A",  "A",  "A", "A", "AE", "C",
    "E",	   "E", "E",  "E",  "I", "I", "I",  "I",
    /* F0 */ "D",  "N", "O",  "O",  "O", "O", "O",  "",
    "O",	   "U", "U",  "U",  "U", "Y", "TH", "Y",
    /* 100 */ "A", "A", "A",  "A",  "A", "A", "C",  "C",
    "C",	   "C", "C",  "C",  "C", "C", "D",  "D",
    /* 110 */ "D", "D", "E",  "E",  "E", "E", "E",  "E",
    "E",	   "E", "E",  "E",  "G", "G", "G",  "G",
    /* 120 */ "G", "G", "G",  "G",  "H", "H", "H",  "H",
    "I",	   "I", "I",  "I",  "I", "I", "I",  "I",
    /* 130 */ "I", "I", "IJ", "IJ", "J", "J", "K",  "K",
    "K",	   "L", "L",  "L",  "L", "L", "L",  "L",
    /* 140 */ "L", "L", "L",  "N",  "N", "N", "N",  "N",
    "N",	   "N", "N",  "N",  "O", "O", "O",  "O",
    /* 150 */ "O", "O", "OE", "OE", "R", "R", "R",  "R",
    "R",	   "R", "S",  "S",  "S", "S", "S",  "S",
    /* 160 */ "S", "S", "T",  "T",  "T", "T", "T",  "T",
    "U",	   "U", "U",  "U",  "U", "U", "U",  "U",
    /* 170 */ "U", "U", "U",  "U",  "W", "W", "Y",  "Y",
    "Y",	   "Z", "Z",  "Z",  "Z", "Z", "Z",  "S",
};

/* Decode one UTF-8 sequence at @p s (n bytes left): code point, or -1 for an invalid
 * byte (consumes 1). */
static long utf8_next(const unsigned char *s, size_t n, size_t *used)
{
	unsigned c = s[0];
	*used = 1;
	if (c < 0x80)
		return c;
	size_t k;
	uint32_t cp, min;
	if (c >= 0xC2 && c <= 0xDF)
		k = 1, cp = c & 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		k = 2, cp = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		k = 3, cp = c & 0x07, min = 0x10000;
	else
		return -1;
	if (n < k + 1)
		return -1;
	for (size_t i = 1; i <= k; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*used = k + 1;
	return (long)cp;
}

long sms_kw_normalize(const char *in, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return -1;
	size_t o = 0;
	bool pending_space = false;
	const unsigned char *s = (const unsigned char *)in;
	for (size_t i = 0; i < len;) {
		size_t used;
		long cp = utf8_next(s + i, len - i, &used);
		const char *add = NULL;
		char one[2] = {0, 0};
		/* Combining marks (U+0300..U+036F, decomposed accents) vanish. */
		if (cp >= 0x300 && cp <= 0x36F) {
			i += used;
			continue;
		}
		if (cp >= 'a' && cp <= 'z') {
			one[0] = (char)(cp - 'a' + 'A');
			add = one;
		} else if ((cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) {
			one[0] = (char)cp;
			add = one;
		} else if (cp >= 0xC0 && cp < 0x180) {
			add = fold_tab[cp - 0xC0];
			if (!add[0])
				add = NULL;
		} else if (cp >= 0x180) {
			/* Kept as it is (another script, an emoji): compared byte for byte. */
			if (pending_space && o > 0 && o + 1 < cap)
				out[o++] = ' ';
			pending_space = false;
			if (o + used < cap) {
				memcpy(out + o, s + i, used);
				o += used;
			}
			i += used;
			continue;
		}
		if (!add) {
			pending_space = true;
		} else {
			size_t al = strlen(add);
			if (pending_space && o > 0 && o + 1 < cap)
				out[o++] = ' ';
			pending_space = false;
			if (o + al < cap) {
				memcpy(out + o, add, al);
				o += al;
			}
		}
		i += used;
	}
	out[o] = '\0';
	return (long)o;
}

/* ---- loading -------------------------------------------------------------------------- */

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errsz, const char *fmt, ...)
{
	if (!err || !errsz)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static void code_free(struct sms_kw_code *c)
{
	for (unsigned i = 0; i < SMS_KW_TEXT_COUNT; i++)
		free(c->text[i]);
	for (unsigned i = 0; i < c->nentries; i++)
		free(c->entries[i].reply);
	free(c->entries);
	free(c->words);
}

void sms_keywords_free(struct sms_keywords *k)
{
	if (!k)
		return;
	for (unsigned i = 0; i < k->ncodes; i++)
		code_free(&k->codes[i]);
	for (unsigned i = 0; i < k->nmenus; i++)
		free(k->menus[i]);
	for (unsigned i = 0; i < k->nforwards; i++)
		free(k->forwards[i]);
	free(k->menus);
	free(k->forwards);
	free(k);
}

static int add_word(struct sms_kw_code *c, const char *raw, unsigned entry, char *err, size_t errsz)
{
	char w[SMS_KW_WORD_MAX * 2 + 1];
	long n = sms_kw_normalize(raw, strlen(raw), w, sizeof(w));
	if (n <= 0 || n > SMS_KW_WORD_MAX) {
		seterr(err, errsz, "short code %s: keyword \"%s\" is empty or longer than %d",
		       c->code, raw, SMS_KW_WORD_MAX);
		return GW_ECONFIG;
	}
	for (unsigned i = 0; i < c->nwords; i++)
		if (!strcmp(c->words[i].w, w)) {
			if (c->words[i].entry == entry)
				return 0;
			seterr(err, errsz, "short code %s: \"%s\" is used twice (as %s and as %s)",
			       c->code, w, c->entries[c->words[i].entry].keyword,
			       c->entries[entry].keyword);
			return GW_ECONFIG;
		}
	if (c->nwords >= MAX_WORDS) {
		seterr(err, errsz, "short code %s: more than %d words", c->code, MAX_WORDS);
		return GW_ECONFIG;
	}
	struct word *wd = &c->words[c->nwords++];
	memcpy(wd->w, w, (size_t)n + 1);
	wd->len = (size_t)n;
	wd->entry = entry;
	return 0;
}

static int add_ref(char ***v, unsigned *n, const char *ref)
{
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp((*v)[i], ref))
			return 0;
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv)
		return GW_ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(ref)))
		return GW_ENOMEM;
	(*n)++;
	return 0;
}

static bool ident_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* A short code's table: built-ins first, then the file's keywords. */
static int compile_code(struct sms_keywords *k, struct sms_kw_code *c, const char *code, json_t *o,
			char *err, size_t errsz)
{
	snprintf(c->code, sizeof(c->code), "%s", code);
	json_t *kws = o ? json_object_get(o, "keywords") : NULL;
	size_t nk = kws ? json_array_size(kws) : 0;
	if (kws && !json_is_array(kws)) {
		seterr(err, errsz, "short code %s: \"keywords\" must be an array", code);
		return GW_ECONFIG;
	}
	const char *svc = o ? json_string_value(json_object_get(o, "service")) : NULL;
	if (svc && !ident_ok(svc)) {
		seterr(err, errsz, "short code %s: service must be [A-Za-z0-9_-]{1,39}", code);
		return GW_ECONFIG;
	}
	snprintf(c->service, sizeof(c->service), "%s", svc ? svc : "default");
	c->entries = calloc(nk + SMS_KW_BUILTIN_COUNT, sizeof(*c->entries));
	c->words = calloc(MAX_WORDS, sizeof(*c->words));
	if (!c->entries || !c->words)
		return GW_ENOMEM;
	json_t *texts = o ? json_object_get(o, "texts") : NULL;
	for (unsigned t = 0; t < SMS_KW_TEXT_COUNT; t++) {
		const char *v =
		    texts ? json_string_value(json_object_get(texts, text_keys[t])) : NULL;
		if (texts && json_object_get(texts, text_keys[t]) && !v) {
			seterr(err, errsz, "short code %s: texts.%s must be a string", code,
			       text_keys[t]);
			return GW_ECONFIG;
		}
		if (!(c->text[t] = strdup(v ? v : default_text[t])))
			return GW_ENOMEM;
	}
	int rc;
	for (unsigned b = 0; b < SMS_KW_BUILTIN_COUNT; b++) {
		struct sms_kw_entry *e = &c->entries[c->nentries];
		e->target = SMS_KW_BUILTIN;
		e->builtin = (enum sms_kw_builtin)b;
		snprintf(e->keyword, sizeof(e->keyword), "%s", sms_kw_builtin_synonyms(b)[0]);
		c->builtin_entry[b] = c->nentries;
		for (const char *const *s = sms_kw_builtin_synonyms(b); *s; s++)
			if ((rc = add_word(c, *s, c->nentries, err, errsz)))
				return rc;
		c->nentries++;
	}
	for (size_t i = 0; i < nk; i++) {
		json_t *kw = json_array_get(kws, i);
		const char *word = json_string_value(json_object_get(kw, "keyword"));
		if (!json_is_object(kw) || !word) {
			seterr(err, errsz,
			       "short code %s: keywords[%zu] needs a \"keyword\" string", code, i);
			return GW_ECONFIG;
		}
		const char *menu = json_string_value(json_object_get(kw, "menu"));
		const char *fwd = json_string_value(json_object_get(kw, "forward"));
		const char *bi = json_string_value(json_object_get(kw, "builtin"));
		const char *reply = json_string_value(json_object_get(kw, "reply"));
		json_t *aliases = json_object_get(kw, "aliases");
		int ntargets = !!menu + !!fwd + !!bi;
		if (ntargets > 1 || (ntargets == 0 && !reply)) {
			seterr(
			    err, errsz,
			    "short code %s: keyword %s needs exactly one of menu, forward, builtin "
			    "(or a reply alone)",
			    code, word);
			return GW_ECONFIG;
		}
		if (aliases && !json_is_array(aliases)) {
			seterr(err, errsz, "short code %s: keyword %s: aliases must be an array",
			       code, word);
			return GW_ECONFIG;
		}
		unsigned idx;
		if (bi) {
			int b = -1;
			for (unsigned j = 0; j < SMS_KW_BUILTIN_COUNT; j++)
				if (!strcmp(bi, builtin_names[j]))
					b = (int)j;
			if (b < 0) {
				seterr(err, errsz,
				       "short code %s: keyword %s: unknown builtin \"%s\" (help, "
				       "stop, "
				       "stopall, start)",
				       code, word, bi);
				return GW_ECONFIG;
			}
			idx = c->builtin_entry[b]; /* a new word for the built-in */
		} else {
			idx = c->nentries++;
			struct sms_kw_entry *e = &c->entries[idx];
			sms_kw_normalize(word, strlen(word), e->keyword, sizeof(e->keyword));
			if (menu || fwd) {
				const char *ref = menu ? menu : fwd;
				if (!ident_ok(ref)) {
					seterr(
					    err, errsz,
					    "short code %s: keyword %s: \"%s\" is not a valid name",
					    code, word, ref);
					return GW_ECONFIG;
				}
				e->target = menu ? SMS_KW_MENU : SMS_KW_FORWARD;
				snprintf(e->ref, sizeof(e->ref), "%s", ref);
				if ((rc = add_ref(menu ? &k->menus : &k->forwards,
						  menu ? &k->nmenus : &k->nforwards, ref)))
					return rc;
			} else {
				e->target = SMS_KW_REPLY;
			}
			if (reply && !(e->reply = strdup(reply)))
				return GW_ENOMEM;
		}
		if ((rc = add_word(c, word, idx, err, errsz)))
			return rc;
		for (size_t j = 0; aliases && j < json_array_size(aliases); j++) {
			const char *a = json_string_value(json_array_get(aliases, j));
			if (!a) {
				seterr(err, errsz,
				       "short code %s: keyword %s: aliases[%zu] not a string", code,
				       word, j);
				return GW_ECONFIG;
			}
			if ((rc = add_word(c, a, idx, err, errsz)))
				return rc;
		}
	}
	return 0;
}

static bool code_ok(const char *s)
{
	if (!strcmp(s, "*"))
		return true;
	size_t n = strlen(s);
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z')))
			return false;
	return true;
}

int sms_keywords_load_buffer(const char *buf, size_t len, struct sms_keywords **out, char *err,
			     size_t errsz)
{
	*out = NULL;
	if (len > SMS_KW_FILE_MAX) {
		seterr(err, errsz, "keyword file over %d bytes", SMS_KW_FILE_MAX);
		return GW_EMSGSIZE;
	}
	json_error_t je;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		seterr(err, errsz, "%d:%d: %s", je.line, je.column, je.text);
		return GW_EPROTO_MALFORMED;
	}
	int rc = 0;
	struct sms_keywords *k = calloc(1, sizeof(*k));
	json_t *codes = json_object_get(root, "shortcodes");
	if (!k) {
		rc = GW_ENOMEM;
		goto out;
	}
	if (!json_is_object(root) || !json_is_object(codes)) {
		seterr(err, errsz, "the file needs a \"shortcodes\" object");
		rc = GW_ECONFIG;
		goto out;
	}
	const char *code;
	json_t *o;
	json_object_foreach(codes, code, o)
	{
		if (!code_ok(code) || !json_is_object(o)) {
			seterr(err, errsz,
			       "short code \"%s\": must be digits/letters (or \"*\") with "
			       "an object",
			       code);
			rc = GW_ECONFIG;
			goto out;
		}
		if (k->ncodes >= MAX_CODES) {
			seterr(err, errsz, "more than %d short codes", MAX_CODES);
			rc = GW_ECONFIG;
			goto out;
		}
		if ((rc = compile_code(k, &k->codes[k->ncodes++], code, o, err, errsz)))
			goto out;
	}
out:
	json_decref(root);
	if (rc) {
		sms_keywords_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int sms_keywords_load_file(const char *path, struct sms_keywords **out, char *err, size_t errsz)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		seterr(err, errsz, "%s: cannot open", path);
		return GW_ENOENT;
	}
	char *buf = malloc(SMS_KW_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return GW_ENOMEM;
	}
	size_t n = fread(buf, 1, SMS_KW_FILE_MAX + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		seterr(err, errsz, "%s: read error", path);
		return GW_EIO;
	}
	int rc = sms_keywords_load_buffer(buf, n, out, err, errsz);
	free(buf);
	return rc;
}

int sms_keywords_default(struct sms_keywords **out)
{
	static const char dflt[] = "{\"shortcodes\": {\"*\": {}}}";
	return sms_keywords_load_buffer(dflt, sizeof(dflt) - 1, out, NULL, 0);
}

/* ---- matching ------------------------------------------------------------------------- */

const struct sms_kw_code *sms_keywords_code(const struct sms_keywords *k, const char *shortcode)
{
	const struct sms_kw_code *any = NULL;
	for (unsigned i = 0; k && i < k->ncodes; i++) {
		if (shortcode && !strcmp(k->codes[i].code, shortcode))
			return &k->codes[i];
		if (!strcmp(k->codes[i].code, "*"))
			any = &k->codes[i];
	}
	return any;
}

const char *sms_kw_code_service(const struct sms_kw_code *c)
{
	return c ? c->service : "default";
}

/* A code point that sms_kw_normalize() keeps as part of a word (combining marks too:
 * they vanish inside a word without splitting it). */
static bool word_cp(long cp)
{
	if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'))
		return true;
	if (cp >= 0xC0 && cp < 0x180)
		return fold_tab[cp - 0xC0][0] != '\0';
	return cp >= 0x180;
}

/* Offset in @p text after @p nwords words, and the separators after them. */
static size_t skip_words(const char *text, size_t len, unsigned nwords)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, used;
	for (unsigned w = 0; w < nwords; w++) {
		while (i < len && !word_cp(utf8_next(s + i, len - i, &used)))
			i += used;
		while (i < len && word_cp(utf8_next(s + i, len - i, &used)))
			i += used;
	}
	while (i < len && !word_cp(utf8_next(s + i, len - i, &used)))
		i += used;
	return i;
}

int sms_keywords_match(const struct sms_keywords *k, const char *shortcode, const char *text,
		       size_t len, struct sms_kw_match *m)
{
	memset(m, 0, sizeof(*m));
	m->code = sms_keywords_code(k, shortcode);
	if (!m->code)
		return GW_ENOENT;
	char norm[SMS_KW_TEXT_MAX];
	size_t take = len < SMS_KW_TEXT_MAX / 3 ? len : SMS_KW_TEXT_MAX / 3;
	long n = sms_kw_normalize(text, take, norm, sizeof(norm));
	if (n < 0)
		return GW_EINVAL;
	size_t fl = strcspn(norm, " ");
	if (fl > SMS_KW_WORD_MAX)
		fl = SMS_KW_WORD_MAX;
	memcpy(m->first, norm, fl);
	m->first[fl] = '\0';
	const struct word *best = NULL;
	const struct sms_kw_code *c = m->code;
	for (unsigned i = 0; i < c->nwords; i++) {
		const struct word *w = &c->words[i];
		if ((size_t)n < w->len || memcmp(norm, w->w, w->len) != 0)
			continue;
		if ((size_t)n > w->len && norm[w->len] != ' ')
			continue;
		if (!best || w->len > best->len)
			best = w;
	}
	if (!best)
		return 0;
	m->entry = &c->entries[best->entry];
	m->word = best->w;
	unsigned nw = 1;
	for (const char *p = best->w; *p; p++)
		nw += *p == ' ';
	m->args_off = skip_words(text, len, nw);
	return 0;
}

static void put(char *out, size_t cap, size_t *o, const char *s)
{
	size_t n = strlen(s);
	if (*o + n >= cap)
		n = cap - 1 - *o;
	memcpy(out + *o, s, n);
	*o += n;
}

size_t sms_kw_code_render(const struct sms_kw_code *c, enum sms_kw_text which, const char *keyword,
			  char *out, size_t cap)
{
	if (!cap)
		return 0;
	size_t o = 0;
	const char *t = c && (unsigned)which < SMS_KW_TEXT_COUNT ? c->text[which] : "";
	for (const char *p = t; *p && o + 1 < cap;) {
		if (!strncmp(p, "{service}", 9)) {
			put(out, cap, &o, c->service);
			p += 9;
		} else if (!strncmp(p, "{keyword}", 9)) {
			put(out, cap, &o, keyword ? keyword : "");
			p += 9;
		} else if (!strncmp(p, "{keywords}", 10)) {
			unsigned listed = 0;
			for (unsigned i = SMS_KW_BUILTIN_COUNT; i < c->nentries; i++) {
				if (listed++)
					put(out, cap, &o, ", ");
				put(out, cap, &o, c->entries[i].keyword);
			}
			if (!listed)
				put(out, cap, &o, "HELP");
			p += 10;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return o;
}

const char *sms_keywords_menu_ref(const struct sms_keywords *k, size_t i)
{
	return k && i < k->nmenus ? k->menus[i] : NULL;
}

const char *sms_keywords_forward_ref(const struct sms_keywords *k, size_t i)
{
	return k && i < k->nforwards ? k->forwards[i] : NULL;
}
