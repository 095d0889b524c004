/* menu/: loader, compiler and checker of declarative USSD menus.
 *
 * jansson parses; a small scanner of the source text (posidx) maps JSON
 * pointers to line:column, because jansson keeps no positions for values and
 * the checker must name the line of the offending key. The compiled struct
 * menu is immutable after loading and shared by all sessions. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menu/menu_int.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"

/* ------------------------------------------------------------------ */
/* Position index: JSON pointer -> line:column of the key (or value).    */

struct pos_ent {
	char *ptr;
	int line, col;
};

struct posidx {
	struct pos_ent *v;
	size_t n, cap;
};

struct scan {
	const char *s;
	size_t n, i;
	int line, col;
	struct posidx *idx;
	char ptr[512];
	size_t plen;
	int depth;
	bool oom;
};

static void scan_adv(struct scan *sc)
{
	if (sc->i >= sc->n)
		return;
	unsigned char ch = (unsigned char)sc->s[sc->i++];
	if (ch == '\n') {
		sc->line++;
		sc->col = 1;
	} else if ((ch & 0xC0) != 0x80) {
		sc->col++;
	}
}

static void scan_ws(struct scan *sc)
{
	while (sc->i < sc->n && strchr(" \t\r\n", sc->s[sc->i]))
		scan_adv(sc);
}

static void pos_add(struct scan *sc, int line, int col)
{
	struct posidx *p = sc->idx;
	if (sc->plen >= sizeof(sc->ptr) - 1 || sc->oom)
		return;
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 64;
		struct pos_ent *nv = realloc(p->v, nc * sizeof(*nv));
		if (!nv) {
			sc->oom = true;
			return;
		}
		p->v = nv;
		p->cap = nc;
	}
	char *dup = strndup(sc->ptr, sc->plen);
	if (!dup) {
		sc->oom = true;
		return;
	}
	p->v[p->n++] = (struct pos_ent){dup, line, col};
}

/* Append a pointer segment (escaped per RFC 6901); returns the old length. */
static size_t ptr_push(struct scan *sc, const char *seg, size_t len)
{
	size_t old = sc->plen;
	if (sc->plen + 1 < sizeof(sc->ptr))
		sc->ptr[sc->plen++] = '/';
	for (size_t k = 0; k < len && sc->plen + 2 < sizeof(sc->ptr); k++) {
		if (seg[k] == '~') {
			sc->ptr[sc->plen++] = '~';
			sc->ptr[sc->plen++] = '0';
		} else if (seg[k] == '/') {
			sc->ptr[sc->plen++] = '~';
			sc->ptr[sc->plen++] = '1';
		} else {
			sc->ptr[sc->plen++] = seg[k];
		}
	}
	return old;
}

/* Read a string token; copies raw content (escapes kept except \" and \\) into buf. */
static void scan_string(struct scan *sc, char *buf, size_t bsz, size_t *blen)
{
	size_t o = 0;
	scan_adv(sc); /* opening quote */
	while (sc->i < sc->n && sc->s[sc->i] != '"') {
		char ch = sc->s[sc->i];
		if (ch == '\\' && sc->i + 1 < sc->n) {
			scan_adv(sc);
			ch = sc->s[sc->i];
		}
		if (buf && o + 1 < bsz)
			buf[o++] = ch;
		scan_adv(sc);
	}
	scan_adv(sc); /* closing quote */
	if (blen)
		*blen = o;
}

static void scan_value(struct scan *sc, int kline, int kcol)
{
	scan_ws(sc);
	if (sc->i >= sc->n || ++sc->depth > 4096) {
		sc->depth--;
		return;
	}
	pos_add(sc, kline ? kline : sc->line, kline ? kcol : sc->col);
	char ch = sc->s[sc->i];
	if (ch == '{') {
		scan_adv(sc);
		for (;;) {
			scan_ws(sc);
			if (sc->i >= sc->n || sc->s[sc->i] == '}')
				break;
			if (sc->s[sc->i] == ',') {
				scan_adv(sc);
				continue;
			}
			if (sc->s[sc->i] != '"')
				break;
			int l = sc->line, c = sc->col;
			char key[256];
			size_t klen = 0;
			scan_string(sc, key, sizeof(key), &klen);
			scan_ws(sc);
			if (sc->i < sc->n && sc->s[sc->i] == ':')
				scan_adv(sc);
			size_t old = ptr_push(sc, key, klen);
			scan_value(sc, l, c);
			sc->plen = old;
		}
		scan_adv(sc);
	} else if (ch == '[') {
		scan_adv(sc);
		for (size_t k = 0;; k++) {
			scan_ws(sc);
			if (sc->i >= sc->n || sc->s[sc->i] == ']')
				break;
			if (sc->s[sc->i] == ',') {
				scan_adv(sc);
				k--;
				continue;
			}
			char num[24];
			int nl = snprintf(num, sizeof(num), "%zu", k);
			size_t old = ptr_push(sc, num, (size_t)nl);
			size_t before = sc->i;
			scan_value(sc, 0, 0);
			sc->plen = old;
			if (sc->i == before)
				break;
		}
		scan_adv(sc);
	} else if (ch == '"') {
		scan_string(sc, NULL, 0, NULL);
	} else {
		while (sc->i < sc->n && !strchr(",]} \t\r\n", sc->s[sc->i]))
			scan_adv(sc);
	}
	sc->depth--;
}

static void posidx_build(struct posidx *idx, const char *s, size_t n)
{
	struct scan sc = {.s = s, .n = n, .line = 1, .col = 1, .idx = idx};
	scan_value(&sc, 0, 0);
}

static void posidx_free(struct posidx *idx)
{
	for (size_t i = 0; i < idx->n; i++)
		free(idx->v[i].ptr);
	free(idx->v);
}

/* Position of @p ptr, or of its closest ancestor that has one. */
static void posidx_find(const struct posidx *idx, const char *ptr, int *line, int *col)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", ptr);
	for (;;) {
		for (size_t i = 0; i < idx->n; i++) {
			if (!strcmp(idx->v[i].ptr, buf)) {
				*line = idx->v[i].line;
				*col = idx->v[i].col;
				return;
			}
		}
		char *slash = strrchr(buf, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	*line = 1;
	*col = 1;
}

/* ------------------------------------------------------------------ */
/* Diagnostics                                                          */

void menu_diags_free(struct menu_diags *d)
{
	if (!d)
		return;
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

#define DIAGS_MAX 200

static void diag_add(struct menu_diags *d, int line, int col, const char *msg)
{
	if (!d || d->n >= DIAGS_MAX)
		return;
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 16;
		struct menu_diag *nv = realloc(d->v, nc * sizeof(*nv));
		if (!nv)
			return;
		d->v = nv;
		d->cap = nc;
	}
	struct menu_diag *g = &d->v[d->n++];
	g->line = line;
	g->col = col;
	snprintf(g->msg, sizeof(g->msg), "%s", msg);
}

static int diag_cmp(const void *a, const void *b)
{
	const struct menu_diag *x = a, *y = b;
	if (x->line != y->line)
		return x->line - y->line;
	return x->col - y->col;
}

/* ------------------------------------------------------------------ */
/* Compile context                                                      */

struct var_def {
	char name[64];
	int max; /* -1: unknown width */
};

struct text_check {
	char ptr[320];
	int scr;
	enum { TC_BLOCK, TC_HEADER, TC_OPTION, TC_ITEM, TC_PROMPT, TC_CONFIRM, TC_SMS, TC_NAV } kind;
	const struct menu_text *t;
	bool item_ok;
};

struct cc {
	struct menu *m;
	struct posidx pos;
	struct menu_diags *d;
	int errors;
	struct var_def *vars;
	size_t nvars, capvars;
	struct text_check *tc;
	size_t ntc, captc;
	/* template walk state */
	const struct text_check *cur_tc;
	int cur_lang;
};

static void err(struct cc *c, const char *ptr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void err(struct cc *c, const char *ptr, const char *fmt, ...)
{
	char msg[240];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int line, col;
	posidx_find(&c->pos, ptr, &line, &col);
	diag_add(c->d, line, col, msg);
	c->errors++;
}

static void var_def(struct cc *c, const char *name, int max)
{
	for (size_t i = 0; i < c->nvars; i++) {
		if (!strcmp(c->vars[i].name, name)) {
			if (max > c->vars[i].max)
				c->vars[i].max = max;
			return;
		}
	}
	if (c->nvars == c->capvars) {
		size_t nc = c->capvars ? c->capvars * 2 : 32;
		struct var_def *nv = realloc(c->vars, nc * sizeof(*nv));
		if (!nv)
			return;
		c->vars = nv;
		c->capvars = nc;
	}
	struct var_def *v = &c->vars[c->nvars++];
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->max = max;
}

static const struct var_def *var_find(const struct cc *c, const char *name)
{
	for (size_t i = 0; i < c->nvars; i++)
		if (!strcmp(c->vars[i].name, name))
			return &c->vars[i];
	return NULL;
}

static void text_check_add(struct cc *c, const char *ptr, int scr, int kind,
			   const struct menu_text *t)
{
	if (c->ntc == c->captc) {
		size_t nc = c->captc ? c->captc * 2 : 64;
		struct text_check *nv = realloc(c->tc, nc * sizeof(*nv));
		if (!nv)
			return;
		c->tc = nv;
		c->captc = nc;
	}
	struct text_check *x = &c->tc[c->ntc++];
	snprintf(x->ptr, sizeof(x->ptr), "%s", ptr);
	x->scr = scr;
	x->kind = kind;
	x->t = t;
	x->item_ok = kind == TC_ITEM;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Check that @p obj has only keys listed in @p allowed (NULL-terminated). */
static void check_keys(struct cc *c, const json_t *obj, const char *ptr, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			if (!strcmp(allowed[i], key))
				ok = true;
		if (!ok) {
			char p[256];
			snprintf(p, sizeof(p), "%s/%s", ptr, key);
			err(c, p, "unknown key \"%s\"", key);
		}
	}
}

static const char *get_str(struct cc *c, const json_t *obj, const char *key, const char *ptr,
			   bool required)
{
	json_t *v = json_object_get(obj, key);
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", ptr, key);
	if (!v) {
		if (required)
			err(c, ptr, "missing \"%s\"", key);
		return NULL;
	}
	if (!json_is_string(v)) {
		err(c, p, "\"%s\" must be a string", key);
		return NULL;
	}
	return json_string_value(v);
}

static int64_t get_int(struct cc *c, const json_t *obj, const char *key, const char *ptr,
		       int64_t dflt, int64_t lo, int64_t hi)
{
	json_t *v = json_object_get(obj, key);
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", ptr, key);
	if (!v)
		return dflt;
	if (!json_is_integer(v)) {
		err(c, p, "\"%s\" must be an integer", key);
		return dflt;
	}
	int64_t x = json_integer_value(v);
	if (x < lo || x > hi) {
		err(c, p, "\"%s\" = %lld is out of range [%lld, %lld]", key, (long long)x,
		    (long long)lo, (long long)hi);
		return dflt;
	}
	return x;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 48)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

/* A text: a string (same in every language) or {"en": "...", "sw": "..."}. */
static void compile_text(struct cc *c, const json_t *v, const char *ptr, struct menu_text *out)
{
	struct menu *m = c->m;
	if (json_is_string(v)) {
		for (size_t i = 0; i < m->nlang; i++)
			out->t[i] = xstrdup(json_string_value(v));
		return;
	}
	if (!json_is_object(v)) {
		err(c, ptr, "a text must be a string or an object of languages");
		return;
	}
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)v, key, val) {
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", ptr, key);
		size_t li;
		for (li = 0; li < m->nlang; li++)
			if (!strcmp(m->lang[li], key))
				break;
		if (li == m->nlang) {
			err(c, p, "language \"%s\" is not declared in \"languages\"", key);
			continue;
		}
		if (!json_is_string(val)) {
			err(c, p, "translation \"%s\" must be a string", key);
			continue;
		}
		out->t[li] = xstrdup(json_string_value(val));
	}
	for (size_t li = 0; li < m->nlang; li++)
		if (!out->t[li])
			err(c, ptr, "missing translation \"%s\"", m->lang[li]);
}

