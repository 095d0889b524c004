/* menu/ text helpers: GSM-7 / UCS2 screen lengths, templates, money.
 *
 * The GSM-7 counter is private to menu/: the SMPP text codec (src/smpp/)
 * owns the real converter; once it is in main this file should call it. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "menu/menu_int.h"

/* Decode one UTF-8 code point; returns bytes used (>= 1), *cp = 0xFFFD when invalid. */
static size_t utf8_next(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	size_t len;
	uint32_t c;
	if ((u[0] & 0xE0) == 0xC0) {
		len = 2;
		c = u[0] & 0x1F;
	} else if ((u[0] & 0xF0) == 0xE0) {
		len = 3;
		c = u[0] & 0x0F;
	} else if ((u[0] & 0xF8) == 0xF0) {
		len = 4;
		c = u[0] & 0x07;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	if (len > n) {
		*cp = 0xFFFD;
		return 1;
	}
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		c = (c << 6) | (u[i] & 0x3F);
	}
	*cp = c;
	return len;
}

/* Septets for one code point in GSM 03.38 (default table + extension), 0 if absent. */
static int gsm7_septets(uint32_t c)
{
	if (c == '\n' || c == '\r')
		return 1;
	if (c >= 0x20 && c < 0x7F) {
		switch (c) {
		case '`':
			return 0;
		case '^': case '{': case '}': case '\\': case '[': case ']': case '~': case '|':
			return 2;
		default:
			return 1;
		}
	}
	switch (c) {
	case 0x0C: case 0x20AC: /* form feed, euro sign */
		return 2;
	case 0xA3: case 0xA5: case 0xE8: case 0xE9: case 0xF9: case 0xEC: case 0xF2:
	case 0xC7: case 0xD8: case 0xF8: case 0xC5: case 0xE5: case 0x394: case 0x3A6:
	case 0x393: case 0x39B: case 0x3A9: case 0x3A0: case 0x3A8: case 0x3A3: case 0x398:
	case 0x39E: case 0xC6: case 0xE6: case 0xDF: case 0xC9: case 0xA4: case 0xA1:
	case 0xC4: case 0xD6: case 0xD1: case 0xDC: case 0xA7: case 0xBF: case 0xE4:
	case 0xF6: case 0xF1: case 0xFC: case 0xE0:
		return 1;
	default:
		return 0;
	}
}

int menu_gsm7_len(const char *s, size_t n)
{
	int total = 0;
	size_t i = 0;
	while (i < n) {
		uint32_t c;
		i += utf8_next(s + i, n - i, &c);
		int k = gsm7_septets(c);
		if (!k)
			return -1;
		total += k;
	}
	return total;
}

int menu_ucs2_len(const char *s, size_t n)
{
	int total = 0;
	size_t i = 0;
	while (i < n) {
		uint32_t c;
		i += utf8_next(s + i, n - i, &c);
		total += c > 0xFFFF ? 2 : 1;
	}
	return total;
}

int menu_utf8_chars(const char *s, size_t n)
{
	int total = 0;
	size_t i = 0;
	while (i < n) {
		uint32_t c;
		i += utf8_next(s + i, n - i, &c);
		total++;
	}
	return total;
}

size_t menu_utf8_prefix(const char *s, size_t n, int chars)
{
	size_t i = 0;
	while (i < n && chars > 0) {
		uint32_t c;
		i += utf8_next(s + i, n - i, &c);
		chars--;
	}
	return i;
}

int menu_screen_len(const struct menu *m, const char *s, int *limit, bool *ucs2)
{
	size_t n = strlen(s);
	int g = menu_gsm7_len(s, n);
	if (g >= 0) {
		*limit = m->screen_chars;
		*ucs2 = false;
		return g;
	}
	*limit = m->ucs2_chars;
	*ucs2 = true;
	return menu_ucs2_len(s, n);
}

const json_t *menu_var_get(const json_t *vars, const char *path)
{
	const json_t *v = vars;
	char part[64];
	while (v && *path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		if (len == 0 || len >= sizeof(part))
			return NULL;
		memcpy(part, path, len);
		part[len] = '\0';
		if (json_is_object(v))
			v = json_object_get(v, part);
		else
			return NULL;
		path += len + (dot ? 1 : 0);
	}
	return v;
}

