-- 0001-init: roles, grants and the schema version table.
--
-- Run by ussdgw-migrate as ussdgw_owner, inside one transaction. The owner
-- role and the database (owned by it) are made by the DBA beforehand:
--   CREATE ROLE ussdgw_owner LOGIN CREATEROLE;
--   CREATE DATABASE ussdgw OWNER ussdgw_owner;
-- ussdgw_owner owns every object and is used only by ussdgw-migrate.
-- ussdgw_app is the daemon's role: it logs in, reads and writes what later
-- migrations grant it, and can create nothing (no DDL, no temporary tables).
-- Roles are cluster-wide, so a second database on the same cluster finds
-- ussdgw_app already there.
-- A landed migration is never edited: add sql/NNNN-name.sql instead.

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ussdgw_app') THEN
		CREATE ROLE ussdgw_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
			NOINHERIT NOREPLICATION NOBYPASSRLS;
	END IF;
END
$$;

-- The database: only our two roles connect; nobody gets temporary tables.
DO $$
BEGIN
	EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
	EXECUTE format('GRANT CONNECT ON DATABASE %I TO ussdgw_app', current_database());
END
$$;

-- The schema: PostgreSQL 15 already denies CREATE on public to PUBLIC; say it
-- anyway so the rule does not depend on the server's defaults.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ussdgw_app;

-- One row per applied migration, written by ussdgw-migrate in the same
-- transaction as the migration itself. checksum is the SHA-256 (hex) of the
-- file as applied; a changed file is refused.
CREATE TABLE schema_version (
	version    integer PRIMARY KEY CHECK (version > 0),
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	checksum   text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$')
);
COMMENT ON TABLE schema_version IS 'Applied migrations (sql/NNNN-name.sql); written only by ussdgw-migrate';

-- The daemon checks the version at connect and touches nothing else here.
GRANT SELECT ON schema_version TO ussdgw_app;
