/* menu/: the interpreter (a pure function of menu, state and event) and the
 * session-state serializer.
 *
 * No I/O, no clock, no logging here: the session layer around it loads and
 * saves the state, starts the actions and feeds their results back. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menu/menu_int.h"
#include "ussdgw/gw_error.h"

static const char *const end_names[] = {"none", "user", "app", "timeout", "error", "lockout"};
static const char *const act_names[] = {"http", "pay", "sms", "pin_check"};
static const char *const out_names[] = {"continue", "end", "wait"};

const char *menu_end_reason_name(enum menu_end_reason r)
{
	return (unsigned)r < 6 ? end_names[r] : "?";
}

const char *menu_action_kind_name(enum menu_action_kind k)
{
	return (unsigned)k < 4 ? act_names[k] : "?";
}

const char *menu_out_kind_name(enum menu_out_kind k)
{
	return (unsigned)k < 3 ? out_names[k] : "?";
}

/* ------------------------------------------------------------------ */
/* State and output lifetime                                            */

void menu_state_init(struct menu_state *s)
{
	memset(s, 0, sizeof(*s));
	s->screen = -1;
	s->resume_screen = -1;
}

void menu_state_clear(struct menu_state *s)
{
	json_decref(s->vars);
	menu_state_init(s);
}

int menu_state_copy(struct menu_state *dst, const struct menu_state *src)
{
	*dst = *src;
	dst->vars = src->vars ? json_deep_copy(src->vars) : json_object();
	return dst->vars ? 0 : GW_ENOMEM;
}

void menu_output_clear(struct menu_output *o)
{
	for (size_t i = 0; i < o->nactions && i < MENU_ACTIONS_MAX; i++) {
		json_decref(o->actions[i].params);
		explicit_bzero(o->actions[i].secret, sizeof(o->actions[i].secret));
	}
	explicit_bzero(o, sizeof(*o));
}

/* ------------------------------------------------------------------ */
/* Step context                                                         */

struct step {
	const struct menu *m;
	struct menu_state *st;
	struct menu_output *res;
	const struct menu_event *ev;
};

enum input_res { IN_ACCEPTED, IN_INVALID, IN_STOP };

static const char *txt(const struct step *sp, const struct menu_text *t)
{
	const char *s = sp->st->lang < MENU_LANG_MAX ? t->t[sp->st->lang] : NULL;
	return s ? s : (t->t[0] ? t->t[0] : "");
}

static bool interactive(const struct menu_screen *s)
{
	return s->type == MENU_SCR_MENU || s->type == MENU_SCR_INPUT || s->type == MENU_SCR_CONFIRM;
}

static void set_text(struct step *sp, const char *s)
{
	struct menu_output *r = sp->res;
	int limit;
	bool ucs2;
	snprintf(r->text, sizeof(r->text), "%s", s);
	int len = menu_screen_len(sp->m, r->text, &limit, &ucs2);
	if (len > limit) {
		/* Only reachable when a variable exceeds its declared width: cut. */
		size_t keep = menu_utf8_prefix(r->text, strlen(r->text), limit - (ucs2 ? 0 : 0));
		r->text[keep] = '\0';
		while (menu_screen_len(sp->m, r->text, &limit, &ucs2) > limit && keep > 0) {
			keep = menu_utf8_prefix(r->text, keep, menu_utf8_chars(r->text, keep) - 1);
			r->text[keep] = '\0';
		}
	}
	menu_screen_len(sp->m, r->text, &limit, &ucs2);
	r->ucs2 = ucs2;
}

static void end_session(struct step *sp, enum menu_end_reason why, const char *text)
{
	/* PIN tokens are single-use and die with the session. */
	for (size_t i = 0; i < sp->m->nscr; i++)
		if (sp->m->scr[i].token_var)
			json_object_del(sp->st->vars, sp->m->scr[i].token_var);
	sp->res->kind = MENU_OUT_END;
	sp->res->reason = why;
	set_text(sp, text ? text : "");
	sp->st->ended = why;
	sp->st->wait_id[0] = '\0';
	sp->st->nqueue = 0;
}

/* ------------------------------------------------------------------ */
/* Menu pages                                                           */

struct entries {
	size_t n;
	size_t nitems;    /* the first nitems entries come from the list variable */
	bool selectable;  /* list entries take numbers */
	char line[2 * MENU_OPTIONS_MAX][4 * 160 + 16]; /* item_max chars of UTF-8 */
};

/* Entries of a menu screen: list items then static options, each one line. */
static void menu_entries(const struct step *sp, const struct menu_screen *s, struct entries *e)
{
	e->n = e->nitems = 0;
	e->selectable = false;
	size_t num = 1;
	if (s->items) {
		const json_t *list = menu_var_get(sp->st->vars, s->items->from);
		e->selectable = s->items->store != NULL;
		size_t i;
		const json_t *item;
		if (json_is_array(list)) {
			json_array_foreach(list, i, item) {
				if (e->n >= MENU_OPTIONS_MAX || i >= (size_t)s->items->max_items)
					break;
				char label[200] = "";
				menu_tpl_render(sp->m, txt(sp, &s->items->label), sp->st->vars, item,
						label, sizeof(label));
				size_t cut = menu_utf8_prefix(label, strlen(label), s->items->item_max);
				label[cut] = '\0';
				if (e->selectable)
					snprintf(e->line[e->n], sizeof(e->line[0]), "%zu. %s", num++, label);
				else
					snprintf(e->line[e->n], sizeof(e->line[0]), "%s", label);
				e->n++;
				e->nitems++;
			}
		}
	}
	for (size_t i = 0; i < s->nopts && e->n < 2 * MENU_OPTIONS_MAX; i++) {
		char label[160] = "";
		menu_tpl_render(sp->m, txt(sp, &s->opts[i].label), sp->st->vars, NULL, label,
				sizeof(label));
		snprintf(e->line[e->n], sizeof(e->line[0]), "%zu. %s", num++, label);
		e->n++;
	}
}

