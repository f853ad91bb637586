//! `nslab kube` (issue 25): the Kubernetes manifests that run one script
//! across machines. No cluster is reachable from here, so these tests check
//! the manifests' shape only: they parse as YAML into the five expected
//! objects, and the names, ports and paths the agents' flags use agree with
//! the Service, the Secret's mount and the Job's `--machines`. Nothing is
//! built: no privileges are needed.

use crate::common::*;
use serde::Deserialize;
use serde_json::Value;
use std::process::Command;

const SCRIPT: &str = "// placement by parameter\nlet where_ = param(\"at\", \"m2\");\nlet a = netns(\"a\");\nlet b = netns(\"b\", #{on: where_});\nlet e = veth(a, \"e-a\", b, \"e-b\");\n";

/// `nslab kube ARGS…` in a directory holding `files`.
fn kube(files: &[(&str, &str)], args: &[&str]) -> (Dir, Out) {
    let d = Dir::with(files);
    let mut all = vec!["kube"];
    all.extend_from_slice(args);
    let o = nslab(&all, d.path());
    assert!(!o.all().contains("panicked"), "{}", o.all());
    (d, o)
}

/// Every YAML document of stdout, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("not YAML: {e}\n{yaml}")))
        .collect()
}

/// The one document of `kind`.
fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} in {docs:#?}");
    found[0]
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| text(s).to_string())
        .collect()
}

/// The value following `flag` in a command.
fn flag<'a>(command: &'a [String], flag: &str) -> &'a str {
    let at = command
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {command:?}"));
    &command[at + 1]
}

/// The pod spec's only container.
fn container(pod: &Value) -> &Value {
    let c = pod["containers"].as_array().expect("containers");
    assert_eq!(c.len(), 1, "{pod:#}");
    &c[0]
}

/// Where the pod mounts the volume that holds `source` (`"secret"` or
/// `"configMap"`) named `name`.
fn mount_of(pod: &Value, source: &str, name: &str) -> String {
    let vol = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| {
            let s = &v[source];
            s["secretName"] == name || s["name"] == name
        })
        .unwrap_or_else(|| panic!("no {source} volume of {name} in {pod:#}"));
    let m = container(pod)["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"] == vol["name"])
        .unwrap_or_else(|| panic!("volume {} not mounted in {pod:#}", vol["name"]));
    text(&m["mountPath"]).to_string()
}

fn base64_decode(s: &str) -> String {
    let o = pipe(Command::new("base64").arg("-d"), s);
    o.assert_ok();
    o.stdout
}

