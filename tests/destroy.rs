//! `oai-lb destroy` against the fake ARM: what it deletes, in which order, and when it asks.

mod apim;
mod fake_arm;

use apim::Env;

const CONFIG: &str = concat!(
    azure_apim!(),
    r#"
[[openai]]
name = "contoso-east"
location = "eastus"
deployments = [{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20" }]
"#
);

/// The paths of the DELETEs the fake received, in order.
fn deletes(env: &Env) -> Vec<String> {
    env.fake.requests().into_iter().filter(|r| r.method == "DELETE").map(|r| r.path).collect()
}

#[test]
fn refuses_without_yes_when_not_on_a_terminal() {
    let env = Env::deployed(CONFIG);
    let out = env.cmd(&["destroy"]).assert().code(2).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("--yes"));
    assert!(deletes(&env).is_empty());
}

#[test]
fn what_if_lists_and_deletes_nothing() {
    let env = Env::deployed(CONFIG);
    let out = env.cmd(&["destroy", "--what-if"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("APIM service apim-oai-lb") && out.contains("resource group"), "{out}");
    assert!(deletes(&env).is_empty());
}

#[test]
fn deletes_everything_in_reverse_dependency_order() {
    let env = Env::deployed(CONFIG);
    env.cmd(&["destroy", "--yes", "--purge"]).assert().success();
    let deletes = deletes(&env);
    let position = |needle: &str| {
        deletes.iter().position(|p| p.contains(needle)).unwrap_or_else(|| panic!("no DELETE of {needle}: {deletes:?}"))
    };
    assert!(position("/service/apim-oai-lb") < position("/userAssignedIdentities/"), "APIM runs as the identity");
    assert!(position("/accounts/contoso-east") < position("/deletedAccounts/contoso-east"), "purge after delete");
    assert_eq!(
        deletes.iter().rfind(|p| !p.contains("/deletedAccounts/")).map(String::as_str),
        Some("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-oai-lb")
    );
    assert!(env.fake.resource_ids().is_empty(), "left behind: {:?}", env.fake.resource_ids());
    // Run again: nothing left to delete.
    env.cmd(&["destroy", "--yes"]).assert().success();
}

#[test]
fn keep_openai_keeps_the_accounts_and_the_group() {
    let env = Env::deployed(CONFIG);
    env.cmd(&["destroy", "--yes", "--keep-openai"]).assert().success();
    let ids = env.fake.resource_ids();
    assert!(ids.iter().any(|id| id.ends_with("/accounts/contoso-east")), "{ids:?}");
    assert!(ids.iter().any(|id| id.ends_with("/deployments/gpt-4o")), "{ids:?}");
    assert!(
        !ids.iter().any(|id| id.contains("Microsoft.ApiManagement") || id.contains("userAssignedIdentities")),
        "{ids:?}"
    );
}
