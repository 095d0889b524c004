-- 0004-consent: the consent ledger (STOP / STOPALL / START) per subscriber and service.
--
-- Applied as ussdgw_owner. The live consent view every node checks is in Redis
-- (ussdgw:consent:{TOKEN}, written before the STOP's deliver_sm_resp); this is
-- the durable record behind it: one row per change (when, how: channel, short
-- code, keyword and link, and the text the subscriber was answered), plus the
-- current state per subscriber and service. Subscribers are identified by their
-- MSISDN token (keyed HMAC of the E.164 number), never the number in clear.
--
-- Rows arrive from each node's Redis outbox, possibly more than once (a node
-- that died between the insert and the outbox trim, two nodes draining the same
-- outbox): the event id makes a replay a no-op, and the current state follows
-- the latest change by the gateway's clock, whatever order replays arrive in.
--
-- The daemon's role ussdgw_app reads the tables and writes them only through
-- consent_record() (SECURITY DEFINER, owned by ussdgw_owner).

CREATE TABLE consent_event (
	id            uuid        PRIMARY KEY,
	msisdn_token  text        NOT NULL CHECK (msisdn_token ~ '^[0-9a-f]{32}$'),
	service       text        NOT NULL CHECK (service ~ '^([A-Za-z0-9_-]{1,39}|\*)$'),
	action        text        NOT NULL CHECK (action IN ('stop', 'stopall', 'start')),
	channel       text        NOT NULL CHECK (channel IN ('sms', 'ussd', 'api', 'operator')),
	shortcode     text        CHECK (length(shortcode) <= 24),
	keyword       text        CHECK (length(keyword) <= 64),
	link          text        CHECK (length(link) <= 64),
	node          text        NOT NULL CHECK (length(node) BETWEEN 1 AND 63),
	answered      text        CHECK (length(answered) <= 2000),
	occurred_at   timestamptz NOT NULL,
	recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_event_subscriber ON consent_event (msisdn_token, occurred_at);
COMMENT ON TABLE consent_event IS 'Consent ledger: every STOP/STOPALL/START, append-only';

CREATE TABLE consent_state (
	msisdn_token  text        NOT NULL,
	service       text        NOT NULL,
	opted_out     boolean     NOT NULL,
	event_id      uuid        NOT NULL REFERENCES consent_event (id),
	updated_at    timestamptz NOT NULL,
	PRIMARY KEY (msisdn_token, service)
);
COMMENT ON TABLE consent_state IS 'Current consent per subscriber and service (* = all), from consent_event';

-- The ledger is append-only for everyone but the owner.
CREATE FUNCTION consent_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'consent_event is append-only';
END
$$;
CREATE TRIGGER consent_event_no_change BEFORE UPDATE OR DELETE ON consent_event
	FOR EACH ROW EXECUTE FUNCTION consent_event_immutable();

-- Record one change. Returns true when it was new, false for a replay.
-- stop: the service opted out; stopall: '*' opted out; start: the service and
-- '*' opted in (what the Redis view does).
CREATE FUNCTION consent_record(p_id uuid, p_token text, p_service text, p_action text,
	p_channel text, p_shortcode text, p_keyword text, p_link text, p_node text,
	p_answered text, p_at_ms bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	v_at timestamptz := to_timestamp(p_at_ms / 1000.0);
	v_new integer;
BEGIN
	INSERT INTO consent_event (id, msisdn_token, service, action, channel, shortcode, keyword,
		link, node, answered, occurred_at)
	VALUES (p_id, p_token, p_service, p_action, p_channel, p_shortcode, p_keyword, p_link,
		p_node, p_answered, v_at)
	ON CONFLICT (id) DO NOTHING;
	GET DIAGNOSTICS v_new = ROW_COUNT;
	IF v_new = 0 THEN
		RETURN false;
	END IF;
	IF p_action = 'stop' THEN
		INSERT INTO consent_state VALUES (p_token, p_service, true, p_id, v_at)
		ON CONFLICT (msisdn_token, service) DO UPDATE
			SET opted_out = true, event_id = p_id, updated_at = v_at
			WHERE consent_state.updated_at <= v_at;
	ELSIF p_action = 'stopall' THEN
		INSERT INTO consent_state VALUES (p_token, '*', true, p_id, v_at)
		ON CONFLICT (msisdn_token, service) DO UPDATE
			SET opted_out = true, event_id = p_id, updated_at = v_at
			WHERE consent_state.updated_at <= v_at;
	ELSE
		INSERT INTO consent_state VALUES (p_token, p_service, false, p_id, v_at)
		ON CONFLICT (msisdn_token, service) DO UPDATE
			SET opted_out = false, event_id = p_id, updated_at = v_at
			WHERE consent_state.updated_at <= v_at;
		UPDATE consent_state SET opted_out = false, event_id = p_id, updated_at = v_at
			WHERE msisdn_token = p_token AND service = '*' AND updated_at <= v_at;
	END IF;
	RETURN true;
END
$$;

REVOKE ALL ON FUNCTION consent_record(uuid, text, text, text, text, text, text, text, text, text,
	bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION consent_record(uuid, text, text, text, text, text, text, text, text,
	text, bigint) TO ussdgw_app;
GRANT SELECT ON consent_event, consent_state TO ussdgw_app;
