-- 0003-payments: payments from menus, exactly once.
--
-- Applied as ussdgw_owner. One row per payment intent, keyed by its
-- idempotency key (a random UUID v4 made by the gateway) and unique per
-- gateway session and step, so a re-sent step finds the same payment. The row
-- and its secret callback token (stored as its SHA-256, so a read of the
-- table cannot forge callbacks) are committed before the first request to the
-- provider (DESIGN.md, "What durable means").
--
-- States only move forward (payment_transition_ok below, enforced by a trigger
-- for every role): created -> requested -> pending -> a final state; any
-- unresolved state may end as unknown (manual review); a success the provider
-- confirms later lifts failed / cancelled / expired / unknown to succeeded; a
-- succeeded payment only moves on to refunded or reversed. A paid result is
-- never downgraded.
--
-- Times come from the gateway's clock (p_now_ms parameters), the one clock
-- tests can shift, not from the server's now().
--
-- The daemon's role ussdgw_app reads the tables and changes them only through
-- the functions below (SECURITY DEFINER, owned by ussdgw_owner).

CREATE TABLE payment (
	id             uuid        PRIMARY KEY,
	session_id     text        NOT NULL CHECK (length(session_id) BETWEEN 1 AND 128),
	step           integer     NOT NULL CHECK (step >= 0),
	provider       text        NOT NULL CHECK (provider ~ '^[a-z0-9_-]{1,32}$'),
	state          text        NOT NULL DEFAULT 'created',
	amount_minor   bigint      NOT NULL CHECK (amount_minor > 0),
	currency       char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	msisdn         text        NOT NULL CHECK (msisdn ~ '^[1-9][0-9]{6,14}$'),
	account_ref    text        NOT NULL CHECK (length(account_ref) BETWEEN 1 AND 64),
	callback_hash  text        NOT NULL UNIQUE CHECK (callback_hash ~ '^[0-9a-f]{64}$'),
	provider_ref   text,
	receipt        text,
	result_code    text,
	result_desc    text,
	needs_review   boolean     NOT NULL DEFAULT false,
	review_reason  text,
	created_at     timestamptz NOT NULL,
	requested_at   timestamptz,
	updated_at     timestamptz NOT NULL,
	settled_at     timestamptz,
	CONSTRAINT payment_state_name CHECK (state IN ('created', 'requested', 'pending',
		'succeeded', 'failed', 'cancelled', 'expired', 'unknown', 'refunded', 'reversed')),
	CONSTRAINT payment_session_step UNIQUE (session_id, step),
	CONSTRAINT payment_provider_ref UNIQUE (provider, provider_ref),
	CONSTRAINT payment_receipt UNIQUE (provider, receipt)
);
CREATE INDEX payment_open ON payment (state, updated_at)
	WHERE state IN ('created', 'requested', 'pending', 'unknown');
CREATE INDEX payment_msisdn_day ON payment (msisdn, created_at);
CREATE INDEX payment_review ON payment (updated_at) WHERE needs_review;

-- Provider callbacks as received and accepted (after the raw body is in the
-- audit journal, encrypted). One row per distinct delivery: a duplicate
-- (same payment, provider reference and result) is refused by the key.
CREATE TABLE payment_callback (
	payment_id   uuid        NOT NULL REFERENCES payment (id),
	provider_ref text        NOT NULL,
	result_code  text        NOT NULL,
	received_at  timestamptz NOT NULL,
	remote       text        NOT NULL,
	deliveries   integer     NOT NULL DEFAULT 1,
	PRIMARY KEY (payment_id, provider_ref, result_code)
);

