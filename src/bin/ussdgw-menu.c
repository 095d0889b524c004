/* ussdgw-menu: check, draw and walk declarative USSD menus.
 *
 *   ussdgw-menu check FILE...          exit 0, or 1 with file:line:col: error: lines
 *   ussdgw-menu graph FILE [--mermaid] DOT (default) or Mermaid on stdout
 *   ussdgw-menu walk FILE              events on stdin, screens/actions/state on stdout
 *
 * walk reads one event per line:
 *   new DIAL [msisdn=E164] [lang=xx]   a session starts (*384# or *384*2*1#)
 *   input TEXT                         the subscriber answers
 *   result [id=ID] ok|error|timeout [JSON]  an action finished (default: the awaited one)
 *   timeout | abort                    the session timed out / was aborted
 *   advance MS                         move the event clock forward
 *   # ...                              comment (echoed)
 * Every event advances the clock by 1000 ms. Between steps the state goes
 * through its JSON form and back, as it does through the session store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/menu.h"

static int usage(void)
{
	fprintf(stderr, "usage: ussdgw-menu check FILE...\n"
			"       ussdgw-menu graph FILE [--mermaid]\n"
			"       ussdgw-menu walk FILE < events\n");
	return 2;
}

static struct menu *load(const char *path, bool quiet_ok)
{
	struct menu *m = NULL;
	struct menu_diags d = {0};
	int rc = menu_load_file(path, &m, &d);
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "%s:%d:%d: error: %s\n", path, d.v[i].line, d.v[i].col, d.v[i].msg);
	if (rc && d.n == 0)
		fprintf(stderr, "%s:1:1: error: %s\n", path, gw_strerror(rc));
	menu_diags_free(&d);
	if (!rc && !quiet_ok)
		printf("%s: ok (%zu screens, version %s)\n", path, menu_screen_count(m),
		       menu_version(m));
	return m;
}

static int cmd_check(int argc, char **argv)
{
	int bad = 0;
	for (int i = 0; i < argc; i++) {
		struct menu *m = load(argv[i], false);
		if (!m)
			bad = 1;
		menu_free(m);
	}
	return bad;
}

static int cmd_graph(int argc, char **argv)
{
	bool mermaid = argc > 1 && !strcmp(argv[1], "--mermaid");
	struct menu *m = load(argv[0], true);
	if (!m)
		return 1;
	char *g = menu_graph(m, mermaid);
	if (g)
		fputs(g, stdout);
	free(g);
	menu_free(m);
	return g ? 0 : 1;
}

static void print_output(const struct menu_output *res)
{
	printf("<< %s", menu_out_kind_name(res->kind));
	if (res->kind == MENU_OUT_END)
		printf(" reason=%s", menu_end_reason_name(res->reason));
	if (res->ucs2)
		printf(" ucs2");
	printf("\n");
	if (res->kind != MENU_OUT_WAIT) {
		const char *p = res->text;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			printf("   | %.*s\n", (int)n, p);
			p += n + (nl ? 1 : 0);
		}
	}
	for (size_t i = 0; i < res->nactions; i++) {
		const struct menu_action *a = &res->actions[i];
		char *params = json_dumps(a->params, JSON_COMPACT | JSON_SORT_KEYS);
		printf("   action %s %s%s", a->id, menu_action_kind_name(a->kind),
		       a->awaited ? " awaited" : "");
		if (a->deadline_ms)
			printf(" deadline=%d", a->deadline_ms);
		if (a->kind == MENU_ACT_PIN_CHECK)
			printf(" secret_field=%s secret=[%zu digits]", a->secret_field, strlen(a->secret));
		printf(" %s\n", params ? params : "null");
		free(params);
	}
}

static int cmd_walk(int argc, char **argv)
{
	struct menu *m = load(argv[0], true);
	if (!m)
		return 1;
	struct menu_state st;
	menu_state_init(&st);
	int64_t now = 1700000000000LL;
	char line[2048];
	char last_wait[16] = "", idbuf[32];
	int rc = 0;
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (line[0] == '#') {
			printf("%s\n", line);
			continue;
		}
		char *arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		else
			arg = line + strlen(line);
		if (!strcmp(line, "advance")) {
			now += strtoll(arg, NULL, 10);
			printf(">> advance %s\n", arg);
			continue;
		}
		now += 1000;
		struct menu_event ev = {.now_ms = now};
		json_t *result = NULL;
		char dial[256] = "", msisdn[32] = "254700000001", lang[8] = "";
		if (!strcmp(line, "new")) {
			ev.kind = MENU_EV_NEW;
			char *tok = strtok(arg, " ");
			for (; tok; tok = strtok(NULL, " ")) {
				if (!strncmp(tok, "msisdn=", 7))
					snprintf(msisdn, sizeof(msisdn), "%s", tok + 7);
				else if (!strncmp(tok, "lang=", 5))
					snprintf(lang, sizeof(lang), "%s", tok + 5);
				else
					snprintf(dial, sizeof(dial), "%s", tok);
			}
			ev.text = dial;
			ev.msisdn = msisdn;
			ev.lang = lang[0] ? lang : NULL;
			printf(">> new %s msisdn=%s%s%s\n", dial, msisdn, lang[0] ? " lang=" : "", lang);
		} else if (!strcmp(line, "input")) {
			ev.kind = MENU_EV_INPUT;
			ev.text = arg;
			printf(">> input %s\n", arg);
		} else if (!strcmp(line, "result")) {
			ev.kind = MENU_EV_ACTION_RESULT;
			const char *id = last_wait;
			if (!strncmp(arg, "id=", 3)) {
				char *sp = strchr(arg, ' ');
				if (!sp) {
					printf("!! result id=X needs a status\n");
					rc = 1;
					continue;
				}
				*sp = '\0';
				snprintf(idbuf, sizeof(idbuf), "%s", arg + 3);
				id = idbuf;
				arg = sp + 1;
			}
			char *json = strchr(arg, ' ');
			if (json)
				*json++ = '\0';
			if (!strcmp(arg, "ok"))
				ev.status = MENU_RES_OK;
			else if (!strcmp(arg, "error"))
				ev.status = MENU_RES_ERROR;
			else
				ev.status = MENU_RES_TIMEOUT;
			if (json && *json) {
				json_error_t je;
				result = json_loads(json, 0, &je);
				if (!result) {
					printf("!! bad result JSON: %s\n", je.text);
					rc = 1;
					continue;
				}
			}
			ev.result = result;
			ev.action_id = id;
			printf(">> result %s %s%s%s\n", id, arg, json ? " " : "", json ? json : "");
		} else if (!strcmp(line, "timeout")) {
			ev.kind = MENU_EV_TIMEOUT;
			printf(">> timeout\n");
		} else if (!strcmp(line, "abort")) {
			ev.kind = MENU_EV_ABORT;
			printf(">> abort\n");
		} else {
			printf("!! unknown event \"%s\"\n", line);
			rc = 1;
			continue;
		}
		struct menu_state next;
		struct menu_output res;
		int r = menu_step(m, &st, &ev, &next, &res);
		json_decref(result);
		if (r) {
			printf("<< rejected: %s\n", gw_errname(r));
			menu_state_clear(&next);
			menu_output_clear(&res);
			continue;
		}
		print_output(&res);
		last_wait[0] = '\0';
		for (size_t i = 0; i < res.nactions; i++)
			if (res.actions[i].awaited)
				snprintf(last_wait, sizeof(last_wait), "%s", res.actions[i].id);
		menu_output_clear(&res);
		/* Through the store's form and back. */
		char *js = menu_state_to_json(m, &next);
		menu_state_clear(&next);
		menu_state_clear(&st);
		if (!js || menu_state_from_json(m, js, strlen(js), &st) != 0) {
			printf("!! state does not round-trip: %s\n", js ? js : "(null)");
			free(js);
			rc = 1;
			break;
		}
		char *js2 = menu_state_to_json(m, &st);
		if (!js2 || strcmp(js, js2)) {
			printf("!! state changed in the round trip\n");
			rc = 1;
		}
		printf("   state %zu %s\n", strlen(js), js);
		free(js);
		free(js2);
	}
	menu_state_clear(&st);
	menu_free(m);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 2, argv + 2);
	if (!strcmp(argv[1], "graph"))
		return cmd_graph(argc - 2, argv + 2);
	if (!strcmp(argv[1], "walk") && argc == 3)
		return cmd_walk(argc - 2, argv + 2);
	return usage();
}
