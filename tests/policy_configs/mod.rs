//! The configurations the policy tests render: every one of them must compile with a real
//! C# compiler (`tests/policy_csharp.rs`).

#![allow(dead_code)] // each test uses some of them

pub const FULL: &str = r#"
[azure]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-oai-lb"
location = "eastus"
tenant_id = "11111111-1111-1111-1111-111111111111"

[apim]
name = "apim-oai-lb"
publisher_email = "ops@example.com"
publisher_name = "Contoso"

[apim.client_auth]
audience = "api://oai-lb"
client_id = "22222222-2222-2222-2222-222222222222"

[balancer]
default_cooldown_secs = 7.5

[[backends]]
name = "eastus-ptu"
url = "https://contoso-eastus.openai.azure.com"
priority = 1
auth = "api-key"
api_key_env = "OAI_LB_POLICY_TEST_KEY"

[[backends]]
name = "westus-paygo"
url = "https://contoso-westus.openai.azure.com"
priority = 2
weight = 3
auth = "entra"
deployments = ["gpt-4o", "text-embedding-3-large"]

[[backends]]
name = "sweden-paygo"
url = "https://contoso-sweden.openai.azure.com"
priority = 2

[[openai]]
name = "contoso-france"
location = "francecentral"
priority = 3
deployments = [{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20" }]
"#;

pub const PRIMARY: &str = r#"
[balancer]
all_throttled = "primary"

[[backends]]
name = "only"
url = "https://only.openai.azure.com"
"#;

/// Backends of every shape the selection must handle: two weights in one priority, a
/// deployment list, a lower priority, every auth.
pub const AGREEMENT: &str = r#"
[balancer]
default_cooldown_secs = 4

[[backends]]
name = "a"
url = "https://a.openai.azure.com"
priority = 1
weight = 1

[[backends]]
name = "b"
url = "https://b.openai.azure.com"
priority = 1
weight = 3
auth = "entra"

[[backends]]
name = "c"
url = "https://c.openai.azure.com"
priority = 2
weight = 2
deployments = ["gpt-4o", "emb"]

[[backends]]
name = "d"
url = "https://d.openai.azure.com"
priority = 3
deployments = ["gpt-4o"]
"#;

/// Only Entra backends: the shape the pool strategy can authenticate.
pub const ENTRA_ONLY: &str = r#"
[azure]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-oai-lb"
location = "eastus"
tenant_id = "11111111-1111-1111-1111-111111111111"

[apim]
name = "apim-oai-lb"
publisher_email = "ops@example.com"
publisher_name = "Contoso"
strategy = "pool"

[apim.client_auth]
audience = "api://oai-lb"
client_id = "22222222-2222-2222-2222-222222222222"

[[backends]]
name = "eastus"
url = "https://contoso-eastus.openai.azure.com"
auth = "entra"

[[openai]]
name = "contoso-france"
location = "francecentral"
priority = 2
deployments = [{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20" }]
"#;

/// Key and pass-through backends only: no managed identity anywhere.
pub const KEYS_ONLY: &str = r#"
[[backends]]
name = "eastus-ptu"
url = "https://contoso-eastus.openai.azure.com"
auth = "api-key"
api_key_env = "OAI_LB_POLICY_TEST_KEY"

[[backends]]
name = "westus"
url = "https://contoso-westus.openai.azure.com"
priority = 2
"#;

/// `[monitoring]` on, with Entra backends only so that both strategies render: token metrics
/// per backend and deployment.
pub const MONITORED: &str = r#"
[azure]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-oai-lb"
location = "eastus"

[apim]
name = "apim-oai-lb"
publisher_email = "ops@example.com"
publisher_name = "Contoso"

[monitoring]
sampling_percentage = 25

[[backends]]
name = "eastus"
url = "https://contoso-eastus.openai.azure.com"
auth = "entra"

[[openai]]
name = "contoso-france"
location = "francecentral"
priority = 2
deployments = [{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20" }]
"#;

/// Every configuration with the strategies it can be rendered for.
pub const ALL: &[(&str, &str)] = &[
    ("full", FULL),
    ("primary", PRIMARY),
    ("agreement", AGREEMENT),
    ("entra_only", ENTRA_ONLY),
    ("keys_only", KEYS_ONLY),
    ("monitored", MONITORED),
];