static bool fits(const struct step *sp, const char *s)
{
	int limit;
	bool ucs2;
	return menu_screen_len(sp->m, s, &limit, &ucs2) <= limit;
}

/* Compose page @p page into @p out; *more is set when later pages exist.
 * Pages past the last one are clamped to the last one. */
static int build_page(struct step *sp, const struct menu_screen *s, const char *prefix,
		      unsigned page, char *out, size_t outsz, bool *more)
{
	const struct menu *m = sp->m;
	struct entries *e = malloc(sizeof(*e));
	if (!e)
		return 0;
	menu_entries(sp, s, e);
	/* Page boundaries are computed without the error prefix so that option
	 * numbers and pages stay where the subscriber saw them. */
	char head[MENU_TEXT_MAX] = "";
	menu_tpl_render(m, txt(sp, &s->text), sp->st->vars, NULL, head, sizeof(head));
	char more_line[64], back_line[64];
	snprintf(more_line, sizeof(more_line), "\n%s. %s", m->nav_more, txt(sp, &m->more_label));
	snprintf(back_line, sizeof(back_line), "\n%s. %s", m->nav_back, txt(sp, &m->back_label));
	size_t start = 0;
	unsigned p = 0;
	char buf[MENU_TEXT_MAX * 2];
	for (;;) {
		bool back = p > 0 || sp->st->nhist > 0;
		/* Greedy: take entries while the page (with its navigation) fits. */
		size_t end = start;
		for (;;) {
			if (end >= e->n)
				break;
			snprintf(buf, sizeof(buf), "%s", head);
			for (size_t k = start; k <= end; k++) {
				strncat(buf, "\n", sizeof(buf) - strlen(buf) - 1);
				strncat(buf, e->line[k], sizeof(buf) - strlen(buf) - 1);
			}
			bool last = end + 1 >= e->n;
			if (!last)
				strncat(buf, more_line, sizeof(buf) - strlen(buf) - 1);
			if (back)
				strncat(buf, back_line, sizeof(buf) - strlen(buf) - 1);
			if (!fits(sp, buf) && end > start) {
				/* Would the page fit as the last one? No: it needs "more". */
				break;
			}
			if (!fits(sp, buf) && end == start) {
				end++; /* one entry per page at least; cut later */
				break;
			}
			end++;
		}
		/* Check that stopping here leaves room for the "more" line. */
		while (end < e->n && end > start + 1) {
			snprintf(buf, sizeof(buf), "%s", head);
			for (size_t k = start; k < end; k++) {
				strncat(buf, "\n", sizeof(buf) - strlen(buf) - 1);
				strncat(buf, e->line[k], sizeof(buf) - strlen(buf) - 1);
			}
			strncat(buf, more_line, sizeof(buf) - strlen(buf) - 1);
			if (back)
				strncat(buf, back_line, sizeof(buf) - strlen(buf) - 1);
			if (fits(sp, buf))
				break;
			end--;
		}
		if (end <= start)
			end = start + 1 <= e->n ? start + 1 : start;
		bool has_more = end < e->n;
		if (p == page || !has_more) {
			/* With an error prefix: above the header if it fits, else in
			 * place of the header, else left out. */
			for (int attempt = prefix ? 0 : 2; attempt < 3; attempt++) {
				buf[0] = '\0';
				if (attempt < 2)
					snprintf(buf, sizeof(buf), "%s%s", prefix, attempt == 0 ? "\n" : "");
				if (attempt != 1)
					strncat(buf, head, sizeof(buf) - strlen(buf) - 1);
				for (size_t k = start; k < end; k++) {
					strncat(buf, "\n", sizeof(buf) - strlen(buf) - 1);
					strncat(buf, e->line[k], sizeof(buf) - strlen(buf) - 1);
				}
				if (has_more)
					strncat(buf, more_line, sizeof(buf) - strlen(buf) - 1);
				if (back)
					strncat(buf, back_line, sizeof(buf) - strlen(buf) - 1);
				if (fits(sp, buf))
					break;
			}
			snprintf(out, outsz, "%s", buf);
			*more = has_more;
			free(e);
			return (int)p;
		}
		start = end;
		p++;
	}
}

/* ------------------------------------------------------------------ */
/* Rendering                                                            */

static void render(struct step *sp, const char *prefix)
{
	const struct menu *m = sp->m;
	struct menu_state *st = sp->st;
	const struct menu_screen *s = &m->scr[st->screen];
	char buf[MENU_TEXT_MAX] = "";
	sp->res->kind = MENU_OUT_CONTINUE;
	sp->res->reason = MENU_END_NONE;
	if (s->type == MENU_SCR_MENU) {
		bool more;
		st->page = (uint16_t)build_page(sp, s, prefix, st->page, buf, sizeof(buf), &more);
		set_text(sp, buf);
		return;
	}
	if (prefix)
		snprintf(buf, sizeof(buf), "%s\n", prefix);
	menu_tpl_render(m, txt(sp, &s->text), st->vars, NULL, buf, sizeof(buf));
	if (s->type == MENU_SCR_CONFIRM) {
		size_t o = strlen(buf);
		snprintf(buf + o, sizeof(buf) - o, "\n1. %s\n2. %s", txt(sp, &m->yes_label),
			 txt(sp, &m->no_label));
	}
	set_text(sp, buf);
}

