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

	{"links", CFG_ARRAY, "[]", 0, 0, NULL, false, false,
	 "SMPP client links: one operator SMSC / USSD centre each, with one or more binds"},
	{"links[].name", CFG_STRING, NULL, 0, 0, NULL, true, false,
	 "Link name ([A-Za-z0-9_-]); binds are named NAME/0, NAME/1, ..."},
	{"links[].system_id", CFG_STRING, NULL, 0, 0, NULL, true, false, "system_id of the binds (at most 15 bytes)"},
	SECRET("links[].password_file", "File holding the bind password (at most 8 bytes)"),
	STR("links[].system_type", "\"\"", false, "system_type of the binds (at most 12 bytes)"),
	ENUM("links[].bind_type", "\"transceiver\"", "transceiver|transmitter|receiver", false,
	     "Bind type of every bind of the link"),
	INT("links[].addr_ton", "0", 0, 255, false, "addr_ton of the bind"),
	INT("links[].addr_npi", "0", 0, 255, false, "addr_npi of the bind"),
	STR("links[].address_range", "\"\"", false, "address_range of the bind (at most 40 bytes)"),
	BOOL("links[].tls", "false", false, "Connect with TLS (OpenSSL; peer verification always on)"),
	PATH("links[].tls_ca_file", "\"\"", "CA bundle that signs the SMSC's certificate (empty: tls/ca.crt in the key directory)"),
	STR("links[].tls_client_cert", "\"\"", false,
	    "Client certificate name in the key directory (tls/NAME.crt + tls/NAME.key); empty = none"),
	STR("links[].tls_server_name", "\"\"", false, "Name checked in the SMSC's certificate and sent as SNI (empty: the bind's host)"),
	INT("links[].window", "10", 1, 1000, true, "Outstanding requests per bind"),
	INT("links[].tps", "0", 0, 100000, true, "Submit cap per bind in messages per second (0 = none)"),
	INT("links[].enquire_link_s", "30", 1, 3600, true, "enquire_link after this many idle seconds"),
	INT("links[].response_timeout_ms", "10000", 100, 600000, true, "Deadline for every *_resp"),
	INT("links[].connect_timeout_ms", "5000", 100, 600000, true, "TCP connect + TLS handshake deadline"),
	INT("links[].reconnect_min_ms", "1000", 10, 600000, true, "First reconnect delay (doubles, with jitter)"),
	INT("links[].reconnect_max_ms", "30000", 10, 3600000, true, "Largest reconnect delay"),
	INT("links[].throttle_pause_ms", "1000", 0, 600000, true,
	    "Pause of a bind's submits after ESME_RTHROTTLED / ESME_RMSGQFUL (doubles while repeated)"),
	INT("links[].answer_budget_ms", "10000", 100, 120000, true, "USSD answer budget from the subscriber's input"),
	INT("links[].unbind_timeout_ms", "3000", 100, 60000, true, "On shutdown: wait this long for the window to drain and for unbind_resp"),
	INT("links[].max_pdu_len", "4096", 64, 65536, false, "Largest command_length accepted"),
	ENUM("links[].concat", "\"udh8\"", "udh8|udh16|sar|payload", true,
	     "How long MT SMS are carried: UDH (8/16-bit reference), sar_* TLVs or one message_payload"),
	INT("links[].registered_delivery", "1", 0, 31, true, "registered_delivery of MT SMS (1: receipt on success or failure)"),
	ENUM("links[].dcs_profile", "\"smpp\"", "smpp|ussd", true, "How data_coding is read on this link (USSD centres often use the CBS DCS)"),
	BOOL("links[].allow_latin1", "false", true, "The SMSC accepts data_coding 3 (Latin-1)"),
	STR("links[].ussd_service_type", "\"USSD\"", true, "service_type of USSD submit_sm"),
	ENUM("links[].ussd_session_field", "\"its_session_info\"", "its_session_info|packed|umr|none", true,
	     "Where the USSD centre carries the session id (dialect)"),
	INT("links[].mt_queue_max", "100000", 1, 100000000, true, "MT queue bound in Redis; enqueue beyond is refused (overload)"),
	INT("links[].mt_retry_max", "10", 0, 1000, true, "Attempts of an MT after temporary errors before it is failed"),
	INT("links[].mt_retry_min_ms", "1000", 10, 600000, true, "First retry delay of an MT after a temporary error (doubles)"),
	INT("links[].mt_claim_idle_ms", "60000", 1000, 3600000, true,
	    "An MT pending this long with a consumer (a dead node or bind) is claimed and sent again"),
	INT("links[].dlr_ttl_s", "172800", 60, 2592000, true, "How long a submitted MT can be matched to its receipt"),
	INT("links[].dlr_early_ttl_s", "600", 1, 86400, true, "How long a receipt that arrived before its submit_sm_resp is parked"),
	INT("links[].reassembly_timeout_s", "300", 1, 86400, true, "How long the parts of a long MO wait for the rest"),
	{"links[].binds", CFG_ARRAY, NULL, 0, 0, NULL, true, false, "The binds of the link (one TCP/TLS session each)"},
	{"links[].binds[].host", CFG_STRING, NULL, 0, 0, NULL, true, false, "SMSC host (name or address)"},
	{"links[].binds[].port", CFG_INT, "2775", 1, 65535, NULL, false, false, "SMSC port"},

	SEC("shutdown", "Graceful shutdown"),
	INT("shutdown.deadline_ms", "10000", 0, 600000, true,
	    "On SIGTERM: stop accepting, finish in-flight work, then exit after at most this long"),
	{NULL, 0, NULL, 0, 0, NULL, false, false, NULL},
};
