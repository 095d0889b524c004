/* The one configuration schema. Every key ussdgw reads is listed here with
 * its type, default, range, reloadability and one line of documentation;
 * etc/CONFIG.md is generated from this table (`ussdgw --config-reference`) and
 * a test keeps the two in sync. */
#include "ussdgw/config.h"

#define SEC(p, d) {p, CFG_OBJECT, "{}", 0, 0, NULL, false, false, d}
#define INT(p, def, lo, hi, rel, d) {p, CFG_INT, def, lo, hi, NULL, false, rel, d}
#define STR(p, def, rel, d) {p, CFG_STRING, def, 0, 0, NULL, false, rel, d}
#define ENUM(p, def, ch, rel, d) {p, CFG_ENUM, def, 0, 0, ch, false, rel, d}
#define BOOL(p, def, rel, d) {p, CFG_BOOL, def, 0, 0, NULL, false, rel, d}
#define PATH(p, def, d) {p, CFG_PATH, def, 0, 0, NULL, false, false, d}
#define SECRET(p, d) {p, CFG_SECRET, NULL, 0, 0, NULL, false, false, d}

#define LEVELS "debug|info|notice|warn|error|fatal"

const struct cfg_key cfg_schema[] = {
	SEC("node", "This node"),
	STR("node.id", "\"node1\"", false,
	    "Node name: the audit chain (writer) id and the prefix of node-local keys; unique per node"),

	SEC("log", "Logging"),
	ENUM("log.level", "\"info\"", LEVELS, true, "Default level for every subsystem"),
	ENUM("log.format", "\"auto\"", "auto|text|json", true,
	     "auto: text on a terminal, JSON lines otherwise"),
	{"log.levels", CFG_STRMAP, "{}", 0, 0, NULL, false, true,
	 "Per-subsystem levels, e.g. {\"smpp\": \"debug\"}; subsystems: main conf smpp ussd menu sms pay audit http redis db crypto"},

	SEC("keys", "Key directory (crypto/ alone reads it)"),
	{"keys.dir", CFG_PATH, NULL, 0, 0, NULL, true, false,
	 "Key directory: mode 0700, files 0600 (create with `ussdgw-keys init DIR`)"},

	SEC("redis", "Redis (live session state, MT queue, consent view)"),
	STR("redis.host", "\"127.0.0.1\"", false, "Host name or address"),
	INT("redis.port", "6379", 1, 65535, false, "TCP port"),
	PATH("redis.socket", "\"\"", "Unix socket path; when set it is used instead of host/port"),
	SECRET("redis.password_file", "File holding the AUTH password (optional)"),
	INT("redis.db", "0", 0, 15, false, "Database number"),
	INT("redis.command_timeout_ms", "500", 10, 60000, true,
	    "Deadline for each command; a late answer is ignored and the caller told once"),
	INT("redis.connect_timeout_ms", "1000", 10, 60000, true, "Connect deadline"),
	INT("redis.reconnect_min_ms", "100", 10, 60000, true, "First reconnect delay (doubles, with jitter)"),
	INT("redis.reconnect_max_ms", "5000", 10, 600000, true, "Largest reconnect delay"),

	SEC("postgres", "PostgreSQL (audit, payments, consent ledger)"),
	STR("postgres.dsn", "\"\"", false,
	    "libpq connection string for the restricted role ussdgw_app (no password here)"),
	SECRET("postgres.password_file", "File holding the ussdgw_app password (optional)"),
	INT("postgres.connect_timeout_ms", "3000", 100, 60000, true, "Connect deadline"),
	INT("postgres.query_timeout_ms", "5000", 10, 600000, true, "Deadline for each query"),
	INT("postgres.reconnect_min_ms", "200", 10, 60000, true, "First reconnect delay (doubles, with jitter)"),
	INT("postgres.reconnect_max_ms", "10000", 10, 600000, true, "Largest reconnect delay"),

	SEC("listeners", "HTTP listeners"),
	SEC("listeners.admin", "Admin listener: /healthz, /readyz, /metrics, admin operations"),
	BOOL("listeners.admin.enabled", "true", false, "Serve the admin listener"),
	STR("listeners.admin.address", "\"127.0.0.1\"", false, "Bind address (loopback by default)"),
	INT("listeners.admin.port", "8081", 0, 65535, false, "TCP port (0 picks one and logs it)"),
	INT("listeners.admin.max_connections", "64", 1, 100000, false, "Connection cap"),
	INT("listeners.admin.per_ip_connections", "16", 0, 100000, false, "Connections per client address (0 = no cap)"),
	INT("listeners.admin.body_limit", "65536", 0, 16777216, false, "Largest request body in bytes"),
	INT("listeners.admin.timeout_s", "30", 1, 3600, false, "Idle connection timeout"),
	SEC("listeners.public", "Public listener: provider callbacks, later the REST API"),
	BOOL("listeners.public.enabled", "true", false, "Serve the public listener"),
	STR("listeners.public.address", "\"0.0.0.0\"", false, "Bind address"),
	INT("listeners.public.port", "8080", 0, 65535, false, "TCP port (0 picks one and logs it)"),
	INT("listeners.public.max_connections", "1024", 1, 100000, false, "Connection cap"),
	INT("listeners.public.per_ip_connections", "64", 0, 100000, false, "Connections per client address (0 = no cap)"),
	INT("listeners.public.body_limit", "65536", 0, 16777216, false, "Largest request body in bytes"),
	INT("listeners.public.timeout_s", "30", 1, 3600, false, "Idle connection timeout"),

	SEC("audit", "Audit trail: local journal shipped to PostgreSQL"),
	PATH("audit.journal_dir", "\"var/journal\"", "Journal directory (local disk; fsynced)"),
	INT("audit.segment_bytes", "67108864", 65536, 4294967296LL, false, "Journal segment size"),
	INT("audit.max_bytes", "4294967296", 1048576, 1099511627776LL, true,
	    "Journal size at which appends are refused (alarmed well before)"),
	INT("audit.batch_size", "1000", 1, 100000, true, "Records per shipping batch"),
	INT("audit.checkpoint_interval_s", "60", 1, 86400, true, "Seconds between signed chain-head checkpoints"),
	PATH("audit.export_file", "\"var/audit-heads.log\"", "Append-only file of signed chain heads, outside PostgreSQL"),

	SEC("payments", "Payments from menus (pay/)"),
	INT("payments.velocity_window_s", "3600", 1, 604800, true,
	    "Window of the per-MSISDN velocity limit"),
	INT("payments.velocity_max", "5", 0, 100000, true,
	    "New payments one MSISDN may start within the window (0 = no limit)"),
	INT("payments.daily_cap_minor", "0", 0, 9000000000000000000LL, true,
	    "Amount (minor units, per currency) one MSISDN may pay per UTC day; failed, cancelled and expired ones do not count (0 = no cap)"),
	INT("payments.reconcile_interval_s", "30", 1, 86400, true,
	    "Seconds between reconciliation sweeps"),
	INT("payments.query_after_s", "60", 0, 86400, true,
	    "An open payment not updated for this long is queried at its provider"),
	INT("payments.expire_after_s", "600", 1, 604800, true,
	    "Cut-off: a payment still open this long after creation expires (or goes to unknown when the request's fate is not known)"),
	INT("payments.late_window_s", "86400", 0, 2592000, true,
	    "Expired and unknown payments with a provider reference are still queried this long, so a late success is found"),
	INT("payments.reconcile_batch", "100", 1, 10000, true, "Payments looked at per sweep"),
	BOOL("payments.test_trigger", "false", false,
	     "TEST ONLY, never in production: POST /test/pay and /test/reconcile on the admin listener start payments and sweeps"),
	ENUM("payments.test_crash_at", "\"none\"", "none|committed|pushed|stored|callback", false,
	     "TEST ONLY, never in production: the process kills itself (SIGKILL) at this stage of a payment"),

	{"providers", CFG_MAP, "{}", 0, 0, NULL, false, false,
	 "Payment providers by name (the name is the menu's provider and the callback path segment)"},
	{"providers{}.type", CFG_ENUM, NULL, 0, 0, "daraja", true, false, "Provider client"},
	{"providers{}.base_url", CFG_STRING, NULL, 0, 0, NULL, true, false,
	 "API base URL; https (TLS verified), plain http only for loopback (emulators)"},
	STR("providers{}.callback_base_url", "\"\"", false,
	    "Public base URL of this gateway's public listener as the provider reaches it; callbacks go to <this>/callbacks/<name>/<token>"),
	{"providers{}.allowed_sources", CFG_STRLIST, "[]", 0, 0, NULL, false, true,
	 "Source addresses callbacks are accepted from (others are refused and audited)"},
	STR("providers{}.currency", "\"KES\"", false, "Currency the provider charges in (ISO 4217)"),
	SECRET("providers{}.consumer_key_file", "Daraja: file with the app's consumer key"),
	SECRET("providers{}.consumer_secret_file", "Daraja: file with the app's consumer secret"),
	SECRET("providers{}.passkey_file", "Daraja: file with the Lipa Na M-Pesa Online passkey"),
	STR("providers{}.shortcode", "\"\"", false, "Daraja: BusinessShortCode (5-7 digits)"),
	STR("providers{}.party_b", "\"\"", false, "Daraja: PartyB (PayBill or till); empty = the shortcode"),
	ENUM("providers{}.transaction_type", "\"CustomerPayBillOnline\"",
	     "CustomerPayBillOnline|CustomerBuyGoodsOnline", false, "Daraja: STK TransactionType"),
	INT("providers{}.timeout_ms", "10000", 100, 120000, false, "Deadline of each API call"),
	INT("providers{}.connect_timeout_ms", "3000", 100, 60000, false, "Connect deadline (DNS and TLS included)"),
	INT("providers{}.retry_budget_ms", "8000", 0, 600000, false,
	    "Time within which calls that certainly did not reach the provider (no connection, throttled, stale token) are retried with backoff and jitter"),
	INT("providers{}.breaker_failures", "5", 1, 1000, false,
	    "Consecutive failed calls that open the provider's circuit (new payments refused)"),
	INT("providers{}.breaker_open_ms", "30000", 100, 3600000, false,
	    "How long the circuit stays open before one trial call"),

	SEC("shutdown", "Graceful shutdown"),
	INT("shutdown.deadline_ms", "10000", 0, 600000, true,
	    "On SIGTERM: stop accepting, finish in-flight work, then exit after at most this long"),
	{NULL, 0, NULL, 0, 0, NULL, false, false, NULL},
};