/* ------------------------------------------------------------------ */
/* Actions                                                              */

/* Render a parameter tree: "{{x}}" alone keeps x's JSON type (amounts stay integers). */
static json_t *render_params(const struct step *sp, const json_t *v)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = strlen(s);
		if (n > 4 && !strncmp(s, "{{", 2) && !strcmp(s + n - 2, "}}") &&
		    !strstr(s + 2, "{{") && !strchr(s, '|')) {
			char name[64];
			size_t k = 0;
			for (size_t i = 2; i < n - 2 && k + 1 < sizeof(name); i++)
				if (s[i] != ' ')
					name[k++] = s[i];
			name[k] = '\0';
			const json_t *val = strcmp(name, "lang") ? menu_var_get(sp->st->vars, name) : NULL;
			if (!strcmp(name, "lang"))
				return json_string(sp->m->lang[sp->st->lang]);
			return val ? json_deep_copy(val) : json_null();
		}
		char out[MENU_TEXT_MAX] = "";
		menu_tpl_render(sp->m, s, sp->st->vars, NULL, out, sizeof(out));
		return json_string(out);
	}
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)v, key, val) json_object_set_new(o, key, render_params(sp, val));
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *val;
		json_array_foreach(v, i, val) json_array_append_new(a, render_params(sp, val));
		return a;
	}
	return json_deep_copy(v);
}

static struct menu_action *new_action(struct step *sp, enum menu_action_kind kind)
{
	struct menu_output *r = sp->res;
	if (r->nactions >= MENU_ACTIONS_MAX)
		return NULL;
	struct menu_action *a = &r->actions[r->nactions];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	snprintf(a->id, sizeof(a->id), "a%" PRIu32 ".%zu", sp->st->steps, r->nactions);
	r->nactions++;
	return a;
}

static void consume_vars(struct step *sp, const json_t *names)
{
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n) json_object_del(sp->st->vars, json_string_value(n));
}

/* ------------------------------------------------------------------ */
/* Transitions                                                          */

static void push_hist(struct menu_state *st, int screen)
{
	if (st->nhist == MENU_HIST_MAX) {
		memmove(st->hist, st->hist + 1, (MENU_HIST_MAX - 1) * sizeof(st->hist[0]));
		st->nhist--;
	}
	st->hist[st->nhist++] = (uint16_t)screen;
}

static bool route_match(const struct step *sp, const struct menu_route *r)
{
	json_t *langv = NULL;
	const json_t *v;
	if (!strcmp(r->var, "lang"))
		v = langv = json_string(sp->m->lang[sp->st->lang]);
	else
		v = menu_var_get(sp->st->vars, r->var);
	bool ok = false;
	switch (r->op) {
	case MENU_OP_EQ:
		ok = v && json_equal((json_t *)v, r->value);
		break;
	case MENU_OP_NE:
		ok = !v || !json_equal((json_t *)v, r->value);
		break;
	case MENU_OP_LT:
		ok = json_is_integer(v) && json_integer_value(v) < json_integer_value(r->value);
		break;
	case MENU_OP_GT:
		ok = json_is_integer(v) && json_integer_value(v) > json_integer_value(r->value);
		break;
	case MENU_OP_IN: {
		size_t i;
		json_t *e;
		json_array_foreach(r->value, i, e) if (v && json_equal((json_t *)v, e)) ok = true;
		break;
	}
	case MENU_OP_EXISTS:
		ok = v && !json_is_null(v);
		break;
	}
	json_decref(langv);
	return ok;
}

/* Run from the current screen through routers and actions until something
 * is shown, awaited or ended. */
static void run(struct step *sp)
{
	const struct menu *m = sp->m;
	struct menu_state *st = sp->st;
	for (int guard = 0; guard < 64; guard++) {
		if (st->screen == MENU_TARGET_RESUME) {
			st->screen = st->resume_screen >= 0 ? st->resume_screen : m->start;
			st->resume_screen = -1;
		}
		if (st->screen < 0 || (size_t)st->screen >= m->nscr) {
			end_session(sp, MENU_END_ERROR, txt(sp, &m->error_text));
			return;
		}
		const struct menu_screen *s = &m->scr[st->screen];
		switch (s->type) {
		case MENU_SCR_MENU:
		case MENU_SCR_INPUT:
		case MENU_SCR_CONFIRM:
			render(sp, NULL);
			return;
		case MENU_SCR_END: {
			char buf[MENU_TEXT_MAX] = "";
			menu_tpl_render(m, txt(sp, &s->text), st->vars, NULL, buf, sizeof(buf));
			end_session(sp, s->reason, buf);
			return;
		}
		case MENU_SCR_ROUTER: {
			int next = s->dflt;
			for (size_t i = 0; i < s->nroutes; i++) {
				if (route_match(sp, &s->routes[i])) {
					next = s->routes[i].next;
					break;
				}
			}
			st->screen = next;
			continue;
		}
		case MENU_SCR_ACTION: {
			struct menu_action *a = new_action(sp, s->act.kind);
			if (!a) {
				end_session(sp, MENU_END_ERROR, txt(sp, &m->error_text));
				return;
			}
			a->params = render_params(sp, s->act.params);
			if (s->act.kind == MENU_ACT_SMS) {
				char buf[MENU_TEXT_MAX] = "";
				menu_tpl_render(m, txt(sp, &s->text), st->vars, NULL, buf, sizeof(buf));
				json_object_set_new(a->params, "text", json_string(buf));
			}
			if (s->act.consume)
				consume_vars(sp, s->act.consume);
			if (s->act.kind == MENU_ACT_SMS) {
				st->screen = s->next;
				continue;
			}
			a->awaited = true;
			a->deadline_ms = s->act.deadline_ms;
			snprintf(st->wait_id, sizeof(st->wait_id), "%s", a->id);
			sp->res->kind = MENU_OUT_WAIT;
			sp->res->text[0] = '\0';
			return;
		}
		}
	}
	end_session(sp, MENU_END_ERROR, txt(sp, &m->error_text));
}

