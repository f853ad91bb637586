//! Processes: exec, spawn, shell, and the unit they all run in.

use super::events::Event;
use super::ledger::Undo;
use std::os::fd::AsFd;

use super::journal::Record;
use super::{Lab, LabError, NsId, Result, net_err};
use crate::lab::steps::procs::{
    KillCgroup, MAX_SHOWN_COMMAND, RemoveOutputs, StopProcess, outputs_dir,
};
use crate::net::unit::Unit;
use crate::net::{exec, unit};

impl Lab {
    /// The unit the lab's processes run in, made before the first one
    /// starts: in host mode a cgroup of the lab's own, journaled first so
    /// that `nslab down` can end it after a crash; in isolated mode, or when
    /// no cgroup can be made (no cgroup v2, a read-only one), a PID
    /// namespace, which needs no journal: it dies with nslab.
    pub(super) fn unit(&mut self) -> Result<()> {
        if self.running.unit().is_none() {
            // An attached session's processes end with it, as a kept lab's
            // end with the lab's process: a PID namespace does that, and a
            // cgroup named after this pid would not pass the journal's
            // check (it names the lab's own process).
            let cgroup = match unit::cgroup_path(self.id.name())
                .filter(|_| !self.id.is_isolated() && !self.id.is_attached())
            {
                Some(path) => {
                    let undo = Undo::KillCgroup(KillCgroup {
                        path: path.display().to_string(),
                    });
                    self.recorded(None, undo, |_| {
                        unit::Cgroup::create(&path).map_err(net_err("create the lab's cgroup"))
                    })
                    .ok()
                }
                None => None,
            };
            let made = match cgroup {
                Some(c) => Unit::Cgroup(c),
                None => Unit::PidNs(unit::PidNs::start().map_err(|e| {
                    LabError::kernel(
                        "make a PID namespace for the lab's processes",
                        "nslab's own setup",
                        e,
                    )
                })?),
            };
            self.running.set_unit(made);
        }
        Ok(())
    }

    /// `ip netns exec NS CMD…`, output captured.
    pub fn exec(
        &mut self,
        id: NsId,
        argv: &[String],
        opts: &exec::RunOpts,
    ) -> Result<exec::Output> {
        if let Some(r) = self.remote_exec(id, argv, opts) {
            return r;
        }
        self.settle();
        self.unit()?;
        let private = self.private_for(id)?;
        let fd = self.sp.fd(id).map_err(net_err("open namespace"))?;
        let unit = made(self.running.unit())?;
        let out = exec::run(fd.as_fd(), argv, private, unit, opts, self.id.cancel());
        self.check_cancel()?;
        let out = out.map_err(|e| self.start_err("run a command", id, argv, e))?;
        if out.timed_out {
            let ms = opts.timeout.map(|t| t.as_millis()).unwrap_or(0);
            return Err(LabError::new(
                format!(
                    "command '{}' did not finish within {ms} ms, and was killed",
                    shown_command(argv)
                ),
                "give it more time (a larger timeout_ms), or start a program that runs on with ns.spawn(…)",
            ));
        }
        self.tell(Event::Ran {
            ns: id,
            argv,
            opts,
            code: out.code,
        });
        Ok(out)
    }

    /// A command that could not start: a missing program in words.
    pub(super) fn start_err(
        &self,
        doing: &str,
        id: NsId,
        argv: &[String],
        e: crate::net::NetError,
    ) -> LabError {
        match e.raw_errno() {
            Some(libc::ENOENT) => LabError::new(
                format!(
                    "program '{}' not found",
                    argv.first().map(String::as_str).unwrap_or("")
                ),
                "install it, or give its full path; a string runs through `sh -c`, an array runs the program directly",
            ),
            _ => LabError::kernel(doing, &self.where_(id), e),
        }
    }

    /// A background process in `ns` (a server, a capture), stopped at
    /// teardown before its namespace is deleted, unless the lab is kept:
    /// then it runs on until `nslab down`. Its output goes to files in
    /// /run/nslab/LAB.out. On a placed namespace the agent there starts
    /// it (and stops it with its part of the lab).
    pub fn spawn(&mut self, id: NsId, argv: &[String]) -> Result<ProcId> {
        if let Some(r) = self.remote_spawn(id, argv) {
            return r;
        }
        self.spawn_here(id, argv).map(ProcId::Here)
    }

