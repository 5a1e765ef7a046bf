
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'oai-lb' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'oai-lb'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'oai-lb' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented oai-lb.toml (asks on a terminal, from flags otherwise)')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Converge the Azure stack (APIM, OpenAI accounts, identity, roles) to the config')
            [CompletionResult]::new('backends', 'backends', [CompletionResultType]::ParameterValue, 'Add, list, change or remove backends in oai-lb.toml (and converge APIM)')
            [CompletionResult]::new('named-values', 'named-values', [CompletionResultType]::ParameterValue, 'Set, list or remove APIM named values (secret values are never printed)')
            [CompletionResult]::new('policy', 'policy', [CompletionResultType]::ParameterValue, 'Render, diff, push or show the APIM policy')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the gateway URL, the backends configured vs deployed, and drift (--check: exit 3 on drift)')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Delete what deploy created, after confirmation (--yes in scripts)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the embedded load balancer: a local reverse proxy in front of the backends')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Drive traffic at an endpoint and watch each backend''s throttle state')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Run simulated Azure OpenAI deployments (RPM/TPM limits, 429s, SSE) on loopback')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Simulated backends, the balancer and a live probe in one process: see it work in a minute')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, powershell, elvish)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;init' {
            [CompletionResult]::new('--subscription-id', '--subscription-id', [CompletionResultType]::ParameterName, 'Azure subscription for deploy (with --resource-group and --location)')
            [CompletionResult]::new('--resource-group', '--resource-group', [CompletionResultType]::ParameterName, 'The resource group deploy creates or uses (asked on a terminal; default rg-oai-lb)')
            [CompletionResult]::new('--location', '--location', [CompletionResultType]::ParameterName, 'The Azure region, e.g. eastus')
            [CompletionResult]::new('--apim-name', '--apim-name', [CompletionResultType]::ParameterName, 'API Management service name (with --publisher-email and --publisher-name)')
            [CompletionResult]::new('--apim-sku', '--apim-sku', [CompletionResultType]::ParameterName, 'The APIM pricing tier (default Developer)')
            [CompletionResult]::new('--publisher-email', '--publisher-email', [CompletionResultType]::ParameterName, 'The APIM publisher''s email (APIM requires it)')
            [CompletionResult]::new('--publisher-name', '--publisher-name', [CompletionResultType]::ParameterName, 'The APIM publisher''s name (APIM requires it)')
            [CompletionResult]::new('--strategy', '--strategy', [CompletionResultType]::ParameterName, 'The APIM strategy')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Where `serve` listens')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'A backend (repeatable): NAME=URL[,priority=N][,weight=W][,key-env=VAR][,auth=api-key|entra|none]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing file (asks first; --yes when stdin is not a terminal)')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;deploy' {
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Print the APIM subscription key')
            [CompletionResult]::new('--purge-deleted', '--purge-deleted', [CompletionResultType]::ParameterName, 'Purge a soft-deleted APIM service or OpenAI account of the same name and create it anew, instead of restoring it (the default)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;backends' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a backend to oai-lb.toml')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Change a backend''s priority, weight or URL')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a backend from oai-lb.toml')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;backends;add' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The endpoint, e.g. https://contoso-eastus.openai.azure.com')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, '1 to 100; 1 is the most preferred, higher numbers are used while lower ones are throttled')
            [CompletionResult]::new('--weight', '--weight', [CompletionResultType]::ParameterName, '1 to 100: share of traffic among backends of the same priority')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'How the balancer authenticates to it (api-key when --api-key-env is given, else none)')
            [CompletionResult]::new('--api-key-env', '--api-key-env', [CompletionResultType]::ParameterName, 'The environment variable holding its key (never the key itself)')
            [CompletionResult]::new('--deployment', '--deployment', [CompletionResultType]::ParameterName, 'A deployment it serves (repeatable); without any it serves all')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--local-only', '--local-only', [CompletionResultType]::ParameterName, 'Edit oai-lb.toml only and leave APIM as it is')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;backends;list' {
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--local-only', '--local-only', [CompletionResultType]::ParameterName, 'Read oai-lb.toml only; do not ask Azure for the deployed state')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;backends;set' {
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'New priority, 1 to 100 (1 is the most preferred)')
            [CompletionResult]::new('--weight', '--weight', [CompletionResultType]::ParameterName, 'New weight, 1 to 100 (share among backends of the same priority)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'New endpoint URL')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--local-only', '--local-only', [CompletionResultType]::ParameterName, 'Edit oai-lb.toml only and leave APIM as it is')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;backends;remove' {
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--local-only', '--local-only', [CompletionResultType]::ParameterName, 'Edit oai-lb.toml only and leave APIM as it is')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;backends;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a backend to oai-lb.toml')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Change a backend''s priority, weight or URL')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a backend from oai-lb.toml')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;backends;help;add' {
            break
        }
        'oai-lb;backends;help;list' {
            break
        }
        'oai-lb;backends;help;set' {
            break
        }
        'oai-lb;backends;help;remove' {
            break
        }
        'oai-lb;backends;help;help' {
            break
        }
        'oai-lb;named-values' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Create or replace a named value of your own (not one oai-lb manages)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Every named value of the service (secrets hidden), marking those oai-lb manages')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Delete a named value the policy does not use')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;named-values;set' {
            [CompletionResult]::new('--from-env', '--from-env', [CompletionResultType]::ParameterName, 'Read the value from this environment variable')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--secret', '--secret', [CompletionResultType]::ParameterName, 'Store it encrypted; it is never shown again')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;named-values;list' {
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;named-values;remove' {
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;named-values;help' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Create or replace a named value of your own (not one oai-lb manages)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Every named value of the service (secrets hidden), marking those oai-lb manages')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Delete a named value the policy does not use')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;named-values;help;set' {
            break
        }
        'oai-lb;named-values;help;list' {
            break
        }
        'oai-lb;named-values;help;remove' {
            break
        }
        'oai-lb;named-values;help;help' {
            break
        }
        'oai-lb;policy' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Print the API policy XML rendered from the config (the same config renders the same bytes)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Push the rendered policy to the deployed API (after showing the diff)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the API policy as deployed')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;policy;render' {
            [CompletionResult]::new('--strategy', '--strategy', [CompletionResultType]::ParameterName, 'The strategy to render; defaults to `[apim] strategy` (policy when unset)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the XML to this file instead of stdout (e.g. bicep/policy.xml)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;policy;diff' {
            [CompletionResult]::new('--strategy', '--strategy', [CompletionResultType]::ParameterName, 'The strategy to render; defaults to `[apim] strategy`')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;policy;push' {
            [CompletionResult]::new('--strategy', '--strategy', [CompletionResultType]::ParameterName, 'The strategy to render; defaults to `[apim] strategy`')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;policy;show' {
            [CompletionResult]::new('--strategy', '--strategy', [CompletionResultType]::ParameterName, 'The strategy to render; defaults to `[apim] strategy`')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;policy;help' {
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Print the API policy XML rendered from the config (the same config renders the same bytes)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Push the rendered policy to the deployed API (after showing the diff)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the API policy as deployed')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;policy;help;render' {
            break
        }
        'oai-lb;policy;help;diff' {
            break
        }
        'oai-lb;policy;help;push' {
            break
        }
        'oai-lb;policy;help;show' {
            break
        }
        'oai-lb;policy;help;help' {
            break
        }
        'oai-lb;status' {
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Exit 3 when anything deployed differs from the config')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;destroy' {
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where the Entra ID token for Azure comes from')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--keep-openai', '--keep-openai', [CompletionResultType]::ParameterName, 'Keep the OpenAI accounts, their deployments and the resource group')
            [CompletionResult]::new('--purge', '--purge', [CompletionResultType]::ParameterName, 'Also purge the soft-deleted APIM service and OpenAI accounts, so their names can be reused at once (otherwise `deploy` restores them)')
            [CompletionResult]::new('--what-if', '--what-if', [CompletionResultType]::ParameterName, 'Show what would change and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Go ahead without asking (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Listen on this address instead of balancer.listen: IP:PORT or HOST:PORT (a host name is resolved; without client keys it must resolve to a loopback address)')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Worker threads, each with its own event loop; default one per core')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Where Entra tokens for `auth = "entra"` backends come from')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or one JSON object per line (one per proxied request, for log pipelines)')
            [CompletionResult]::new('--otlp-endpoint', '--otlp-endpoint', [CompletionResultType]::ParameterName, 'Export traces to this OTLP collector (base URL; `/v1/traces` is added for HTTP). Wins over OTEL_EXPORTER_OTLP_ENDPOINT and [telemetry] otlp_endpoint')
            [CompletionResult]::new('--otlp-protocol', '--otlp-protocol', [CompletionResultType]::ParameterName, 'The OTLP transport; wins over OTEL_EXPORTER_OTLP_PROTOCOL and [telemetry] protocol')
            [CompletionResult]::new('--service-name', '--service-name', [CompletionResultType]::ParameterName, 'The service name spans carry; wins over OTEL_SERVICE_NAME and [telemetry] service_name')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--allow-unauthenticated', '--allow-unauthenticated', [CompletionResultType]::ParameterName, 'Allow listening on a non-loopback address without client keys')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;probe' {
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Base URL of the endpoint: oai-lb, an APIM gateway, or one Azure OpenAI resource; `aca`: the balancer `deploy` runs on Container Apps (`[balancer.azure]`), with the first key of `client_keys_env`')
            [CompletionResult]::new('--deployment', '--deployment', [CompletionResultType]::ParameterName, 'The deployment (model) to call')
            [CompletionResult]::new('--api-version', '--api-version', [CompletionResultType]::ParameterName, 'The api-version query parameter')
            [CompletionResult]::new('--rps', '--rps', [CompletionResultType]::ParameterName, 'Requests per second, or `unlimited`: as fast as answers come, --concurrency in flight')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'With --rps unlimited: requests kept in flight [default: 4]')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to drive traffic, e.g. 30s or 2m')
            [CompletionResult]::new('--api-key-env', '--api-key-env', [CompletionResultType]::ParameterName, 'Environment variable holding the key to send as `api-key`')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Send an Entra ID token from this credential source when no key is given')
            [CompletionResult]::new('--max-error-rate', '--max-error-rate', [CompletionResultType]::ParameterName, 'Exit 1 when the client-visible error rate (0..=1) is above this')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on one request after this long')
            [CompletionResult]::new('--arm-credential', '--arm-credential', [CompletionResultType]::ParameterName, 'Where the ARM token comes from (with --target aca)')
            [CompletionResult]::new('--arm-endpoint', '--arm-endpoint', [CompletionResultType]::ParameterName, 'The ARM endpoint (with --target aca)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'Ask for streamed (SSE) answers')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Show a live table of the backends instead of a progress bar')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'oai-lb;simulate' {
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'A backend as NAME:PORT:RPM:TPM (port 0 = any free one); repeat for more')
            [CompletionResult]::new('--limiter', '--limiter', [CompletionResultType]::ParameterName, 'How limits are enforced: sliding (10-s window in 1-s steps, reset headers), bucket (token bucket with a 1-s burst), fixed-1s or fixed-10s (Azure''s fixed windows)')
            [CompletionResult]::new('--api-key-env', '--api-key-env', [CompletionResultType]::ParameterName, 'Environment variable holding the key clients must send (api-key or Bearer); unset = no auth')
            [CompletionResult]::new('--latency', '--latency', [CompletionResultType]::ParameterName, 'Delay before every admitted response, e.g. 20ms or 1s')
            [CompletionResult]::new('--error-rate', '--error-rate', [CompletionResultType]::ParameterName, 'Share of admitted requests answered with a 500 (0..=1)')
            [CompletionResult]::new('--reset-rate', '--reset-rate', [CompletionResultType]::ParameterName, 'Share of streamed responses cut off mid-stream (0..=1)')
            [CompletionResult]::new('--stream-chunks', '--stream-chunks', [CompletionResultType]::ParameterName, 'Content chunks per streamed answer')
            [CompletionResult]::new('--chunk-interval', '--chunk-interval', [CompletionResultType]::ParameterName, 'Pause between streamed chunks')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'oai-lb;demo' {
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop after this long (e.g. 45s); default: run until Ctrl-C')
            [CompletionResult]::new('--rps', '--rps', [CompletionResultType]::ParameterName, 'Requests per second the probe offers')
            [CompletionResult]::new('--primary-rpm', '--primary-rpm', [CompletionResultType]::ParameterName, 'Requests per minute of the priority-1 deployment (its window allows a sixth of it per 10 s)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port of the balancer (0 = any free one)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; json is stable, for scripts')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'Ask for streamed (SSE) answers')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'oai-lb;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'config')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'v')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'verbose')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'q')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'quiet')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'oai-lb;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented oai-lb.toml (asks on a terminal, from flags otherwise)')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Converge the Azure stack (APIM, OpenAI accounts, identity, roles) to the config')
            [CompletionResult]::new('backends', 'backends', [CompletionResultType]::ParameterValue, 'Add, list, change or remove backends in oai-lb.toml (and converge APIM)')
            [CompletionResult]::new('named-values', 'named-values', [CompletionResultType]::ParameterValue, 'Set, list or remove APIM named values (secret values are never printed)')
            [CompletionResult]::new('policy', 'policy', [CompletionResultType]::ParameterValue, 'Render, diff, push or show the APIM policy')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the gateway URL, the backends configured vs deployed, and drift (--check: exit 3 on drift)')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Delete what deploy created, after confirmation (--yes in scripts)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the embedded load balancer: a local reverse proxy in front of the backends')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Drive traffic at an endpoint and watch each backend''s throttle state')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Run simulated Azure OpenAI deployments (RPM/TPM limits, 429s, SSE) on loopback')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Simulated backends, the balancer and a live probe in one process: see it work in a minute')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, powershell, elvish)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;help;init' {
            break
        }
        'oai-lb;help;deploy' {
            break
        }
        'oai-lb;help;backends' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a backend to oai-lb.toml')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Change a backend''s priority, weight or URL')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a backend from oai-lb.toml')
            break
        }
        'oai-lb;help;backends;add' {
            break
        }
        'oai-lb;help;backends;list' {
            break
        }
        'oai-lb;help;backends;set' {
            break
        }
        'oai-lb;help;backends;remove' {
            break
        }
        'oai-lb;help;named-values' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Create or replace a named value of your own (not one oai-lb manages)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Every named value of the service (secrets hidden), marking those oai-lb manages')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Delete a named value the policy does not use')
            break
        }
        'oai-lb;help;named-values;set' {
            break
        }
        'oai-lb;help;named-values;list' {
            break
        }
        'oai-lb;help;named-values;remove' {
            break
        }
        'oai-lb;help;policy' {
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Print the API policy XML rendered from the config (the same config renders the same bytes)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Push the rendered policy to the deployed API (after showing the diff)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the API policy as deployed')
            break
        }
        'oai-lb;help;policy;render' {
            break
        }
        'oai-lb;help;policy;diff' {
            break
        }
        'oai-lb;help;policy;push' {
            break
        }
        'oai-lb;help;policy;show' {
            break
        }
        'oai-lb;help;status' {
            break
        }
        'oai-lb;help;destroy' {
            break
        }
        'oai-lb;help;serve' {
            break
        }
        'oai-lb;help;probe' {
            break
        }
        'oai-lb;help;simulate' {
            break
        }
        'oai-lb;help;demo' {
            break
        }
        'oai-lb;help;completions' {
            break
        }
        'oai-lb;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
