//! `nslab kube --machines N LAB.rhai --image IMAGE`: the Kubernetes
//! manifests that run one script across N machines, printed as YAML on
//! stdout for `kubectl apply -f -`.
//!
//! Five objects, named after the lab: a Secret (the agents' token), a
//! ConfigMap (the script), a headless Service, a StatefulSet of N-1
//! privileged `nslab agent` pods (m2..mN) and a Job whose pod is m1, the
//! driver, running `nslab run --machines m2=POD-DNS:PORT,…`. A StatefulSet,
//! not a DaemonSet: the script places namespaces on machines by name, so
//! each agent needs a stable DNS name (LAB-agent-0.LAB-agents.NS.svc…), and
//! the lab needs N-1 agents whatever the number of nodes.
//!
//! Nothing here reaches a cluster: the manifests are checked for shape (the
//! tests parse them and compare names and ports with the agents' flags),
//! not run.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use rhai::{AST, ASTNode, Expr, Stmt};
use serde_json::{Value, json};

use crate::cli::KubeArgs;
use crate::lab::LabError;
use crate::session::{CmdResult, Failure, Script};

/// The port every agent listens on (`nslab agent --listen 0.0.0.0:PORT`).
pub const AGENT_PORT: u16 = 7600;
/// VXLAN's UDP port between machines: `nslab run`'s `--vxlan-port` default.
pub const VXLAN_PORT: u16 = 14789;
/// Where the Secret is mounted, in agents and driver alike.
const TOKEN_DIR: &str = "/etc/nslab";
const TOKEN_KEY: &str = "token";
/// Where the ConfigMap with the script is mounted in the driver.
const SCRIPT_DIR: &str = "/lab";
/// The longest base name: the StatefulSet's name (BASE-agent) must leave
/// room in the 63-byte label its pods get (`controller-revision-hash`:
/// NAME-HASH, 11 bytes of hash and dash), and BASE-agents, BASE-script…
/// stay labels too.
const MAX_BASE: usize = 40;
/// The most machines: the Job's `--machines` list is one argument, and
/// Linux takes at most 128 KiB in one; at 500 machines, with the longest
/// names and namespace, it is under 100 KiB.
const MAX_MACHINES: u32 = 500;
/// How often the Job's pod is started again when the script fails: the
/// first try may come before the agents' DNS names are published (a pod is
/// in the Service's DNS once its readiness probe passes).
const BACKOFF_LIMIT: u32 = 4;

pub fn run(args: KubeArgs) -> CmdResult {
    let docs = manifests(&args)?;
    let mut out = String::new();
    for d in &docs {
        let text = serde_norway::to_string(&ordered(d)).map_err(|e| {
            LabError::new(
                format!("cannot write the manifests as YAML: {e}"),
                "this is unexpected; please report it",
            )
        })?;
        out.push_str("---\n");
        out.push_str(&text);
    }
    super::default_sigpipe();
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            Failure::from(LabError::new(
                format!("cannot write to standard output: {e}"),
                "redirect it to a file: nslab kube … > lab.yaml",
            ))
        })?;
    Ok(ExitCode::SUCCESS)
}

/// The names every object is derived from.
struct Names {
    base: String,
    namespace: String,
}

impl Names {
    fn secret(&self) -> String {
        format!("{}-token", self.base)
    }
    fn config(&self) -> String {
        format!("{}-script", self.base)
    }
    fn service(&self) -> String {
        format!("{}-agents", self.base)
    }
    fn statefulset(&self) -> String {
        format!("{}-agent", self.base)
    }
    fn job(&self) -> String {
        format!("{}-driver", self.base)
    }
    /// Agent `i` (0-based: machine m{i+2}) by its pod's DNS name under
    /// the headless Service.
    fn agent_host(&self, i: u32) -> String {
        format!(
            "{}-{i}.{}.{}.svc.cluster.local",
            self.statefulset(),
            self.service(),
            self.namespace
        )
    }
    fn labels(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": "nslab",
            "app.kubernetes.io/instance": self.base,
            "app.kubernetes.io/component": component,
        })
    }
    fn metadata(&self, name: String, component: &str) -> Value {
        json!({"name": name, "namespace": self.namespace, "labels": self.labels(component)})
    }
}

