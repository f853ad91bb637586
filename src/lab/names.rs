//! Checks on names and values made before anything reaches the kernel.

use super::error::{LabError, Result};

/// Linux interface names: 1..=15 bytes (IFNAMSIZ - 1), no '/', ':' or
/// whitespace, not "." or "..", and no '%': the kernel reads "%d" as "pick
/// a free number", so the link would get a name the script never said (and
/// teardown would look for the wrong one).
pub fn check_ifname(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(LabError::new(
            "an interface name cannot be empty",
            "give the link a name such as \"veth0\"",
        ));
    }
    if name.len() > 15 {
        return Err(LabError::new(
            format!(
                "interface name '{name}' is {} bytes long; Linux allows at most 15",
                name.len()
            ),
            format!("use a shorter name, e.g. \"{}\"", shorten(name)),
        ));
    }
    if name.contains('%') {
        return Err(LabError::new(
            format!("'{name}' is not a valid interface name: it contains '%'"),
            format!(
                "the kernel reads '%d' in a name as \"pick a free number\" and would choose the name itself; give the exact name, e.g. \"{}\"",
                example_without_percent(name)
            ),
        ));
    }
    if name == "." || name == ".." || name.chars().any(forbidden) {
        return Err(LabError::new(
            format!("'{name}' is not a valid interface name"),
            "interface names cannot contain '/', ':' or spaces, and cannot be '.' or '..'",
        ));
    }
    Ok(())
}

/// Characters no interface name may hold ('%' is refused separately).
fn forbidden(c: char) -> bool {
    c == '/' || c == ':' || c.is_whitespace()
}

/// A suggestion for a name that is too long: its valid characters, cut to
/// at most 15 *bytes* on a character boundary (a name of multibyte
/// characters cut to 15 characters would still be too long).
fn shorten(name: &str) -> String {
    shorten_to(name, 15)
}

