-- 0002-audit: the append-only, tamper-evident audit trail.
--
-- Applied as ussdgw_owner (roles from 0001-init.sql). The gateway's role
-- ussdgw_app may only INSERT and SELECT; triggers refuse UPDATE, DELETE and
-- TRUNCATE for everyone, the owner included. Tampering by someone who gets past
-- that (disables a trigger, edits the files) is what `ussdgw-audit verify`
-- finds: every record is hash-chained per writer in the gateway and the chain
-- heads are signed (Ed25519) into audit_checkpoint and into an export file
-- outside PostgreSQL.
--
-- Owner jobs (see README, "Audit trail"):
--   SELECT audit_ensure_partitions();            -- daily: this month + 2 ahead
--   CALL audit_drop_partition('2025-01-01', 'retention 18 months');
--   SELECT audit_erase_subscriber('<token>');    -- erasure: destroys data keys

-- One row per record. body is the record's canonical JSON exactly as hashed;
-- kind, session_id, payment_id and msisdn_token are copies of body fields for
-- indexing (the verifier checks they match the body).
-- Identifiers compare byte-wise (COLLATE "C"): index maintenance is most of the
-- ingest cost and needs no linguistic order.
CREATE TABLE audit (
	chain        text COLLATE "C" NOT NULL CHECK (length(chain) BETWEEN 1 AND 63),
	seq          bigint      NOT NULL CHECK (seq > 0),
	occurred     timestamptz NOT NULL,
	body         text        NOT NULL,
	prev_hash    bytea       NOT NULL CHECK (length(prev_hash) = 32),
	hash         bytea       NOT NULL CHECK (length(hash) = 32),
	kind         text COLLATE "C" NOT NULL,
	session_id   text COLLATE "C",
	payment_id   text COLLATE "C",
	msisdn_token text COLLATE "C",
	CONSTRAINT audit_key UNIQUE (chain, seq, occurred)
) PARTITION BY RANGE (occurred);

