/** @file
 * menu/: declarative USSD menus (menus/NAME.json, format in menus/README.md).
 *
 * Three parts:
 *  - the loader/compiler/checker turns a JSON menu into an immutable
 *    struct menu with screens indexed, or into diagnostics with line:column;
 *  - the interpreter menu_step() is a pure function
 *    (menu, state, event) -> (new state, rendered screen, actions to start):
 *    no I/O, no clock reads (time comes in the event), no logging;
 *  - the state serializer turns struct menu_state into compact JSON for the
 *    session store and back.
 *
 * Ownership: a struct menu is owned by whoever loaded it and is read-only
 * after menu_load_*(); any number of sessions may step on it at once.
 * struct menu_state and struct menu_output hold jansson references and are
 * released with menu_state_clear() / menu_output_clear().
 *
 * A PIN typed by the subscriber is never put in a state: it appears only in
 * menu_action.secret of a MENU_ACT_PIN_CHECK action, which
 * menu_output_clear() wipes.
 */
#ifndef USSDGW_MENU_H
#define USSDGW_MENU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct menu;

/** Largest menu file the loader accepts (bytes). */
#define MENU_FILE_MAX (1024 * 1024)
/** Languages a menu may declare. */
#define MENU_LANG_MAX 8
/** Screens remembered for "back". */
#define MENU_HIST_MAX 12
/** Dial-string segments kept while an action runs (*384*2*1#). */
#define MENU_QUEUE_MAX 8
/** Longest single input (or dial segment) kept, bytes. */
#define MENU_INPUT_MAX 64
/** Rendered screen buffer (UTF-8 bytes; the screen limit is in characters). */
#define MENU_TEXT_MAX 1024
/** Actions one step may start. */
#define MENU_ACTIONS_MAX 4
/** Longest PIN accepted. */
#define MENU_PIN_MAX 12

/* ------------------------------------------------------------------ */
/* Loading and checking                                                 */

/** One checker finding: 1-based line and column in the source file. */
struct menu_diag {
	int line;
	int col;
	char msg[240];
};

/** A growable list of findings; free with menu_diags_free(). */
struct menu_diags {
	struct menu_diag *v;
	size_t n;
	size_t cap;
};

void menu_diags_free(struct menu_diags *d);

/**
 * Parse, compile and check a menu held in memory.
 * @param[in] buf,len  JSON text (need not be NUL-terminated).
 * @param[out] out     the compiled menu on success (caller frees with menu_free()).
 * @param[out] diags   findings, in source order (may be NULL); the caller frees them.
 * @return 0; GW_EMSGSIZE over MENU_FILE_MAX; GW_EPROTO_MALFORMED for a JSON
 *         error; GW_ECONFIG when the checker found errors (no menu is returned).
 */
int menu_load_buffer(const char *buf, size_t len, struct menu **out, struct menu_diags *diags);
/** As menu_load_buffer() for a file; GW_ENOENT/GW_EIO when it cannot be read. */
int menu_load_file(const char *path, struct menu **out, struct menu_diags *diags);
void menu_free(struct menu *m);

/** Menu id ("demo"). */
const char *menu_id(const struct menu *m);
/** SHA-256 (64 hex) of the canonical compiled form: equal menus, equal hash. */
const char *menu_hash(const struct menu *m);
/** The 16-hex prefix of menu_hash() that states carry to pin their version. */
const char *menu_version(const struct menu *m);
size_t menu_screen_count(const struct menu *m);
/** Id of screen @p i, or NULL when out of range. */
const char *menu_screen_id(const struct menu *m, size_t i);
/** Index of screen @p id, or -1. */
int menu_screen_index(const struct menu *m, const char *id);

/** Write the screen graph as Graphviz DOT (or Mermaid when @p mermaid) to a malloc'd string. */
char *menu_graph(const struct menu *m, bool mermaid);

/* ------------------------------------------------------------------ */
/* Interpreter                                                          */

enum menu_event_kind {
	MENU_EV_NEW,           /**< subscriber dialled; text = dial string ("*384*2*1#") */
	MENU_EV_INPUT,         /**< subscriber answered; text = what was typed */
	MENU_EV_ACTION_RESULT, /**< an action finished: action_id, status, result */
	MENU_EV_TIMEOUT,       /**< the session went idle past its budget */
	MENU_EV_ABORT,         /**< the subscriber or the network ended the session */
};

enum menu_action_status { MENU_RES_OK, MENU_RES_ERROR, MENU_RES_TIMEOUT };

struct menu_event {
	enum menu_event_kind kind;
	int64_t now_ms;            /**< wall-clock time of the event (the interpreter reads no clock) */
	const char *text;          /**< NEW: dial string; INPUT: the answer */
	const char *msisdn;        /**< NEW: subscriber, E.164 digits */
	const char *lang;          /**< NEW: preferred language, or NULL */
	const char *action_id;     /**< ACTION_RESULT */
	enum menu_action_status status;
	const json_t *result;      /**< ACTION_RESULT: the service's JSON answer (may be NULL) */
};