    /// `spawn` in a namespace of this machine: its number.
    fn spawn_here(&mut self, id: NsId, argv: &[String]) -> Result<usize> {
        self.settle();
        self.unit()?;
        let private = self.private_for(id)?;
        let dir = self.outputs()?;
        let n = format!("{}-{}", std::process::id(), self.running.next_output());
        let (out, err) = (
            dir.join(format!("{n}.stdout")),
            dir.join(format!("{n}.stderr")),
        );
        let fd = self.sp.fd(id).map_err(net_err("open namespace"))?;
        let unit = made(self.running.unit())?;
        let p = exec::spawn(fd.as_fd(), argv, private, unit, &out, &err)
            .map_err(|e| self.start_err("start a process", id, argv, e))?;
        let pid = p.child.id();
        let start = exec::start_time(pid).unwrap_or(0);
        let stop = StopProcess {
            pid,
            start,
            ns: Some(self.sp.name(id).to_string()),
            cmd: Some(shown_for_ls(argv)),
        };
        // Always recorded: a process pins its namespace, and outlives it.
        self.recorded(None, Undo::StopProcess(stop), |_| Ok(()))?;
        let idx = self.running.add_proc(p);
        self.tell(Event::Spawned { ns: id, argv, idx });
        Ok(idx)
    }

    /// The directory the lab's processes write their output to, made (and
    /// journaled) with the first one. An attached session shares the kept
    /// lab's: the files carry the pid of the nslab that started them.
    fn outputs(&mut self) -> Result<std::path::PathBuf> {
        if let Some(d) = self.running.outputs() {
            return Ok(d.to_path_buf());
        }
        let dir = outputs_dir(self.id.name());
        let undo = Undo::RemoveOutputs(RemoveOutputs {
            dir: dir.display().to_string(),
        });
        self.recorded(None, undo, |_| make_outputs_dir(&dir))?;
        self.running.set_outputs(dir.clone());
        Ok(dir)
    }

    /// (pid, running, stdout, stderr) of spawned process `idx`.
    pub fn process(&mut self, idx: usize) -> Option<(u32, bool, String, String)> {
        let p = self.running.proc_mut(idx)?;
        let running = matches!(p.child.try_wait(), Ok(None));
        let out = exec::output(&p.stdout);
        let err = exec::output(&p.stderr);
        Some((p.child.id(), running, out, err))
    }

    /// (pid, running, stdout, stderr) of spawned process `p`, wherever it
    /// runs.
    pub fn process_state(&mut self, p: ProcId) -> Result<(u32, bool, String, String)> {
        match p {
            ProcId::Here(idx) => self.process(idx).ok_or_else(|| {
                LabError::new("no such process", "use the handle ns.spawn() returned")
            }),
            ProcId::Placed(idx) => self.remote_process(idx),
        }
    }

    /// Stops spawned process `p` now.
    pub fn stop_process(&mut self, p: ProcId) -> Result<()> {
        let idx = match p {
            ProcId::Here(idx) => idx,
            ProcId::Placed(idx) => return self.remote_stop(idx),
        };
        if let Some(p) = self.running.proc_mut(idx) {
            exec::kill(&mut p.child);
            self.tell(Event::Stopped { idx });
        }
        Ok(())
    }

    /// An interactive shell in `ns` (`ip netns exec NS bash`) on this
    /// terminal; returns its exit code.
    pub fn shell(&mut self, id: NsId) -> Result<i64> {
        self.unplanned("ns.shell()")?;
        self.settle();
        if !exec::has_terminal() {
            return Err(LabError::new(
                "ns.shell() needs a terminal, and nslab's input or output is not one",
                "run the script from an interactive terminal; in scripts and CI use ns.exec(\"cmd\") instead",
            ));
        }
        let name = self.sp.name(id).to_string();
        let prog = std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        self.unit()?;
        // The terminal is the shell's until it exits: no progress line on it.
        let _paused = crate::progress::pause();
        crate::say::say!("nslab: shell in namespace '{name}'; `exit` returns to the script");
        let private = self.private_for(id)?;
        let fd = self.sp.fd(id).map_err(net_err("open namespace"))?;
        let unit = made(self.running.unit())?;
        let argv = [prog];
        let env = [("NSLAB_NETNS", name.as_str())];
        let code = exec::interactive(fd.as_fd(), &argv, &env, private, unit, self.id.cancel());
        self.check_cancel()?;
        code.map_err(|e| self.start_err("start a shell", id, &argv, e))
    }

