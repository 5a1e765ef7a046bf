
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
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the embedded load balancer: a local reverse proxy in front of the backends')
            [CompletionResult]::new('policy', 'policy', [CompletionResultType]::ParameterValue, 'Render the APIM policy from the config')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, powershell, elvish)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;serve' {
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
        'oai-lb;policy;help' {
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Print the API policy XML rendered from the config (the same config renders the same bytes)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;policy;help;render' {
            break
        }
        'oai-lb;policy;help;help' {
            break
        }
        'oai-lb;completions' {
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
        'oai-lb;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the embedded load balancer: a local reverse proxy in front of the backends')
            [CompletionResult]::new('policy', 'policy', [CompletionResultType]::ParameterValue, 'Render the APIM policy from the config')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, powershell, elvish)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'oai-lb;help;serve' {
            break
        }
        'oai-lb;help;policy' {
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Print the API policy XML rendered from the config (the same config renders the same bytes)')
            break
        }
        'oai-lb;help;policy;render' {
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