enum menu_end_reason {
	MENU_END_NONE,    /**< session continues */
	MENU_END_USER,    /**< the subscriber left (abort, or chose an exit) */
	MENU_END_APP,     /**< the menu reached an end screen */
	MENU_END_TIMEOUT, /**< idle or session budget exceeded */
	MENU_END_ERROR,   /**< a service failed, or the state was unusable */
	MENU_END_LOCKOUT, /**< too many invalid inputs */
};
const char *menu_end_reason_name(enum menu_end_reason r);

enum menu_action_kind {
	MENU_ACT_HTTP,      /**< call the business's service: params.service/method/path/body */
	MENU_ACT_PAY,       /**< start a payment: params.provider/amount/currency/account */
	MENU_ACT_SMS,       /**< send an SMS: params.to/text/class (fire and forget) */
	MENU_ACT_PIN_CHECK, /**< HTTP PIN verification; the PIN is in .secret only */
};
const char *menu_action_kind_name(enum menu_action_kind k);

struct menu_action {
	char id[16];                 /**< echo it in the MENU_EV_ACTION_RESULT */
	enum menu_action_kind kind;
	int deadline_ms;             /**< 0 for fire-and-forget (sms) */
	bool awaited;                /**< the session waits for this result */
	json_t *params;              /**< rendered parameters (owned) */
	char secret[MENU_PIN_MAX + 1]; /**< PIN_CHECK only: the typed PIN; wiped by menu_output_clear() */
	char secret_field[16];       /**< PIN_CHECK: body field the runner puts the PIN in */
};

enum menu_out_kind {
	MENU_OUT_CONTINUE, /**< show text, expect an answer */
	MENU_OUT_END,      /**< show text (may be empty), close the session */
	MENU_OUT_WAIT,     /**< no screen yet: run the awaited action, then step again */
};
const char *menu_out_kind_name(enum menu_out_kind k);

struct menu_output {
	enum menu_out_kind kind;
	enum menu_end_reason reason;
	bool ucs2;                 /**< the text needs UCS2 (not GSM-7 representable) */
	char text[MENU_TEXT_MAX];  /**< rendered, in the session's language, one page */
	struct menu_action actions[MENU_ACTIONS_MAX];
	size_t nactions;
};
void menu_output_clear(struct menu_output *o);

/** Session state: what the session store keeps between steps. */
struct menu_state {
	char version[17];      /**< menu_version() of the menu it runs on; "" before NEW */
	int screen;            /**< current screen index, -1 before NEW */
	uint8_t lang;          /**< index into the menu's languages */
	uint16_t page;         /**< page of the current option list */
	uint16_t retries;      /**< invalid inputs on the current screen */
	uint8_t nhist;
	uint16_t hist[MENU_HIST_MAX]; /**< screens for "back", oldest first */
	uint32_t steps;        /**< events handled */
	int64_t t0_ms;         /**< session start */
	int64_t last_ms;       /**< last event */
	json_t *vars;          /**< object of variables (owned reference) */
	char wait_id[16];      /**< awaited action id, "" when none */
	uint8_t nqueue;
	char queue[MENU_QUEUE_MAX][MENU_INPUT_MAX + 1]; /**< dial segments not consumed yet */
	enum menu_end_reason ended; /**< MENU_END_NONE while live */
	int resume_screen;     /**< screen to resume at, -1 when none */
};

void menu_state_init(struct menu_state *s);
void menu_state_clear(struct menu_state *s);
/** Deep copy (@p dst is overwritten, not cleared). @return 0 or GW_ENOMEM. */
int menu_state_copy(struct menu_state *dst, const struct menu_state *src);

/**
 * One step of a session. Pure: reads @p m, @p in and @p ev only.
 * @param[in]  in   previous state (menu_state_init()'d for a first NEW, or the
 *                  state of an earlier, ended session so that it can be resumed)
 * @param[out] out  new state (overwritten; caller clears it)
 * @param[out] res  what to show and which actions to start (overwritten; caller clears it)
 * @return 0; GW_ECONFLICT when @p in was made by another menu version;
 *         GW_ENOENT for an action result nobody waits for (ignore it);
 *         GW_EINVAL for an event that does not fit the state.
 *         On error @p out and @p res are still initialised (empty).
 */
int menu_step(const struct menu *m, const struct menu_state *in, const struct menu_event *ev,
	      struct menu_state *out, struct menu_output *res);

/** Compact JSON of @p s (malloc'd, caller frees). NULL on allocation failure. */
char *menu_state_to_json(const struct menu *m, const struct menu_state *s);
/**
 * Parse a state written by menu_state_to_json(). Strict: unknown keys, wrong
 * types, unknown screens or oversize fields are GW_EINVAL. @p out is
 * initialised in every case and must be cleared by the caller.
 */
int menu_state_from_json(const struct menu *m, const char *buf, size_t len, struct menu_state *out);

#endif