/* Move forward from the current screen to @p next. */
static void go(struct step *sp, int next)
{
	struct menu_state *st = sp->st;
	const struct menu_screen *cur =
		st->screen >= 0 && (size_t)st->screen < sp->m->nscr ? &sp->m->scr[st->screen] : NULL;
	if (cur && interactive(cur) && next != MENU_TARGET_RESUME &&
	    !(cur->type == MENU_SCR_INPUT && cur->in_kind == MENU_IN_PIN))
		push_hist(st, st->screen);
	if (next == sp->m->start)
		st->nhist = 0; /* "main menu" is home: nothing to go back to */
	st->screen = next;
	st->page = 0;
	st->retries = 0;
	run(sp);
}

static void invalid(struct step *sp, const struct menu_text *why)
{
	const struct menu *m = sp->m;
	struct menu_state *st = sp->st;
	const struct menu_screen *s = &m->scr[st->screen];
	st->retries++;
	int max = s->retries > 0 ? s->retries : m->default_retries;
	if (st->retries >= max) {
		st->retries = 0;
		if (s->lockout >= 0) {
			st->screen = s->lockout;
			st->page = 0;
			run(sp);
			if (sp->res->kind == MENU_OUT_END)
				sp->res->reason = st->ended = MENU_END_LOCKOUT;
		} else {
			end_session(sp, MENU_END_LOCKOUT, txt(sp, &m->lockout_text));
		}
		st->nqueue = 0;
		return;
	}
	render(sp, txt(sp, why ? why : (s->has_error ? &s->error : &m->invalid_text)));
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* "1500" or "1500.5" -> minor units at @p exp decimals; false when malformed. */
static bool parse_amount(const char *s, int exp, int64_t *out)
{
	int64_t whole = 0, frac = 0;
	int fd = 0;
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (INT64_MAX / 10000) / 10)
			return false;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (; isdigit((unsigned char)*p); p++) {
			if (++fd > exp)
				return false;
			frac = frac * 10 + (*p - '0');
		}
	}
	if (*p)
		return false;
	for (; fd < exp; fd++)
		frac *= 10;
	int64_t mul = 1;
	for (int i = 0; i < exp; i++)
		mul *= 10;
	*out = whole * mul + frac;
	return true;
}

static void apply_set(struct step *sp, const json_t *set)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)set, key, v) {
		if (!strcmp(key, "lang")) {
			for (size_t i = 0; i < sp->m->nlang; i++)
				if (!strcmp(sp->m->lang[i], json_string_value(v)))
					sp->st->lang = (uint8_t)i;
			continue;
		}
		/* String values may be templates ("{{msisdn}}"). */
		json_object_set_new(sp->st->vars, key, render_params(sp, v));
	}
}

static bool nav_token(const struct step *sp, const struct menu_screen *s, const char *in)
{
	struct menu_state *st = sp->st;
	const struct menu *m = sp->m;
	if (!s->nav)
		return false;
	if (!strcmp(in, m->nav_home)) {
		st->nhist = 0;
		st->screen = m->start;
		st->page = st->retries = 0;
		run((struct step *)sp);
		return true;
	}
	if (!strcmp(in, m->nav_back)) {
		if (st->page > 0) {
			st->page--;
			render((struct step *)sp, NULL);
		} else if (st->nhist > 0) {
			st->screen = st->hist[--st->nhist];
			st->retries = 0;
			run((struct step *)sp);
		} else {
			render((struct step *)sp, NULL);
		}
		return true;
	}
	if (!strcmp(in, m->nav_more) && s->type == MENU_SCR_MENU) {
		char buf[MENU_TEXT_MAX];
		bool more = false;
		build_page((struct step *)sp, s, NULL, st->page, buf, sizeof(buf), &more);
		if (!more)
			return false;
		st->page++;
		render((struct step *)sp, NULL);
		return true;
	}
	return false;
}