#[test]
fn the_manifests_are_five_objects_whose_names_and_ports_agree_with_the_agents_flags() {
    let (_d, o) = kube(
        &[("two-machines.rhai", SCRIPT)],
        &[
            "--machines",
            "4",
            "two-machines.rhai",
            "--image",
            "registry.example/nslab:0.1",
            "--set",
            "at=m3",
            "--set",
            "note=a b: c",
        ],
    );
    o.assert_ok();
    let docs = documents(&o.stdout);
    let kinds: Vec<&str> = docs.iter().map(|d| text(&d["kind"])).collect();
    assert_eq!(
        kinds,
        ["Secret", "ConfigMap", "Service", "StatefulSet", "Job"]
    );
    for d in &docs {
        assert_eq!(d["metadata"]["namespace"], "default", "{d:#}");
        assert!(
            text(&d["metadata"]["name"]).starts_with("two-machines-"),
            "{d:#}"
        );
    }
    let (secret, config, service, sts, job) = (
        of_kind(&docs, "Secret"),
        of_kind(&docs, "ConfigMap"),
        of_kind(&docs, "Service"),
        of_kind(&docs, "StatefulSet"),
        of_kind(&docs, "Job"),
    );
    let svc_name = text(&service["metadata"]["name"]);
    let sts_name = text(&sts["metadata"]["name"]);
    let secret_name = text(&secret["metadata"]["name"]);

    // The Service is headless, selects the agent pods, and has the agent's
    // port and VXLAN's.
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(
        service["spec"]["selector"],
        sts["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(
        sts["spec"]["selector"]["matchLabels"],
        sts["spec"]["template"]["metadata"]["labels"]
    );
    let svc_port = |proto: &str| -> u64 {
        let ports = service["spec"]["ports"].as_array().expect("ports");
        let p = ports
            .iter()
            .find(|p| p["protocol"] == proto)
            .unwrap_or_else(|| panic!("no {proto} port in {service:#}"));
        p["port"].as_u64().expect("a port number")
    };
    assert_eq!(svc_port("UDP"), 14789);

    // N-1 privileged agents, each its own pod network, listening where the
    // Service says, reading the token where the Secret is mounted.
    let spec = &sts["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["serviceName"], svc_name);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["hostNetwork"], false);
    let agent = container(pod);
    assert_eq!(agent["image"], "registry.example/nslab:0.1");
    assert_eq!(agent["securityContext"]["privileged"], true);
    let command = strings(&agent["command"]);
    assert_eq!(command[..2], ["nslab", "agent"]);
    let listen = flag(&command, "--listen");
    let port: u64 = listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("--listen {listen}"));
    assert_eq!(port, svc_port("TCP"), "the Service's port is the agents'");
    let token_key = {
        let data = secret["data"].as_object().expect("the Secret's data");
        assert_eq!(data.len(), 1, "{secret:#}");
        data.keys().next().expect("a key").clone()
    };
    let token_path = format!("{}/{token_key}", mount_of(pod, "secret", secret_name));
    assert_eq!(flag(&command, "--token-file"), token_path);

    // The driver: privileged too, the script from the ConfigMap, the agents
    // by their pod DNS names under the Service, the same token, and every
    // --set passed on in order.
    let jpod = &job["spec"]["template"]["spec"];
    assert_eq!(jpod["restartPolicy"], "Never");
    assert_eq!(jpod["hostNetwork"], false);
    let driver = container(jpod);
    assert_eq!(driver["image"], "registry.example/nslab:0.1");
    assert_eq!(driver["securityContext"]["privileged"], true);
    let run = strings(&driver["command"]);
    assert_eq!(run[..2], ["nslab", "run"]);
    assert_eq!(flag(&run, "--token-file"), token_path);
    assert_eq!(
        mount_of(jpod, "secret", secret_name),
        mount_of(pod, "secret", secret_name)
    );
    let machines: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "m{}={sts_name}-{i}.{svc_name}.default.svc.cluster.local:{port}",
                i + 2
            )
        })
        .collect();
    assert_eq!(flag(&run, "--machines"), machines.join(","));
    let sets: Vec<&str> = run
        .windows(2)
        .filter(|w| w[0] == "--set")
        .map(|w| w[1].as_str())
        .collect();
    assert_eq!(sets, ["at=m3", "note=a b: c"]);
    let cm_name = text(&config["metadata"]["name"]);
    let (key, script) = config["data"]
        .as_object()
        .and_then(|m| m.iter().next())
        .expect("the script in the ConfigMap");
    assert_eq!(key, "two-machines.rhai", "nslab run names the lab after it");
    assert_eq!(text(script), SCRIPT);
    assert_eq!(
        run[2],
        format!("{}/{key}", mount_of(jpod, "configMap", cm_name))
    );

    // The token: random hex, base64 in the Secret.
    let token = base64_decode(text(&secret["data"][token_key.as_str()]));
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
}

#[test]
fn each_call_makes_a_fresh_token_unless_one_is_given() {
    let files = [
        ("lab.rhai", "let a = netns(\"a\");\n"),
        ("tok", "s3cret-token\n"),
    ];
    let args = ["--machines", "2", "lab.rhai", "--image", "i"];
    let token = |o: &Out| {
        o.assert_ok();
        let docs = documents(&o.stdout);
        base64_decode(text(&of_kind(&docs, "Secret")["data"]["token"]))
    };
    let (_d, first) = kube(&files, &args);
    let (_d, second) = kube(&files, &args);
    assert_ne!(token(&first), token(&second));
    let mut given = args.to_vec();
    given.extend(["--token-file", "tok"]);
    let (_d, o) = kube(&files, &given);
    assert_eq!(token(&o), "s3cret-token\n");
    assert_eq!(
        of_kind(&documents(&o.stdout), "StatefulSet")["spec"]["replicas"],
        1
    );
}

