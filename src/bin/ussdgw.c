/* ussdgw: the gateway daemon. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/clock.h"
#include "ussdgw/audit.h"
#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_listeners.h"
#include "ussdgw/log.h"
#include "ussdgw/pay.h"
#include "ussdgw/smpp_link.h"
#include "ussdgw/smpp_server.h"
#include "ussdgw/sms_router.h"
#include "ussdgw/store_pg.h"
#include "ussdgw/store_redis.h"
#include "ussdgw/ussd_engine.h"

/* The key directory: opened first, so every later service can use it, and a
 * key file readable by others stops the node before any socket opens. */
static int keys_start(struct gw_node *node, void **state)
{
	(void)state;
	const char *dir = cfg_str(cfg_root(node->cfg), "keys.dir");
	int rc = crypto_open(dir, &node->keys);
	if (rc)
		LOGP(DCRYPTO, LOG_FATAL, "keys.dir %s: %s", dir, gw_strerror(rc));
	return rc;
}

static void keys_stop(struct gw_node *node, void *state)
{
	(void)state;
	crypto_close(node->keys);
	node->keys = NULL;
}

static const struct gw_service keys_service = {
	.name = "keys",
	.start = keys_start,
	.stop = keys_stop,
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ussdgw --config PATH [--check-config]\n"
		   "       ussdgw --config-reference\n"
		   "       ussdgw --version\n"
		   "\n"
		   "  --config PATH       JSON configuration (see etc/CONFIG.md)\n"
		   "  --check-config      validate the configuration and exit (0 = valid)\n"
		   "  --config-reference  print every configuration key as Markdown\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'k'},
		{"config-reference", no_argument, NULL, 'r'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL;
	int check_only = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'k': check_only = 1; break;
		case 'r': cfg_print_reference(stdout); return 0;
		case 'V': printf("ussdgw %s\n", GW_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!config_path) {
		usage(stderr);
		return 2;
	}
	gw_clock_init_from_env();

	struct cfg *cfg;
	char err[1024];
	int rc = cfg_load(config_path, NULL, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ussdgw: configuration error: %s\n", err);
		return 1;
	}
	if (check_only) {
		const char *kd = cfg_str(cfg_root(cfg), "keys.dir");
		struct crypto_keyring *kr;
		rc = crypto_open(kd, &kr);
		if (rc) {
			fprintf(stderr, "ussdgw: keys.dir %s: %s\n", kd, gw_strerror(rc));
			cfg_free(cfg);
			return 1;
		}
		crypto_close(kr);
		printf("%s: configuration valid\n", config_path);
		cfg_free(cfg);
		return 0;
	}
	daemon_apply_log_config(cfg);

	struct gw_node node = {
		.loop = ev_default_loop(EVFLAG_AUTO),
		.cfg = cfg,
		.config_path = config_path,
	};
	daemon_add_service(&keys_service);
	daemon_add_service(&store_redis_service);
	daemon_add_service(&store_pg_service);
	daemon_add_service(&audit_service);
	daemon_add_service(&smpp_links_service);
	daemon_add_service(&smpp_server_service);
	daemon_add_service(&pay_service);
	/* The keyword router takes the links' MO first; the USSD engine then takes
	 * them and hands SMS on to it (sms_mo_basic_handle() -> sms_router_handle()). */
	daemon_add_service(&sms_router_service);
	daemon_add_service(&ussd_engine_service);
	/* Listeners start last (and drain first): what they serve is up by then. */
	daemon_add_service(&http_admin_service);
	daemon_add_service(&http_public_service);
	daemon_add_service(&pay_admin_service);
	int code = daemon_run(&node);
	cfg_free(cfg);
	LOGP(DMAIN, LOG_NOTICE, "ussdgw stopped");
	return code;
}
