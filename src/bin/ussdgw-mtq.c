/* ussdgw-mtq: put MT SMS into a link's durable queue (operators, tests, benchmarks), and
 * show an MT's recorded outcome.
 *
 *   ussdgw-mtq --config PATH --link NAME --to MSISDN --text TEXT [--from SRC] [--count N]
 *              [--id-prefix P] [--rd N] [--text-index]   (--text-index: append "-I" to the text)
 *   ussdgw-mtq --config PATH --link NAME --show MTID
 *
 * Enqueue prints one MT id per line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/config.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/smpp_mtq.h"
#include "ussdgw/store_redis.h"

static unsigned pending, failed;
static struct ev_loop *loop;

static void enq_done(void *cls, int err, const char *mt_id)
{
	(void)cls;
	pending--;
	if (err) {
		failed++;
		fprintf(stderr, "ussdgw-mtq: enqueue failed: %s\n", gw_strerror(err));
	} else {
		printf("%s\n", mt_id);
	}
	if (!pending)
		ev_break(loop, EVBREAK_ALL);
}

static void show_done(void *cls, int err, redisReply *r)
{
	(void)cls;
	if (err || r->type != REDIS_REPLY_ARRAY) {
		failed++;
	} else {
		for (size_t i = 0; i + 1 < r->elements; i += 2)
			printf("%s=%s\n", r->element[i]->str, r->element[i + 1]->str);
		if (!r->elements)
			failed++;
	}
	ev_break(loop, EVBREAK_ALL);
}

static void connected_poll(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)revents;
	struct store_redis *r = w->data;
	if (store_redis_connected(r))
		ev_break(l, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"link", required_argument, NULL, 'l'},
	    {"to", required_argument, NULL, 't'},
	    {"from", required_argument, NULL, 'f'},
	    {"text", required_argument, NULL, 'x'},
	    {"count", required_argument, NULL, 'n'},
	    {"id-prefix", required_argument, NULL, 'p'},
	    {"rd", required_argument, NULL, 'r'},
	    {"show", required_argument, NULL, 's'},
	    {"text-index", no_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *link = NULL, *to = NULL, *from = "384", *text = NULL;
	const char *prefix = NULL, *show = NULL;
	unsigned count = 1;
	int rd = -1, ch, text_index = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'l':
			link = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'x':
			text = optarg;
			break;
		case 'n':
			count = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'r':
			rd = atoi(optarg);
			break;
		case 's':
			show = optarg;
			break;
		case 'i':
			text_index = 1;
			break;
		default:
			return 2;
		}
	}
	if (!config || !link || (!show && (!to || !text))) {
		fprintf(stderr,
			"usage: ussdgw-mtq --config PATH --link NAME (--to MSISDN --text TEXT "
			"[--from SRC] [--count N] [--id-prefix P] [--rd N] | --show MTID)\n");
		return 2;
	}
	log_set_all_levels(LOG_WARN);
	struct cfg *cfg;
	char err[512];
	if (cfg_load(config, NULL, &cfg, err, sizeof(err))) {
		fprintf(stderr, "ussdgw-mtq: %s\n", err);
		return 1;
	}
	json_t *root = cfg_root(cfg);
	unsigned max = 100000;
	json_t *links = cfg_get(root, "links");
	for (size_t i = 0; i < json_array_size(links); i++)
		if (!strcmp(cfg_str(json_array_get(links, i), "name"), link))
			max = (unsigned)cfg_int(json_array_get(links, i), "mt_queue_max");
	loop = ev_default_loop(0);
	const char *sock = cfg_str(root, "redis.socket");
	struct store_redis_opts ro = {.host = cfg_str(root, "redis.host"),
				      .port = (int)cfg_int(root, "redis.port"),
				      .socket = sock && sock[0] ? sock : NULL,
				      .db = (int)cfg_int(root, "redis.db"),
				      .command_timeout_ms = 5000};
	struct store_redis *r;
	if (store_redis_new(loop, &ro, &r)) {
		fprintf(stderr, "ussdgw-mtq: redis\n");
		return 1;
	}
	ev_timer t;
	ev_timer_init(&t, connected_poll, 0.01, 0.01);
	t.data = r;
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
	if (show) {
		char key[256];
		snprintf(key, sizeof(key), "ussdgw:mt:{%s}:%s", link, show);
		store_redis_command(r, show_done, NULL, 0, "HGETALL %s", key);
		ev_run(loop, 0);
	} else {
		for (unsigned i = 0; i < count; i++) {
			char id[96], txt[2048];
			snprintf(txt, sizeof(txt), "%s%s%u", text, text_index ? "-" : "", i);
			if (!text_index)
				snprintf(txt, sizeof(txt), "%s", text);
			struct smpp_mt mt = {.to = to,
					     .from = from,
					     .text = txt,
					     .dst_ton = 1,
					     .dst_npi = 1,
					     .registered_delivery = rd};
			if (prefix) {
				snprintf(id, sizeof(id), "%s%u", prefix, i);
				mt.mt_id = id;
			}
			if (smpp_mtq_enqueue(r, link, &mt, max, enq_done, NULL) == 0)
				pending++;
			else
				failed++;
		}
		if (pending)
			ev_run(loop, 0);
	}
	store_redis_free(r);
	cfg_free(cfg);
	return failed ? 1 : 0;
}
