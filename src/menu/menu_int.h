/* Internal structures of menu/: shared by menu.c (compiler, checker),
 * interp.c (interpreter, state) and text.c (templates, GSM-7 counting).
 * Not a public API; tests include it to look inside. */
#ifndef USSDGW_MENU_INT_H
#define USSDGW_MENU_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ussdgw/menu.h"
#include "ussdgw/msisdn.h"

/** A text in every declared language; t[i] NULL when missing (a checker error). */
struct menu_text {
	char *t[MENU_LANG_MAX];
};

enum menu_scr_type {
	MENU_SCR_MENU,
	MENU_SCR_INPUT,
	MENU_SCR_CONFIRM,
	MENU_SCR_ROUTER,
	MENU_SCR_ACTION,
	MENU_SCR_END,
};

enum menu_input_kind { MENU_IN_DIGITS, MENU_IN_AMOUNT, MENU_IN_MSISDN, MENU_IN_PIN, MENU_IN_TEXT };

enum menu_cond_op { MENU_OP_EQ, MENU_OP_NE, MENU_OP_LT, MENU_OP_GT, MENU_OP_IN, MENU_OP_EXISTS };

/** Most static options, and most list items, on one menu screen. */
#define MENU_OPTIONS_MAX 50

/** Screen index of the "@resume" pseudo target. */
#define MENU_TARGET_RESUME (-2)

struct menu_option {
	struct menu_text label;
	int next;
	json_t *set; /* object var -> value, or NULL */
};

/** Options built from a list variable. */
struct menu_items {
	char *from;            /* variable path of the list */
	struct menu_text label; /* template; {{item}} / {{item.field}} */
	char *store;           /* where the chosen item goes; NULL: display only */
	int next;              /* -1 for display only */
	int item_max;          /* declared max chars of one rendered label */
	int max_items;         /* most items shown */
};

struct menu_route {
	char *var;
	enum menu_cond_op op;
	json_t *value;
	int next;
};

struct menu_action_spec {
	enum menu_action_kind kind;
	json_t *params;  /* strings may be templates */
	int deadline_ms;
	char *store;     /* variable for the result (http, pay) */
	json_t *keep;    /* array of result fields to keep, or NULL for all */
	json_t *consume; /* array of variables removed once the action is started */
};

struct menu_screen {
	char *id;
	enum menu_scr_type type;
	struct menu_text text;  /* header, prompt, question or end text */
	struct menu_text error; /* shown above the prompt after an invalid answer */
	bool has_error;
	bool nav;               /* back/home/more tokens apply here */
	int retries;            /* invalid answers before lockout */
	int lockout;            /* screen shown at lockout, -1: end with the menu's text */
	int next;               /* input: next; action: ok; sms: next */
	/* menu */
	struct menu_option *opts;
	size_t nopts;
	struct menu_items *items;
	/* input */
	enum menu_input_kind in_kind;
	int min_len, max_len;
	int64_t min, max;
	int exponent;
	char *store;
	char *country_code;
	struct msisdn_rules rules; /* msisdn input with a country code */
	regex_t re;
	bool has_re;
	/* pin */
	struct menu_action_spec verify;
	char *token_var;
	/* confirm */
	int yes, no;
	/* router */
	struct menu_route *routes;
	size_t nroutes;
	int dflt;
	/* action */
	struct menu_action_spec act;
	int on_error, on_timeout;
	/* end */
	enum menu_end_reason reason;
};

struct menu_var_decl {
	char *name;
	int max;
};

struct menu {
	char *id;
	char hash[65];
	char version[17];
	size_t nlang;
	char lang[MENU_LANG_MAX][8];
	char service_code[16]; /* "384" for *384# */
	int start;
	int resume;          /* resume screen, -1 */
	int64_t resume_within_ms;
	/* limits */
	int screen_chars, ucs2_chars;
	int64_t session_ms, step_ms, answer_ms;
	/* navigation */
	char nav_back[8], nav_home[8], nav_more[8];
	struct menu_text more_label, back_label, yes_label, no_label;
	struct menu_text lockout_text, error_text, invalid_text;
	char currency[4];
	int currency_exp;
	int default_retries;
	struct menu_screen *scr;
	size_t nscr;
	struct menu_var_decl *vars;
	size_t nvars;
};

/* text.c ------------------------------------------------------------ */

/** GSM-7 septets of UTF-8 @p s (extension chars count 2), or -1 when a
 *  character is outside GSM 03.38 (the text then needs UCS2). Private to
 *  menu/ until the SMPP text codec lands in main. */
int menu_gsm7_len(const char *s, size_t n);
/** UTF-16 code units of UTF-8 @p s (UCS2 screen length). */
int menu_ucs2_len(const char *s, size_t n);
/** Characters (code points) of UTF-8 @p s. */
int menu_utf8_chars(const char *s, size_t n);
/** Byte length of the longest prefix of @p s with at most @p chars code points. */
size_t menu_utf8_prefix(const char *s, size_t n, int chars);

/** Screen length of @p s under @p m's limits; *limit receives the limit that applies. */
int menu_screen_len(const struct menu *m, const char *s, int *limit, bool *ucs2);

/** Lookup "a.b.c" in @p vars; "lang" is virtual. Returns a borrowed value or NULL. */
const json_t *menu_var_get(const json_t *vars, const char *path);

/**
 * Expand {{var}}, {{var.field}}, {{var|money}}, {{var|masked}} in @p tpl.
 * @p item is the current list item for {{item...}} (may be NULL).
 * Appends to @p out (NUL-terminated, truncated at @p outsz).
 */
void menu_tpl_render(const struct menu *m, const char *tpl, const json_t *vars, const json_t *item,
		     char *out, size_t outsz);

/** Callback for each placeholder of a template: name (without filter), filter or "". */
typedef int (*menu_tpl_cb)(void *cls, const char *name, const char *filter);
/**
 * Walk the placeholders of @p tpl; return the literal length in characters
 * (the callback returns the worst-case width of each placeholder, or -1 to
 * flag an error, which makes the walk return -1 after finishing).
 * *nongsm is set when the literal text needs UCS2.
 */
int menu_tpl_walk(const char *tpl, menu_tpl_cb cb, void *cls, bool *nongsm);

/** Format @p minor (integer minor units) as money: "KES 1,234.50". */
void menu_money(const struct menu *m, int64_t minor, char *out, size_t outsz);

#endif
