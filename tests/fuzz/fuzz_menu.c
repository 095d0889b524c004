/* Fuzz target: menu JSON loader + checker, then a few interpreter steps on
 * whatever compiles (any menu that passes the checker must be safe to run). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/menu.h"

static void drive(const struct menu *m)
{
	static const char *const inputs[] = {"1", "98", "0", "2", "00", "12345", "x", "3", "1"};
	struct menu_state st, next;
	struct menu_output res;
	menu_state_init(&st);
	struct menu_event ev = {.kind = MENU_EV_NEW, .now_ms = 1000, .text = "*1*1*2#",
				.msisdn = "255700000001"};
	for (size_t i = 0; i <= sizeof(inputs) / sizeof(inputs[0]); i++) {
		int rc = menu_step(m, &st, &ev, &next, &res);
		char wait[16] = "";
		for (size_t k = 0; k < res.nactions; k++)
			if (res.actions[k].awaited)
				memcpy(wait, res.actions[k].id, sizeof(wait));
		menu_output_clear(&res);
		if (rc == 0) {
			char *js = menu_state_to_json(m, &next);
			menu_state_clear(&st);
			if (!js || menu_state_from_json(m, js, strlen(js), &st) != 0)
				abort(); /* our own output must parse back */
			free(js);
		}
		menu_state_clear(&next);
		if (st.ended)
			break;
		ev = (struct menu_event){.now_ms = 2000 + (int64_t)i * 1000};
		if (wait[0]) {
			ev.kind = MENU_EV_ACTION_RESULT;
			ev.action_id = wait;
			ev.status = (enum menu_action_status)(i % 3);
		} else if (i < sizeof(inputs) / sizeof(inputs[0])) {
			ev.kind = MENU_EV_INPUT;
			ev.text = inputs[i];
		} else {
			ev.kind = MENU_EV_ABORT;
		}
		if (wait[0]) {
			rc = menu_step(m, &st, &ev, &next, &res);
			menu_output_clear(&res);
			if (rc == 0) {
				menu_state_clear(&st);
				st = next;
			} else {
				menu_state_clear(&next);
			}
			ev = (struct menu_event){.kind = MENU_EV_INPUT, .now_ms = ev.now_ms + 1,
						 .text = "1"};
		}
	}
	menu_state_clear(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct menu *m = NULL;
	struct menu_diags d = {0};
	if (menu_load_buffer((const char *)data, size, &m, &d) == 0) {
		char *g = menu_graph(m, size & 1);
		free(g);
		drive(m);
		menu_free(m);
	}
	menu_diags_free(&d);
	return 0;
}