void menu_money(const struct menu *m, int64_t minor, char *out, size_t outsz)
{
	char digits[32];
	uint64_t a = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
	int exp = m->currency_exp;
	uint64_t div = 1;
	for (int i = 0; i < exp; i++)
		div *= 10;
	uint64_t whole = a / div, frac = a % div;
	/* Thousands separators on the whole part. */
	char w[32];
	snprintf(w, sizeof(w), "%" PRIu64, whole);
	size_t wl = strlen(w), o = 0;
	for (size_t i = 0; i < wl && o + 2 < sizeof(digits); i++) {
		if (i && (wl - i) % 3 == 0)
			digits[o++] = ',';
		digits[o++] = w[i];
	}
	digits[o] = '\0';
	char fb[8];
	if (exp > 7)
		exp = 7;
	for (int i = exp - 1; i >= 0; i--) {
		fb[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	fb[exp > 0 ? exp : 0] = '\0';
	if (exp > 0)
		snprintf(out, outsz, "%s %s%s.%s", m->currency, minor < 0 ? "-" : "", digits, fb);
	else
		snprintf(out, outsz, "%s %s%s", m->currency, minor < 0 ? "-" : "", digits);
}

static void masked(const char *s, char *out, size_t outsz)
{
	size_t n = strlen(s), o = 0;
	size_t keep_head = n > 7 ? 4 : 0, keep_tail = n > 7 ? 3 : (n > 2 ? 2 : 0);
	for (size_t i = 0; i < n && o + 1 < outsz; i++)
		out[o++] = (i < keep_head || i >= n - keep_tail) ? s[i] : '*';
	out[o] = '\0';
}

static void value_text(const struct menu *m, const json_t *v, const char *filter, char *out,
		       size_t outsz)
{
	out[0] = '\0';
	if (!v)
		return;
	if (!strcmp(filter, "money")) {
		json_int_t minor = 0;
		if (json_is_integer(v))
			minor = json_integer_value(v);
		else if (json_is_string(v))
			minor = strtoll(json_string_value(v), NULL, 10);
		else
			return;
		menu_money(m, minor, out, outsz);
		return;
	}
	char tmp[256];
	tmp[0] = '\0';
	if (json_is_string(v))
		snprintf(tmp, sizeof(tmp), "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(tmp, sizeof(tmp), "%s", json_is_true(v) ? "yes" : "no");
	if (!strcmp(filter, "masked"))
		masked(tmp, out, outsz);
	else
		snprintf(out, outsz, "%s", tmp);
}

/* Parse "{{ name | filter }}" starting at p (pointing at "{{"); returns the
 * pointer past "}}" or NULL when unterminated/invalid. */
static const char *parse_placeholder(const char *p, char *name, size_t nsz, char *filter,
				     size_t fsz)
{
	const char *end = strstr(p + 2, "}}");
	if (!end)
		return NULL;
	const char *q = p + 2;
	while (q < end && *q == ' ')
		q++;
	size_t n = 0;
	while (q < end && (isalnum((unsigned char)*q) || *q == '_' || *q == '.')) {
		if (n + 1 >= nsz)
			return NULL;
		name[n++] = *q++;
	}
	name[n] = '\0';
	while (q < end && *q == ' ')
		q++;
	filter[0] = '\0';
	if (q < end && *q == '|') {
		q++;
		while (q < end && *q == ' ')
			q++;
		size_t f = 0;
		while (q < end && isalpha((unsigned char)*q)) {
			if (f + 1 >= fsz)
				return NULL;
			filter[f++] = *q++;
		}
		filter[f] = '\0';
		while (q < end && *q == ' ')
			q++;
	}
	if (q != end || n == 0)
		return NULL;
	return end + 2;
}

static void append(char *out, size_t outsz, size_t *o, const char *s, size_t n)
{
	if (*o + 1 >= outsz)
		return;
	size_t room = outsz - 1 - *o;
	if (n > room) {
		/* Do not cut a UTF-8 sequence in half. */
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
}

void menu_tpl_render(const struct menu *m, const char *tpl, const json_t *vars, const json_t *item,
		     char *out, size_t outsz)
{
	size_t o = strlen(out);
	const char *p = tpl;
	while (*p) {
		const char *open = strstr(p, "{{");
		if (!open) {
			append(out, outsz, &o, p, strlen(p));
			return;
		}
		append(out, outsz, &o, p, (size_t)(open - p));
		char name[64], filter[16];
		const char *after = parse_placeholder(open, name, sizeof(name), filter, sizeof(filter));
		if (!after) {
			append(out, outsz, &o, open, 2);
			p = open + 2;
			continue;
		}
		const json_t *v;
		if (!strcmp(name, "item") || !strncmp(name, "item.", 5))
			v = name[4] ? menu_var_get(item, name + 5) : item;
		else
			v = menu_var_get(vars, name);
		char val[256];
		value_text(m, v, filter, val, sizeof(val));
		append(out, outsz, &o, val, strlen(val));
		p = after;
	}
}

int menu_tpl_walk(const char *tpl, menu_tpl_cb cb, void *cls, bool *nongsm)
{
	int total = 0;
	bool bad = false;
	const char *p = tpl;
	*nongsm = false;
	while (*p) {
		const char *open = strstr(p, "{{");
		size_t lit = open ? (size_t)(open - p) : strlen(p);
		int g = menu_gsm7_len(p, lit);
		if (g < 0) {
			*nongsm = true;
			g = menu_ucs2_len(p, lit);
		}
		total += g;
		if (!open)
			break;
		char name[64], filter[16];
		const char *after = parse_placeholder(open, name, sizeof(name), filter, sizeof(filter));
		if (!after) {
			if (cb(cls, NULL, NULL) < 0)
				bad = true;
			total += 2;
			p = open + 2;
			continue;
		}
		int w = cb(cls, name, filter);
		if (w < 0)
			bad = true;
		else
			total += w;
		p = after;
	}
	return bad ? -1 : total;
}