static enum input_res input_menu(struct step *sp, const struct menu_screen *s, const char *in)
{
	if (!all_digits(in) || strlen(in) > 3) {
		invalid(sp, NULL);
		return IN_INVALID;
	}
	long n = strtol(in, NULL, 10);
	struct entries *e = malloc(sizeof(*e));
	if (!e) {
		end_session(sp, MENU_END_ERROR, txt(sp, &sp->m->error_text));
		return IN_STOP;
	}
	menu_entries(sp, s, e);
	size_t first_opt = e->selectable ? 1 + e->nitems : 1;
	if (e->selectable && n >= 1 && (size_t)n <= e->nitems) {
		const json_t *list = menu_var_get(sp->st->vars, s->items->from);
		json_object_set_new(sp->st->vars, s->items->store,
				    json_deep_copy(json_array_get(list, (size_t)n - 1)));
		free(e);
		go(sp, s->items->next);
		return IN_ACCEPTED;
	}
	free(e);
	if (n >= (long)first_opt && (size_t)n - first_opt < s->nopts) {
		const struct menu_option *o = &s->opts[(size_t)n - first_opt];
		if (o->set)
			apply_set(sp, o->set);
		go(sp, o->next);
		return IN_ACCEPTED;
	}
	invalid(sp, NULL);
	return IN_INVALID;
}

static enum input_res input_field(struct step *sp, const struct menu_screen *s, const char *in)
{
	struct menu_state *st = sp->st;
	size_t len = strlen(in);
	int chars = menu_utf8_chars(in, len);
	json_t *val = NULL;
	switch (s->in_kind) {
	case MENU_IN_DIGITS:
		if (all_digits(in) && chars >= s->min_len && chars <= s->max_len)
			val = json_string(in);
		break;
	case MENU_IN_TEXT:
		if (chars >= s->min_len && chars <= s->max_len &&
		    (!s->has_re || regexec(&s->re, in, 0, NULL, 0) == 0))
			val = json_string(in);
		break;
	case MENU_IN_AMOUNT: {
		int64_t minor;
		if (parse_amount(in, s->exponent, &minor) && minor >= s->min && minor <= s->max)
			val = json_integer(minor);
		break;
	}
	case MENU_IN_MSISDN: {
		char num[MSISDN_BUFSZ];
		if (len >= MSISDN_ADDR_MAX)
			break;
		if (s->country_code) {
			if (msisdn_normalize(&s->rules, in, MSISDN_TON_UNKNOWN, MSISDN_NPI_UNKNOWN,
					     num) == 0)
				val = json_string(num);
		} else if (msisdn_is_canonical(in[0] == '+' ? in + 1 : in)) {
			val = json_string(in[0] == '+' ? in + 1 : in);
		}
		break;
	}
	case MENU_IN_PIN: {
		if (!all_digits(in) || chars < s->min_len || chars > s->max_len ||
		    len > MENU_PIN_MAX)
			break;
		struct menu_action *a = new_action(sp, MENU_ACT_PIN_CHECK);
		if (!a) {
			end_session(sp, MENU_END_ERROR, txt(sp, &sp->m->error_text));
			return IN_STOP;
		}
		a->params = render_params(sp, s->verify.params);
		const char *field = json_string_value(json_object_get(a->params, "field"));
		snprintf(a->secret_field, sizeof(a->secret_field), "%s", field ? field : "pin");
		json_object_del(a->params, "field");
		snprintf(a->secret, sizeof(a->secret), "%s", in);
		a->awaited = true;
		a->deadline_ms = s->verify.deadline_ms;
		snprintf(st->wait_id, sizeof(st->wait_id), "%s", a->id);
		sp->res->kind = MENU_OUT_WAIT;
		sp->res->text[0] = '\0';
		return IN_STOP;
	}
	}
	if (!val) {
		invalid(sp, NULL);
		return IN_INVALID;
	}
	json_object_set_new(st->vars, s->store, val);
	go(sp, s->next);
	return IN_ACCEPTED;
}

static enum input_res handle_input(struct step *sp, const char *in)
{
	struct menu_state *st = sp->st;
	if (st->screen < 0 || (size_t)st->screen >= sp->m->nscr) {
		end_session(sp, MENU_END_ERROR, txt(sp, &sp->m->error_text));
		return IN_STOP;
	}
	const struct menu_screen *s = &sp->m->scr[st->screen];
	if (!interactive(s)) {
		end_session(sp, MENU_END_ERROR, txt(sp, &sp->m->error_text));
		return IN_STOP;
	}
	if (nav_token(sp, s, in))
		return IN_ACCEPTED;
	switch (s->type) {
	case MENU_SCR_MENU:
		return input_menu(sp, s, in);
	case MENU_SCR_CONFIRM:
		if (!strcmp(in, "1")) {
			go(sp, s->yes);
			return IN_ACCEPTED;
		}
		if (!strcmp(in, "2")) {
			go(sp, s->no);
			return IN_ACCEPTED;
		}
		invalid(sp, NULL);
		return IN_INVALID;
	default:
		return input_field(sp, s, in);
	}
}

/* Feed queued dial-string segments while the session shows screens. A PIN
 * screen stops the walk: a PIN never travels in a dial string. */
static void drain(struct step *sp)
{
	struct menu_state *st = sp->st;
	while (st->nqueue > 0 && sp->res->kind == MENU_OUT_CONTINUE) {
		const struct menu_screen *s = &sp->m->scr[st->screen];
		if (s->type == MENU_SCR_INPUT && s->in_kind == MENU_IN_PIN) {
			st->nqueue = 0;
			break;
		}
		char seg[MENU_INPUT_MAX + 1];
		memcpy(seg, st->queue[0], sizeof(seg));
		memmove(st->queue[0], st->queue[1], (size_t)(st->nqueue - 1) * sizeof(st->queue[0]));
		st->nqueue--;
		if (handle_input(sp, seg) != IN_ACCEPTED) {
			st->nqueue = 0;
			break;
		}
	}
	if (st->nqueue == 0)
		memset(st->queue, 0, sizeof(st->queue));
}

