complete -c retentiond -s c -l config -d 'The policy file' -r -F
complete -c retentiond -l once -d 'Run one sweep and exit'
complete -c retentiond -s n -l dry-run -d 'Print what would be deleted and why; delete nothing, write nothing'
complete -c retentiond -s t -l check-config -d 'Validate the policy, print the effective policy (defaults filled in) and exit 0, or the error and exit 1'
complete -c retentiond -l demo -d 'Build a synthetic recording tree in a temporary directory, sweep it under the example policy, and show what was deleted and why'
complete -c retentiond -s v -l verbose -d 'More detail in the log'
complete -c retentiond -s h -l help -d 'Print help (see more with \'--help\')'
complete -c retentiond -s V -l version -d 'Print version'
