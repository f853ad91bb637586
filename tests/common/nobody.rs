//! nslab run by an unprivileged user: `nobody` when the tests run as root.
//! The checkout may sit where that user cannot reach (/root), so it runs a
//! copy of the binary (and of the scripts) in a directory of the test's.

use super::tools::tool;
use super::{Dir, Out, bin, out, repo};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `exe` as an unprivileged user: `nobody` when the tests run as root.
pub fn unprivileged(exe: &Path) -> Command {
    if super::is_root() {
        let mut c = tool("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

/// The names of the files in scripts/ (the example scripts), sorted.
pub fn script_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("scripts"))
        .expect("scripts")
        .map(|e| e.expect("scripts"))
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().into_string().expect("a UTF-8 name"))
        .collect();
    names.sort();
    names
}

/// A directory with a copy of nslab in it, for an unprivileged user.
pub struct Nobody {
    pub dir: Dir,
    pub exe: PathBuf,
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A new directory of mode `mode` (0o755: the user may read it, 0o777: and
/// write it) holding a copy of nslab.
pub fn as_nobody(mode: u32) -> Nobody {
    let dir = Dir::new();
    chmod(dir.path(), mode);
    let exe = dir.path().join("nslab");
    // Copied by cp, not std::fs::copy: a file this process holds open for
    // writing is inherited by any child another test thread forks at that
    // moment, and executing it then fails with "Text file busy".
    let cp = Command::new("cp")
        .arg(bin())
        .arg(&exe)
        .status()
        .expect("run cp");
    assert!(cp.success(), "cp {} failed", bin());
    Nobody { dir, exe }
}

impl Nobody {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Copies scripts/ and scripts/lib/ in; returns the scripts'
    /// names, sorted.
    pub fn with_scripts(&self) -> Vec<String> {
        let src = repo().join("scripts");
        let lib = self.path().join("lib");
        std::fs::create_dir(&lib).expect("mkdir lib");
        chmod(&lib, 0o755);
        for e in std::fs::read_dir(src.join("lib")).expect("scripts/lib") {
            let e = e.expect("scripts/lib");
            std::fs::copy(e.path(), lib.join(e.file_name())).expect("copy a module");
        }
        let names = script_names();
        for name in &names {
            std::fs::copy(src.join(name), self.path().join(name)).expect("copy a script");
        }
        names
    }
    /// `nslab ARGS…` as the user, in the directory, with NO_COLOR.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = unprivileged(&self.exe);
        c.args(args).current_dir(self.path()).env("NO_COLOR", "1");
        c
    }
    /// `cmd`, with the user's subordinate ids (200000..265536) granted in
    /// /etc/subuid and /etc/subgid, as `usermod --add-subuids` would: in a
    /// mount namespace of the test's own, where newuidmap reads them (the
    /// machine's files stay as they are). Root only.
    pub fn cmd_with_subids(&self, args: &[&str]) -> Command {
        super::tools::need("newuidmap");
        // A file of its own per command: tests run several at once, and
        // newuidmap must never read one half written.
        let grant = self.path().join(format!("subids-{}", super::marker()));
        std::fs::write(&grant, "nobody:200000:65536\n").expect("write the grant");
        let mut c = tool("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount --bind \"$GRANT\" /etc/subuid && mount --bind \"$GRANT\" /etc/subgid && \
                 exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$EXE\" \"$@\"",
            )
            .arg("nslab")
            .args(args)
            .env("GRANT", &grant)
            .env("EXE", &self.exe)
            .env("NO_COLOR", "1")
            .current_dir(self.path());
        c
    }
    pub fn run(&self, args: &[&str]) -> Out {
        out(self.cmd(args).output().expect("run nslab as the user"))
    }
    /// `run` with an ordinary user's PATH: nft must be found without
    /// /usr/sbin. As root, with subordinate ids granted (`cmd_with_subids`),
    /// as a user who runs routing daemons rootless has them.
    pub fn run_user_path(&self, args: &[&str]) -> Out {
        let mut cmd = if super::is_root() {
            self.cmd_with_subids(args)
        } else {
            self.cmd(args)
        };
        out(cmd
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .output()
            .expect("run nslab as the user"))
    }
}

/// What `sudo nslab` from a user's directory needs: as root, a directory
/// `theirs` in `d` that belongs to `nobody`; None (the test is skipped,
/// and says so) when the tests do not run as root.
pub fn users_dir(d: &Dir) -> Option<PathBuf> {
    if !super::needs_root("") {
        return None;
    }
    let theirs = d.path().join("theirs");
    std::fs::create_dir(&theirs).expect("mkdir theirs");
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("chown theirs");
    Some(theirs)
}