static void compile_text_key(struct cc *c, const json_t *obj, const char *key, const char *ptr,
			     struct menu_text *out, bool required, int scr, int kind)
{
	json_t *v = json_object_get(obj, key);
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", ptr, key);
	if (!v) {
		if (required)
			err(c, ptr, "missing \"%s\"", key);
		return;
	}
	compile_text(c, v, p, out);
	if (kind >= 0)
		text_check_add(c, p, scr, kind, out);
}

static void free_text(struct menu_text *t)
{
	for (size_t i = 0; i < MENU_LANG_MAX; i++)
		free(t->t[i]);
}

/* Screen reference: "@resume" or a screen id. */
static int resolve(struct cc *c, const json_t *obj, const char *key, const char *ptr,
		   bool required)
{
	const char *id = get_str(c, obj, key, ptr, required);
	if (!id)
		return -1;
	if (!strcmp(id, "@resume"))
		return MENU_TARGET_RESUME;
	int i = menu_screen_index(c->m, id);
	if (i < 0) {
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", ptr, key);
		err(c, p, "unknown screen \"%s\"", id);
	}
	return i;
}

/* ------------------------------------------------------------------ */
/* Screens                                                              */

static const char *const common_keys[] = {"id", "type", "text", NULL};

static bool key_in(const char *key, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], key))
			return true;
	return false;
}

static void check_screen_keys(struct cc *c, const json_t *obj, const char *ptr,
			      const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		if (key_in(key, common_keys) || key_in(key, allowed))
			continue;
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", ptr, key);
		err(c, p, "unknown key \"%s\" for this screen type", key);
	}
}

static void compile_action_spec(struct cc *c, const json_t *obj, const char *ptr,
				struct menu_action_spec *a, int scr)
{
	json_t *act = json_object_get(obj, "action");
	char p[256];
	snprintf(p, sizeof(p), "%s/action", ptr);
	if (!json_is_object(act)) {
		err(c, act ? p : ptr, "an action screen needs an \"action\" object");
		return;
	}
	const char *kind = get_str(c, act, "kind", p, true);
	if (!kind)
		return;
	a->params = json_deep_copy(act);
	json_object_del(a->params, "kind");
	if (!strcmp(kind, "http")) {
		static const char *const k[] = {"kind", "service", "method", "path", "query", "body", "idempotent", NULL};
		check_keys(c, act, p, k);
		a->kind = MENU_ACT_HTTP;
		get_str(c, act, "service", p, true);
		const char *path = get_str(c, act, "path", p, true);
		if (path && path[0] != '/')
			err(c, p, "\"path\" must start with '/'");
		json_t *idem = json_object_get(act, "idempotent");
		if (idem && !json_is_boolean(idem))
			err(c, p, "\"idempotent\" must be true or false");
		const char *method = get_str(c, act, "method", p, false);
		if (!method)
			json_object_set_new(a->params, "method", json_string("GET"));
		else if (strcmp(method, "GET") && strcmp(method, "POST"))
			err(c, p, "\"method\" must be GET or POST");
	} else if (!strcmp(kind, "pay")) {
		static const char *const k[] = {"kind", "provider", "amount", "account", "currency",
						"reference", NULL};
		check_keys(c, act, p, k);
		a->kind = MENU_ACT_PAY;
		get_str(c, act, "provider", p, true);
		get_str(c, act, "amount", p, true);
		get_str(c, act, "account", p, true);
		if (!json_object_get(act, "currency"))
			json_object_set_new(a->params, "currency", json_string(c->m->currency));
	} else if (!strcmp(kind, "sms")) {
		static const char *const k[] = {"kind", "to", "text", "class", NULL};
		check_keys(c, act, p, k);
		a->kind = MENU_ACT_SMS;
		const char *cls = get_str(c, act, "class", p, true);
		if (cls && strcmp(cls, "reply") && strcmp(cls, "transactional") &&
		    strcmp(cls, "promotional"))
			err(c, p, "\"class\" must be reply, transactional or promotional");
		if (!json_object_get(act, "to"))
			json_object_set_new(a->params, "to", json_string("{{msisdn}}"));
		/* The text is compiled per language and rendered at run time. */
		struct menu_screen *s = &c->m->scr[scr];
		compile_text_key(c, act, "text", p, &s->text, true, scr, TC_SMS);
		json_object_del(a->params, "text");
	} else {
		char kp[300];
		snprintf(kp, sizeof(kp), "%s/kind", p);
		err(c, kp, "unknown action kind \"%s\" (http, pay, sms)", kind);
	}
	/* Every string parameter is a template: remember it for variable checks. */
}

static void compile_keep_consume(struct cc *c, const json_t *obj, const char *ptr,
				 struct menu_action_spec *a)
{
	static const char *const names[] = {"keep", "consume"};
	for (int k = 0; k < 2; k++) {
		json_t *v = json_object_get(obj, names[k]);
		if (!v)
			continue;
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", ptr, names[k]);
		bool ok = json_is_array(v);
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) if (!json_is_string(e)) ok = false;
		if (!ok) {
			err(c, p, "\"%s\" must be an array of names", names[k]);
			continue;
		}
		if (k == 0)
			a->keep = json_incref(v);
		else
			a->consume = json_incref(v);
	}
}

static int64_t pow10i(int e)
{
	int64_t r = 1;
	while (e-- > 0)
		r *= 10;
	return r;
}

static int digits_of(int64_t x)
{
	int d = 1;
	if (x < 0)
		x = -x;
	while (x >= 10) {
		x /= 10;
		d++;
	}
	return d;
}

