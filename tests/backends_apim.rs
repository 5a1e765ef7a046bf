//! `backends`, `policy diff/push/show` and `status` against the fake ARM: each edit
//! converges APIM, out-of-band changes show up as drift (exit 3), `--what-if` and
//! `--local-only` write nothing to Azure.

mod apim;
mod fake_arm;

use apim::{APIM, Env, stdout};

const CONFIG: &str = concat!(
    "# Keep this comment.\n",
    azure_apim!(),
    r#"
[[backends]]
name = "east"
url = "https://east.openai.azure.com"
priority = 1
auth = "entra"
"#
);

#[test]
fn deploy_then_status_check_finds_no_drift_and_the_rendered_policy_was_accepted() {
    let env = Env::deployed(CONFIG);
    assert!(env.fake.rejections().is_empty(), "{:?}", env.fake.rejections());
    let policy = env.fake.resource(&format!("{APIM}/apis/openai/policies/policy")).expect("policy deployed");
    assert_eq!(policy["properties"]["format"], "xml");
    assert!(policy["properties"]["value"].as_str().unwrap().contains("oaiLbBackendId"), "the smart policy");
    let out = stdout(env.cmd(&["status", "--check"]).assert().success());
    assert!(out.contains("No drift") && out.contains("east"), "{out}");
    env.cmd(&["policy", "diff"]).assert().success();
}

#[test]
fn backends_add_set_remove_converge_apim() {
    let env = Env::deployed(CONFIG);
    env.cmd(&[
        "backends",
        "add",
        "west",
        "--url",
        "https://west.openai.azure.com",
        "--priority",
        "2",
        "--auth",
        "entra",
        "--yes",
    ])
    .assert()
    .success();
    let west = env.fake.resource(&format!("{APIM}/backends/west")).expect("backend created");
    assert_eq!(west["properties"]["url"], "https://west.openai.azure.com/openai");
    let list = env.fake.resource(&format!("{APIM}/namedValues/oai-lb-backends")).unwrap();
    assert!(list["properties"]["value"].as_str().unwrap().contains("\"id\":\"west\""));
    env.cmd(&["status", "--check"]).assert().success();

    env.cmd(&["backends", "set", "west", "--priority", "1", "--yes"]).assert().success();
    let list = env.fake.resource(&format!("{APIM}/namedValues/oai-lb-backends")).unwrap();
    assert!(list["properties"]["value"].as_str().unwrap().contains("\"id\":\"west\",\"priority\":1"));

    env.cmd(&["backends", "remove", "west", "--yes"]).assert().success();
    assert!(env.fake.resource(&format!("{APIM}/backends/west")).is_none(), "a removed backend is deleted from APIM");
    env.cmd(&["status", "--check"]).assert().success();
    assert!(std::fs::read_to_string(&env.config).unwrap().starts_with("# Keep this comment."));
    assert!(env.fake.rejections().is_empty(), "{:?}", env.fake.rejections());
}

#[test]
fn what_if_and_local_only_write_nothing_to_azure() {
    let env = Env::deployed(CONFIG);
    let before = env.fake.writes();
    let out = stdout(
        env.cmd(&["backends", "add", "west", "--url", "https://west.openai.azure.com", "--priority", "2", "--what-if"])
            .assert()
            .success(),
    );
    assert!(out.contains("would write backend west"), "{out}");
    assert_eq!(std::fs::read_to_string(&env.config).unwrap(), CONFIG, "--what-if leaves the file alone");
    env.cmd(&[
        "backends",
        "add",
        "west",
        "--url",
        "https://west.openai.azure.com",
        "--priority",
        "2",
        "--local-only",
        "--yes",
    ])
    .assert()
    .success();
    assert_eq!(env.fake.writes(), before, "nothing written to Azure");
    assert!(std::fs::read_to_string(&env.config).unwrap().contains("name = \"west\""));
    let listed = stdout(env.cmd(&["--output", "json", "backends", "list"]).assert().success());
    let rows: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(rows[0]["deployed"], "in sync");
    assert_eq!(rows[1]["deployed"], "missing");
    let local = stdout(env.cmd(&["--output", "json", "backends", "list", "--local-only"]).assert().success());
    assert!(serde_json::from_str::<serde_json::Value>(&local).unwrap()[1]["deployed"].is_null());
    // Now the config is ahead of Azure: that is drift.
    let out = env.cmd(&["status", "--check"]).assert().code(3).get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&out).contains("backend west: missing"));
    env.cmd(&["policy", "push", "--what-if"]).assert().success();
    assert_eq!(env.fake.writes(), before);
}