CREATE INDEX audit_session ON audit (session_id, seq) WHERE session_id IS NOT NULL;
CREATE INDEX audit_payment ON audit (payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX audit_msisdn ON audit (msisdn_token) WHERE msisdn_token IS NOT NULL;

-- Safety net only: a row lands here when its month has no partition. Any row
-- here raises an alarm, and blocks creating that month's partition until the
-- owner moves it (README: "A row in audit_default").
CREATE TABLE audit_default PARTITION OF audit DEFAULT;

-- Signed chain heads (also exported to a file outside PostgreSQL).
CREATE TABLE audit_checkpoint (
	chain     text COLLATE "C" NOT NULL,
	seq       bigint      NOT NULL,
	hash      bytea       NOT NULL CHECK (length(hash) = 32),
	signed_at timestamptz NOT NULL,
	signed_at_us bigint   NOT NULL,
	sig       bytea       NOT NULL CHECK (length(sig) = 64),
	PRIMARY KEY (chain, seq)
);

-- Records refused because a different record is stored under the same key.
CREATE TABLE audit_conflict (
	refused_at timestamptz NOT NULL DEFAULT now(),
	chain      text        NOT NULL,
	seq        bigint      NOT NULL,
	occurred   timestamptz NOT NULL,
	body       text        NOT NULL,
	prev_hash  bytea       NOT NULL,
	hash       bytea       NOT NULL
);

-- Alarms raised inside the database (rows in the default partition, partitions
-- that could not be created). The shipper turns them into log alarms too.
CREATE TABLE audit_alarm (
	raised_at timestamptz NOT NULL DEFAULT now(),
	what      text        NOT NULL,
	detail    text        NOT NULL
);

-- What retention removed: one row per dropped partition, with the chain ranges
-- it held and the hash of the last record of each range, so that `verify` can
-- tell a documented drop from a removal.
CREATE TABLE audit_retention (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	dropped_at timestamptz NOT NULL DEFAULT now(),
	dropped_by text        NOT NULL DEFAULT current_user,
	partition  text        NOT NULL,
	range_from timestamptz NOT NULL,
	range_to   timestamptz NOT NULL,
	reason     text        NOT NULL,
	rows       bigint      NOT NULL,
	ranges     jsonb       NOT NULL -- [{"chain":..,"first":..,"last":..,"last_hash":hex}]
);

-- Per-subscriber data keys (AES-256-GCM, wrapped by the master key). Not
-- append-only: erasure deletes a subscriber's keys, which makes the sealed
-- values unreadable while the chain (over the ciphertext) still verifies.
CREATE TABLE audit_subscriber_key (
	msisdn_token text COLLATE "C" NOT NULL,
	key_id       text COLLATE "C" NOT NULL,
	wrapped      bytea       NOT NULL,
	created      timestamptz NOT NULL,
	PRIMARY KEY (msisdn_token, key_id)
);

-- Refuse changes, whoever asks.
CREATE FUNCTION audit_forbid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'ussdgw audit: % on % refused (append-only)', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION audit_make_append_only(tbl regclass, row_triggers boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF row_triggers THEN
		EXECUTE format('CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON %s '
			       'FOR EACH ROW EXECUTE FUNCTION audit_forbid()', tbl);
	END IF;
	EXECUTE format('CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON %s '
		       'FOR EACH STATEMENT EXECUTE FUNCTION audit_forbid()', tbl);
END $$;

-- Row triggers on the partitioned table are cloned onto every partition; TRUNCATE
-- triggers are not, so each partition gets its own (audit_ensure_partitions).
DO $$
BEGIN
	PERFORM audit_make_append_only('audit', true);
	PERFORM audit_make_append_only('audit_default', false);
	PERFORM audit_make_append_only('audit_checkpoint', true);
	PERFORM audit_make_append_only('audit_conflict', true);
	PERFORM audit_make_append_only('audit_alarm', true);
	PERFORM audit_make_append_only('audit_retention', true);
END $$;

-- Any row in the default partition is an alarm.
CREATE FUNCTION audit_default_alarm() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	INSERT INTO audit_alarm (what, detail) VALUES ('default-partition',
		format('chain %s seq %s occurred %s has no month partition', NEW.chain, NEW.seq,
		       NEW.occurred));
	RAISE WARNING 'USSDGW-ALARM audit: chain % seq % (occurred %) went to audit_default: '
		'the month has no partition', NEW.chain, NEW.seq, NEW.occurred;
	RETURN NULL;
END $$;
CREATE TRIGGER audit_default_alarm AFTER INSERT ON audit_default
	FOR EACH ROW EXECUTE FUNCTION audit_default_alarm();

CREATE FUNCTION audit_partition_name(month date) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT 'audit_' || to_char(month, 'YYYY_MM')
$$;

-- Create the month partitions from @base's month to @months_ahead months after
-- it (UTC months). A month whose rows already sit in audit_default cannot get
-- its partition (PostgreSQL refuses); that is alarmed, and the others are
-- still created. Returns the number of partitions created.
CREATE FUNCTION audit_ensure_partitions(months_ahead int DEFAULT 2, base timestamptz DEFAULT now())
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	m0 date := date_trunc('month', base AT TIME ZONE 'UTC')::date;
	m date;
	name text;
	created int := 0;
BEGIN
	FOR i IN 0 .. months_ahead LOOP
		m := (m0 + make_interval(months => i))::date;
		name := audit_partition_name(m);
		CONTINUE WHEN to_regclass(name) IS NOT NULL;
		BEGIN
			EXECUTE format('CREATE TABLE %I PARTITION OF audit FOR VALUES FROM (%L) TO (%L)',
				       name, (m::timestamp AT TIME ZONE 'UTC'),
				       ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
			PERFORM audit_make_append_only(name::regclass, false);
			created := created + 1;
		EXCEPTION WHEN check_violation OR invalid_object_definition THEN
			INSERT INTO audit_alarm (what, detail) VALUES ('partition-blocked',
				format('%s: %s', name, SQLERRM));
			RAISE WARNING 'USSDGW-ALARM audit: cannot create partition %: %', name, SQLERRM;
		END;
	END LOOP;
	RETURN created;
END $$;

DO $$ BEGIN PERFORM audit_ensure_partitions(2); END $$;

-- Retention: drop one whole month partition, older than the current month,
-- after recording what it held. The only way rows leave the audit table.
CREATE PROCEDURE audit_drop_partition(month date, reason text)
LANGUAGE plpgsql AS $$
DECLARE
	m date := date_trunc('month', month)::date;
	name text := audit_partition_name(m);
	r jsonb;
	n bigint;
BEGIN
	IF reason IS NULL OR length(reason) < 3 THEN
		RAISE EXCEPTION 'audit_drop_partition: give a reason';
	END IF;
	IF m >= date_trunc('month', now() AT TIME ZONE 'UTC')::date THEN
		RAISE EXCEPTION 'audit_drop_partition: % is not an old month', m;
	END IF;
	IF to_regclass(name) IS NULL THEN
		RAISE EXCEPTION 'audit_drop_partition: no partition %', name;
	END IF;
	-- Runs of consecutive sequence numbers per chain (gaps and islands).
	EXECUTE format($q$
		WITH t AS (SELECT chain, seq, hash, seq - row_number() OVER (PARTITION BY chain ORDER BY seq) AS grp
			   FROM %I),
		     g AS (SELECT chain, min(seq) AS first, max(seq) AS last FROM t GROUP BY chain, grp)
		SELECT coalesce(jsonb_agg(jsonb_build_object('chain', g.chain, 'first', g.first, 'last', g.last,
			'last_hash', encode(t.hash, 'hex')) ORDER BY g.chain, g.first), '[]'::jsonb),
		       (SELECT count(*) FROM %I)
		FROM g JOIN t ON t.chain = g.chain AND t.seq = g.last$q$, name, name) INTO r, n;
	INSERT INTO audit_retention (partition, range_from, range_to, reason, rows, ranges)
	VALUES (name, m::timestamp AT TIME ZONE 'UTC', (m + interval '1 month')::timestamp AT TIME ZONE 'UTC',
		reason, n, r);
	EXECUTE format('ALTER TABLE audit DETACH PARTITION %I', name);
	EXECUTE format('DROP TABLE %I', name);
	RAISE NOTICE 'audit: dropped % (% rows), recorded in audit_retention', name, n;
END $$;

-- Erasure: destroy a subscriber's data keys. Sealed values become unreadable;
-- the chain still verifies (it covers the ciphertext).
CREATE FUNCTION audit_erase_subscriber(token text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
	DELETE FROM audit_subscriber_key WHERE msisdn_token = token;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

REVOKE ALL ON audit, audit_default, audit_checkpoint, audit_conflict, audit_alarm, audit_retention,
	audit_subscriber_key FROM PUBLIC;
GRANT SELECT, INSERT ON audit, audit_checkpoint, audit_conflict, audit_subscriber_key TO ussdgw_app;
GRANT SELECT ON audit_alarm, audit_retention TO ussdgw_app;
REVOKE EXECUTE ON FUNCTION audit_ensure_partitions(int, timestamptz), audit_erase_subscriber(text),
	audit_make_append_only(regclass, boolean) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE audit_drop_partition(date, text) FROM PUBLIC;