static void compile_input(struct cc *c, const json_t *obj, const char *ptr, struct menu_screen *s,
			  int idx)
{
	static const char *const k[] = {"input", "store", "next", "invalid", "retries", "lockout",
					"nav", "verify", "token", "on_timeout", NULL};
	check_screen_keys(c, obj, ptr, k);
	compile_text_key(c, obj, "text", ptr, &s->text, true, idx, TC_PROMPT);
	json_t *in = json_object_get(obj, "input");
	char p[256];
	snprintf(p, sizeof(p), "%s/input", ptr);
	if (!json_is_object(in)) {
		err(c, in ? p : ptr, "an input screen needs an \"input\" object");
		return;
	}
	static const char *const ik[] = {"kind", "min_len", "max_len", "min", "max", "regex",
					 "country_code", "trunk_prefix", "nsn_lengths", NULL};
	check_keys(c, in, p, ik);
	const char *kind = get_str(c, in, "kind", p, true);
	if (!kind)
		return;
	s->min_len = (int)get_int(c, in, "min_len", p, 1, 0, MENU_INPUT_MAX);
	s->max_len = (int)get_int(c, in, "max_len", p, 20, 1, MENU_INPUT_MAX);
	if (s->min_len > s->max_len)
		err(c, p, "\"min_len\" is larger than \"max_len\"");
	s->next = resolve(c, obj, "next", ptr, true);
	const char *store = get_str(c, obj, "store", ptr, strcmp(kind, "pin") != 0);
	if (store && !valid_name(store))
		err(c, ptr, "\"store\" must be a plain variable name");
	s->store = xstrdup(store);
	if (!strcmp(kind, "digits")) {
		s->in_kind = MENU_IN_DIGITS;
	} else if (!strcmp(kind, "text")) {
		s->in_kind = MENU_IN_TEXT;
		const char *re = get_str(c, in, "regex", p, false);
		if (re) {
			int rc = regcomp(&s->re, re, REG_EXTENDED | REG_NOSUB);
			if (rc) {
				char eb[128];
				regerror(rc, &s->re, eb, sizeof(eb));
				char rp[300];
				snprintf(rp, sizeof(rp), "%s/regex", p);
				err(c, rp, "bad regex: %s", eb);
			} else {
				s->has_re = true;
			}
		}
	} else if (!strcmp(kind, "amount")) {
		s->in_kind = MENU_IN_AMOUNT;
		s->exponent = c->m->currency_exp;
		s->min = get_int(c, in, "min", p, 1, 0, INT64_MAX / 1000);
		s->max = get_int(c, in, "max", p, 0, 0, INT64_MAX / 1000);
		if (!json_object_get(in, "max"))
			err(c, p, "an amount input needs \"max\" (integer minor units)");
		if (s->max < s->min)
			err(c, p, "\"max\" is below \"min\"");
	} else if (!strcmp(kind, "msisdn")) {
		s->in_kind = MENU_IN_MSISDN;
		/* National numbers follow the same rules as the edge (msisdn.h). */
		const char *cc = get_str(c, in, "country_code", p, false);
		const char *trunk = get_str(c, in, "trunk_prefix", p, false);
		const char *lens = get_str(c, in, "nsn_lengths", p, false);
		if (cc) {
			if (msisdn_rules_set(&s->rules, cc, trunk ? trunk : "0", NULL, lens) != 0)
				err(c, p, "bad numbering rules (country_code, trunk_prefix, nsn_lengths)");
			else
				s->country_code = xstrdup(cc);
		} else if (trunk || lens) {
			err(c, p, "\"trunk_prefix\"/\"nsn_lengths\" need \"country_code\"");
		}
	} else if (!strcmp(kind, "pin")) {
		s->in_kind = MENU_IN_PIN;
		s->nav = false;
		if (!json_object_get(in, "max_len"))
			s->max_len = 6;
		if (s->max_len > MENU_PIN_MAX)
			err(c, p, "a PIN is at most %d digits", MENU_PIN_MAX);
		if (store)
			err(c, ptr, "a PIN is never stored: use \"token\" for the verification token");
		json_t *ver = json_object_get(obj, "verify");
		char vp[256];
		snprintf(vp, sizeof(vp), "%s/verify", ptr);
		if (!json_is_object(ver)) {
			err(c, ver ? vp : ptr, "a PIN input needs a \"verify\" object");
		} else {
			static const char *const vk[] = {"service", "path", "body", "deadline_ms",
							 "field", NULL};
			check_keys(c, ver, vp, vk);
			s->verify.kind = MENU_ACT_PIN_CHECK;
			get_str(c, ver, "service", vp, true);
			get_str(c, ver, "path", vp, true);
			const char *field = get_str(c, ver, "field", vp, false);
			if (field && strlen(field) >= 16)
				err(c, vp, "\"field\" is too long");
			s->verify.deadline_ms =
				(int)get_int(c, ver, "deadline_ms", vp, 3000, 100, 60000);
			s->verify.params = json_deep_copy(ver);
			json_object_del(s->verify.params, "deadline_ms");
			json_object_set_new(s->verify.params, "method", json_string("POST"));
			if (!field)
				json_object_set_new(s->verify.params, "field", json_string("pin"));
		}
		const char *tok = get_str(c, obj, "token", ptr, true);
		if (tok && !valid_name(tok))
			err(c, ptr, "\"token\" must be a plain variable name");
		s->token_var = xstrdup(tok);
		if (tok)
			var_def(c, tok, 64);
		s->on_timeout = resolve(c, obj, "on_timeout", ptr, false);
	} else {
		char kp[300];
		snprintf(kp, sizeof(kp), "%s/kind", p);
		err(c, kp, "unknown input kind \"%s\" (digits, amount, msisdn, pin, text)", kind);
	}
	if (s->in_kind != MENU_IN_PIN) {
		if (json_object_get(obj, "verify") || json_object_get(obj, "token"))
			err(c, ptr, "\"verify\"/\"token\" only apply to PIN inputs");
	}
	if (store) {
		int w = s->max_len;
		if (s->in_kind == MENU_IN_MSISDN)
			w = 15;
		else if (s->in_kind == MENU_IN_AMOUNT)
			w = digits_of(s->max);
		var_def(c, store, w);
	}
	s->retries = (int)get_int(c, obj, "retries", ptr, c->m->default_retries, 1, 10);
	s->lockout = resolve(c, obj, "lockout", ptr, false);
	if (json_object_get(obj, "nav") && s->in_kind != MENU_IN_PIN) {
		json_t *nv = json_object_get(obj, "nav");
		if (!json_is_boolean(nv))
			err(c, ptr, "\"nav\" must be true or false");
		else
			s->nav = json_is_true(nv);
	}
	if (json_object_get(obj, "invalid")) {
		compile_text_key(c, obj, "invalid", ptr, &s->error, false, idx, -1);
		s->has_error = true;
	}
	(void)pow10i;
}

static void compile_menu_screen(struct cc *c, const json_t *obj, const char *ptr,
				struct menu_screen *s, int idx)
{
	static const char *const k[] = {"options", "items", "invalid", "retries", "lockout", NULL};
	check_screen_keys(c, obj, ptr, k);
	compile_text_key(c, obj, "text", ptr, &s->text, true, idx, TC_HEADER);
	json_t *opts = json_object_get(obj, "options");
	json_t *items = json_object_get(obj, "items");
	if (!opts && !items)
		err(c, ptr, "dead end: a menu screen needs \"options\" or \"items\"");
	if (opts) {
		char p[256];
		snprintf(p, sizeof(p), "%s/options", ptr);
		if (!json_is_array(opts)) {
			err(c, p, "\"options\" must be an array");
		} else {
			s->nopts = json_array_size(opts);
			if (s->nopts > MENU_OPTIONS_MAX) {
				err(c, p, "too many options (%zu > %d)", s->nopts, MENU_OPTIONS_MAX);
				s->nopts = MENU_OPTIONS_MAX;
			}
			s->opts = calloc(s->nopts ? s->nopts : 1, sizeof(*s->opts));
			for (size_t i = 0; i < s->nopts; i++) {
				json_t *o = json_array_get(opts, i);
				char op[300];
				snprintf(op, sizeof(op), "%s/%zu", p, i);
				s->opts[i].next = -1;
				if (!json_is_object(o)) {
					err(c, op, "an option must be an object");
					continue;
				}
				static const char *const ok[] = {"label", "next", "set", NULL};
				check_keys(c, o, op, ok);
				compile_text_key(c, o, "label", op, &s->opts[i].label, true, idx,
						 TC_OPTION);
				s->opts[i].next = resolve(c, o, "next", op, true);
				json_t *set = json_object_get(o, "set");
				if (set) {
					if (!json_is_object(set)) {
						err(c, op, "\"set\" must be an object");
					} else {
						const char *vk;
						json_t *vv;
						json_object_foreach(set, vk, vv) {
							int w = 0;
							if (json_is_string(vv))
								w = strstr(json_string_value(vv), "{{") ? 32 : (int)strlen(json_string_value(vv));
							else if (json_is_integer(vv))
								w = digits_of(json_integer_value(vv)) + 1;
							else if (!json_is_null(vv) && !json_is_boolean(vv))
								err(c, op, "\"set\" values are strings, integers, booleans or null");
							if (!strcmp(vk, "lang")) {
								size_t li;
								for (li = 0; li < c->m->nlang; li++)
									if (json_is_string(vv) && !strcmp(json_string_value(vv), c->m->lang[li]))
										break;
								if (li == c->m->nlang)
									err(c, op, "\"lang\" must be set to a declared language");
							} else if (!valid_name(vk)) {
								err(c, op, "bad variable name \"%s\"", vk);
							}
							var_def(c, vk, w);
						}
						s->opts[i].set = json_incref(set);
					}
				}
			}
		}
	}
	if (items) {
		char p[256];
		snprintf(p, sizeof(p), "%s/items", ptr);
		if (!json_is_object(items)) {
			err(c, p, "\"items\" must be an object");
		} else {
			static const char *const ik[] = {"from", "label", "store", "next", "item_max",
							 "max_items", NULL};
			check_keys(c, items, p, ik);
			struct menu_items *it = calloc(1, sizeof(*it));
			s->items = it;
			it->from = xstrdup(get_str(c, items, "from", p, true));
			compile_text_key(c, items, "label", p, &it->label, true, idx, TC_ITEM);
			it->item_max = (int)get_int(c, items, "item_max", p, 0, 1, 160);
			if (!json_object_get(items, "item_max"))
				err(c, p, "\"items\" needs \"item_max\" (the widest label)");
			it->max_items = (int)get_int(c, items, "max_items", p, MENU_OPTIONS_MAX, 1,
						     MENU_OPTIONS_MAX);
			const char *st = get_str(c, items, "store", p, false);
			it->store = xstrdup(st);
			it->next = resolve(c, items, "next", p, st != NULL);
			if (st) {
				if (!valid_name(st))
					err(c, p, "\"store\" must be a plain variable name");
				var_def(c, st, it->item_max);
			} else if (it->next != -1) {
				err(c, p, "selectable items need \"store\"");
			}
		}
	}
	s->retries = (int)get_int(c, obj, "retries", ptr, c->m->default_retries, 1, 10);
	s->lockout = resolve(c, obj, "lockout", ptr, false);
	if (json_object_get(obj, "invalid")) {
		compile_text_key(c, obj, "invalid", ptr, &s->error, false, idx, -1);
		s->has_error = true;
	}
}