/* "*384*2*1#" with service code "384": queue "2", "1". */
static void queue_dial(const struct menu *m, struct menu_state *st, const char *dial)
{
	if (!dial || dial[0] != '*')
		return;
	size_t n = strlen(dial);
	if (n < 2 || dial[n - 1] != '#')
		return;
	size_t sc = strlen(m->service_code);
	const char *body = dial + 1;
	size_t blen = n - 2;
	if (blen < sc || strncmp(body, m->service_code, sc) != 0)
		return;
	if (blen == sc || body[sc] != '*')
		return;
	const char *p = body + sc + 1, *end = body + blen;
	while (p <= end && st->nqueue < MENU_QUEUE_MAX) {
		const char *star = memchr(p, '*', (size_t)(end - p));
		size_t len = star ? (size_t)(star - p) : (size_t)(end - p);
		if (len == 0 || len > MENU_INPUT_MAX)
			break;
		memcpy(st->queue[st->nqueue], p, len);
		st->queue[st->nqueue][len] = '\0';
		st->nqueue++;
		if (!star)
			break;
		p = star + 1;
	}
}

static void store_result(struct step *sp, const struct menu_action_spec *a, const json_t *result)
{
	if (!a->store)
		return;
	json_t *v;
	if (a->keep && json_is_object(result)) {
		v = json_object();
		size_t i;
		json_t *k;
		json_array_foreach(a->keep, i, k) {
			const char *name = json_string_value(k);
			const char *br = strstr(name, "[].");
			if (!br) {
				json_t *f = json_object_get(result, name);
				if (f)
					json_object_set_new(v, name, json_deep_copy(f));
				continue;
			}
			/* "entries[].amount": keep one field of every list element. */
			char list[64];
			snprintf(list, sizeof(list), "%.*s", (int)(br - name), name);
			const char *field = br + 3;
			json_t *src = json_object_get(result, list);
			if (!json_is_array(src))
				continue;
			json_t *dst = json_object_get(v, list);
			if (!dst) {
				dst = json_array();
				json_object_set_new(v, list, dst);
			}
			size_t n = json_array_size(src);
			if (n > MENU_OPTIONS_MAX)
				n = MENU_OPTIONS_MAX;
			for (size_t j = 0; j < n; j++) {
				if (json_array_size(dst) <= j)
					json_array_append_new(dst, json_object());
				json_t *el = json_array_get(src, j), *f = json_object_get(el, field);
				if (f)
					json_object_set_new(json_array_get(dst, j), field, json_deep_copy(f));
			}
		}
	} else {
		v = result ? json_deep_copy(result) : json_null();
	}
	json_object_set_new(sp->st->vars, a->store, v);
}

static void action_result(struct step *sp)
{
	const struct menu *m = sp->m;
	struct menu_state *st = sp->st;
	const struct menu_event *ev = sp->ev;
	st->wait_id[0] = '\0';
	if (st->screen < 0 || (size_t)st->screen >= m->nscr) {
		end_session(sp, MENU_END_ERROR, txt(sp, &m->error_text));
		return;
	}
	const struct menu_screen *s = &m->scr[st->screen];
	if (s->type == MENU_SCR_INPUT && s->in_kind == MENU_IN_PIN) {
		if (ev->status == MENU_RES_OK) {
			const json_t *tok = json_object_get(ev->result, "token");
			if (json_is_string(tok) && json_string_length(tok) > 0 &&
			    json_string_length(tok) <= 128) {
				json_object_set_new(st->vars, s->token_var, json_deep_copy(tok));
				go(sp, s->next);
				return;
			}
			invalid(sp, NULL);
		} else if (ev->status == MENU_RES_ERROR &&
			   json_integer_value(json_object_get(ev->result, "status")) == 423) {
			/* The service locked the PIN (HTTP 423): no retries left. */
			st->retries = (uint16_t)(s->retries > 0 ? s->retries - 1 : 0);
			invalid(sp, NULL);
		} else if (ev->status == MENU_RES_ERROR) {
			invalid(sp, NULL);
		} else if (s->on_timeout >= 0) {
			st->screen = s->on_timeout;
			st->retries = 0;
			run(sp);
		} else {
			end_session(sp, MENU_END_ERROR, txt(sp, &m->error_text));
		}
		return;
	}
	if (s->type != MENU_SCR_ACTION || s->act.kind == MENU_ACT_SMS) {
		end_session(sp, MENU_END_ERROR, txt(sp, &m->error_text));
		return;
	}
	int next = s->next;
	if (ev->status != MENU_RES_TIMEOUT)
		store_result(sp, &s->act, ev->result);
	if (ev->status == MENU_RES_ERROR)
		next = s->on_error;
	else if (ev->status == MENU_RES_TIMEOUT)
		next = s->on_timeout;
	if (next == sp->m->start)
		st->nhist = 0; /* "main menu" is home: nothing to go back to */
	st->screen = next;
	st->page = 0;
	st->retries = 0;
	run(sp);
}

