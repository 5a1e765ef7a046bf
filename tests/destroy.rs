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
    assert!(position("/service/apim-oai-lb") < position("/deletedservices/apim-oai-lb"), "purge after delete");
    assert_eq!(
        deletes
            .iter()
            .rfind(|p| !p.contains("/deletedAccounts/") && !p.contains("/deletedservices/"))
            .map(String::as_str),
        Some("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-oai-lb")
    );
    assert!(env.fake.resource_ids().is_empty(), "left behind: {:?}", env.fake.resource_ids());
    assert!(env.fake.deleted_ids().is_empty(), "purged: {:?}", env.fake.deleted_ids());
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

#[test]
fn a_group_oai_lb_did_not_create_is_kept_with_what_else_it_holds() {
    // Someone's resource group, with someone's identity in it, before any deploy.
    let env = Env::new(CONFIG);
    let rg = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-oai-lb";
    let theirs = format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/someone-elses");
    env.fake.insert(rg, serde_json::json!({"location": "eastus"}));
    env.fake.insert(&theirs, serde_json::json!({"location": "eastus", "properties": {}}));

    let plan = env.cmd(&["deploy", "--what-if", "--output", "json"]).assert().success().get_output().stdout.clone();
    let plan: serde_json::Value = serde_json::from_slice(&plan).unwrap();
    let group = plan["plan"].as_array().unwrap().iter().find(|c| c["id"] == rg).unwrap().clone();
    assert_eq!(group["action"], "unchanged", "{group}");
    env.cmd(&["deploy", "--yes"]).assert().success();
    assert!(env.fake.resource(rg).unwrap().get("tags").is_none(), "deploy never tags a group it did not create");

    let out = env.cmd(&["destroy", "--yes"]).assert().success().get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Keeping the resource group") && stderr.contains("did not create"), "{stderr}");
    assert!(!deletes(&env).iter().any(|p| p == rg), "{:?}", deletes(&env));
    let ids = env.fake.resource_ids();
    assert_eq!(ids, vec![rg.to_string(), theirs.clone()], "only oai-lb's resources are deleted");
}

#[test]
fn a_group_oai_lb_created_is_kept_while_it_holds_something_else() {
    let env = Env::deployed(CONFIG);
    let rg = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-oai-lb";
    assert_eq!(env.fake.resource(rg).unwrap()["tags"]["managed-by"], "oai-lb");
    let theirs = format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/added-later");
    env.fake.insert(&theirs, serde_json::json!({"location": "eastus", "properties": {}}));
    let out = env.cmd(&["destroy", "--yes", "--output", "json"]).assert().success().get_output().stdout.clone();
    let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(out["kept_group"].as_str().unwrap().contains("added-later"), "{out}");
    assert_eq!(env.fake.resource_ids(), vec![rg.to_string(), theirs]);
}
