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
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "init" -d 'Write a commented oai-lb.toml (asks on a terminal, from flags otherwise)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "backends" -d 'Add, list, change or remove backends in oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "policy" -d 'Render the APIM policy from the config'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l subscription-id -d 'Azure subscription for deploy (with --resource-group and --location)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l resource-group -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l location -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l apim-name -d 'API Management service name (with --publisher-email and --publisher-name)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l apim-sku -r -f -a "Developer\t''
Basic\t''
Standard\t''
Premium\t''
BasicV2\t''
StandardV2\t''
Consumption\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l publisher-email -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l publisher-name -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l strategy -d 'The APIM strategy' -r -f -a "policy\t'The smart load-balancing policy: priorities, weights, per-deployment cooldowns'
pool\t'APIM\'s native backend pool with circuit breakers, behind a retry'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l listen -d 'Where `serve` listens' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l backend -d 'A backend (repeatable): NAME=URL[,priority=N][,weight=W][,key-env=VAR][,auth=api-key|entra|none]' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l force -d 'Overwrite an existing file'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l yes -d 'Ask nothing: use the flags and defaults (implied when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "add" -d 'Add a backend to oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "list" -d 'List the configured backends (table, or JSON with --output json)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "set" -d 'Change a backend\'s priority, weight or URL'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "remove" -d 'Remove a backend from oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l url -d 'The endpoint, e.g. https://contoso-eastus.openai.azure.com' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l priority -d '1 is the most preferred; higher numbers are used while lower ones are throttled' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l weight -d 'Share of traffic among backends of the same priority' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l auth -d 'How the balancer authenticates to it (api-key when --api-key-env is given, else none)' -r -f -a "api-key\t'The `api-key` header, from the variable named by --api-key-env'
entra\t'An Entra ID token (the balancer\'s credential, or APIM\'s managed identity)'
none\t'Pass the client\'s own credentials through'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l api-key-env -d 'The environment variable holding its key (never the key itself)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l deployment -d 'A deployment it serves (repeatable); without any it serves all' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l priority -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l weight -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l url -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a backend to oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the configured backends (table, or JSON with --output json)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change a backend\'s priority, weight or URL'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a backend from oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
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
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve init backends policy completions help" -f -a "serve" -d 'Run the embedded load balancer: a local reverse proxy in front of the backends'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve init backends policy completions help" -f -a "init" -d 'Write a commented oai-lb.toml (asks on a terminal, from flags otherwise)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve init backends policy completions help" -f -a "backends" -d 'Add, list, change or remove backends in oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve init backends policy completions help" -f -a "policy" -d 'Render the APIM policy from the config'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve init backends policy completions help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from serve init backends policy completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from backends" -f -a "add" -d 'Add a backend to oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from backends" -f -a "list" -d 'List the configured backends (table, or JSON with --output json)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from backends" -f -a "set" -d 'Change a backend\'s priority, weight or URL'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from backends" -f -a "remove" -d 'Remove a backend from oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "render" -d 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