static void start_new(struct step *sp, const struct menu_state *in)
{
	const struct menu *m = sp->m;
	struct menu_state *st = sp->st;
	const struct menu_event *ev = sp->ev;
	bool resume = m->resume >= 0 && in->version[0] && in->resume_screen >= 0 &&
		      (in->ended == MENU_END_TIMEOUT || in->ended == MENU_END_USER) &&
		      ev->now_ms - in->last_ms <= m->resume_within_ms &&
		      (size_t)in->resume_screen < m->nscr;
	uint8_t lang = in->version[0] && in->lang < m->nlang ? in->lang : 0;
	json_t *vars = resume && in->vars ? json_deep_copy(in->vars) : json_object();
	int rs = in->resume_screen;
	uint8_t nhist = in->nhist <= MENU_HIST_MAX ? in->nhist : 0;
	menu_state_clear(st);
	memcpy(st->version, m->version, sizeof(st->version));
	st->vars = vars ? vars : json_object();
	st->t0_ms = st->last_ms = ev->now_ms;
	st->steps = 1;
	if (!in->version[0] && ev->lang) {
		for (size_t i = 0; i < m->nlang; i++)
			if (!strcmp(m->lang[i], ev->lang))
				lang = (uint8_t)i;
	}
	st->lang = lang;
	if (ev->msisdn)
		json_object_set_new(st->vars, "msisdn", json_string(ev->msisdn));
	if (resume) {
		/* Back from the resumed screen goes where it went before. */
		memcpy(st->hist, in->hist, sizeof(st->hist));
		st->nhist = nhist;
		st->resume_screen = rs;
		st->screen = m->resume;
		run(sp);
		return;
	}
	queue_dial(m, st, ev->text);
	st->screen = m->start;
	run(sp);
	drain(sp);
}

int menu_step(const struct menu *m, const struct menu_state *in, const struct menu_event *ev,
	      struct menu_state *out, struct menu_output *res)
{
	memset(res, 0, sizeof(*res));
	menu_state_init(out);
	if (in->version[0] && strcmp(in->version, m->version) != 0)
		return GW_ECONFLICT;
	if (menu_state_copy(out, in) != 0)
		return GW_ENOMEM;
	struct step sp = {m, out, res, ev};
	if (ev->kind == MENU_EV_NEW) {
		start_new(&sp, in);
		return 0;
	}
	if (!in->version[0] || in->ended != MENU_END_NONE) {
		menu_state_clear(out);
		return GW_EINVAL;
	}
	out->steps++;
	out->last_ms = ev->now_ms;
	switch (ev->kind) {
	case MENU_EV_INPUT:
		if (out->wait_id[0] || !ev->text || strlen(ev->text) > 182) {
			menu_state_clear(out);
			return GW_EINVAL;
		}
		if (ev->now_ms - out->t0_ms > m->session_ms) {
			end_session(&sp, MENU_END_TIMEOUT, "");
			return 0;
		}
		handle_input(&sp, ev->text);
		drain(&sp);
		return 0;
	case MENU_EV_ACTION_RESULT:
		if (!out->wait_id[0] || !ev->action_id || strcmp(ev->action_id, out->wait_id)) {
			menu_state_clear(out);
			return GW_ENOENT;
		}
		action_result(&sp);
		drain(&sp);
		return 0;
	case MENU_EV_TIMEOUT:
	case MENU_EV_ABORT:
		/* Worth resuming: an interactive screen past the start one. Past a
		 * PIN check the single-use token dies with the session, so the
		 * resumed session asks for the PIN again. */
		if (out->screen >= 0 && (size_t)out->screen < m->nscr &&
		    interactive(&m->scr[out->screen]) && out->screen != m->start &&
		    out->screen != m->resume)
			out->resume_screen = out->screen;
		for (size_t i = 0; i < m->nscr && out->resume_screen >= 0; i++) {
			if (m->scr[i].token_var && json_object_get(out->vars, m->scr[i].token_var)) {
				out->resume_screen = (int)i;
				break;
			}
		}
		end_session(&sp, ev->kind == MENU_EV_TIMEOUT ? MENU_END_TIMEOUT : MENU_END_USER, "");
		return 0;
	default:
		menu_state_clear(out);
		return GW_EINVAL;
	}
}

/* ------------------------------------------------------------------ */
/* State <-> compact JSON                                               */

char *menu_state_to_json(const struct menu *m, const struct menu_state *s)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "v", json_string(s->version));
	if (s->screen >= 0 && (size_t)s->screen < m->nscr)
		json_object_set_new(o, "s", json_string(m->scr[s->screen].id));
	if (s->lang < m->nlang && s->lang)
		json_object_set_new(o, "l", json_string(m->lang[s->lang]));
	if (s->page)
		json_object_set_new(o, "p", json_integer(s->page));
	if (s->retries)
		json_object_set_new(o, "r", json_integer(s->retries));
	if (s->nhist) {
		json_t *h = json_array();
		for (size_t i = 0; i < s->nhist && i < MENU_HIST_MAX; i++)
			if (s->hist[i] < m->nscr)
				json_array_append_new(h, json_string(m->scr[s->hist[i]].id));
		json_object_set_new(o, "h", h);
	}
	json_object_set_new(o, "n", json_integer(s->steps));
	json_object_set_new(o, "t", json_integer(s->t0_ms));
	if (s->last_ms != s->t0_ms)
		json_object_set_new(o, "u", json_integer(s->last_ms));
	if (s->vars && json_object_size(s->vars))
		json_object_set(o, "d", s->vars);
	if (s->wait_id[0])
		json_object_set_new(o, "w", json_string(s->wait_id));
	if (s->nqueue) {
		json_t *q = json_array();
		for (size_t i = 0; i < s->nqueue && i < MENU_QUEUE_MAX; i++)
			json_array_append_new(q, json_string(s->queue[i]));
		json_object_set_new(o, "q", q);
	}
	if (s->ended)
		json_object_set_new(o, "e", json_string(menu_end_reason_name(s->ended)));
	if (s->resume_screen >= 0 && (size_t)s->resume_screen < m->nscr)
		json_object_set_new(o, "rs", json_string(m->scr[s->resume_screen].id));
	char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return txt;
}

