/* Fuzz target: the session-state deserializer (bytes from Redis), then the
 * interpreter stepping from whatever state parses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/menu.h"

static struct menu *demo;

static void load_demo(void)
{
	if (demo)
		return;
	const char *top = getenv("GW_SOURCE_DIR");
	char p[1024];
	snprintf(p, sizeof(p), "%s/menus/demo.json", top ? top : GW_SOURCE_DIR);
	if (menu_load_file(p, &demo, NULL) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load_demo();
	struct menu_state st;
	if (menu_state_from_json(demo, (const char *)data, size, &st) != 0) {
		menu_state_clear(&st);
		return 0;
	}
	/* Any parsed state must serialize again and parse to the same text. */
	char *a = menu_state_to_json(demo, &st);
	struct menu_state again;
	if (!a || menu_state_from_json(demo, a, strlen(a), &again) != 0)
		abort();
	char *b = menu_state_to_json(demo, &again);
	if (!b || strcmp(a, b) != 0)
		abort();
	free(a);
	free(b);
	menu_state_clear(&again);
	/* Step from it (on the right version, to get past the pin check). */
	memcpy(st.version, menu_version(demo), 17);
	static const struct menu_event evs[] = {
		{.kind = MENU_EV_INPUT, .now_ms = 5000, .text = "1"},
		{.kind = MENU_EV_INPUT, .now_ms = 5000, .text = "98"},
		{.kind = MENU_EV_INPUT, .now_ms = 5000, .text = "0"},
		{.kind = MENU_EV_TIMEOUT, .now_ms = 5000},
		{.kind = MENU_EV_NEW, .now_ms = 6000, .text = "*384*1#", .msisdn = "255700000001"},
	};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		struct menu_state next;
		struct menu_output res;
		menu_step(demo, &st, &evs[i], &next, &res);
		menu_output_clear(&res);
		menu_state_clear(&next);
	}
	struct menu_event r = {.kind = MENU_EV_ACTION_RESULT, .now_ms = 5000,
			       .action_id = st.wait_id, .status = (enum menu_action_status)(size % 3)};
	json_t *res_json = json_pack("{s:s,s:i,s:[{s:s,s:i}]}", "token", "t", "balance", 5, "items",
				     "desc", "x", "amount", 1);
	r.result = res_json;
	struct menu_state next;
	struct menu_output res;
	menu_step(demo, &st, &r, &next, &res);
	menu_output_clear(&res);
	menu_state_clear(&next);
	json_decref(res_json);
	menu_state_clear(&st);
	return 0;
}