fn shorten_to(name: &str, max: usize) -> String {
    let mut out = String::new();
    for c in name.chars().filter(|&c| !forbidden(c) && c != '%') {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// "br%d" -> "br0": what the script probably meant.
fn example_without_percent(name: &str) -> String {
    let s = name.replace("%d", "0").replace('%', "");
    if s.is_empty() {
        "veth0".into()
    } else {
        shorten(&s)
    }
}

/// Namespace names become files under /run/netns.
pub fn check_nsname(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(LabError::new(
            format!("'{name}' is not a valid namespace name"),
            "namespace names become files under /run/netns: use letters, digits, '-' and '_', without '/'",
        ));
    }
    if name.len() > 255 {
        return Err(LabError::new(
            "namespace name is longer than 255 bytes",
            "use a shorter name",
        ));
    }
    if name == "host" {
        return Err(LabError::new(
            "'host' is reserved for the namespace nslab starts in",
            "use host() to get it, or pick another name for a new namespace",
        ));
    }
    Ok(())
}

/// A namespace name under the lab's prefix (`kname`): the same rules,
/// said in the script's terms.
pub fn check_prefixed_nsname(name: &str, kname: &str) -> Result<()> {
    if kname.len() > 255 {
        return Err(LabError::new(
            format!(
                "namespace '{name}' would be '{}…' under this lab's prefix: {} bytes; at most 255",
                crate::text::clip(kname, 40),
                kname.len()
            ),
            "use a shorter --prefix, or a shorter name",
        ));
    }
    check_nsname(kname)
}

/// A link name the lab makes in the host under its prefix (`kname`):
/// at most 15 bytes there too, said in the script's terms.
pub fn check_prefixed_ifname(name: &str, kname: &str) -> Result<()> {
    if kname.len() > 15 {
        let room = 15usize.saturating_sub(kname.len() - name.len());
        return Err(LabError::new(
            format!(
                "link '{name}' in the host would be '{kname}' under this lab's prefix: {} bytes; Linux allows at most 15",
                kname.len()
            ),
            if room == 0 {
                "the prefix leaves no room for a link name in the host: use a shorter --prefix"
                    .to_string()
            } else {
                format!(
                    "use a shorter --prefix, or a link name of at most {room} bytes, e.g. \"{}\"",
                    shorten_to(name, room)
                )
            },
        ));
    }
    check_ifname(kname)
}

/// Letters, digits, '-', '_' and '.', not starting with '-' or '.' (a
/// command-line flag, a hidden file): what lab names, prefixes and host
/// names may hold.
fn plain_name(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !s.starts_with(['-', '.'])
}

/// Prefix checks: a prefix goes into namespace and link names, so it may
/// hold only what both allow, and leave room for a name.
pub fn check_prefix(prefix: &str) -> Result<()> {
    let help = "a prefix goes before the lab's namespace and host link names (and its lab name): use letters, digits, '-', '_' and '.', not first '-' or '.', at most 12 bytes, e.g. --prefix b-";
    let ok = !prefix.is_empty() && prefix.len() <= 12 && plain_name(prefix);
    if !ok {
        return Err(LabError::new(
            format!(
                "'{}' is not a valid prefix",
                crate::text::clip(&prefix.escape_debug().to_string(), 40)
            ),
            help,
        ));
    }
    Ok(())
}

/// Lab names become /run/nslab/NAME.json and part of the nf_tables table
/// `nslab-NAME`: letters, digits, '-', '_' and '.', at most 64 bytes, not
/// starting with '-' or '.' (a command-line flag, a hidden file).
pub fn check_labname(name: &str) -> Result<()> {
    let help = "lab names become file names under /run/nslab: use letters, digits, '-', '_' and '.', e.g. --name lab1";
    if name.is_empty() {
        return Err(LabError::new("a lab name cannot be empty", help));
    }
    if name.len() > 64 {
        return Err(LabError::new(
            format!("lab name '{name}' is {} bytes long; at most 64", name.len()),
            help,
        ));
    }
    if !plain_name(name) {
        return Err(LabError::new(
            format!("'{name}' is not a valid lab name"),
            help,
        ));
    }
    Ok(())
}

/// `net.*` sysctl keys only: nslab changes network settings, nothing else.
pub fn check_sysctl_key(key: &str) -> Result<()> {
    let ok_chars = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if !(key.starts_with("net.") || key.starts_with("net/")) || !ok_chars || key.contains("..") {
        return Err(LabError::new(
            format!("'{key}' is not a network sysctl"),
            "ns.sysctl() takes keys under net., e.g. \"net.ipv4.ip_forward\"",
        ));
    }
    Ok(())
}

/// A sysctl's value as `sysctl -w` takes it: one line (fields apart by
/// spaces or tabs, as in `net.ipv4.ip_local_port_range`), of a sane length.
pub fn check_sysctl_value(key: &str, value: &str) -> Result<()> {
    if value.len() > 4096 || value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(LabError::new(
            format!(
                "'{}' is not a value for {key}: a sysctl takes one line",
                crate::text::clip(&value.escape_debug().to_string(), 60)
            ),
            "give the value without newlines or other control characters, e.g. \"1\" or \"32768 60999\"",
        ));
    }
    Ok(())
}

/// "02:00:00:00:00:01" -> bytes.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        LabError::new(
            format!("'{}' is not a MAC address", crate::text::clip(s, 40)),
            "write it as six hex bytes with colons, e.g. \"02:00:00:00:00:01\"",
        )
    };
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

/// Bytes -> "02:00:00:00:00:01".
pub fn format_mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A node's private directory (`netns(name, #{dirs: [...]})`): an absolute
/// path written the one way the kernel would resolve it (no `.`, `..`, `//`
/// or trailing `/`), not `/` itself, at most 4095 bytes, no NUL.
pub fn check_node_dir(path: &str) -> Result<()> {
    let help = "give an absolute path written plainly, e.g. dirs: [\"/etc/frr\", \"/var/run/frr\"]";
    if !path.starts_with('/') {
        return Err(LabError::new(
            format!("private directory '{path}' is not an absolute path"),
            help,
        ));
    }
    if path == "/" {
        return Err(LabError::new(
            "'/' cannot be a node's private directory",
            "a node gets private copies of single directories: name the ones its programs write, e.g. dirs: [\"/etc/frr\"]",
        ));
    }
    let plain = path[1..]
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != "..");
    if !plain || path.contains('\0') || path.len() > 4095 {
        return Err(LabError::new(
            format!("private directory '{path}' is not a plain absolute path"),
            help,
        ));
    }
    Ok(())
}