#[test]
fn an_edit_reaches_apim_only_with_yes_off_a_terminal() {
    let env = Env::deployed(CONFIG);
    let before = env.fake.writes();
    let add = ["backends", "add", "west", "--url", "https://west.openai.azure.com", "--priority", "2"];
    let err = String::from_utf8(env.cmd(&add).assert().code(2).get_output().stderr.clone()).unwrap();
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(env.fake.writes(), before, "nothing written to Azure");
    assert_eq!(env.config_text(), CONFIG, "nothing written to the file");
    env.cmd(&[&add[..], &["--yes"]].concat()).assert().success();
    assert!(env.fake.resource(&format!("{APIM}/backends/west")).is_some());
}

#[test]
fn policy_diff_finds_an_out_of_band_edit_and_push_repairs_it() {
    let env = Env::deployed(CONFIG);
    // Someone switches the policy by hand (here: the pool strategy's document).
    env.cmd(&["policy", "push", "--strategy", "pool", "--yes"]).assert().success();
    let out = env.cmd(&["policy", "diff"]).assert().code(3).get_output().clone();
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(diff.starts_with("--- deployed\n+++ rendered\n"), "{diff}");
    assert!(diff.contains("+      <retry") || diff.contains("oaiLbRetry"), "{diff}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("oai-lb policy push"));
    env.cmd(&["status", "--check"]).assert().code(3);

    let before = env.fake.writes();
    env.cmd(&["policy", "push", "--what-if"]).assert().success();
    assert_eq!(env.fake.writes(), before, "--what-if writes nothing");
    env.cmd(&["policy", "push", "--yes"]).assert().success();
    env.cmd(&["policy", "diff"]).assert().success();
    env.cmd(&["status", "--check"]).assert().success();
    let shown = stdout(env.cmd(&["policy", "show"]).assert().success());
    assert!(shown.starts_with("<policies>"));
}

#[test]
fn commands_on_apim_need_the_azure_sections() {
    let env = Env::new(CONFIG);
    std::fs::write(&env.config, "[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n").unwrap();
    for args in [&["status"][..], &["policy", "diff"]] {
        let out = env.cmd(args).assert().code(2).get_output().stderr.clone();
        assert!(String::from_utf8_lossy(&out).contains("[azure] and [apim]"), "{args:?}");
    }
    assert!(env.fake.requests().is_empty());
}

const TWO: &str = apim::TWO_ENTRA_BACKENDS;

#[test]
fn a_status_row_shows_drift_when_what_apim_serves_for_it_differs() {
    for strategy in ["policy", "pool"] {
        let config = TWO.replace(
            "publisher_name = \"Contoso\"\n",
            &format!("publisher_name = \"Contoso\"\nstrategy = \"{strategy}\"\n"),
        );
        let env = Env::deployed(&config);
        env.cmd(&["backends", "set", "west", "--weight", "3", "--local-only", "--yes"]).assert().success();
        let out = env.cmd(&["--output", "json", "status"]).assert().success();
        let json: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap();
        let rows: Vec<(&str, u64, &str)> = json["backends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["name"].as_str().unwrap(), b["weight"].as_u64().unwrap(), b["deployed"].as_str().unwrap()))
            .collect();
        let west = match strategy {
            "pool" => "differs (weight in oai-lb-backends, weight in oai-lb-pool)",
            _ => "differs (weight in oai-lb-backends)",
        };
        assert_eq!(rows, [("east", 1, "in sync"), ("west", 3, west)], "{strategy}: {json}");
        let drift: Vec<&str> =
            json["drift"].as_array().unwrap().iter().map(|d| d["resource"].as_str().unwrap()).collect();
        assert!(drift.contains(&"named value oai-lb-backends"), "{drift:?}");

        let table = stdout(env.cmd(&["status", "--check"]).assert().code(3));
        let row = table.lines().find(|l| l.trim_start().starts_with("west")).unwrap();
        assert!(row.trim_end().ends_with(west), "{table}");
        let row = table.lines().find(|l| l.trim_start().starts_with("east")).unwrap();
        assert!(row.trim_end().ends_with("in sync"), "{table}");
    }
}
