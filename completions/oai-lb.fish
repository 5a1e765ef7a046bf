# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_oai_lb_global_optspecs
    string join \n config= output= v/verbose q/quiet h/help V/version
end

function __fish_oai_lb_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_oai_lb_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_oai_lb_using_subcommand
    set -l cmd (__fish_oai_lb_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c oai-lb -n "__fish_oai_lb_needs_command" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_needs_command" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_needs_command" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -s V -l version -d 'Print version'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "serve" -d 'Run the embedded load balancer: a local reverse proxy in front of the backends'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "policy" -d 'Render the APIM policy from the config'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render help" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render help" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render help" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render help" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render help" -f -a "render" -d 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -l strategy -d 'The strategy to render; defaults to `[apim] strategy` (policy when unset)' -r -f -a "policy\t'The smart load-balancing policy: priorities, weights, per-deployment cooldowns'
pool\t'APIM\'s native backend pool with circuit breakers, behind a retry'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -l out -d 'Write the XML to this file instead of stdout (e.g. bicep/policy.xml)' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "render" -d 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve policy completions help" -f -a "serve" -d 'Run the embedded load balancer: a local reverse proxy in front of the backends'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve policy completions help" -f -a "policy" -d 'Render the APIM policy from the config'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve policy completions help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve policy completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "render" -d 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
