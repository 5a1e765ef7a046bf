
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
            cand init 'Write a commented oai-lb.toml (asks on a terminal, from flags otherwise)'
            cand deploy 'Converge the Azure stack (APIM, OpenAI accounts, identity, roles) to the config'
            cand backends 'Add, list, change or remove backends in oai-lb.toml (and converge APIM)'
            cand named-values 'Set, list or remove APIM named values (secret values are never printed)'
            cand policy 'Render, diff, push or show the APIM policy'
            cand status 'Show the gateway URL, the backends configured vs deployed, and drift (--check: exit 3 on drift)'
            cand destroy 'Delete what deploy created, after confirmation (--yes in scripts)'
            cand serve 'Run the embedded load balancer: a local reverse proxy in front of the backends'
            cand probe 'Drive traffic at an endpoint and watch each backend''s throttle state'
            cand simulate 'Run simulated Azure OpenAI deployments (RPM/TPM limits, 429s, SSE) on loopback'
            cand demo 'Simulated backends, the balancer and a live probe in one process: see it work in a minute'
            cand completions 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;init'= {
            cand --subscription-id 'Azure subscription for deploy (with --resource-group and --location)'
            cand --resource-group 'The resource group deploy creates or uses (asked on a terminal; default rg-oai-lb)'
            cand --location 'The Azure region, e.g. eastus'
            cand --apim-name 'API Management service name (with --publisher-email and --publisher-name)'
            cand --apim-sku 'The APIM pricing tier (default Developer)'
            cand --publisher-email 'The APIM publisher''s email (APIM requires it)'
            cand --publisher-name 'The APIM publisher''s name (APIM requires it)'
            cand --strategy 'The APIM strategy'
            cand --listen 'Where `serve` listens'
            cand --backend 'A backend (repeatable): NAME=URL[,priority=N][,weight=W][,key-env=VAR][,auth=api-key|entra|none]'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --force 'Overwrite an existing file (asks first; --yes when stdin is not a terminal)'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;deploy'= {
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand --show-secrets 'Print the APIM subscription key'
            cand --purge-deleted 'Purge a soft-deleted APIM service or OpenAI account of the same name and create it anew, instead of restoring it (the default)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;backends'= {
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand add 'Add a backend to oai-lb.toml'
            cand list 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]'
            cand set 'Change a backend''s priority, weight or URL'
            cand remove 'Remove a backend from oai-lb.toml'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;backends;add'= {
            cand --url 'The endpoint, e.g. https://contoso-eastus.openai.azure.com'
            cand --priority '1 to 100; 1 is the most preferred, higher numbers are used while lower ones are throttled'
            cand --weight '1 to 100: share of traffic among backends of the same priority'
            cand --auth 'How the balancer authenticates to it (api-key when --api-key-env is given, else none)'
            cand --api-key-env 'The environment variable holding its key (never the key itself)'
            cand --deployment 'A deployment it serves (repeatable); without any it serves all'
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --local-only 'Edit oai-lb.toml only and leave APIM as it is'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;backends;list'= {
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --local-only 'Read oai-lb.toml only; do not ask Azure for the deployed state'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;backends;set'= {
            cand --priority 'New priority, 1 to 100 (1 is the most preferred)'
            cand --weight 'New weight, 1 to 100 (share among backends of the same priority)'
            cand --url 'New endpoint URL'
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --local-only 'Edit oai-lb.toml only and leave APIM as it is'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;backends;remove'= {
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --local-only 'Edit oai-lb.toml only and leave APIM as it is'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;backends;help'= {
            cand add 'Add a backend to oai-lb.toml'
            cand list 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]'
            cand set 'Change a backend''s priority, weight or URL'
            cand remove 'Remove a backend from oai-lb.toml'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;backends;help;add'= {
        }
        &'oai-lb;backends;help;list'= {
        }
        &'oai-lb;backends;help;set'= {
        }
        &'oai-lb;backends;help;remove'= {
        }
        &'oai-lb;backends;help;help'= {
        }
        &'oai-lb;named-values'= {
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand set 'Create or replace a named value of your own (not one oai-lb manages)'
            cand list 'Every named value of the service (secrets hidden), marking those oai-lb manages'
            cand remove 'Delete a named value the policy does not use'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;named-values;set'= {
            cand --from-env 'Read the value from this environment variable'
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --secret 'Store it encrypted; it is never shown again'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;named-values;list'= {
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;named-values;remove'= {
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;named-values;help'= {
            cand set 'Create or replace a named value of your own (not one oai-lb manages)'
            cand list 'Every named value of the service (secrets hidden), marking those oai-lb manages'
            cand remove 'Delete a named value the policy does not use'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;named-values;help;set'= {
        }
        &'oai-lb;named-values;help;list'= {
        }
        &'oai-lb;named-values;help;remove'= {
        }
        &'oai-lb;named-values;help;help'= {
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
            cand diff 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift'
            cand push 'Push the rendered policy to the deployed API (after showing the diff)'
            cand show 'Print the API policy as deployed'
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
        &'oai-lb;policy;diff'= {
            cand --strategy 'The strategy to render; defaults to `[apim] strategy`'
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;policy;push'= {
            cand --strategy 'The strategy to render; defaults to `[apim] strategy`'
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;policy;show'= {
            cand --strategy 'The strategy to render; defaults to `[apim] strategy`'
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
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
            cand diff 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift'
            cand push 'Push the rendered policy to the deployed API (after showing the diff)'
            cand show 'Print the API policy as deployed'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;policy;help;render'= {
        }
        &'oai-lb;policy;help;diff'= {
        }
        &'oai-lb;policy;help;push'= {
        }
        &'oai-lb;policy;help;show'= {
        }
        &'oai-lb;policy;help;help'= {
        }
        &'oai-lb;status'= {
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --check 'Exit 3 when anything deployed differs from the config'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;destroy'= {
            cand --credential 'Where the Entra ID token for Azure comes from'
            cand --arm-endpoint 'The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --keep-openai 'Keep the OpenAI accounts, their deployments and the resource group'
            cand --purge 'Also purge the soft-deleted APIM service and OpenAI accounts, so their names can be reused at once (otherwise `deploy` restores them)'
            cand --what-if 'Show what would change and write nothing'
            cand -y 'Go ahead without asking (required when stdin is not a terminal)'
            cand --yes 'Go ahead without asking (required when stdin is not a terminal)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;serve'= {
            cand --listen 'Listen on this address instead of balancer.listen: IP:PORT or HOST:PORT (a host name is resolved; without client keys it must resolve to a loopback address)'
            cand --workers 'Worker threads, each with its own event loop; default one per core'
            cand --credential 'Where Entra tokens for `auth = "entra"` backends come from'
            cand --log-format 'Log lines as text, or one JSON object per line (one per proxied request, for log pipelines)'
            cand --otlp-endpoint 'Export traces to this OTLP collector (base URL; `/v1/traces` is added for HTTP). Wins over OTEL_EXPORTER_OTLP_ENDPOINT and [telemetry] otlp_endpoint'
            cand --otlp-protocol 'The OTLP transport; wins over OTEL_EXPORTER_OTLP_PROTOCOL and [telemetry] protocol'
            cand --service-name 'The service name spans carry; wins over OTEL_SERVICE_NAME and [telemetry] service_name'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --allow-unauthenticated 'Allow listening on a non-loopback address without client keys'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;probe'= {
            cand --target 'Base URL of the endpoint: oai-lb, an APIM gateway, or one Azure OpenAI resource; `aca`: the balancer `deploy` runs on Container Apps (`[balancer.azure]`), with the first key of `client_keys_env`'
            cand --deployment 'The deployment (model) to call'
            cand --api-version 'The api-version query parameter'
            cand --rps 'Requests per second, or `unlimited`: as fast as answers come, --concurrency in flight'
            cand --concurrency 'With --rps unlimited: requests kept in flight [default: 4]'
            cand --duration 'How long to drive traffic, e.g. 30s or 2m'
            cand --api-key-env 'Environment variable holding the key to send as `api-key`'
            cand --credential 'Send an Entra ID token from this credential source when no key is given'
            cand --max-error-rate 'Exit 1 when the client-visible error rate (0..=1) is above this'
            cand --timeout 'Give up on one request after this long'
            cand --arm-credential 'Where the ARM token comes from (with --target aca)'
            cand --arm-endpoint 'The ARM endpoint (with --target aca)'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --stream 'Ask for streamed (SSE) answers'
            cand --watch 'Show a live table of the backends instead of a progress bar'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'oai-lb;simulate'= {
            cand --backend 'A backend as NAME:PORT:RPM:TPM (port 0 = any free one); repeat for more'
            cand --limiter 'How limits are enforced: sliding (10-s window in 1-s steps, reset headers), bucket (token bucket with a 1-s burst), fixed-1s or fixed-10s (Azure''s fixed windows)'
            cand --api-key-env 'Environment variable holding the key clients must send (api-key or Bearer); unset = no auth'
            cand --latency 'Delay before every admitted response, e.g. 20ms or 1s'
            cand --error-rate 'Share of admitted requests answered with a 500 (0..=1)'
            cand --reset-rate 'Share of streamed responses cut off mid-stream (0..=1)'
            cand --stream-chunks 'Content chunks per streamed answer'
            cand --chunk-interval 'Pause between streamed chunks'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'oai-lb;demo'= {
            cand --duration 'Stop after this long (e.g. 45s); default: run until Ctrl-C'
            cand --rps 'Requests per second the probe offers'
            cand --primary-rpm 'Requests per minute of the priority-1 deployment (its window allows a sixth of it per 10 s)'
            cand --port 'Port of the balancer (0 = any free one)'
            cand --config 'The config file'
            cand --output 'Output format; json is stable, for scripts'
            cand --stream 'Ask for streamed (SSE) answers'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'oai-lb;completions'= {
            cand --config 'config'
            cand --output 'output'
            cand -v 'v'
            cand --verbose 'verbose'
            cand -q 'q'
            cand --quiet 'quiet'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'oai-lb;help'= {
            cand init 'Write a commented oai-lb.toml (asks on a terminal, from flags otherwise)'
            cand deploy 'Converge the Azure stack (APIM, OpenAI accounts, identity, roles) to the config'
            cand backends 'Add, list, change or remove backends in oai-lb.toml (and converge APIM)'
            cand named-values 'Set, list or remove APIM named values (secret values are never printed)'
            cand policy 'Render, diff, push or show the APIM policy'
            cand status 'Show the gateway URL, the backends configured vs deployed, and drift (--check: exit 3 on drift)'
            cand destroy 'Delete what deploy created, after confirmation (--yes in scripts)'
            cand serve 'Run the embedded load balancer: a local reverse proxy in front of the backends'
            cand probe 'Drive traffic at an endpoint and watch each backend''s throttle state'
            cand simulate 'Run simulated Azure OpenAI deployments (RPM/TPM limits, 429s, SSE) on loopback'
            cand demo 'Simulated backends, the balancer and a live probe in one process: see it work in a minute'
            cand completions 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'oai-lb;help;init'= {
        }
        &'oai-lb;help;deploy'= {
        }
        &'oai-lb;help;backends'= {
            cand add 'Add a backend to oai-lb.toml'
            cand list 'List the configured backends (table, or JSON with --output json), with their deployed state when the config has [azure] and [apim]'
            cand set 'Change a backend''s priority, weight or URL'
            cand remove 'Remove a backend from oai-lb.toml'
        }
        &'oai-lb;help;backends;add'= {
        }
        &'oai-lb;help;backends;list'= {
        }
        &'oai-lb;help;backends;set'= {
        }
        &'oai-lb;help;backends;remove'= {
        }
        &'oai-lb;help;named-values'= {
            cand set 'Create or replace a named value of your own (not one oai-lb manages)'
            cand list 'Every named value of the service (secrets hidden), marking those oai-lb manages'
            cand remove 'Delete a named value the policy does not use'
        }
        &'oai-lb;help;named-values;set'= {
        }
        &'oai-lb;help;named-values;list'= {
        }
        &'oai-lb;help;named-values;remove'= {
        }
        &'oai-lb;help;policy'= {
            cand render 'Print the API policy XML rendered from the config (the same config renders the same bytes)'
            cand diff 'Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift'
            cand push 'Push the rendered policy to the deployed API (after showing the diff)'
            cand show 'Print the API policy as deployed'
        }
        &'oai-lb;help;policy;render'= {
        }
        &'oai-lb;help;policy;diff'= {
        }
        &'oai-lb;help;policy;push'= {
        }
        &'oai-lb;help;policy;show'= {
        }
        &'oai-lb;help;status'= {
        }
        &'oai-lb;help;destroy'= {
        }
        &'oai-lb;help;serve'= {
        }
        &'oai-lb;help;probe'= {
        }
        &'oai-lb;help;simulate'= {
        }
        &'oai-lb;help;demo'= {
        }
        &'oai-lb;help;completions'= {
        }
        &'oai-lb;help;help'= {
        }
    ]
    $completions[$command]
}