static int cond_op(const char *s)
{
	static const char *const n[] = {"eq", "ne", "lt", "gt", "in", "exists"};
	for (int i = 0; i < 6; i++)
		if (!strcmp(s, n[i]))
			return i;
	return -1;
}

static void compile_router(struct cc *c, const json_t *obj, const char *ptr, struct menu_screen *s)
{
	static const char *const k[] = {"routes", "default", NULL};
	check_screen_keys(c, obj, ptr, k);
	if (json_object_get(obj, "text"))
		err(c, ptr, "a router shows no text");
	json_t *routes = json_object_get(obj, "routes");
	char p[256];
	snprintf(p, sizeof(p), "%s/routes", ptr);
	if (!json_is_array(routes)) {
		err(c, routes ? p : ptr, "a router needs a \"routes\" array");
	} else {
		s->nroutes = json_array_size(routes);
		if (s->nroutes > MENU_OPTIONS_MAX) {
			err(c, p, "too many routes (%zu > %d)", s->nroutes, MENU_OPTIONS_MAX);
			s->nroutes = MENU_OPTIONS_MAX;
		}
		s->routes = calloc(s->nroutes ? s->nroutes : 1, sizeof(*s->routes));
		for (size_t i = 0; i < s->nroutes; i++) {
			json_t *r = json_array_get(routes, i);
			char rp[300];
			snprintf(rp, sizeof(rp), "%s/%zu", p, i);
			s->routes[i].next = -1;
			if (!json_is_object(r)) {
				err(c, rp, "a route must be an object");
				continue;
			}
			static const char *const rk[] = {"var", "op", "value", "next", NULL};
			check_keys(c, r, rp, rk);
			const char *var = get_str(c, r, "var", rp, true);
			s->routes[i].var = xstrdup(var);
			const char *op = get_str(c, r, "op", rp, true);
			int o = op ? cond_op(op) : -1;
			if (op && o < 0)
				err(c, rp, "unknown op \"%s\" (eq, ne, lt, gt, in, exists)", op);
			s->routes[i].op = o < 0 ? MENU_OP_EQ : (enum menu_cond_op)o;
			json_t *val = json_object_get(r, "value");
			if (o == MENU_OP_EXISTS) {
				if (val)
					err(c, rp, "\"exists\" takes no value");
			} else if (o >= 0 && !val) {
				err(c, rp, "missing \"value\"");
			} else if ((o == MENU_OP_LT || o == MENU_OP_GT) && !json_is_integer(val)) {
				err(c, rp, "\"lt\"/\"gt\" compare with an integer");
			} else if (o == MENU_OP_IN && !json_is_array(val)) {
				err(c, rp, "\"in\" takes an array");
			}
			s->routes[i].value = json_incref(val);
			s->routes[i].next = resolve(c, r, "next", rp, true);
		}
	}
	s->dflt = resolve(c, obj, "default", ptr, true);
}

static const char *const end_reasons[] = {"none", "user", "app", "timeout", "error", "lockout"};

static void compile_screen(struct cc *c, const json_t *obj, const char *ptr, int idx)
{
	struct menu_screen *s = &c->m->scr[idx];
	const char *type = get_str(c, obj, "type", ptr, true);
	s->next = s->yes = s->no = s->dflt = s->on_error = s->on_timeout = s->lockout = -1;
	s->nav = true;
	if (!type)
		return;
	if (!strcmp(type, "menu")) {
		s->type = MENU_SCR_MENU;
		compile_menu_screen(c, obj, ptr, s, idx);
	} else if (!strcmp(type, "input")) {
		s->type = MENU_SCR_INPUT;
		compile_input(c, obj, ptr, s, idx);
	} else if (!strcmp(type, "confirm")) {
		static const char *const k[] = {"yes", "no", NULL};
		s->type = MENU_SCR_CONFIRM;
		check_screen_keys(c, obj, ptr, k);
		compile_text_key(c, obj, "text", ptr, &s->text, true, idx, TC_CONFIRM);
		s->yes = resolve(c, obj, "yes", ptr, true);
		s->no = resolve(c, obj, "no", ptr, true);
		s->retries = c->m->default_retries;
	} else if (!strcmp(type, "router")) {
		s->type = MENU_SCR_ROUTER;
		compile_router(c, obj, ptr, s);
	} else if (!strcmp(type, "action")) {
		static const char *const k[] = {"action", "deadline_ms", "store", "keep", "consume",
						"next", "on_error", "on_timeout", NULL};
		s->type = MENU_SCR_ACTION;
		check_screen_keys(c, obj, ptr, k);
		if (json_object_get(obj, "text"))
			err(c, ptr, "an action screen shows no text");
		compile_action_spec(c, obj, ptr, &s->act, idx);
		s->next = resolve(c, obj, "next", ptr, true);
		compile_keep_consume(c, obj, ptr, &s->act);
		const char *store = get_str(c, obj, "store", ptr, false);
		if (s->act.kind == MENU_ACT_SMS) {
			if (store || json_object_get(obj, "on_error") || json_object_get(obj, "on_timeout") ||
			    json_object_get(obj, "deadline_ms"))
				err(c, ptr, "an sms action is fire-and-forget: only \"next\"");
		} else {
			s->act.deadline_ms = (int)get_int(c, obj, "deadline_ms", ptr, 3000, 100, 60000);
			if (s->act.deadline_ms > c->m->answer_ms)
				err(c, ptr, "\"deadline_ms\" %d exceeds the answer budget %lld ms",
				    s->act.deadline_ms, (long long)c->m->answer_ms);
			s->on_error = resolve(c, obj, "on_error", ptr, true);
			s->on_timeout = resolve(c, obj, "on_timeout", ptr, true);
			if (store) {
				if (!valid_name(store))
					err(c, ptr, "\"store\" must be a plain variable name");
				s->act.store = xstrdup(store);
				var_def(c, store, -1);
			}
		}
	} else if (!strcmp(type, "end")) {
		static const char *const k[] = {"reason", NULL};
		s->type = MENU_SCR_END;
		check_screen_keys(c, obj, ptr, k);
		compile_text_key(c, obj, "text", ptr, &s->text, true, idx, TC_BLOCK);
		s->reason = MENU_END_APP;
		const char *r = get_str(c, obj, "reason", ptr, false);
		if (r) {
			if (!strcmp(r, "app"))
				s->reason = MENU_END_APP;
			else if (!strcmp(r, "user"))
				s->reason = MENU_END_USER;
			else if (!strcmp(r, "error"))
				s->reason = MENU_END_ERROR;
			else
				err(c, ptr, "\"reason\" must be app, user or error");
		}
	} else {
		char p[256];
		snprintf(p, sizeof(p), "%s/type", ptr);
		err(c, p, "unknown screen type \"%s\" (menu, input, confirm, router, action, end)",
		    type);
	}
	(void)end_reasons;
}

/* ------------------------------------------------------------------ */
/* Graph edges                                                          */

struct edge {
	int to;
	char label[24];
};

static size_t screen_edges(const struct menu_screen *s, struct edge *e, size_t max)
{
	size_t n = 0;
#define EDGE(t, ...)                                                                               \
	do {                                                                                       \
		if ((t) >= 0 && n < max) {                                                         \
			e[n].to = (t);                                                             \
			snprintf(e[n].label, sizeof(e[n].label), __VA_ARGS__);                     \
			n++;                                                                       \
		}                                                                                  \
	} while (0)
	switch (s->type) {
	case MENU_SCR_MENU:
		if (s->items && s->items->next >= 0)
			EDGE(s->items->next, "item");
		for (size_t i = 0; i < s->nopts; i++)
			EDGE(s->opts[i].next, "%zu", i + 1);
		EDGE(s->lockout, "lockout");
		break;
	case MENU_SCR_INPUT:
		EDGE(s->next, "ok");
		EDGE(s->on_timeout, "timeout");
		EDGE(s->lockout, "lockout");
		break;
	case MENU_SCR_CONFIRM:
		EDGE(s->yes, "yes");
		EDGE(s->no, "no");
		break;
	case MENU_SCR_ROUTER:
		for (size_t i = 0; i < s->nroutes; i++)
			EDGE(s->routes[i].next, "%s", s->routes[i].var ? s->routes[i].var : "?");
		EDGE(s->dflt, "default");
		break;
	case MENU_SCR_ACTION:
		EDGE(s->next, "ok");
		EDGE(s->on_error, "error");
		EDGE(s->on_timeout, "timeout");
		break;
	case MENU_SCR_END:
		break;
	}
#undef EDGE
	return n;
}

#define EDGES_MAX 256

