# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_retentionctl_global_optspecs
    string join \n c/config= socket= json utc h/help V/version
end

function __fish_retentionctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_retentionctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_retentionctl_using_subcommand
    set -l cmd (__fish_retentionctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c retentionctl -n "__fish_retentionctl_needs_command" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_needs_command" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_needs_command" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -s V -l version -d 'Print version'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "plan" -d 'Show what the next sweep would delete, and why (nothing is deleted)'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "hold" -d 'Legal holds: freeze footage so that no sweep deletes it'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "audit" -d 'The audit log: query it, verify its chain'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "status" -d 'Per zone: recordings, size, oldest and newest, retention achieved against min/max, held footage; per filesystem: usage against the watermarks, alarms, how many days of footage fit; the last sweep'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "find" -d 'List the recordings of a zone in a time range (path, time, size, held by), for a data-subject access request or an investigation. The request is audited with your user and --reason'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "erase" -d 'Delete the recordings of a zone in a time range ahead of their time (a right-to-erasure request, footage recorded by mistake). Needs group supervisors. Refused, listing the holds, if any recording in range is held; each deletion is audited with reason `erasure`, your user and --reason'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "explain" -d 'Why a recording is still here or when it will go (zone, age against floor and ceiling, holds, capacity queue, the next sweep); for a path that is gone, the audit record that removed it'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "export" -d 'Copy a hold\'s recordings to separate media (a mounted USB disk) with a manifest (SHA-256 per file, the hold, who, when, why) and its digest, verified by re-reading the copy; audited. Needs group supervisors. `export verify DIR` checks a handed-over copy'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "report" -d 'The compliance report: per zone and day, the retention achieved against min/max, deletions by reason, holds placed and released; the alarms, holds and cases. From the audit log, so it covers past days too. `--format html` draws it as one self-contained page'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "cat" -d 'Play recordings: write them to stdout (pipe into a player), after the daemon records who, why and which files. A path inside a unit (a frame of an event, one leg of a call) plays the whole unit. Needs the zone\'s access_group (retentiond.toml(5))'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "copy" -d 'Copy recordings to other media (a USB disk for a supervisor or the data subject) with a manifest (SHA-256 per file, who, when, why), verified by re-reading the copy; recorded as saved to that place. Needs the zone\'s access_group'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "case" -d 'Cases with deadlines: a data subject\'s access or erasure request, or an investigation; opening one holds its footage, closing it records the outcome'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "confirm" -d 'Accept the deletions the mass-deletion guard holds back (alarm `mass-deletion` or `clock-suspect`): the next sweep deletes them. Needs group supervisors; audited with your user and --reason'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "alarm" -d 'Alarms: acknowledge one whose cause is intended (a camera retired on purpose)'
complete -c retentionctl -n "__fish_retentionctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand plan" -l limit -d 'List the first N files the next sweep would delete, in the order it deletes them' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand plan" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand plan" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand plan" -l summary -d 'Only the totals per zone and reason, not every file'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand plan" -l all -d 'List every file the next sweep would delete (it streams: any length costs the daemon no memory)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand plan" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand plan" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand plan" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -f -a "add" -d 'Place a hold over a zone (or every zone), an optional path glob and a recording-time range. Needs group operators. Prints the new hold\'s id and what it covers now'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -f -a "list" -d 'List holds: active ones, or with --all also released and lapsed ones'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -f -a "show" -d 'Show one hold: scope, who placed it, when and why, and the recordings and bytes it covers now'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -f -a "release" -d 'Release a hold: its footage becomes ordinary again (deleted by later sweeps if past its time). Needs group supervisors'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -f -a "extend" -d 'Change when a hold lapses. Needs group operators'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and not __fish_seen_subcommand_from add list show release extend help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l zone -d 'The zone whose footage to hold (see the policy\'s [[zone]] names)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l match -d 'Only paths (relative to the zone root) matching this glob, e.g. \'*/cam07/*\'; \'*\' also matches \'/\'' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l from -d 'Start of the recording-time range (inclusive)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l to -d 'End of the recording-time range (inclusive)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l last -d 'The range ending now, e.g. "2h", "3d"' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l case -d 'Case reference (police report number, complaint id)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l reason -d 'Why the footage is held (recorded in the audit log)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l expires -d 'When the hold lapses by itself' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l for -d 'Lapse this long from now ("90d", "12w")' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l all-zones -d 'Hold the range in every zone'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l indefinite -d 'Never lapse: only a release ends it'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from list" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from list" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from list" -l all -d 'Include released and lapsed holds'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from list" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from show" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from show" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from show" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from release" -l reason -d 'Why it is released (recorded in the audit log)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from release" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from release" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from release" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from release" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from release" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -l expires -d 'The new expiry time' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -l for -d 'The new expiry, counted from now ("90d", "12w")' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -l reason -d 'Why (recorded in the audit log)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -l indefinite -d 'Never lapse: only a release ends it'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from extend" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from help" -f -a "add" -d 'Place a hold over a zone (or every zone), an optional path glob and a recording-time range. Needs group operators. Prints the new hold\'s id and what it covers now'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from help" -f -a "list" -d 'List holds: active ones, or with --all also released and lapsed ones'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one hold: scope, who placed it, when and why, and the recordings and bytes it covers now'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from help" -f -a "release" -d 'Release a hold: its footage becomes ordinary again (deleted by later sweeps if past its time). Needs group supervisors'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from help" -f -a "extend" -d 'Change when a hold lapses. Needs group operators'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand hold; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -f -a "show" -d 'Show audit records (every rotated file), newest last; all filters given must match. Example: why is cam07 footage from 3 November gone? retentionctl audit show --action delete --path \'*/2026-11-03/*/cam07/*\''
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -f -a "access" -d 'The access log of recordings: who played, copied, found, exported or erased which recordings, when and why, which cases concerned them, and which were deleted on what basis. The written answer to a data subject\'s request (text, JSON or CSV). Example: retentionctl audit access --zone cctv --path \'*/cam07/*\' --from \'2026-11-20 14:00\' --to \'2026-11-20 15:00\''
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -f -a "verify" -d 'Check the hash chain across all rotated files and the head anchor; report the first broken record'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and not __fish_seen_subcommand_from show access verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l since -d 'Records since this long ago ("24h", "7d") or this time' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l until -d 'Records before this time' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l zone -d 'Only records of this zone' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l reason -d 'Only deletions for this reason (max-age, capacity, erasure, ...)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l action -d 'Only this action (delete, hold-add, erase-request, find, policy-load, alarm, ...)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l path -d 'Only records whose path matches this glob (\'*\' also matches \'/\')' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l limit -d 'At most this many records, the newest (default and maximum 1000)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l zone -d 'Recordings of this zone' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l from -d 'Recordings made at or after this time' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l to -d 'Recordings made at or before this time' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l path -d 'Recordings whose absolute path matches this glob (\'*\' also matches \'/\'), e.g. \'*/cam07/*\'' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l user -d 'Only what this user did' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l since -d 'Records since this long ago ("30d") or this time' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l until -d 'Records before this time' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l limit -d 'At most this many rows, the newest (default and maximum 100000)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l format -d 'Output format (--json is the same as --format json)' -r -f -a "text\t'An aligned table'
json\t'JSON'
csv\t'CSV, one row per access'"
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l no-deletions -d 'Leave out the deletions'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from access" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l log -d 'The live audit log file (default: the policy\'s daemon.audit_log)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show audit records (every rotated file), newest last; all filters given must match. Example: why is cam07 footage from 3 November gone? retentionctl audit show --action delete --path \'*/2026-11-03/*/cam07/*\''
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "access" -d 'The access log of recordings: who played, copied, found, exported or erased which recordings, when and why, which cases concerned them, and which were deleted on what basis. The written answer to a data subject\'s request (text, JSON or CSV). Example: retentionctl audit access --zone cctv --path \'*/cam07/*\' --from \'2026-11-20 14:00\' --to \'2026-11-20 15:00\''
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check the hash chain across all rotated files and the head anchor; report the first broken record'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand status" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand status" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand status" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand status" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l zone -d 'The zone (see the policy\'s [[zone]] names)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l match -d 'Only paths (relative to the zone root) matching this glob, e.g. \'*/cam07/*\'; \'*\' also matches \'/\'' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l from -d 'Start of the recording-time range (inclusive)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l to -d 'End of the recording-time range (inclusive)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l last -d 'The range ending now, e.g. "2h", "3d"' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l reason -d 'Why (recorded in the audit log; required)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand find" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l zone -d 'The zone (see the policy\'s [[zone]] names)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l match -d 'Only paths (relative to the zone root) matching this glob, e.g. \'*/cam07/*\'; \'*\' also matches \'/\'' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l from -d 'Start of the recording-time range (inclusive)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l to -d 'End of the recording-time range (inclusive)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l last -d 'The range ending now, e.g. "2h", "3d"' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l reason -d 'Why (recorded in the audit log; required)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand erase" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand explain" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand explain" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand explain" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand explain" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand explain" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -l hold -d 'The hold whose recordings to export' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -l to -d 'An existing, empty directory on the export medium' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -l reason -d 'Why (recorded in the audit log and the manifest; required)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -f -a "verify" -d 'Check an export directory against its manifest (every file\'s SHA-256, the manifest\'s own digest, files not listed), and, when the daemon can be asked, that the audit log recorded that manifest'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and not __fish_seen_subcommand_from verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and __fish_seen_subcommand_from verify" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and __fish_seen_subcommand_from verify" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and __fish_seen_subcommand_from verify" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and __fish_seen_subcommand_from verify" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check an export directory against its manifest (every file\'s SHA-256, the manifest\'s own digest, files not listed), and, when the daemon can be asked, that the audit log recorded that manifest'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand export; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand report" -l since -d 'The period\'s start: this long ago ("30d") or a time' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand report" -l until -d 'The period\'s end (default: now)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand report" -l format -d 'Output format (--json is the same as --format json)' -r -f -a "text\t'An aligned table'
json\t'JSON'
csv\t'CSV, one row per zone and day'
html\t'One self-contained HTML page (inline CSS and SVG charts, no scripts, nothing fetched): redirect it to a file and open it in a browser'"
complete -c retentionctl -n "__fish_retentionctl_using_subcommand report" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand report" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand report" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand report" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand cat" -l reason -d 'Why you open them (recorded in the audit log; required)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand cat" -l case -d 'The case this serves (recorded)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand cat" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand cat" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand cat" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand cat" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand cat" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand copy" -l to -d 'An existing, empty directory on the medium' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand copy" -l reason -d 'Why, and what it is for (recorded in the audit log and the manifest)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand copy" -l case -d 'The case this serves (recorded)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand copy" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand copy" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand copy" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand copy" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand copy" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -f -a "open" -d 'Open a case: its reference, who asked, the recordings it concerns (zone, --match, time range) and when it is due (default a month). Places a hold on its recordings until it is closed. Needs group operators'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -f -a "close" -d 'Close a case with its outcome: disclosed (--to whom), erased (its recordings are erased once its hold is released), refused (--reason why) or no-action. Releases its hold unless --keep-hold. Needs group supervisors'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -f -a "list" -d 'List open cases (with --all also closed ones): due dates, overdue, holds'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and not __fish_seen_subcommand_from open close list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l kind -d 'What it is' -r -f -a "access\t'A data subject asks for their recordings'
erasure\t'A data subject asks for their recordings to be erased'
investigation\t'An investigation (police, insurer, internal)'"
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l requested-by -d 'Who asked (the data subject, a police force), as they named themselves' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l reason -d 'What is asked (recorded)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l zone -d 'The zone whose footage it concerns' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l match -d 'Only paths (relative to the zone root) matching this glob, e.g. \'*/cam07/*\'' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l from -d 'Start of the recording-time range (inclusive)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l to -d 'End of the recording-time range (inclusive)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l last -d 'The range ending now, e.g. "2h", "3d"' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l due -d 'When the answer is due (default: 30 days from now)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l due-in -d 'Due this long from now ("30d", "2w")' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l all-zones -d 'Every zone'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from open" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -l outcome -d 'How it ended' -r -f -a "disclosed\t'Disclosed (name to whom with --to)'
erased\t'Erased (its recordings are erased now)'
refused\t'Refused (say why with --reason)'
no-action\t'Nothing found, or ended without action'"
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -l to -d 'Disclosed to whom (required with --outcome disclosed)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -l reason -d 'Why, what was done (recorded)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -l keep-hold -d 'Keep the case\'s hold in force (e.g. a complaint is pending)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from close" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from list" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from list" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from list" -l all -d 'Include closed cases'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from list" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from help" -f -a "open" -d 'Open a case: its reference, who asked, the recordings it concerns (zone, --match, time range) and when it is due (default a month). Places a hold on its recordings until it is closed. Needs group operators'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from help" -f -a "close" -d 'Close a case with its outcome: disclosed (--to whom), erased (its recordings are erased once its hold is released), refused (--reason why) or no-action. Releases its hold unless --keep-hold. Needs group supervisors'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from help" -f -a "list" -d 'List open cases (with --all also closed ones): due dates, overdue, holds'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand case; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand confirm" -l zone -d 'Only this zone (default: every zone with a held-back surge)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand confirm" -l reason -d 'Why these deletions are right (recorded in the audit log)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand confirm" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand confirm" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand confirm" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand confirm" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand confirm" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and not __fish_seen_subcommand_from ack help" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and not __fish_seen_subcommand_from ack help" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and not __fish_seen_subcommand_from ack help" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and not __fish_seen_subcommand_from ack help" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and not __fish_seen_subcommand_from ack help" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and not __fish_seen_subcommand_from ack help" -f -a "ack" -d 'Acknowledge a `recording-stalled` alarm: the source (a camera retired on purpose) raises nothing until it records again. Needs group supervisors; audited with your user and --reason; kept in the state directory across restarts'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and not __fish_seen_subcommand_from ack help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and __fish_seen_subcommand_from ack" -l reason -d 'Why (recorded in the audit log; required)' -r
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and __fish_seen_subcommand_from ack" -s c -l config -d 'The policy file' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and __fish_seen_subcommand_from ack" -l socket -d 'The daemon\'s control socket (default: the policy\'s daemon.control_socket)' -r -F
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and __fish_seen_subcommand_from ack" -l json -d 'Print machine-readable JSON instead of text'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and __fish_seen_subcommand_from ack" -l utc -d 'Show times in UTC (default: the box\'s local time zone; both with their offset)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and __fish_seen_subcommand_from ack" -s h -l help -d 'Print help'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and __fish_seen_subcommand_from help" -f -a "ack" -d 'Acknowledge a `recording-stalled` alarm: the source (a camera retired on purpose) raises nothing until it records again. Needs group supervisors; audited with your user and --reason; kept in the state directory across restarts'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand alarm; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "plan" -d 'Show what the next sweep would delete, and why (nothing is deleted)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "hold" -d 'Legal holds: freeze footage so that no sweep deletes it'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "audit" -d 'The audit log: query it, verify its chain'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "status" -d 'Per zone: recordings, size, oldest and newest, retention achieved against min/max, held footage; per filesystem: usage against the watermarks, alarms, how many days of footage fit; the last sweep'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "find" -d 'List the recordings of a zone in a time range (path, time, size, held by), for a data-subject access request or an investigation. The request is audited with your user and --reason'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "erase" -d 'Delete the recordings of a zone in a time range ahead of their time (a right-to-erasure request, footage recorded by mistake). Needs group supervisors. Refused, listing the holds, if any recording in range is held; each deletion is audited with reason `erasure`, your user and --reason'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "explain" -d 'Why a recording is still here or when it will go (zone, age against floor and ceiling, holds, capacity queue, the next sweep); for a path that is gone, the audit record that removed it'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "export" -d 'Copy a hold\'s recordings to separate media (a mounted USB disk) with a manifest (SHA-256 per file, the hold, who, when, why) and its digest, verified by re-reading the copy; audited. Needs group supervisors. `export verify DIR` checks a handed-over copy'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "report" -d 'The compliance report: per zone and day, the retention achieved against min/max, deletions by reason, holds placed and released; the alarms, holds and cases. From the audit log, so it covers past days too. `--format html` draws it as one self-contained page'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "cat" -d 'Play recordings: write them to stdout (pipe into a player), after the daemon records who, why and which files. A path inside a unit (a frame of an event, one leg of a call) plays the whole unit. Needs the zone\'s access_group (retentiond.toml(5))'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "copy" -d 'Copy recordings to other media (a USB disk for a supervisor or the data subject) with a manifest (SHA-256 per file, who, when, why), verified by re-reading the copy; recorded as saved to that place. Needs the zone\'s access_group'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "case" -d 'Cases with deadlines: a data subject\'s access or erasure request, or an investigation; opening one holds its footage, closing it records the outcome'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "confirm" -d 'Accept the deletions the mass-deletion guard holds back (alarm `mass-deletion` or `clock-suspect`): the next sweep deletes them. Needs group supervisors; audited with your user and --reason'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "alarm" -d 'Alarms: acknowledge one whose cause is intended (a camera retired on purpose)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and not __fish_seen_subcommand_from plan hold audit status find erase explain export report cat copy case confirm alarm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from hold" -f -a "add" -d 'Place a hold over a zone (or every zone), an optional path glob and a recording-time range. Needs group operators. Prints the new hold\'s id and what it covers now'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from hold" -f -a "list" -d 'List holds: active ones, or with --all also released and lapsed ones'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from hold" -f -a "show" -d 'Show one hold: scope, who placed it, when and why, and the recordings and bytes it covers now'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from hold" -f -a "release" -d 'Release a hold: its footage becomes ordinary again (deleted by later sweeps if past its time). Needs group supervisors'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from hold" -f -a "extend" -d 'Change when a hold lapses. Needs group operators'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "show" -d 'Show audit records (every rotated file), newest last; all filters given must match. Example: why is cam07 footage from 3 November gone? retentionctl audit show --action delete --path \'*/2026-11-03/*/cam07/*\''
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "access" -d 'The access log of recordings: who played, copied, found, exported or erased which recordings, when and why, which cases concerned them, and which were deleted on what basis. The written answer to a data subject\'s request (text, JSON or CSV). Example: retentionctl audit access --zone cctv --path \'*/cam07/*\' --from \'2026-11-20 14:00\' --to \'2026-11-20 15:00\''
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Check the hash chain across all rotated files and the head anchor; report the first broken record'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from export" -f -a "verify" -d 'Check an export directory against its manifest (every file\'s SHA-256, the manifest\'s own digest, files not listed), and, when the daemon can be asked, that the audit log recorded that manifest'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from case" -f -a "open" -d 'Open a case: its reference, who asked, the recordings it concerns (zone, --match, time range) and when it is due (default a month). Places a hold on its recordings until it is closed. Needs group operators'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from case" -f -a "close" -d 'Close a case with its outcome: disclosed (--to whom), erased (its recordings are erased once its hold is released), refused (--reason why) or no-action. Releases its hold unless --keep-hold. Needs group supervisors'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from case" -f -a "list" -d 'List open cases (with --all also closed ones): due dates, overdue, holds'
complete -c retentionctl -n "__fish_retentionctl_using_subcommand help; and __fish_seen_subcommand_from alarm" -f -a "ack" -d 'Acknowledge a `recording-stalled` alarm: the source (a camera retired on purpose) raises nothing until it records again. Needs group supervisors; audited with your user and --reason; kept in the state directory across restarts'
