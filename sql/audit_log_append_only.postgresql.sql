-- slo_audit_log is append-only (TRD FR-5): the database itself refuses to change history,
-- whatever client talks to it. Its owner could drop these triggers, so the API and pipelines
-- connect as an application role with only INSERT/SELECT here (store/grants.py).
CREATE OR REPLACE FUNCTION slo_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'slo_audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER slo_audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON slo_audit_log
    FOR EACH ROW EXECUTE FUNCTION slo_audit_log_append_only();

CREATE TRIGGER slo_audit_log_no_truncate
    BEFORE TRUNCATE ON slo_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION slo_audit_log_append_only();
