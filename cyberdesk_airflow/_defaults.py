"""Names shared by the hook, operators and trigger, in a module that imports nothing."""

#: Connection id the hook, operators, sensor and trigger use unless told otherwise.
DEFAULT_CONN_ID = "cyberdesk_default"

#: Trigger/worker event key listing the runs a task reattached to (created by an earlier try);
#: ``CyberdeskRunOperator`` re-runs such a run once when it ends up cancelled.
EVENT_REATTACHED = "reattached_run_ids"
