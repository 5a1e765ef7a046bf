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
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "init" -d 'Write a commented oai-lb.toml (asks on a terminal, from flags otherwise)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "deploy" -d 'Converge the Azure stack (APIM, OpenAI accounts, identity, roles) to the config'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "backends" -d 'Add, list, change or remove backends in oai-lb.toml (and converge APIM)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "named-values" -d 'Set, list or remove APIM named values (secret values are never printed)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "policy" -d 'Render, diff, push or show the APIM policy'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "status" -d 'Show the gateway URL, the backends configured vs deployed, and drift (--check: exit 3 on drift)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "destroy" -d 'Delete what deploy created, after confirmation (--yes in scripts)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "serve" -d 'Run the embedded load balancer: a local reverse proxy in front of the backends'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "probe" -d 'Drive traffic at an endpoint and watch each backend\'s throttle state'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "simulate" -d 'Run simulated Azure OpenAI deployments (RPM/TPM limits, 429s, SSE) on loopback'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "demo" -d 'Simulated backends, the balancer and a live probe in one process: see it work in a minute'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
complete -c oai-lb -n "__fish_oai_lb_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l subscription-id -d 'Azure subscription for deploy (with --resource-group and --location)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l resource-group -d 'The resource group deploy creates or uses (asked on a terminal; default rg-oai-lb)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l location -d 'The Azure region, e.g. eastus' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l apim-name -d 'API Management service name (with --publisher-email and --publisher-name)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l apim-sku -d 'The APIM pricing tier (default Developer)' -r -f -a "Developer\t''
Basic\t''
Standard\t''
Premium\t''
BasicV2\t''
StandardV2\t''
Consumption\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l publisher-email -d 'The APIM publisher\'s email (APIM requires it)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l publisher-name -d 'The APIM publisher\'s name (APIM requires it)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l strategy -d 'The APIM strategy' -r -f -a "policy\t'The smart load-balancing policy: priorities, weights, per-deployment cooldowns'
pool\t'APIM\'s native backend pool with circuit breakers, behind a retry'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l listen -d 'Where `serve` listens' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l backend -d 'A backend (repeatable): NAME=URL[,priority=N][,weight=W][,key-env=VAR][,auth=api-key|entra|none]' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l force -d 'Overwrite an existing file (asks first; --yes when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -l show-secrets -d 'Print the APIM subscription key'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -l purge-deleted -d 'Purge a soft-deleted APIM service or OpenAI account of the same name and create it anew, instead of restoring it (the default)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "add" -d 'Add a backend to oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "list" -d 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "set" -d 'Change a backend\'s priority, weight or URL'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "remove" -d 'Remove a backend from oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and not __fish_seen_subcommand_from add list set remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l url -d 'The endpoint, e.g. https://contoso-eastus.openai.azure.com' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l priority -d '1 to 100; 1 is the most preferred, higher numbers are used while lower ones are throttled' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l weight -d '1 to 100: share of traffic among backends of the same priority' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l auth -d 'How the balancer authenticates to it (api-key when --api-key-env is given, else none)' -r -f -a "api-key\t'The `api-key` header, from the variable named by --api-key-env'
entra\t'An Entra ID token (the balancer\'s credential, or APIM\'s managed identity)'
none\t'Pass the client\'s own credentials through'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l api-key-env -d 'The environment variable holding its key (never the key itself)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l deployment -d 'A deployment it serves (repeatable); without any it serves all' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l local-only -d 'Edit oai-lb.toml only and leave APIM as it is'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -l local-only -d 'Read oai-lb.toml only; do not ask Azure for the deployed state'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l priority -d 'New priority, 1 to 100 (1 is the most preferred)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l weight -d 'New weight, 1 to 100 (share among backends of the same priority)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l url -d 'New endpoint URL' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l local-only -d 'Edit oai-lb.toml only and leave APIM as it is'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -l local-only -d 'Edit oai-lb.toml only and leave APIM as it is'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a backend to oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change a backend\'s priority, weight or URL'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a backend from oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand backends; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -f -a "set" -d 'Create or replace a named value of your own (not one oai-lb manages)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -f -a "list" -d 'Every named value of the service (secrets hidden), marking those oai-lb manages'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -f -a "remove" -d 'Delete a named value the policy does not use'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and not __fish_seen_subcommand_from set list remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -l from-env -d 'Read the value from this environment variable' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -l secret -d 'Store it encrypted; it is never shown again'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from list" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from list" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from list" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from list" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from help" -f -a "set" -d 'Create or replace a named value of your own (not one oai-lb manages)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from help" -f -a "list" -d 'Every named value of the service (secrets hidden), marking those oai-lb manages'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Delete a named value the policy does not use'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand named-values; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -f -a "render" -d 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -f -a "diff" -d 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -f -a "push" -d 'Push the rendered policy to the deployed API (after showing the diff)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -f -a "show" -d 'Print the API policy as deployed'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and not __fish_seen_subcommand_from render diff push show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -l strategy -d 'The strategy to render; defaults to `[apim] strategy` (policy when unset)' -r -f -a "policy\t'The smart load-balancing policy: priorities, weights, per-deployment cooldowns'
pool\t'APIM\'s native backend pool with circuit breakers, behind a retry'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -l out -d 'Write the XML to this file instead of stdout (e.g. bicep/policy.xml)' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from render" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from diff" -l strategy -d 'The strategy to render; defaults to `[apim] strategy`' -r -f -a "policy\t'The smart load-balancing policy: priorities, weights, per-deployment cooldowns'
pool\t'APIM\'s native backend pool with circuit breakers, behind a retry'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from diff" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from diff" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from diff" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from diff" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from diff" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from diff" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -l strategy -d 'The strategy to render; defaults to `[apim] strategy`' -r -f -a "policy\t'The smart load-balancing policy: priorities, weights, per-deployment cooldowns'
pool\t'APIM\'s native backend pool with circuit breakers, behind a retry'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from show" -l strategy -d 'The strategy to render; defaults to `[apim] strategy`' -r -f -a "policy\t'The smart load-balancing policy: priorities, weights, per-deployment cooldowns'
pool\t'APIM\'s native backend pool with circuit breakers, behind a retry'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from show" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from show" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from show" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from show" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "render" -d 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "diff" -d 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "push" -d 'Push the rendered policy to the deployed API (after showing the diff)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the API policy as deployed'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand status" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand status" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand status" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand status" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand status" -l check -d 'Exit 3 when anything deployed differs from the config'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand status" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand status" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -l credential -d 'Where the Entra ID token for Azure comes from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -l arm-endpoint -d 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -l keep-openai -d 'Keep the OpenAI accounts, their deployments and the resource group'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -l purge -d 'Also purge the soft-deleted APIM service and OpenAI accounts, so their names can be reused at once (otherwise `deploy` restores them)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -l what-if -d 'Show what would change and write nothing'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -s y -l yes -d 'Go ahead without asking (required when stdin is not a terminal)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand destroy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l listen -d 'Listen on this address instead of balancer.listen: IP:PORT or HOST:PORT (a host name is resolved; without client keys it must resolve to a loopback address)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l workers -d 'Worker threads, each with its own event loop; default one per core' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l credential -d 'Where Entra tokens for `auth = "entra"` backends come from' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l log-format -d 'Log lines as text, or one JSON object per line (one per proxied request, for log pipelines)' -r -f -a "text\t'For people: one aligned line per event'
json\t'For Loki, Elastic or Azure Monitor: one JSON object per line with stable field names (`timestamp`, `level`, `target`, `message`, then the event\'s fields; the balancer\'s per-request line has `target` = `oai_lb::access`). Never a key or a token'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l otlp-endpoint -d 'Export traces to this OTLP collector (base URL; `/v1/traces` is added for HTTP). Wins over OTEL_EXPORTER_OTLP_ENDPOINT and [telemetry] otlp_endpoint' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l otlp-protocol -d 'The OTLP transport; wins over OTEL_EXPORTER_OTLP_PROTOCOL and [telemetry] protocol' -r -f -a "http/protobuf\t''
grpc\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l service-name -d 'The service name spans carry; wins over OTEL_SERVICE_NAME and [telemetry] service_name' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -l allow-unauthenticated -d 'Allow listening on a non-loopback address without client keys'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l target -d 'Base URL of the endpoint: oai-lb, an APIM gateway, or one Azure OpenAI resource; `aca`: the balancer `deploy` runs on Container Apps (`[balancer.azure]`), with the first key of `client_keys_env`' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l deployment -d 'The deployment (model) to call' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l api-version -d 'The api-version query parameter' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l rps -d 'Requests per second, or `unlimited`: as fast as answers come, --concurrency in flight' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l concurrency -d 'With --rps unlimited: requests kept in flight [default: 4]' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l duration -d 'How long to drive traffic, e.g. 30s or 2m' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l api-key-env -d 'Environment variable holding the key to send as `api-key`' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l credential -d 'Send an Entra ID token from this credential source when no key is given' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l max-error-rate -d 'Exit 1 when the client-visible error rate (0..=1) is above this' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l timeout -d 'Give up on one request after this long' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l arm-credential -d 'Where the ARM token comes from (with --target aca)' -r -f -a "auto\t'Try every source below in order'
client-secret\t'Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET'
workload-identity\t'Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC)'
pipelines\t'Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN)'
managed-identity\t'Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a user-assigned one)'
cli\t'`az login`'
azd\t'`azd auth login`'"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l arm-endpoint -d 'The ARM endpoint (with --target aca)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l stream -d 'Ask for streamed (SSE) answers'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -l watch -d 'Show a live table of the backends instead of a progress bar'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand probe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l backend -d 'A backend as NAME:PORT:RPM:TPM (port 0 = any free one); repeat for more' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l limiter -d 'How limits are enforced: sliding (10-s window in 1-s steps, reset headers), bucket (token bucket with a 1-s burst), fixed-1s or fixed-10s (Azure\'s fixed windows)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l api-key-env -d 'Environment variable holding the key clients must send (api-key or Bearer); unset = no auth' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l latency -d 'Delay before every admitted response, e.g. 20ms or 1s' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l error-rate -d 'Share of admitted requests answered with a 500 (0..=1)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l reset-rate -d 'Share of streamed responses cut off mid-stream (0..=1)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l stream-chunks -d 'Content chunks per streamed answer' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l chunk-interval -d 'Pause between streamed chunks' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand simulate" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -l duration -d 'Stop after this long (e.g. 45s); default: run until Ctrl-C' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -l rps -d 'Requests per second the probe offers' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -l primary-rpm -d 'Requests per minute of the priority-1 deployment (its window allows a sixth of it per 10 s)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -l port -d 'Port of the balancer (0 = any free one)' -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -l config -d 'The config file' -r -F
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -l output -d 'Output format; json is stable, for scripts' -r -f -a "table\t''
json\t''"
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -l stream -d 'Ask for streamed (SSE) answers'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -s q -l quiet -d 'Only errors'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand demo" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -l config -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -l output -r
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -s v -l verbose
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -s q -l quiet
complete -c oai-lb -n "__fish_oai_lb_using_subcommand completions" -s h -l help -d 'Print help'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "init" -d 'Write a commented oai-lb.toml (asks on a terminal, from flags otherwise)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "deploy" -d 'Converge the Azure stack (APIM, OpenAI accounts, identity, roles) to the config'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "backends" -d 'Add, list, change or remove backends in oai-lb.toml (and converge APIM)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "named-values" -d 'Set, list or remove APIM named values (secret values are never printed)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "policy" -d 'Render, diff, push or show the APIM policy'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "status" -d 'Show the gateway URL, the backends configured vs deployed, and drift (--check: exit 3 on drift)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "destroy" -d 'Delete what deploy created, after confirmation (--yes in scripts)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "serve" -d 'Run the embedded load balancer: a local reverse proxy in front of the backends'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "probe" -d 'Drive traffic at an endpoint and watch each backend\'s throttle state'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "simulate" -d 'Run simulated Azure OpenAI deployments (RPM/TPM limits, 429s, SSE) on loopback'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "demo" -d 'Simulated backends, the balancer and a live probe in one process: see it work in a minute'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and not __fish_seen_subcommand_from init deploy backends named-values policy status destroy serve probe simulate demo completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from backends" -f -a "add" -d 'Add a backend to oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from backends" -f -a "list" -d 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from backends" -f -a "set" -d 'Change a backend\'s priority, weight or URL'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from backends" -f -a "remove" -d 'Remove a backend from oai-lb.toml'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from named-values" -f -a "set" -d 'Create or replace a named value of your own (not one oai-lb manages)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from named-values" -f -a "list" -d 'Every named value of the service (secrets hidden), marking those oai-lb manages'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from named-values" -f -a "remove" -d 'Delete a named value the policy does not use'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "render" -d 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "diff" -d 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "push" -d 'Push the rendered policy to the deployed API (after showing the diff)'
complete -c oai-lb -n "__fish_oai_lb_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "show" -d 'Print the API policy as deployed'
