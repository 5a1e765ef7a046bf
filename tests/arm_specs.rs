//! The fake ARM's view of the specs: routing, api-versions and body validation, and that
//! `azure::API_VERSIONS` names exactly the versions of the specs.

#[path = "fake_arm/mod.rs"]
mod fake_arm;

use fake_arm::{Specs, specs_dir};
use serde_json::json;

const SERVICE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";

#[test]
fn routes_to_the_most_specific_operation_and_knows_versions() {
    let specs = Specs::load(&specs_dir());
    let op = specs.find("PUT", &format!("{SERVICE}/backends/b1")).unwrap();
    assert!(op.template.ends_with("/backends/{backendId}"), "{}", op.template);
    assert_eq!(op.api_version, "2024-05-01");
    let op = specs
        .find(
            "PUT",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Authorization/roleAssignments/x",
        )
        .unwrap();
    assert_eq!(op.api_version, "2022-04-01");
    let op = specs.find("PUT", "/subscriptions/s/resourceGroups/rg").unwrap();
    assert_eq!(op.api_version, "2025-04-01");
    assert!(specs.find("PUT", &format!("{SERVICE}/apis/a/policies/policy")).unwrap().body.is_some());
}

#[test]
fn every_api_version_of_the_cli_is_a_spec_version() {
    let specs = Specs::load(&specs_dir());
    for (resource_type, version) in oai_lb::azure::API_VERSIONS {
        let provider_path = resource_type.split('/').skip(1).collect::<Vec<_>>();
        let found = specs.operations.iter().any(|op| {
            op.method == "PUT"
                && op.api_version == *version
                && provider_path.iter().all(|seg| op.template.to_ascii_lowercase().contains(&seg.to_ascii_lowercase()))
        });
        assert!(found, "{resource_type} {version} has no PUT in the specs");
    }
}

#[test]
fn validation_rejects_read_only_unknown_and_missing_fields() {
    let specs = Specs::load(&specs_dir());
    let schema = specs.find("PUT", &format!("{SERVICE}/backends/b1")).unwrap().body.clone().unwrap();
    let good = json!({"properties": {"url": "https://a/openai", "protocol": "http", "type": "Single"}});
    assert!(specs.validate(&schema, &good).is_empty(), "{:?}", specs.validate(&schema, &good));
    let pool = json!({"properties": {"type": "Pool", "pool": {"services": [{"id": "x", "priority": 1, "weight": 1}]}}});
    assert!(specs.validate(&schema, &pool).is_empty(), "{:?}", specs.validate(&schema, &pool));
    let bad = json!({"id": "x", "properties": {"url": "https://a", "protocl": "http"}});
    let problems = specs.validate(&schema, &bad).join("\n");
    assert!(problems.contains("body.id: is readOnly"), "{problems}");
    assert!(problems.contains("body.properties.protocl: unknown property"), "{problems}");
    assert!(problems.contains("body.properties.protocol: is required"), "{problems}");
    let wrong = json!({"properties": {"url": 5, "protocol": "ftp"}});
    let problems = specs.validate(&schema, &wrong).join("\n");
    assert!(problems.contains("body.properties.url: expected string"), "{problems}");
}

#[test]
fn container_apps_and_redis_bodies_are_validated() {
    let specs = Specs::load(&specs_dir());
    let rg = "/subscriptions/s/resourceGroups/rg/providers";
    let app = specs.find("PUT", &format!("{rg}/Microsoft.App/containerApps/a")).unwrap();
    assert!(app.long_running && app.api_version == "2025-07-01");
    let schema = app.body.clone().unwrap();
    let bad = json!({"location": "eastus", "properties": {"latestRevisionName": "x", "template": {"scale": {"minReplica": 1}}}});
    let problems = specs.validate(&schema, &bad).join("\n");
    assert!(problems.contains("latestRevisionName: is readOnly"), "{problems}");
    assert!(problems.contains("minReplica: unknown property"), "{problems}");
    let redis = specs.find("PUT", &format!("{rg}/Microsoft.Cache/redis/c")).unwrap().body.clone().unwrap();
    let problems =
        specs.validate(&redis, &json!({"location": "eastus", "properties": {"sku": {"name": "Basic"}}})).join("\n");
    assert!(problems.contains("family: is required") && problems.contains("capacity: is required"), "{problems}");
    let environment = specs.find("PUT", &format!("{rg}/Microsoft.App/managedEnvironments/e")).unwrap().body.clone();
    let problems =
        specs.validate(&environment.unwrap(), &json!({"location": "eastus", "properties": {"defaultDomain": "x"}}));
    assert!(problems.join("").contains("defaultDomain: is readOnly"), "{problems:?}");
    // The key actions are spec'd (reads, not writes).
    assert!(specs.find("POST", &format!("{rg}/Microsoft.OperationalInsights/workspaces/w/sharedKeys")).is_some());
    assert!(specs.find("POST", &format!("{rg}/Microsoft.Cache/redis/c/listKeys")).is_some());
    assert!(specs.find("GET", &format!("{rg}/Microsoft.App/containerApps/a/revisions/r")).is_some());
}