-- Forward-only rule, shared by the trigger and the functions.
CREATE FUNCTION payment_transition_ok(old_state text, new_state text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE old_state
		WHEN 'created'   THEN new_state IN ('requested', 'failed', 'expired', 'unknown')
		WHEN 'requested' THEN new_state IN ('pending', 'succeeded', 'failed', 'cancelled',
		                                    'expired', 'unknown')
		WHEN 'pending'   THEN new_state IN ('succeeded', 'failed', 'cancelled', 'expired',
		                                    'unknown')
		WHEN 'unknown'   THEN new_state IN ('succeeded', 'failed', 'cancelled', 'expired')
		WHEN 'failed'    THEN new_state = 'succeeded'
		WHEN 'cancelled' THEN new_state = 'succeeded'
		WHEN 'expired'   THEN new_state = 'succeeded'
		WHEN 'succeeded' THEN new_state IN ('refunded', 'reversed')
		ELSE false
	END
$$;

CREATE FUNCTION payment_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'payments are never deleted' USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NEW.id <> OLD.id OR NEW.session_id <> OLD.session_id OR NEW.step <> OLD.step
	   OR NEW.amount_minor <> OLD.amount_minor OR NEW.currency <> OLD.currency
	   OR NEW.msisdn <> OLD.msisdn OR NEW.provider <> OLD.provider
	   OR NEW.callback_hash <> OLD.callback_hash
	   OR (OLD.provider_ref IS NOT NULL AND NEW.provider_ref IS DISTINCT FROM OLD.provider_ref)
	   OR (OLD.receipt IS NOT NULL AND NEW.receipt IS DISTINCT FROM OLD.receipt) THEN
		RAISE EXCEPTION 'payment %: fixed fields cannot change', OLD.id
			USING ERRCODE = 'integrity_constraint_violation';
	END IF;
	IF NEW.state <> OLD.state AND NOT payment_transition_ok(OLD.state, NEW.state) THEN
		RAISE EXCEPTION 'payment %: % -> % is not a forward move', OLD.id, OLD.state, NEW.state
			USING ERRCODE = 'integrity_constraint_violation';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER payment_guard BEFORE UPDATE OR DELETE ON payment
	FOR EACH ROW EXECUTE FUNCTION payment_guard();
CREATE FUNCTION payment_callback_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'payment callbacks are never deleted' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER payment_callback_guard BEFORE DELETE ON payment_callback
	FOR EACH ROW EXECUTE FUNCTION payment_callback_guard();

CREATE FUNCTION payment_ms(p_ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT to_timestamp(p_ms / 1000.0) $$;

-- Create a payment, or find the one of the same session step.
-- Velocity limits (payments per MSISDN in a window, amount per MSISDN per UTC
-- day, both 0 = off) apply only to a new payment; a re-sent step always finds
-- its payment. Serialised per MSISDN by an advisory lock, so two nodes cannot
-- both slip under a cap.
-- outcome: 'created', 'existing', 'velocity', 'daily_cap', 'mismatch' (the
-- session step exists with another amount, MSISDN or provider).
CREATE FUNCTION payment_create(p_id uuid, p_session text, p_step integer, p_provider text,
	p_amount bigint, p_currency text, p_msisdn text, p_account text, p_hash text,
	p_now_ms bigint, p_window_s integer, p_window_max integer, p_daily_cap bigint)
RETURNS TABLE (outcome text, id uuid, state text, provider_ref text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r payment%ROWTYPE;
	v_now timestamptz := payment_ms(p_now_ms);
	v_n bigint;
	v_sum bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('payment-msisdn:' || p_msisdn));
	SELECT * INTO r FROM payment p WHERE p.session_id = p_session AND p.step = p_step;
	IF FOUND THEN
		IF r.amount_minor <> p_amount OR r.currency <> p_currency OR r.msisdn <> p_msisdn
		   OR r.provider <> p_provider THEN
			RETURN QUERY SELECT 'mismatch'::text, r.id, r.state, NULL::text;
		ELSE
			RETURN QUERY SELECT 'existing'::text, r.id, r.state, r.provider_ref;
		END IF;
		RETURN;
	END IF;
	IF p_window_max > 0 THEN
		SELECT count(*) INTO v_n FROM payment p
		 WHERE p.msisdn = p_msisdn AND p.created_at > v_now - make_interval(secs => p_window_s);
		IF v_n >= p_window_max THEN
			RETURN QUERY SELECT 'velocity'::text, NULL::uuid, NULL::text, NULL::text;
			RETURN;
		END IF;
	END IF;
	IF p_daily_cap > 0 THEN
		SELECT coalesce(sum(p.amount_minor), 0) INTO v_sum FROM payment p
		 WHERE p.msisdn = p_msisdn AND p.currency = p_currency
		   AND p.created_at >= date_trunc('day', v_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
		   AND p.state NOT IN ('failed', 'cancelled', 'expired');
		IF v_sum + p_amount > p_daily_cap THEN
			RETURN QUERY SELECT 'daily_cap'::text, NULL::uuid, NULL::text, NULL::text;
			RETURN;
		END IF;
	END IF;
	INSERT INTO payment (id, session_id, step, provider, amount_minor, currency, msisdn,
		account_ref, callback_hash, created_at, updated_at)
	VALUES (p_id, p_session, p_step, p_provider, p_amount, p_currency, p_msisdn, p_account,
		p_hash, v_now, v_now);
	RETURN QUERY SELECT 'created'::text, p_id, 'created'::text, NULL::text;
END
$$;

-- Move a payment to p_to if that is a forward move from its current state
-- and, when p_from is not NULL, the current state is one of p_from (a
-- compare-and-set: only one node wins created -> requested). Sets the
-- provider reference and receipt when given and not yet set (a different
-- value than the stored one is a conflict).
-- outcome: 'moved', 'same' (already in p_to), 'refused' (not forward / not
-- in p_from), 'conflict' (reference or receipt differs), 'missing'.
CREATE FUNCTION payment_advance(p_id uuid, p_from text[], p_to text, p_ref text,
	p_receipt text, p_code text, p_desc text, p_review text, p_now_ms bigint)
RETURNS TABLE (outcome text, old_state text, new_state text, session_id text,
	amount_minor bigint, currency text, msisdn text, account_ref text, receipt text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r payment%ROWTYPE;
	v_now timestamptz := payment_ms(p_now_ms);
BEGIN
	SELECT * INTO r FROM payment p WHERE p.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'missing'::text, NULL::text, NULL::text, NULL::text, NULL::bigint,
			NULL::text, NULL::text, NULL::text, NULL::text;
		RETURN;
	END IF;
	IF (p_ref IS NOT NULL AND r.provider_ref IS NOT NULL AND r.provider_ref <> p_ref)
	   OR (p_receipt IS NOT NULL AND r.receipt IS NOT NULL AND r.receipt <> p_receipt) THEN
		RETURN QUERY SELECT 'conflict'::text, r.state, r.state, r.session_id, r.amount_minor,
			r.currency::text, r.msisdn, r.account_ref, r.receipt;
		RETURN;
	END IF;
	IF r.state = p_to THEN
		UPDATE payment p SET provider_ref = coalesce(p.provider_ref, p_ref),
			receipt = coalesce(p.receipt, p_receipt), updated_at = v_now
		 WHERE p.id = p_id;
		RETURN QUERY SELECT 'same'::text, r.state, r.state, r.session_id, r.amount_minor,
			r.currency::text, r.msisdn, r.account_ref, coalesce(r.receipt, p_receipt);
		RETURN;
	END IF;
	IF (p_from IS NOT NULL AND NOT r.state = ANY (p_from))
	   OR NOT payment_transition_ok(r.state, p_to) THEN
		RETURN QUERY SELECT 'refused'::text, r.state, r.state, r.session_id, r.amount_minor,
			r.currency::text, r.msisdn, r.account_ref, r.receipt;
		RETURN;
	END IF;
	UPDATE payment p SET state = p_to,
		provider_ref = coalesce(p.provider_ref, p_ref),
		receipt = coalesce(p.receipt, p_receipt),
		result_code = coalesce(p_code, p.result_code),
		result_desc = coalesce(p_desc, p.result_desc),
		needs_review = p.needs_review OR p_review IS NOT NULL OR p_to = 'unknown'
			OR (p_to = 'succeeded' AND r.state IN ('expired', 'failed', 'cancelled', 'unknown')),
		review_reason = coalesce(p_review, p.review_reason),
		requested_at = CASE WHEN p_to = 'requested' THEN v_now ELSE p.requested_at END,
		settled_at = CASE WHEN p_to IN ('succeeded', 'failed', 'cancelled', 'expired')
			THEN v_now ELSE p.settled_at END,
		updated_at = v_now
	 WHERE p.id = p_id;
	RETURN QUERY SELECT 'moved'::text, r.state, p_to, r.session_id, r.amount_minor,
		r.currency::text, r.msisdn, r.account_ref, coalesce(r.receipt, p_receipt);
END
$$;

-- Record a callback delivery. outcome: 'new' or 'duplicate' (then the
-- delivery counter goes up).
CREATE FUNCTION payment_callback_record(p_id uuid, p_ref text, p_code text, p_remote text,
	p_now_ms bigint)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	INSERT INTO payment_callback (payment_id, provider_ref, result_code, received_at, remote)
	VALUES (p_id, p_ref, p_code, payment_ms(p_now_ms), p_remote)
	ON CONFLICT (payment_id, provider_ref, result_code)
	DO UPDATE SET deliveries = payment_callback.deliveries + 1;
	IF (SELECT c.deliveries FROM payment_callback c WHERE c.payment_id = p_id
	      AND c.provider_ref = p_ref AND c.result_code = p_code) > 1 THEN
		RETURN QUERY SELECT 'duplicate'::text;
	ELSE
		RETURN QUERY SELECT 'new'::text;
	END IF;
END
$$;

REVOKE ALL ON FUNCTION payment_create(uuid, text, integer, text, bigint, text, text, text, text,
	bigint, integer, integer, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION payment_advance(uuid, text[], text, text, text, text, text, text, bigint)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION payment_callback_record(uuid, text, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payment_create(uuid, text, integer, text, bigint, text, text, text,
	text, bigint, integer, integer, bigint) TO ussdgw_app;
GRANT EXECUTE ON FUNCTION payment_advance(uuid, text[], text, text, text, text, text, text,
	bigint) TO ussdgw_app;
GRANT EXECUTE ON FUNCTION payment_callback_record(uuid, text, text, text, bigint) TO ussdgw_app;
GRANT SELECT ON payment, payment_callback TO ussdgw_app;