/// The five documents, in the order `kubectl apply` wants them (what a pod
/// mounts before the pod).
fn manifests(args: &KubeArgs) -> Result<Vec<Value>, Failure> {
    if args.machines < 2 {
        return Err(usage(
            format!(
                "--machines {} makes no agent: m1 is the driver (the Job's pod)",
                args.machines
            ),
            "give 2 or more: --machines N makes N-1 agent pods, m2..mN, for netns(\"r\", #{on: \"m2\"})",
        ));
    }
    if args.machines > MAX_MACHINES {
        return Err(usage(
            format!(
                "--machines {} is more than nslab kube writes (at most {MAX_MACHINES})",
                args.machines
            ),
            &format!(
                "the driver's --machines list is one argument, and Linux takes at most 128 KiB in one: give at most {MAX_MACHINES}"
            ),
        ));
    }
    let image = args.image.trim();
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return Err(usage(
            format!("'{}' is not a container image", args.image),
            "give the image agents and driver run, with nslab on its PATH, e.g. --image registry.example/nslab:0.1",
        ));
    }
    let names = Names {
        base: base_name(args.name.as_deref(), &args.file)?,
        namespace: label(&args.namespace).ok_or_else(|| {
            usage(
                format!("'{}' is not a Kubernetes namespace name", args.namespace),
                "a namespace is a DNS-1123 label: lowercase letters, digits and '-', at most 63, e.g. --namespace labs",
            )
        })?,
    };
    let script = Script::load(&args.file)?;
    let ast = super::check::script_ok(&script)?;
    local_imports(&ast, &script.shown)?;
    let token = match &args.token_file {
        Some(f) => read_token(f)?,
        None => fresh_token()?,
    };
    let file = script_key(&args.file, &names.base);
    Ok(vec![
        secret(&names, &token),
        config_map(&names, &file, &script.text),
        service(&names),
        statefulset(&names, image, args.machines - 1),
        job(&names, image, args.machines - 1, &file, &args.set),
    ])
}

fn usage(message: String, help: &str) -> Failure {
    Failure::usage(LabError::new(message, help))
}

fn secret(n: &Names, token: &[u8]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": n.metadata(n.secret(), "token"),
        "type": "Opaque",
        "data": {TOKEN_KEY: base64(token)},
    })
}

fn config_map(n: &Names, file: &str, text: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": n.metadata(n.config(), "script"),
        "data": {file: text},
    })
}

/// Headless: each agent pod gets its own DNS name, no virtual IP. The
/// VXLAN port is listed so that network policies and readers see it; the
/// tunnels go pod to pod.
fn service(n: &Names) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": n.metadata(n.service(), "agent"),
        "spec": {
            "clusterIP": "None",
            "selector": n.labels("agent"),
            "ports": ports(true),
        },
    })
}

fn ports(service: bool) -> Value {
    let (port, vxlan) = if service {
        (
            json!({"name": "agent", "port": AGENT_PORT, "targetPort": AGENT_PORT, "protocol": "TCP"}),
            json!({"name": "vxlan", "port": VXLAN_PORT, "targetPort": VXLAN_PORT, "protocol": "UDP"}),
        )
    } else {
        (
            json!({"name": "agent", "containerPort": AGENT_PORT, "protocol": "TCP"}),
            json!({"name": "vxlan", "containerPort": VXLAN_PORT, "protocol": "UDP"}),
        )
    };
    json!([port, vxlan])
}

fn token_volume(n: &Names) -> Value {
    // 0400: only root in the pod reads it.
    json!({"name": "token", "secret": {"secretName": n.secret(), "defaultMode": 0o400}})
}

fn token_mount() -> Value {
    json!({"name": "token", "mountPath": TOKEN_DIR, "readOnly": true})
}

fn token_path() -> String {
    format!("{TOKEN_DIR}/{TOKEN_KEY}")
}

