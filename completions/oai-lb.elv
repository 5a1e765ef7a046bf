
use builtin;
use str;

set edit:completion:arg-completer[oai-lb] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'oai-lb'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'oai-lb'= {
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the embedded load balancer: a local reverse proxy in front of the backends'
            cand policy 'Render the APIM policy from the config'
            cand completions 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;serve'= {
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'oai-lb;policy'= {
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand render 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;policy;render'= {
            cand --strategy 'The strategy to render; defaults to `[apim] strategy` (policy when unset)'
            cand --out 'Write the XML to this file instead of stdout (e.g. bicep/policy.xml)'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;policy;help'= {
            cand render 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;policy;help;render'= {
        }
        &'oai-lb;policy;help;help'= {
        }
        &'oai-lb;completions'= {
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'oai-lb;help'= {
            cand serve 'Run the embedded load balancer: a local reverse proxy in front of the backends'
            cand policy 'Render the APIM policy from the config'
            cand completions 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;help;serve'= {
        }
        &'oai-lb;help;policy'= {
            cand render 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
        }
        &'oai-lb;help;policy;render'= {
        }
        &'oai-lb;help;completions'= {
        }
        &'oai-lb;help;help'= {
        }
    ]
    $completions[$command]
}