    /// Stops every process the lab started: each spawned one as its undo
    /// step would (SIGTERM to its group, a short grace, SIGKILL), then the
    /// unit with whatever is left in it (background jobs of `exec`, what a
    /// process started in a session of its own), reaping nslab's children.
    /// The cgroup's undo step finds it gone afterwards.
    pub(super) fn end_processes(&mut self) -> Vec<LabError> {
        for p in self.running.procs_mut() {
            if matches!(p.child.try_wait(), Ok(None)) {
                let pid = p.child.id();
                if let Some(start) = exec::start_time(pid) {
                    let _ = exec::stop(pid, start);
                }
            }
        }
        let Some(u) = self.running.take_unit() else {
            return Vec::new();
        };
        // Killed children are reaped right away: a PID namespace's init
        // finishes dying only once they are.
        let procs = self.running.procs_mut();
        let killed = u.kill(|| {
            for p in procs.iter_mut() {
                let _ = p.child.wait();
            }
        });
        match killed {
            Ok(()) => Vec::new(),
            Err(e) => vec![LabError::kernel("stop the lab's processes", "teardown", e)],
        }
    }
}

/// Makes `dir` (0700), or takes the one there if it is a directory of
/// this user's that nobody else can write (an attached session's lab, a
/// lab of the same name whose `down` could not remove it).
fn make_outputs_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let refused = |why: String| {
        LabError::new(
            format!(
                "cannot keep the output of the lab's processes in {}: {why}",
                dir.display()
            ),
            format!(
                "nslab makes that directory itself; remove what is there (rm -r {})",
                dir.display()
            ),
        )
    };
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refused(e.to_string())),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| refused(e.to_string()))?;
    if !meta.is_dir() {
        return Err(refused("it is not a directory".into()));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        return Err(refused("others own it or can write it".into()));
    }
    Ok(())
}

/// A process the lab spawned: here (its number in the lab's list), or on
/// a placed namespace by the agent of that machine (a number of the
/// driver's, see lab/remote/node.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcId {
    Here(usize),
    Placed(usize),
}

/// A kept lab's program still running, as its journal names it (for
/// `nslab ls`).
pub struct Program {
    pub pid: u32,
    /// Its namespace (`host`: the one nslab started in).
    pub ns: String,
    pub command: String,
}

/// The programs lab `rec` started with `spawn` that still run: the pid
/// its journal names, still the process that started then (its start
/// time), as `nslab down` checks before it stops one.
pub fn programs(rec: &Record) -> Vec<Program> {
    rec.steps
        .iter()
        .filter_map(|s| match s {
            Undo::StopProcess(p) if exec::runs(p.pid, p.start) => Some(Program {
                pid: p.pid,
                ns: p.ns.clone().unwrap_or_else(|| "?".into()),
                command: p.cmd.clone().unwrap_or_default(),
            }),
            _ => None,
        })
        .collect()
}

/// The command as `nslab ls` shows it, clipped to what a journal keeps.
fn shown_for_ls(argv: &[String]) -> String {
    let mut c = shown_command(argv);
    if c.len() > MAX_SHOWN_COMMAND {
        let mut end = MAX_SHOWN_COMMAND - '…'.len_utf8();
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        c.truncate(end);
        c.push('…');
    }
    c.replace('\0', " ")
}

/// The unit `Lab::unit` made.
pub(super) fn made(unit: &Option<Unit>) -> Result<&Unit> {
    unit.as_ref().ok_or_else(|| {
        LabError::new(
            "the lab's process unit is missing",
            "this is a bug; please report it",
        )
    })
}

/// A command as the user wrote it: the line given to `sh -c`, or the words.
pub(super) fn shown_command(argv: &[String]) -> String {
    match argv {
        [sh, c, line] if sh == "sh" && c == "-c" => line.clone(),
        _ => argv.join(" "),
    }
}