/// Each pod is a machine: its own network namespace (not the node's), in
/// which nslab makes namespaces, links and VXLAN tunnels, hence privileged.
fn statefulset(n: &Names, image: &str, agents: u32) -> Value {
    let command = json!([
        "nslab",
        "agent",
        "--listen",
        format!("0.0.0.0:{AGENT_PORT}"),
        "--token-file",
        token_path(),
    ]);
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": n.metadata(n.statefulset(), "agent"),
        "spec": {
            "serviceName": n.service(),
            "replicas": agents,
            // The agents are peers: start them together, not one by one.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": n.labels("agent")},
            "template": {
                "metadata": {"labels": n.labels("agent")},
                "spec": {
                    "hostNetwork": false,
                    "automountServiceAccountToken": false,
                    // One agent per node where there are enough nodes: the
                    // point of more machines is more CPU.
                    "topologySpreadConstraints": [{
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": n.labels("agent")},
                    }],
                    "containers": [{
                        "name": "agent",
                        "image": image,
                        "command": command,
                        "ports": ports(false),
                        "securityContext": {"privileged": true},
                        "readinessProbe": {"tcpSocket": {"port": AGENT_PORT}, "periodSeconds": 2},
                        "volumeMounts": [token_mount()],
                    }],
                    "volumes": [token_volume(n)],
                },
            },
        },
    })
}

/// The driver, m1: `nslab run` of the script against every agent by DNS name.
fn job(n: &Names, image: &str, agents: u32, file: &str, set: &[(String, String)]) -> Value {
    let machines: Vec<String> = (0..agents)
        .map(|i| format!("m{}={}:{AGENT_PORT}", i + 2, n.agent_host(i)))
        .collect();
    let mut command: Vec<String> = [
        "nslab",
        "run",
        &format!("{SCRIPT_DIR}/{file}"),
        "--machines",
        &machines.join(","),
        "--token-file",
        &token_path(),
    ]
    .map(String::from)
    .to_vec();
    for (k, v) in set {
        command.push("--set".into());
        command.push(format!("{k}={v}"));
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": n.metadata(n.job(), "driver"),
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "template": {
                "metadata": {"labels": n.labels("driver")},
                "spec": {
                    "restartPolicy": "Never",
                    "hostNetwork": false,
                    "automountServiceAccountToken": false,
                    "containers": [{
                        "name": "driver",
                        "image": image,
                        "command": command,
                        "ports": [{"name": "vxlan", "containerPort": VXLAN_PORT, "protocol": "UDP"}],
                        "securityContext": {"privileged": true},
                        "volumeMounts": [
                            token_mount(),
                            {"name": "script", "mountPath": SCRIPT_DIR, "readOnly": true},
                        ],
                    }],
                    "volumes": [
                        token_volume(n),
                        {"name": "script", "configMap": {"name": n.config()}},
                    ],
                },
            },
        },
    })
}

/// `--name` as given (it must be a label already), else the script's file
/// name made one.
fn base_name(name: Option<&str>, file: &Path) -> Result<String, Failure> {
    match name {
        Some(n) => match label(n) {
            Some(l) if n.len() <= MAX_BASE => Ok(l),
            _ => Err(usage(
                format!("'{n}' cannot name Kubernetes objects"),
                &format!(
                    "--name is a DNS-1123 label of at most {MAX_BASE} bytes: lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. --name ospf-lab"
                ),
            )),
        },
        None => {
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let made: String = stem
                .chars()
                .map(|c| match c.to_ascii_lowercase() {
                    c @ ('a'..='z' | '0'..='9') => c,
                    _ => '-',
                })
                .collect();
            let clipped: String = made.trim_matches('-').chars().take(MAX_BASE).collect();
            // A clip may end on a dash.
            Ok(label(clipped.trim_end_matches('-')).unwrap_or_else(|| "lab".into()))
        }
    }
}

/// `s` if it is a DNS-1123 label (RFC 1123: lowercase letters, digits and
/// '-', starting and ending with a letter or digit, 1 to 63 bytes).
fn label(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    ok.then(|| s.to_string())
}

/// The script's file name in the ConfigMap, and so in the driver: kept
/// when Kubernetes takes it as a key, because `nslab run` names the lab
/// after it.
fn script_key(file: &Path, base: &str) -> String {
    let name = file.file_name().and_then(|s| s.to_str()).unwrap_or("");
    let ok = !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        name.to_string()
    } else {
        format!("{base}.rhai")
    }
}