static bool interactive_type(enum menu_scr_type t)
{
	return t == MENU_SCR_MENU || t == MENU_SCR_INPUT || t == MENU_SCR_CONFIRM;
}

static bool has_resume_edge(const struct menu_screen *s)
{
	if (s->type == MENU_SCR_CONFIRM)
		return s->yes == MENU_TARGET_RESUME || s->no == MENU_TARGET_RESUME;
	if (s->type == MENU_SCR_MENU)
		for (size_t i = 0; i < s->nopts; i++)
			if (s->opts[i].next == MENU_TARGET_RESUME)
				return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Text length checks                                                   */

static int tpl_width_cb(void *cls, const char *name, const char *filter)
{
	struct cc *c = cls;
	const struct text_check *tc = c->cur_tc;
	if (!name) {
		err(c, tc->ptr, "malformed placeholder (use {{name}} or {{name|filter}})");
		return -1;
	}
	if (*filter && strcmp(filter, "money") && strcmp(filter, "masked")) {
		err(c, tc->ptr, "unknown filter \"%s\" (money, masked)", filter);
		return -1;
	}
	int w = -1;
	if (!strcmp(name, "item") || !strncmp(name, "item.", 5)) {
		if (!tc->item_ok) {
			err(c, tc->ptr, "{{%s}} is only valid in an items label", name);
			return -1;
		}
		w = c->m->scr[tc->scr].items ? c->m->scr[tc->scr].items->item_max : 0;
		return w; /* the whole label is bounded by item_max */
	}
	const struct var_def *v = var_find(c, name);
	if (!v) {
		char base[64];
		snprintf(base, sizeof(base), "%s", name);
		char *dot = strchr(base, '.');
		if (dot)
			*dot = '\0';
		const struct var_def *b = var_find(c, base);
		if (!b) {
			err(c, tc->ptr, "unknown variable \"%s\"", name);
			return -1;
		}
		if (b->max < 0 || dot) {
			err(c, tc->ptr,
			    "variable \"%s\" has no declared max length (declare it in \"variables\")",
			    name);
			return -1;
		}
		v = b;
	}
	if (v->max < 0) {
		err(c, tc->ptr, "variable \"%s\" has no declared max length (declare it in \"variables\")",
		    name);
		return -1;
	}
	w = v->max;
	if (!strcmp(filter, "money"))
		w = (int)strlen(c->m->currency) + 2 + w + w / 3 + 1 + (c->m->currency_exp ? 2 : 0);
	return w;
}

struct width {
	int chars;
	bool nongsm;
	bool bad;
};

static struct width text_width(struct cc *c, const struct text_check *tc, const char *s)
{
	struct width w = {0, false, false};
	if (!s)
		return w;
	c->cur_tc = tc;
	int n = menu_tpl_walk(s, tpl_width_cb, c, &w.nongsm);
	if (n < 0)
		w.bad = true;
	else
		w.chars = n;
	return w;
}

static int plain_width(const char *s, bool *nongsm)
{
	if (!s)
		return 0;
	int g = menu_gsm7_len(s, strlen(s));
	if (g >= 0)
		return g;
	*nongsm = true;
	return menu_ucs2_len(s, strlen(s));
}

static void check_len(struct cc *c, const char *ptr, size_t li, int chars, bool nongsm,
		      const char *what)
{
	int limit = nongsm ? c->m->ucs2_chars : c->m->screen_chars;
	if (chars > limit)
		err(c, ptr, "%s too long in \"%s\": %d > %d %s characters (worst case)", what,
		    c->m->lang[li], chars, limit, nongsm ? "UCS2" : "GSM-7");
}

/* Width of the navigation lines a menu page may carry: "\n98. More\n0. Back". */
static int nav_width(struct cc *c, size_t li, bool *nongsm)
{
	struct menu *m = c->m;
	return 2 + (int)strlen(m->nav_more) + 2 + plain_width(m->more_label.t[li], nongsm) + 1 +
	       (int)strlen(m->nav_back) + 2 + plain_width(m->back_label.t[li], nongsm);
}

static void check_texts(struct cc *c)
{
	struct menu *m = c->m;
	for (size_t k = 0; k < c->ntc; k++) {
		const struct text_check *tc = &c->tc[k];
		for (size_t li = 0; li < m->nlang; li++) {
			struct width w = text_width(c, tc, tc->t->t[li]);
			if (w.bad)
				break; /* reported once, not per language */
			const struct menu_screen *s = tc->scr >= 0 ? &m->scr[tc->scr] : NULL;
			int total = w.chars;
			bool ng = w.nongsm;
			switch (tc->kind) {
			case TC_BLOCK:
				check_len(c, tc->ptr, li, total, ng, "text");
				break;
			case TC_PROMPT:
				if (s && s->has_error)
					total += 1 + plain_width(s->error.t[li], &ng);
				check_len(c, tc->ptr, li, total, ng, "prompt");
				break;
			case TC_CONFIRM:
				total += 4 + plain_width(m->yes_label.t[li], &ng) + 4 +
					 plain_width(m->no_label.t[li], &ng);
				if (s && s->has_error)
					total += 1 + plain_width(s->error.t[li], &ng);
				check_len(c, tc->ptr, li, total, ng, "confirm text");
				break;
			case TC_HEADER:
				total += nav_width(c, li, &ng);
				if (s && s->has_error)
					total += 1 + plain_width(s->error.t[li], &ng);
				check_len(c, tc->ptr, li, total, ng, "menu header");
				break;
			case TC_OPTION:
			case TC_ITEM: {
				/* One option must fit on a page next to the header and navigation. */
				struct text_check hc = *tc;
				hc.kind = TC_HEADER;
				hc.item_ok = false;
				struct width hw = text_width(c, &hc, s ? s->text.t[li] : NULL);
				if (hw.bad)
					break;
				if (tc->kind == TC_ITEM && s && s->items)
					total = s->items->item_max; /* labels are cut to item_max */
				total += hw.chars + 1 + 5 + nav_width(c, li, &ng);
				ng = ng || hw.nongsm;
				check_len(c, tc->ptr, li, total, ng, "option (with header and navigation)");
				break;
			}
			case TC_SMS:
			case TC_NAV:
				break;
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Reachability, dead ends, time budget                                 */

static void check_graph(struct cc *c, const char *const *ptrs)
{
	struct menu *m = c->m;
	if (m->nscr == 0 || m->start < 0)
		return;
	bool *seen = calloc(m->nscr, sizeof(bool));
	int *stack = malloc(m->nscr * sizeof(int) * (EDGES_MAX + 1));
	struct edge *e = malloc(EDGES_MAX * sizeof(*e));
	if (!seen || !stack || !e)
		goto out;
	size_t sp = 0;
	stack[sp++] = m->start;
	if (m->resume >= 0)
		stack[sp++] = m->resume;
	while (sp) {
		int i = stack[--sp];
		if (i < 0 || seen[i])
			continue;
		seen[i] = true;
		size_t n = screen_edges(&m->scr[i], e, EDGES_MAX);
		for (size_t k = 0; k < n; k++)
			if (!seen[e[k].to])
				stack[sp++] = e[k].to;
	}
	/* A screen is live when some path from it reaches an end screen (or the
	 * resume jump); anything else traps the subscriber until the network
	 * times the session out. */
	bool *live = calloc(m->nscr, sizeof(bool));
	if (!live)
		goto out;
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < m->nscr; i++) {
			if (live[i])
				continue;
			const struct menu_screen *s = &m->scr[i];
			bool l = s->type == MENU_SCR_END || has_resume_edge(s);
			size_t n = screen_edges(s, e, EDGES_MAX);
			for (size_t k = 0; k < n && !l; k++)
				l = live[e[k].to];
			if (l) {
				live[i] = true;
				changed = true;
			}
		}
	}
	for (size_t i = 0; i < m->nscr; i++) {
		const struct menu_screen *s = &m->scr[i];
		if (s->id[0] == '#')
			continue; /* no usable id: reported already */
		if (!seen[i])
			err(c, ptrs[i], "screen \"%s\" is unreachable from \"%s\"", s->id,
			    m->scr[m->start].id);
		if (live[i])
			continue;
		if (screen_edges(s, e, EDGES_MAX) == 0 && s->type == MENU_SCR_MENU && !s->nopts &&
		    !s->items)
			continue; /* "needs options or items", reported at compile */
		if (screen_edges(s, e, EDGES_MAX) == 0)
			err(c, ptrs[i], "dead end: screen \"%s\" is not an end screen and has no way out",
			    s->id);
		else
			err(c, ptrs[i], "dead end: no path from screen \"%s\" reaches an end screen",
			    s->id);
	}
	free(live);
out:
	free(seen);
	free(stack);
	free(e);
}

/* Worst-case time of any path from screen i to an end: interactive screens
 * cost step_ms, awaited actions their deadline. Edges back onto the current
 * path (loops, "back") are not followed. */
static int64_t worst_path(const struct menu *m, int i, uint8_t *state, int64_t *memo, int *nextp,
			  int depth)
{
	if (state[i] == 2)
		return memo[i];
	if (state[i] == 1 || depth > 512)
		return 0;
	state[i] = 1;
	const struct menu_screen *s = &m->scr[i];
	int64_t cost = 0;
	switch (s->type) {
	case MENU_SCR_MENU:
	case MENU_SCR_INPUT:
	case MENU_SCR_CONFIRM:
		cost = m->step_ms;
		if (s->type == MENU_SCR_INPUT && s->in_kind == MENU_IN_PIN)
			cost += s->verify.deadline_ms;
		break;
	case MENU_SCR_ACTION:
		cost = s->act.deadline_ms;
		break;
	case MENU_SCR_END:
		cost = m->step_ms;
		break;
	default:
		break;
	}
	struct edge e[64];
	size_t n = screen_edges(s, e, 64);
	int64_t best = 0;
	int bnext = -1;
	for (size_t k = 0; k < n; k++) {
		if (!strcmp(e[k].label, "lockout"))
			continue;
		int64_t w = worst_path(m, e[k].to, state, memo, nextp, depth + 1);
		if (w > best || bnext < 0) {
			best = w;
			bnext = e[k].to;
		}
	}
	state[i] = 2;
	memo[i] = cost + best;
	nextp[i] = bnext;
	return memo[i];
}

/* Longest chain of awaited actions one answer can trigger from screen i
 * (through routers, sms and awaited actions, up to the next screen shown).
 * Memoised: menus with many branching actions stay linear. A loop made of
 * actions and routers only is not followed again (the interpreter stops it). */
static int64_t chain_ms(const struct menu *m, int i, uint8_t *state, int64_t *memo)
{
	if (i < 0)
		return 0;
	if (state[i] == 2)
		return memo[i];
	if (state[i] == 1)
		return 0;
	const struct menu_screen *s = &m->scr[i];
	if (s->type != MENU_SCR_ROUTER && s->type != MENU_SCR_ACTION) {
		state[i] = 2;
		memo[i] = 0;
		return 0;
	}
	state[i] = 1;
	struct edge e[EDGES_MAX];
	size_t n = screen_edges(s, e, EDGES_MAX);
	int64_t best = 0;
	for (size_t k = 0; k < n; k++) {
		int64_t w = chain_ms(m, e[k].to, state, memo);
		if (w > best)
			best = w;
	}
	if (s->type == MENU_SCR_ACTION && s->act.kind != MENU_ACT_SMS)
		best += s->act.deadline_ms;
	state[i] = 2;
	memo[i] = best;
	return best;
}

static void check_answer_budget(struct cc *c, const char *const *ptrs)
{
	const struct menu *m = c->m;
	uint8_t *state = calloc(m->nscr, 1);
	int64_t *memo = calloc(m->nscr, sizeof(int64_t));
	struct edge *e = malloc(EDGES_MAX * sizeof(*e));
	if (!state || !memo || !e)
		goto out;
	for (size_t i = 0; i < m->nscr; i++) {
		const struct menu_screen *s = &m->scr[i];
		if (!interactive_type(s->type))
			continue;
		int64_t worst = 0;
		size_t n = screen_edges(s, e, EDGES_MAX);
		for (size_t k = 0; k < n; k++) {
			int64_t w = chain_ms(m, e[k].to, state, memo);
			if (w > worst)
				worst = w;
		}
		if (s->type == MENU_SCR_INPUT && s->in_kind == MENU_IN_PIN)
			worst += s->verify.deadline_ms;
		if (worst > m->answer_ms)
			err(c, ptrs[i],
			    "an answer on \"%s\" can wait %lld ms for actions, over the answer budget of %lld ms",
			    s->id, (long long)worst, (long long)m->answer_ms);
	}
out:
	free(state);
	free(memo);
	free(e);
}

static void check_budget(struct cc *c, const char *const *ptrs)
{
	struct menu *m = c->m;
	if (m->start < 0 || m->nscr == 0)
		return;
	uint8_t *state = calloc(m->nscr, 1);
	int64_t *memo = calloc(m->nscr, sizeof(int64_t));
	int *nextp = malloc(m->nscr * sizeof(int));
	if (state && memo && nextp) {
		int64_t w = worst_path(m, m->start, state, memo, nextp, 0);
		if (w > m->session_ms) {
			char path[160] = "";
			size_t o = 0;
			int steps = 0;
			for (int i = m->start; i >= 0 && steps < 40; i = nextp[i], steps++) {
				int k = snprintf(path + o, sizeof(path) - o, "%s%s", o ? ">" : "",
						 m->scr[i].id);
				if (k < 0 || (size_t)k >= sizeof(path) - o)
					break;
				o += (size_t)k;
			}
			err(c, ptrs[m->start],
			    "worst-case path takes %lld ms, over the session budget of %lld ms: %s",
			    (long long)w, (long long)m->session_ms, path);
		}
	}
	free(state);
	free(memo);
	free(nextp);
}

/* ------------------------------------------------------------------ */
/* Templates inside action parameters                                   */

static void check_param_templates(struct cc *c, const json_t *v, const char *ptr, int scr)
{
	if (json_is_string(v)) {
		struct text_check tc = {.scr = scr, .kind = TC_SMS};
		snprintf(tc.ptr, sizeof(tc.ptr), "%s", ptr);
		c->cur_tc = &tc;
		bool ng;
		/* Width does not matter here, only that every variable is known. */
		const char *s = json_string_value(v);
		if (strstr(s, "{{"))
			(void)menu_tpl_walk(s, tpl_width_cb, c, &ng);
		return;
	}
	const char *key;
	json_t *val;
	size_t i;
	char p[300];
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, val) {
			snprintf(p, sizeof(p), "%s/%s", ptr, key);
			check_param_templates(c, val, p, scr);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, val) {
			snprintf(p, sizeof(p), "%s/%zu", ptr, i);
			check_param_templates(c, val, p, scr);
		}
	}
}

/* Action stores may hold anything: let templates use their fields once declared. */
static int var_param_cb(void *cls, const char *name, const char *filter)
{
	(void)filter;
	struct cc *c = cls;
	if (!name) {
		err(c, c->cur_tc->ptr, "malformed placeholder");
		return -1;
	}
	char base[64];
	snprintf(base, sizeof(base), "%s", name);
	char *dot = strchr(base, '.');
	if (dot)
		*dot = '\0';
	if (!var_find(c, base) && !var_find(c, name)) {
		err(c, c->cur_tc->ptr, "unknown variable \"%s\"", name);
		return -1;
	}
	return 0;
}

static void check_params(struct cc *c, const json_t *v, const char *ptr, int scr)
{
	if (json_is_string(v)) {
		struct text_check tc = {.scr = scr, .kind = TC_SMS};
		snprintf(tc.ptr, sizeof(tc.ptr), "%s", ptr);
		c->cur_tc = &tc;
		bool ng;
		(void)menu_tpl_walk(json_string_value(v), var_param_cb, c, &ng);
		return;
	}
	const char *key;
	json_t *val;
	size_t i;
	char p[300];
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, val) {
			snprintf(p, sizeof(p), "%s/%s", ptr, key);
			check_params(c, val, p, scr);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, val) {
			snprintf(p, sizeof(p), "%s/%zu", ptr, i);
			check_params(c, val, p, scr);
		}
	}
	(void)check_param_templates;
}

