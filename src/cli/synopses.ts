// What main.ts's command table and `help` say of a command without loading it: the
// synopses a command's own usage repeats, and the exit status only publish --dry-run has.
// Apart from the commands' code, so that `help` and a daemon load none of it.

export const NODE_SYNOPSIS = 'node ID [show]|health|metrics|services|logs|config|service|tag|reboot|shutdown [ARGS] [options]';

export const AUDIT_SYNOPSIS = 'audit [--who W] [--action A] [--since T] [--limit N] [--json] [--gateway URI] [--credentials FILE]';

export const ROLLOUT_SYNOPSIS = 'rollout list|status|pause|resume|cancel|watch [ID] [--gateway URI] [--credentials FILE] [--json]';

/** publish --dry-run's exit status when a target would fail or the gateway would refuse the update. */
export const DRY_RUN_FAILED_STATUS = 5;

export const SIMULATE_SYNOPSIS = 'simulate --gateway URI --nodes N --credentials FILE [--health-interval S] [--loss P] [--fail-rate P] [--json]';