#[test]
fn names_come_from_the_file_as_dns_labels_or_from_name_and_namespace() {
    let (_d, o) = kube(
        &[("My_OSPF.Lab.rhai", "let a = netns(\"a\");\n")],
        &["--machines", "2", "My_OSPF.Lab.rhai", "--image", "i"],
    );
    o.assert_ok();
    let docs = documents(&o.stdout);
    assert_eq!(
        of_kind(&docs, "StatefulSet")["metadata"]["name"],
        "my-ospf-lab-agent"
    );
    let (_d, o) = kube(
        &[("lab.rhai", "let a = netns(\"a\");\n")],
        &[
            "--machines",
            "3",
            "lab.rhai",
            "--image",
            "i",
            "--name",
            "ospf",
            "--namespace",
            "labs",
        ],
    );
    o.assert_ok();
    let docs = documents(&o.stdout);
    for d in &docs {
        assert_eq!(d["metadata"]["namespace"], "labs");
        assert!(text(&d["metadata"]["name"]).starts_with("ospf-"), "{d:#}");
    }
    let run = strings(&container(&of_kind(&docs, "Job")["spec"]["template"]["spec"])["command"]);
    assert_eq!(
        flag(&run, "--machines"),
        "m2=ospf-agent-0.ospf-agents.labs.svc.cluster.local:7600,m3=ospf-agent-1.ospf-agents.labs.svc.cluster.local:7600"
    );
}

#[test]
fn bad_inputs_fail_with_a_help_and_print_no_manifest() {
    let files = [
        ("lab.rhai", "let a = netns(\"a\");\n"),
        ("typo.rhai", "let a = netns(\"a\");\nlet b = netn(\"b\");\n"),
        ("imports.rhai", "import \"mine\" as m;\nm::f();\n"),
        ("mine.rhai", "fn f() { 1 }\n"),
        ("empty", "\n"),
    ];
    for (args, code, says) in [
        (
            &["--machines", "1", "lab.rhai", "--image", "i"][..],
            2,
            "m1 is the driver",
        ),
        (
            &["--machines", "2", "lab.rhai", "--image", ""],
            2,
            "not a container image",
        ),
        (
            &["--machines", "2", "nope.rhai", "--image", "i"],
            2,
            "cannot read nope.rhai",
        ),
        (
            &["--machines", "2", "typo.rhai", "--image", "i"],
            1,
            "typo.rhai:2:9",
        ),
        (
            &["--machines", "2", "imports.rhai", "--image", "i"],
            1,
            "imports \"mine\"",
        ),
        (
            &[
                "--machines",
                "2",
                "lab.rhai",
                "--image",
                "i",
                "--name",
                "Lab_1",
            ],
            2,
            "cannot name Kubernetes objects",
        ),
        (
            &[
                "--machines",
                "2",
                "lab.rhai",
                "--image",
                "i",
                "--namespace",
                "a.b",
            ],
            2,
            "not a Kubernetes namespace name",
        ),
        (
            &[
                "--machines",
                "2",
                "lab.rhai",
                "--image",
                "i",
                "--token-file",
                "empty",
            ],
            2,
            "is empty",
        ),
    ] {
        let (_d, o) = kube(&files, args);
        assert_eq!(o.code, code, "{args:?}\n{}", o.all());
        assert!(o.stdout.is_empty(), "{args:?} printed:\n{}", o.stdout);
        let err = o.report_words();
        assert!(
            err.contains(says),
            "{args:?}: no '{says}' in:\n{}",
            o.stderr
        );
        assert!(err.contains("help:"), "{args:?}: no help in:\n{}", o.stderr);
    }
    // Missing flags are clap's usage errors.
    let (_d, o) = kube(&files, &["lab.rhai", "--image", "i"]);
    o.fails_saying(2, &["--machines"]);
}

#[test]
fn the_help_says_m1_is_the_driver_and_what_was_not_run() {
    let o = nslab(&["kube", "--help"], repo());
    o.assert_ok();
    let w = o.words();
    for want in [
        "m1 is the Job's own pod",
        "N-1 agent",
        "StatefulSet",
        "not run on a cluster",
    ] {
        assert!(w.contains(want), "no '{want}' in:\n{}", o.stdout);
    }
}