/// A host name (`netns(name, #{hostname: …})`): 1..=64 bytes (the kernel's
/// limit) of letters, digits, '-', '_' and '.', not starting with '-' or '.'.
pub fn check_hostname(name: &str) -> Result<()> {
    let help = "use letters, digits, '-' and '.', at most 64 bytes, e.g. hostname: \"r1\"";
    if name.is_empty() {
        return Err(LabError::new("a host name cannot be empty", help));
    }
    if name.len() > 64 {
        return Err(LabError::new(
            format!(
                "host name '{name}' is {} bytes long; Linux allows at most 64",
                name.len()
            ),
            help,
        ));
    }
    if !plain_name(name) {
        return Err(LabError::new(
            format!("'{name}' is not a valid host name"),
            help,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_bytes_is_the_limit() {
        assert!(check_ifname("abcdefghijklmno").is_ok());
        let e = check_ifname("abcdefghijklmnop").unwrap_err();
        assert!(e.message.contains("16 bytes"), "{}", e.message);
    }

    #[test]
    fn a_suggested_shorter_name_fits_in_15_bytes() {
        // 9 two-byte characters: 18 bytes, 9 chars.
        let e = check_ifname("ééééééééé").unwrap_err();
        assert!(e.message.contains("18 bytes"), "{}", e.message);
        let help = e.help.unwrap();
        let suggested = help.split('"').nth(1).unwrap();
        assert_eq!(suggested, "ééééééé", "{help}");
        assert!(check_ifname(suggested).is_ok());
        // A cut inside a 3-byte character backs off to the boundary.
        let e = check_ifname("abcdefghijklmn€x").unwrap_err();
        let help = e.help.unwrap();
        assert_eq!(help.split('"').nth(1).unwrap(), "abcdefghijklmn", "{help}");
    }

    #[test]
    fn percent_is_refused_with_the_reason() {
        for n in ["hbr%d", "x%d", "a%b", "%"] {
            let e = check_ifname(n).unwrap_err();
            assert!(e.message.contains("contains '%'"), "{}", e.message);
            let help = e.help.unwrap();
            assert!(help.contains("choose the name itself"), "{help}");
            let suggested = help.split('"').nth(3).unwrap();
            assert!(check_ifname(suggested).is_ok(), "{help}");
        }
    }

    #[test]
    fn slashes_are_refused() {
        assert!(check_ifname("a/b").is_err());
        assert!(check_nsname("a/b").is_err());
        assert!(check_nsname("ns1").is_ok());
    }

    #[test]
    fn prefixes_fit_in_names() {
        assert!(check_prefix("b-").is_ok());
        assert!(check_prefix("copy2_").is_ok());
        for bad in ["", "-x", ".x", "a/b", "a b", "a%", "thirteen-byte"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_prefixed_link_name_is_checked_with_the_room_left() {
        assert!(check_prefixed_ifname("up0", "b-up0").is_ok());
        let e = check_prefixed_ifname("uplink-0", "copy-two-uplink-0").unwrap_err();
        assert!(e.message.contains("17 bytes"), "{}", e.message);
        let help = e.help.unwrap();
        assert!(help.contains("at most 6 bytes, e.g. \"uplink\""), "{help}");
        let e = check_prefixed_ifname("x", "fifteen-bytes-px").unwrap_err();
        assert!(e.help.unwrap().contains("no room"));
    }

    #[test]
    fn lab_names_are_plain_file_names() {
        assert!(check_labname("lab-1_a.b").is_ok());
        for bad in [
            "",
            "../../tmp/escaped",
            "a/b",
            ".hidden",
            "-x",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(check_labname(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_net_sysctls() {
        assert!(check_sysctl_key("net.ipv4.ip_forward").is_ok());
        assert!(check_sysctl_key("kernel.panic").is_err());
        assert!(check_sysctl_key("net/../kernel/panic").is_err());
    }
}
