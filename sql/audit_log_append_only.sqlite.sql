-- slo_audit_log is append-only (TRD FR-5): the database itself refuses to change history.
CREATE TRIGGER slo_audit_log_no_update
    BEFORE UPDATE ON slo_audit_log
BEGIN
    SELECT RAISE(ABORT, 'slo_audit_log is append-only: UPDATE is not allowed');
END;

CREATE TRIGGER slo_audit_log_no_delete
    BEFORE DELETE ON slo_audit_log
BEGIN
    SELECT RAISE(ABORT, 'slo_audit_log is append-only: DELETE is not allowed');
END;
