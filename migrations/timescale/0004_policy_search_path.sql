-- 0004: the integer "now" function of gas_fees_blocks' compression policy reads its table
-- through the search path of the schema it was created in.
--
-- TimescaleDB's background workers call chainflow_blocks_now() with the database's default
-- search path, where the unqualified gas_fees_blocks of 0001 names another schema's table or
-- none (the policy job then fails), as soon as the sink's schema is not `public` or several
-- chainflow schemas share a database. `SET search_path FROM CURRENT` binds the function to
-- the migration's search path (this schema, the extension's, public).
--
-- Nothing runs on plain PostgreSQL (the function exists only with TimescaleDB).

-- @timescale
ALTER FUNCTION chainflow_blocks_now() SET search_path FROM CURRENT;
