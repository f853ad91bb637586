//! Routing table names, as iproute2 reads them (`ip route add … table NAME`).

use std::path::{Path, PathBuf};

/// The files iproute2 reads table names from, in its order: the admin's
/// (/etc) first, then the distribution's (/usr/share, /usr/lib). Each
/// directory's rt_tables.d/*.conf come after its rt_tables.
const DIRS: [&str; 3] = ["/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"];

/// The names iproute2 knows without any file.
const BUILT_IN: [(&str, u32); 3] = [("main", 254), ("local", 255), ("default", 253)];

/// The files that may name tables, in the order they are read.
pub fn table_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in DIRS {
        let dir = Path::new(dir);
        out.push(dir.join("rt_tables"));
        let mut confs: Vec<PathBuf> = std::fs::read_dir(dir.join("rt_tables.d"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        confs.sort();
        out.extend(confs);
    }
    out
}

/// The id of table `name` in the text of an rt_tables file: lines of
/// "ID NAME", `#` comments, ids in decimal or 0x hex.
pub fn find_in(text: &str, name: &str) -> Option<u32> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(id), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        if n != name {
            continue;
        }
        let id = match id.strip_prefix("0x").or_else(|| id.strip_prefix("0X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => id.parse().ok(),
        };
        if id.is_some() {
            return id;
        }
    }
    None
}

/// The id of the table called `name`; else the files that were looked in
/// (those that exist), for the error.
pub fn table_id(name: &str) -> Result<u32, Vec<PathBuf>> {
    if let Some((_, id)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
        return Ok(*id);
    }
    let mut looked = Vec::new();
    for f in table_files() {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if let Some(id) = find_in(&text, name) {
            return Ok(id);
        }
        looked.push(f);
    }
    Err(looked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_as_iproute2_writes_them() {
        let text = "#\n# reserved values\n255\tlocal\n254 main\n\n100 isp2 # second uplink\n0x20 hex\nbad line\n";
        assert_eq!(find_in(text, "isp2"), Some(100));
        assert_eq!(find_in(text, "hex"), Some(32));
        assert_eq!(find_in(text, "main"), Some(254));
        assert_eq!(find_in(text, "line"), None);
        assert_eq!(find_in(text, "reserved"), None);
    }

    #[test]
    fn built_in_names_need_no_file() {
        assert_eq!(table_id("main"), Ok(254));
        assert_eq!(table_id("local"), Ok(255));
        assert_eq!(table_id("default"), Ok(253));
    }
}