/// Only the script goes into the ConfigMap: a module it imports from
/// beside it would be missing in the driver's pod.
fn local_imports(ast: &AST, shown: &str) -> Result<(), Failure> {
    let mut found: Option<String> = None;
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(x, ..))) = path.last()
            && let Expr::StringConstant(p, _) = &x.0
            && crate::stdlib::source(p).is_none()
            && !p.starts_with('/')
        {
            found.get_or_insert_with(|| p.to_string());
        }
        true
    });
    match found {
        None => Ok(()),
        Some(p) => Err(Failure::from(LabError::new(
            format!("{shown} imports \"{p}\", a file beside it: the Job gets only the script"),
            "copy the module's functions into the script, or build the module into the image and import it by its absolute path",
        ))),
    }
}

/// The token as given; a Secret holds any bytes, but an empty token would
/// let anyone in.
fn read_token(f: &Path) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(f).map_err(|e| {
        usage(
            format!("cannot read the token file {}: {e}", f.display()),
            "give a file holding the token, or leave --token-file out for a fresh random one",
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(usage(
            format!("the token file {} is empty", f.display()),
            "write a token into it (e.g. head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > token), or leave --token-file out for a fresh random one",
        ));
    }
    if bytes.len() > 64 * 1024 {
        return Err(usage(
            format!(
                "the token file {} holds {} bytes; a token is short",
                f.display(),
                bytes.len()
            ),
            "give the file that holds the token itself",
        ));
    }
    Ok(bytes)
}

/// 32 random bytes from the kernel, as 64 hex digits (a token a person can
/// copy).
fn fresh_token() -> Result<Vec<u8>, Failure> {
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(|e| {
            Failure::from(LabError::new(
                format!("cannot read /dev/urandom for a token: {e}"),
                "give one with --token-file FILE",
            ))
        })?;
    Ok(raw
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect())
}

/// Standard base64 with padding (RFC 4648 §4), as a Secret's `data` wants.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The value as YAML with the keys people look for first (apiVersion, kind,
/// metadata; a container's name), the rest in alphabetical order.
fn ordered(v: &Value) -> serde_norway::Value {
    use serde_norway::Value as Y;
    const FIRST: [&str; 5] = ["apiVersion", "kind", "metadata", "name", "namespace"];
    match v {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Y::Number(u.into()),
            (None, Some(i)) => Y::Number(i.into()),
            _ => Y::Number(n.as_f64().unwrap_or(0.0).into()),
        },
        Value::String(s) => Y::String(s.clone()),
        Value::Array(a) => Y::Sequence(a.iter().map(ordered).collect()),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| {
                (
                    FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()),
                    k.as_str(),
                )
            });
            Y::Mapping(
                keys.into_iter()
                    .map(|k| (Y::String(k.clone()), ordered(&m[k])))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        // RFC 4648 §10's test vectors.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain}");
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn names_become_dns_labels() {
        let made = |f: &str| base_name(None, Path::new(f)).ok().unwrap();
        assert_eq!(made("scripts/Two_Machines.rhai"), "two-machines");
        assert_eq!(made("--x--.rhai"), "x");
        assert_eq!(made("___.rhai"), "lab");
        let long = made(&format!("{}.rhai", "a".repeat(100)));
        assert_eq!(long.len(), MAX_BASE);
        // A clip that ends on a dash drops it.
        let clipped = made(&format!("{}-b.rhai", "a".repeat(MAX_BASE - 1)));
        assert_eq!(clipped, "a".repeat(MAX_BASE - 1));
        assert_eq!(
            base_name(Some("ospf-lab"), Path::new("x.rhai")).ok(),
            Some("ospf-lab".into())
        );
        for bad in ["Ospf", "-a", "a_b", "", &"a".repeat(MAX_BASE + 1)] {
            assert!(base_name(Some(bad), Path::new("x.rhai")).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_fresh_hex() {
        let (a, b) = (fresh_token().ok().unwrap(), fresh_token().ok().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a, b);
    }

    #[test]
    fn a_file_name_kubernetes_refuses_as_a_key_is_replaced() {
        assert_eq!(
            script_key(Path::new("d/two-machines.rhai"), "x"),
            "two-machines.rhai"
        );
        assert_eq!(script_key(Path::new("d/a b.rhai"), "a-b"), "a-b.rhai");
    }
}