#define STATE_JSON_MAX 65536

static int screen_ref(const struct menu *m, const json_t *v, int *out)
{
	if (!json_is_string(v))
		return GW_EINVAL;
	int i = menu_screen_index(m, json_string_value(v));
	if (i < 0)
		return GW_EINVAL;
	*out = i;
	return 0;
}

static int int_field(const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
	if (!json_is_integer(v))
		return GW_EINVAL;
	int64_t x = json_integer_value(v);
	if (x < lo || x > hi)
		return GW_EINVAL;
	*out = x;
	return 0;
}

static int parse_state(const struct menu *m, const json_t *o, struct menu_state *s)
{
	const char *key;
	json_t *v;
	int64_t x;
	if (!json_is_object(o))
		return GW_EINVAL;
	if (!json_object_get(o, "v") || !json_object_get(o, "n") || !json_object_get(o, "t"))
		return GW_EINVAL;
	bool has_u = false;
	json_object_foreach((json_t *)o, key, v) {
		if (!strcmp(key, "v")) {
			const char *ver = json_string_value(v);
			if (!ver || strlen(ver) != 16 || strspn(ver, "0123456789abcdef") != 16)
				return GW_EINVAL;
			memcpy(s->version, ver, 17);
		} else if (!strcmp(key, "s")) {
			if (screen_ref(m, v, &s->screen))
				return GW_EINVAL;
		} else if (!strcmp(key, "l")) {
			const char *l = json_string_value(v);
			size_t i;
			for (i = 0; l && i < m->nlang; i++)
				if (!strcmp(m->lang[i], l))
					break;
			if (!l || i == m->nlang)
				return GW_EINVAL;
			s->lang = (uint8_t)i;
		} else if (!strcmp(key, "p")) {
			if (int_field(v, 0, 1000, &x))
				return GW_EINVAL;
			s->page = (uint16_t)x;
		} else if (!strcmp(key, "r")) {
			if (int_field(v, 0, 100, &x))
				return GW_EINVAL;
			s->retries = (uint16_t)x;
		} else if (!strcmp(key, "h")) {
			if (!json_is_array(v) || json_array_size(v) > MENU_HIST_MAX)
				return GW_EINVAL;
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e) {
				int idx;
				if (screen_ref(m, e, &idx))
					return GW_EINVAL;
				s->hist[s->nhist++] = (uint16_t)idx;
			}
		} else if (!strcmp(key, "n")) {
			if (int_field(v, 0, UINT32_MAX, &x))
				return GW_EINVAL;
			s->steps = (uint32_t)x;
		} else if (!strcmp(key, "t")) {
			if (int_field(v, 0, INT64_MAX / 2, &s->t0_ms))
				return GW_EINVAL;
		} else if (!strcmp(key, "u")) {
			if (int_field(v, 0, INT64_MAX / 2, &s->last_ms))
				return GW_EINVAL;
			has_u = true;
		} else if (!strcmp(key, "d")) {
			if (!json_is_object(v))
				return GW_EINVAL;
			json_decref(s->vars);
			s->vars = json_deep_copy(v);
			if (!s->vars)
				return GW_ENOMEM;
		} else if (!strcmp(key, "w")) {
			const char *w = json_string_value(v);
			if (!w || !*w || strlen(w) >= sizeof(s->wait_id))
				return GW_EINVAL;
			snprintf(s->wait_id, sizeof(s->wait_id), "%s", w);
		} else if (!strcmp(key, "q")) {
			if (!json_is_array(v) || json_array_size(v) > MENU_QUEUE_MAX)
				return GW_EINVAL;
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e) {
				const char *q = json_string_value(e);
				if (!q || !*q || strlen(q) > MENU_INPUT_MAX)
					return GW_EINVAL;
				snprintf(s->queue[s->nqueue++], sizeof(s->queue[0]), "%s", q);
			}
		} else if (!strcmp(key, "e")) {
			const char *e = json_string_value(v);
			int r = -1;
			for (int i = 1; e && i < 6; i++)
				if (!strcmp(end_names[i], e))
					r = i;
			if (r < 0)
				return GW_EINVAL;
			s->ended = (enum menu_end_reason)r;
		} else if (!strcmp(key, "rs")) {
			if (screen_ref(m, v, &s->resume_screen))
				return GW_EINVAL;
		} else {
			return GW_EINVAL;
		}
	}
	if (!has_u)
		s->last_ms = s->t0_ms;
	if (!s->vars)
		s->vars = json_object();
	return s->vars ? 0 : GW_ENOMEM;
}

int menu_state_from_json(const struct menu *m, const char *buf, size_t len, struct menu_state *out)
{
	menu_state_init(out);
	if (len > STATE_JSON_MAX)
		return GW_EMSGSIZE;
	json_error_t je;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return GW_EINVAL;
	int rc = parse_state(m, o, out);
	json_decref(o);
	if (rc)
		menu_state_clear(out);
	return rc;
}
