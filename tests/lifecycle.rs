//! The whole life of a stack against the fake ARM as ARM really behaves (APIM activating,
//! soft delete): deploy, deploy again (0 writes), `status --check`, `backends add`,
//! destroy, and deploy with the same names through soft delete — restored by default,
//! purged and created anew with `--purge-deleted`, and purged by `destroy --purge`.

mod apim;
mod fake_arm;

use apim::{APIM, Env, stdout};

const CONFIG: &str = concat!(
    azure_apim!(),
    r#"
[[openai]]
name = "contoso-east"
location = "eastus"
deployments = [{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20" }]
"#
);

const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000000";

fn deleted_apim() -> String {
    format!("{SUB}/providers/microsoft.apimanagement/locations/eastus/deletedservices/apim-oai-lb")
}

fn deleted_account() -> String {
    format!(
        "{SUB}/providers/microsoft.cognitiveservices/locations/eastus/resourcegroups/rg-oai-lb/deletedaccounts/contoso-east"
    )
}

#[test]
fn deploy_redeploy_check_add_destroy_and_deploy_again_through_soft_delete() {
    let env = Env::deployed(CONFIG);
    // The new service was still activating: child writes met 409 ServiceLocked and waited.
    assert!(env.fake.requests().iter().any(|r| r.status == 409 && r.code.as_deref() == Some("ServiceLocked")));

    let writes = env.fake.writes();
    let out = stdout(env.cmd(&["deploy", "--yes"]).assert().success());
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(env.fake.writes(), writes, "a second deploy writes nothing");
    env.cmd(&["status", "--check"]).assert().success();

    let add = ["backends", "add", "west", "--url", "https://west.openai.azure.com", "--priority", "2"];
    env.cmd(&[&add[..], &["--auth", "entra", "--yes"]].concat()).assert().success();
    env.cmd(&["status", "--check"]).assert().success();

    env.cmd(&["destroy", "--yes"]).assert().success();
    assert!(env.fake.resource_ids().is_empty(), "left behind: {:?}", env.fake.resource_ids());
    assert_eq!(env.fake.deleted_ids(), vec![deleted_apim(), deleted_account()], "both stay soft-deleted");

    // Same names again: the plan finds the soft-deleted ones and restores them.
    let out = stdout(env.cmd(&["deploy", "--what-if"]).assert().success());
    assert!(out.contains("restore"), "{out}");
    env.cmd(&["deploy", "--yes"]).assert().success();
    assert!(env.fake.deleted_ids().is_empty(), "{:?}", env.fake.deleted_ids());
    let restores = env.fake.requests().into_iter().filter(|r| r.method == "PUT" && r.status == 409).count();
    assert!(restores > 0, "child writes waited for the restored service");
    assert!(env.fake.resource(APIM).is_some());
    let writes = env.fake.writes();
    env.cmd(&["deploy", "--yes"]).assert().success();
    assert_eq!(env.fake.writes(), writes, "converged after the restore");
    env.cmd(&["status", "--check"]).assert().success();
    assert!(env.fake.rejections().is_empty(), "{:?}", env.fake.rejections());
    assert!(
        !env.fake.requests().iter().any(|r| matches!(
            r.code.as_deref(),
            Some("ServiceAlreadyExistsInSoftDeletedState" | "FlagMustBeSetForRestore")
        )),
        "deploy never collides with a soft-deleted name"
    );
}

#[test]
fn a_create_over_a_soft_deleted_name_fails_as_arm_does() {
    // Without oai-lb's restore, ARM refuses the name (what a naive re-create meets).
    let env = Env::deployed(CONFIG);
    env.cmd(&["destroy", "--yes"]).assert().success();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, text) = runtime.block_on(async {
        let put = reqwest::Client::new()
            .put(format!("{}{APIM}?api-version=2024-05-01", env.fake.url))
            .bearer_auth(fake_arm::TOKEN)
            .json(&serde_json::json!({
                "location": "eastus",
                "sku": {"name": "Developer", "capacity": 1},
                "properties": {"publisherEmail": "ops@example.com", "publisherName": "Contoso"},
            }))
            .send()
            .await
            .unwrap();
        (put.status().as_u16(), put.text().await.unwrap())
    });
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("ServiceAlreadyExistsInSoftDeletedState"), "{text}");
}

#[test]
fn purge_deleted_purges_then_creates() {
    let env = Env::deployed(CONFIG);
    env.cmd(&["destroy", "--yes"]).assert().success();
    let out = stdout(env.cmd(&["deploy", "--yes", "--purge-deleted"]).assert().success());
    assert!(out.contains("purged first"), "{out}");
    let deletes: Vec<String> =
        env.fake.requests().into_iter().filter(|r| r.method == "DELETE").map(|r| r.path.to_ascii_lowercase()).collect();
    assert!(deletes.contains(&deleted_apim()) && deletes.contains(&deleted_account()), "{deletes:?}");
    assert!(env.fake.deleted_ids().is_empty());
    assert!(env.fake.resource(APIM).is_some());
}

#[test]
fn destroy_purge_purges_apim_and_the_accounts() {
    let env = Env::deployed(CONFIG);
    let out = stdout(env.cmd(&["destroy", "--yes", "--purge", "--what-if"]).assert().success());
    assert!(out.contains("purge deleted APIM service apim-oai-lb"), "{out}");
    env.cmd(&["destroy", "--yes", "--purge"]).assert().success();
    assert!(env.fake.deleted_ids().is_empty(), "{:?}", env.fake.deleted_ids());
    // Nothing soft-deleted is left, so a plain create works.
    env.cmd(&["deploy", "--yes"]).assert().success();
}