/* Variable references that may name stores of later screens: checked once
 * every screen has defined its variables. */
static bool var_known(const struct cc *c, const char *path)
{
	char base[64];
	snprintf(base, sizeof(base), "%s", path);
	char *dot = strchr(base, '.');
	if (dot)
		*dot = '\0';
	return var_find(c, base) || var_find(c, path);
}

static void check_deferred(struct cc *c, const char *const *ptrs)
{
	const struct menu *m = c->m;
	char p[300];
	for (size_t i = 0; i < m->nscr; i++) {
		const struct menu_screen *s = &m->scr[i];
		if (s->items && s->items->from && !var_known(c, s->items->from)) {
			snprintf(p, sizeof(p), "%s/items/from", ptrs[i]);
			err(c, p, "unknown variable \"%s\"", s->items->from);
		}
		for (size_t k = 0; k < s->nopts; k++) {
			if (s->opts[k].set) {
				snprintf(p, sizeof(p), "%s/options/%zu/set", ptrs[i], k);
				check_params(c, s->opts[k].set, p, (int)i);
			}
		}
		for (size_t k = 0; k < s->nroutes; k++) {
			if (s->routes[k].var && !var_known(c, s->routes[k].var)) {
				snprintf(p, sizeof(p), "%s/routes/%zu/var", ptrs[i], k);
				err(c, p, "unknown variable \"%s\"", s->routes[k].var);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Top level                                                            */

static void free_spec(struct menu_action_spec *a)
{
	json_decref(a->params);
	json_decref(a->keep);
	json_decref(a->consume);
	free(a->store);
}

void menu_free(struct menu *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nscr; i++) {
		struct menu_screen *s = &m->scr[i];
		free(s->id);
		free_text(&s->text);
		free_text(&s->error);
		for (size_t k = 0; k < s->nopts; k++) {
			free_text(&s->opts[k].label);
			json_decref(s->opts[k].set);
		}
		free(s->opts);
		if (s->items) {
			free(s->items->from);
			free(s->items->store);
			free_text(&s->items->label);
			free(s->items);
		}
		free(s->store);
		free(s->country_code);
		if (s->has_re)
			regfree(&s->re);
		free_spec(&s->verify);
		free(s->token_var);
		for (size_t k = 0; k < s->nroutes; k++) {
			free(s->routes[k].var);
			json_decref(s->routes[k].value);
		}
		free(s->routes);
		free_spec(&s->act);
	}
	free(m->scr);
	for (size_t i = 0; i < m->nvars; i++)
		free(m->vars[i].name);
	free(m->vars);
	free_text(&m->more_label);
	free_text(&m->back_label);
	free_text(&m->yes_label);
	free_text(&m->no_label);
	free_text(&m->lockout_text);
	free_text(&m->error_text);
	free_text(&m->invalid_text);
	free(m->id);
	free(m);
}

static void default_text(struct menu *m, struct menu_text *t, const char *s)
{
	for (size_t i = 0; i < m->nlang; i++)
		if (!t->t[i])
			t->t[i] = strdup(s);
}

static void compile_top(struct cc *c, json_t *root)
{
	struct menu *m = c->m;
	static const char *const k[] = {"id", "languages", "service_code", "start", "currency",
					"limits", "navigation", "messages", "retries", "resume",
					"variables", "screens", "description", NULL};
	check_keys(c, root, "", k);
	const char *id = get_str(c, root, "id", "", true);
	m->id = strdup(id ? id : "");
	json_t *langs = json_object_get(root, "languages");
	if (!json_is_array(langs) || json_array_size(langs) == 0 ||
	    json_array_size(langs) > MENU_LANG_MAX) {
		err(c, langs ? "/languages" : "", "\"languages\" must list 1 to %d language codes",
		    MENU_LANG_MAX);
		snprintf(m->lang[0], sizeof(m->lang[0]), "en");
		m->nlang = 1;
	} else {
		size_t i;
		json_t *l;
		json_array_foreach(langs, i, l) {
			char p[64];
			snprintf(p, sizeof(p), "/languages/%zu", i);
			if (!json_is_string(l) || !valid_name(json_string_value(l)) ||
			    strlen(json_string_value(l)) >= sizeof(m->lang[0])) {
				err(c, p, "a language is a short code such as \"en\"");
				continue;
			}
			for (size_t j = 0; j < m->nlang; j++)
				if (!strcmp(m->lang[j], json_string_value(l)))
					err(c, p, "duplicate language \"%s\"", json_string_value(l));
			snprintf(m->lang[m->nlang++], sizeof(m->lang[0]), "%s", json_string_value(l));
		}
		if (m->nlang == 0) {
			snprintf(m->lang[0], sizeof(m->lang[0]), "en");
			m->nlang = 1;
		}
	}
	const char *sc = get_str(c, root, "service_code", "", true);
	if (sc) {
		/* "*384#" -> "384" */
		size_t n = strlen(sc);
		if (n < 3 || sc[0] != '*' || sc[n - 1] != '#' || n - 2 >= sizeof(m->service_code) ||
		    strspn(sc + 1, "0123456789*") != n - 2)
			err(c, "/service_code", "\"service_code\" must look like \"*384#\"");
		else
			snprintf(m->service_code, sizeof(m->service_code), "%.*s", (int)(n - 2),
				 sc + 1);
	}
	json_t *cur = json_object_get(root, "currency");
	snprintf(m->currency, sizeof(m->currency), "USD");
	m->currency_exp = 2;
	if (cur) {
		if (!json_is_object(cur)) {
			err(c, "/currency", "\"currency\" must be {\"code\": \"KES\", \"exponent\": 2}");
		} else {
			static const char *const ck[] = {"code", "exponent", NULL};
			check_keys(c, cur, "/currency", ck);
			const char *code = get_str(c, cur, "code", "/currency", true);
			if (code && (strlen(code) != 3 || strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
				err(c, "/currency/code", "\"code\" must be an ISO 4217 code");
			else if (code)
				snprintf(m->currency, sizeof(m->currency), "%s", code);
			m->currency_exp = (int)get_int(c, cur, "exponent", "/currency", 2, 0, 4);
		}
	}
	json_t *lim = json_object_get(root, "limits");
	json_t *empty = json_object();
	if (lim && !json_is_object(lim))
		err(c, "/limits", "\"limits\" must be an object");
	if (!json_is_object(lim))
		lim = empty;
	static const char *const lk[] = {"screen_chars", "ucs2_chars", "session_ms", "step_ms",
					 "answer_ms", NULL};
	check_keys(c, lim, "/limits", lk);
	m->screen_chars = (int)get_int(c, lim, "screen_chars", "/limits", 160, 40, 182);
	m->ucs2_chars = (int)get_int(c, lim, "ucs2_chars", "/limits", 80, 20, 91);
	m->session_ms = get_int(c, lim, "session_ms", "/limits", 180000, 10000, 3600000);
	m->step_ms = get_int(c, lim, "step_ms", "/limits", 8000, 0, 600000);
	m->answer_ms = get_int(c, lim, "answer_ms", "/limits", 10000, 1000, 60000);

	json_t *nav = json_object_get(root, "navigation");
	if (nav && !json_is_object(nav))
		err(c, "/navigation", "\"navigation\" must be an object");
	if (!json_is_object(nav))
		nav = empty;
	static const char *const nk[] = {"back", "home", "more", "back_label", "more_label",
					 "yes_label", "no_label", NULL};
	check_keys(c, nav, "/navigation", nk);
	struct {
		const char *key, *dflt;
		char *dst;
	} toks[] = {{"back", "0", m->nav_back}, {"home", "00", m->nav_home}, {"more", "98", m->nav_more}};
	for (size_t i = 0; i < 3; i++) {
		const char *t = get_str(c, nav, toks[i].key, "/navigation", false);
		if (!t)
			t = toks[i].dflt;
		if (!*t || strlen(t) > 4 || strspn(t, "0123456789*#") != strlen(t))
			err(c, "/navigation", "navigation token \"%s\" must be 1-4 digits", toks[i].key);
		else
			snprintf(toks[i].dst, 8, "%s", t);
	}
	if (!strcmp(m->nav_back, m->nav_home) || !strcmp(m->nav_back, m->nav_more) ||
	    !strcmp(m->nav_home, m->nav_more))
		err(c, "/navigation", "navigation tokens must differ");
	compile_text_key(c, nav, "back_label", "/navigation", &m->back_label, false, -1, -1);
	compile_text_key(c, nav, "more_label", "/navigation", &m->more_label, false, -1, -1);
	compile_text_key(c, nav, "yes_label", "/navigation", &m->yes_label, false, -1, -1);
	compile_text_key(c, nav, "no_label", "/navigation", &m->no_label, false, -1, -1);
	default_text(m, &m->back_label, "Back");
	default_text(m, &m->more_label, "More");
	default_text(m, &m->yes_label, "Yes");
	default_text(m, &m->no_label, "No");

	json_t *msgs = json_object_get(root, "messages");
	if (msgs && !json_is_object(msgs))
		err(c, "/messages", "\"messages\" must be an object");
	if (!json_is_object(msgs))
		msgs = empty;
	static const char *const mk[] = {"invalid", "lockout", "error", NULL};
	check_keys(c, msgs, "/messages", mk);
	compile_text_key(c, msgs, "invalid", "/messages", &m->invalid_text, false, -1, -1);
	compile_text_key(c, msgs, "lockout", "/messages", &m->lockout_text, false, -1, TC_BLOCK);
	compile_text_key(c, msgs, "error", "/messages", &m->error_text, false, -1, TC_BLOCK);
	default_text(m, &m->invalid_text, "Invalid choice.");
	default_text(m, &m->lockout_text, "Too many invalid attempts. Please try again later.");
	default_text(m, &m->error_text, "Service unavailable. Please try again later.");
	m->default_retries = (int)get_int(c, root, "retries", "", 3, 1, 10);

	var_def(c, "msisdn", 15);
	var_def(c, "lang", 7);
	json_t *vars = json_object_get(root, "variables");
	if (vars) {
		if (!json_is_object(vars)) {
			err(c, "/variables", "\"variables\" must be an object");
		} else {
			const char *vk;
			json_t *vv;
			json_object_foreach(vars, vk, vv) {
				char p[128];
				snprintf(p, sizeof(p), "/variables/%s", vk);
				static const char *const dk[] = {"max", NULL};
				if (!json_is_object(vv)) {
					err(c, p, "a variable declaration is {\"max\": N}");
					continue;
				}
				check_keys(c, vv, p, dk);
				int mx = (int)get_int(c, vv, "max", p, -1, 1, 160);
				if (mx < 0)
					err(c, p, "missing \"max\"");
				if (strlen(vk) >= 64)
					err(c, p, "variable name too long");
				var_def(c, vk, mx);
			}
		}
	}
	json_decref(empty);
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
	uint8_t md[32];
	crypto_sha256(data, n, md);
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int compile(struct cc *c, json_t *root)
{
	struct menu *m = c->m;
	m->start = m->resume = -1;
	if (!json_is_object(root)) {
		err(c, "", "a menu is a JSON object");
		return GW_ECONFIG;
	}
	compile_top(c, root);
	json_t *screens = json_object_get(root, "screens");
	if (!json_is_array(screens) || json_array_size(screens) == 0) {
		err(c, screens ? "/screens" : "", "\"screens\" must be a non-empty array");
		return GW_ECONFIG;
	}
	m->nscr = json_array_size(screens);
	if (m->nscr > 1000) {
		err(c, "/screens", "too many screens (%zu > 1000)", m->nscr);
		m->nscr = 0;
		return GW_ECONFIG;
	}
	m->scr = calloc(m->nscr, sizeof(*m->scr));
	char **ptrs = calloc(m->nscr, sizeof(char *));
	if (!m->scr || !ptrs) {
		free(ptrs);
		m->nscr = 0;
		return GW_ENOMEM;
	}
	/* Pass 1: ids (and duplicates). */
	for (size_t i = 0; i < m->nscr; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/screens/%zu", i);
		ptrs[i] = strdup(p);
		json_t *s = json_array_get(screens, i);
		char idbuf[32];
		snprintf(idbuf, sizeof(idbuf), "#%zu", i);
		m->scr[i].id = strdup(idbuf);
		m->scr[i].type = MENU_SCR_END;
		m->scr[i].next = m->scr[i].yes = m->scr[i].no = m->scr[i].dflt = -1;
		m->scr[i].on_error = m->scr[i].on_timeout = m->scr[i].lockout = -1;
		if (!json_is_object(s)) {
			err(c, p, "a screen must be an object");
			continue;
		}
		const char *id = get_str(c, s, "id", p, true);
		if (!id)
			continue;
		char ip[80];
		snprintf(ip, sizeof(ip), "%s/id", p);
		if (!valid_name(id)) {
			err(c, ip, "screen id \"%s\" must be letters, digits, '_' or '-'", id);
			continue;
		}
		if (menu_screen_index(m, id) >= 0) {
			err(c, ip, "duplicate screen id \"%s\"", id);
			continue;
		}
		free(m->scr[i].id);
		m->scr[i].id = strdup(id);
	}
	/* Pass 2: screens. */
	for (size_t i = 0; i < m->nscr; i++) {
		json_t *s = json_array_get(screens, i);
		if (json_is_object(s))
			compile_screen(c, s, ptrs[i], (int)i);
	}
	/* Options that set variables define them too; item sources and router
	 * variables may refer to stores of later screens, so resolve them now. */
	const char *start = get_str(c, root, "start", "", true);
	if (start) {
		m->start = menu_screen_index(m, start);
		if (m->start < 0)
			err(c, "/start", "unknown screen \"%s\"", start);
		else if (m->scr[m->start].type == MENU_SCR_ACTION)
			err(c, "/start", "the start screen cannot be an action");
	}
	json_t *res = json_object_get(root, "resume");
	if (res) {
		static const char *const rk[] = {"screen", "within_ms", NULL};
		if (!json_is_object(res)) {
			err(c, "/resume", "\"resume\" must be an object");
		} else {
			check_keys(c, res, "/resume", rk);
			m->resume = resolve(c, res, "screen", "/resume", true);
			m->resume_within_ms = get_int(c, res, "within_ms", "/resume", 120000, 1000,
						      3600000);
			bool offers = m->resume >= 0 && has_resume_edge(&m->scr[m->resume]);
			if (m->resume >= 0 && !offers)
				err(c, "/resume/screen", "the resume screen must offer \"@resume\"");
		}
	}
	for (size_t i = 0; i < m->nscr; i++)
		if (has_resume_edge(&m->scr[i]) && (m->resume < 0 || (int)i != m->resume))
			err(c, ptrs[i], "\"@resume\" is only valid on the resume screen");
	/* Pass 3: texts (lengths, templates), action parameters, graph, budget. */
	check_deferred(c, (const char *const *)ptrs);
	check_texts(c);
	for (size_t i = 0; i < m->nscr; i++) {
		char p[96];
		snprintf(p, sizeof(p), "%s/action", ptrs[i]);
		if (m->scr[i].type == MENU_SCR_ACTION && m->scr[i].act.params)
			check_params(c, m->scr[i].act.params, p, (int)i);
		snprintf(p, sizeof(p), "%s/verify", ptrs[i]);
		if (m->scr[i].verify.params)
			check_params(c, m->scr[i].verify.params, p, (int)i);
	}
	if (m->start >= 0) {
		check_graph(c, (const char *const *)ptrs);
		check_budget(c, (const char *const *)ptrs);
		check_answer_budget(c, (const char *const *)ptrs);
	}
	for (size_t i = 0; i < m->nscr; i++)
		free(ptrs[i]);
	free(ptrs);
	/* Keep declared widths for the interpreter (truncation of list labels). */
	m->vars = calloc(c->nvars ? c->nvars : 1, sizeof(*m->vars));
	if (m->vars) {
		for (size_t i = 0; i < c->nvars; i++) {
			m->vars[i].name = strdup(c->vars[i].name);
			m->vars[i].max = c->vars[i].max;
		}
		m->nvars = c->nvars;
	}
	/* Version: SHA-256 over the canonical form (sorted keys, no whitespace). */
	char *canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (!canon)
		return GW_ENOMEM;
	sha256_hex(canon, strlen(canon), m->hash);
	free(canon);
	memcpy(m->version, m->hash, 16);
	m->version[16] = '\0';
	return c->errors ? GW_ECONFIG : 0;
}

int menu_load_buffer(const char *buf, size_t len, struct menu **out, struct menu_diags *diags)
{
	*out = NULL;
	if (len > MENU_FILE_MAX) {
		diag_add(diags, 1, 1, "menu file too large");
		return GW_EMSGSIZE;
	}
	json_error_t je;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		diag_add(diags, je.line > 0 ? je.line : 1, je.column > 0 ? je.column : 1, je.text);
		return GW_EPROTO_MALFORMED;
	}
	struct cc c = {.d = diags};
	c.m = calloc(1, sizeof(*c.m));
	if (!c.m) {
		json_decref(root);
		return GW_ENOMEM;
	}
	posidx_build(&c.pos, buf, len);
	int rc = compile(&c, root);
	posidx_free(&c.pos);
	free(c.vars);
	free(c.tc);
	json_decref(root);
	if (diags && diags->n > 1)
		qsort(diags->v, diags->n, sizeof(diags->v[0]), diag_cmp);
	if (rc) {
		menu_free(c.m);
		return rc;
	}
	*out = c.m;
	return 0;
}

int menu_load_file(const char *path, struct menu **out, struct menu_diags *diags)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		diag_add(diags, 1, 1, strerror(errno));
		return errno == ENOENT ? GW_ENOENT : GW_EIO;
	}
	char *buf = malloc(MENU_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return GW_ENOMEM;
	}
	size_t n = fread(buf, 1, MENU_FILE_MAX + 1, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		diag_add(diags, 1, 1, "read error");
		return GW_EIO;
	}
	int rc = menu_load_buffer(buf, n, out, diags);
	free(buf);
	return rc;
}

const char *menu_id(const struct menu *m)
{
	return m->id;
}

const char *menu_hash(const struct menu *m)
{
	return m->hash;
}

const char *menu_version(const struct menu *m)
{
	return m->version;
}

size_t menu_screen_count(const struct menu *m)
{
	return m->nscr;
}

const char *menu_screen_id(const struct menu *m, size_t i)
{
	return i < m->nscr ? m->scr[i].id : NULL;
}

int menu_screen_index(const struct menu *m, const char *id)
{
	for (size_t i = 0; i < m->nscr; i++)
		if (m->scr[i].id && !strcmp(m->scr[i].id, id))
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Graph output                                                         */

static const char *const scr_type_names[] = {"menu", "input", "confirm", "router", "action", "end"};

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0)
			return;
		if (b->s && b->n + (size_t)k < b->cap) {
			b->n += (size_t)k;
			return;
		}
		size_t nc = (b->cap + (size_t)k + 1) * 2;
		char *ns = realloc(b->s, nc);
		if (!ns)
			return;
		b->s = ns;
		b->cap = nc;
	}
}

char *menu_graph(const struct menu *m, bool mermaid)
{
	struct sbuf b = {0};
	struct edge e[EDGES_MAX];
	if (mermaid)
		sb_printf(&b, "flowchart TD\n");
	else
		sb_printf(&b, "digraph \"%s\" {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n",
			  m->id);
	for (size_t i = 0; i < m->nscr; i++) {
		const struct menu_screen *s = &m->scr[i];
		const char *t = scr_type_names[s->type];
		if (mermaid) {
			if (s->type == MENU_SCR_ROUTER)
				sb_printf(&b, "  %s{\"%s (%s)\"}\n", s->id, s->id, t);
			else if (s->type == MENU_SCR_END)
				sb_printf(&b, "  %s([\"%s (%s)\"])\n", s->id, s->id, t);
			else
				sb_printf(&b, "  %s[\"%s (%s)\"]\n", s->id, s->id, t);
		} else {
			const char *shape = s->type == MENU_SCR_ROUTER   ? "diamond"
					    : s->type == MENU_SCR_END    ? "doublecircle"
					    : s->type == MENU_SCR_ACTION ? "hexagon"
									 : "box";
			sb_printf(&b, "  \"%s\" [shape=%s, label=\"%s\\n(%s)\"%s];\n", s->id, shape,
				  s->id, t, (int)i == m->start ? ", style=bold" : "");
		}
	}
	for (size_t i = 0; i < m->nscr; i++) {
		const struct menu_screen *s = &m->scr[i];
		size_t n = screen_edges(s, e, EDGES_MAX);
		for (size_t k = 0; k < n; k++) {
			if (mermaid)
				sb_printf(&b, "  %s -->|%s| %s\n", s->id, e[k].label, m->scr[e[k].to].id);
			else
				sb_printf(&b, "  \"%s\" -> \"%s\" [label=\"%s\"];\n", s->id,
					  m->scr[e[k].to].id, e[k].label);
		}
		if (has_resume_edge(s)) {
			if (mermaid)
				sb_printf(&b, "  %s -.->|resume| %s\n", s->id, s->id);
			else
				sb_printf(&b, "  \"%s\" -> \"@resume\" [style=dashed];\n", s->id);
		}
	}
	if (!mermaid)
		sb_printf(&b, "}\n");
	return b.s;
}
