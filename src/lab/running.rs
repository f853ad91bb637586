//! What the lab runs: packet captures, native servers, the processes it
//! started and the unit they run in, and its ICMP sockets. All of them pin
//! the namespaces they are in, so they stop before those go.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::capture;
use super::space::NsId;
use crate::net::exec;
use crate::net::probe::Listener;
use crate::net::unit::Unit;

#[derive(Default)]
pub struct Running {
    /// Packet captures (`link.capture`), stopped first at teardown.
    captures: Vec<capture::Running>,
    /// Native servers (`ns.listen`), stopped first at teardown.
    listeners: Vec<(NsId, Listener)>,
    /// Processes started with `ns.spawn`.
    procs: Vec<exec::Spawned>,
    /// The directory their output goes to, once made.
    outputs: Option<PathBuf>,
    /// Output files numbered so far.
    outputs_given: usize,
    /// Where every process the lab starts runs (made with the first one),
    /// so that all of them, and whatever they start, end with the lab.
    unit: Option<Unit>,
    /// ICMP sockets by (namespace, IPv6?), for ping.
    ping_socks: HashMap<(NsId, bool), crate::net::ping::PingSocket>,
}

impl Running {
    /// A new capture; returns its number.
    pub fn add_capture(&mut self, c: capture::Running) -> usize {
        self.captures.push(c);
        self.captures.len() - 1
    }

    pub fn captures(&self) -> &[capture::Running] {
        &self.captures
    }

    pub fn captures_mut(&mut self) -> &mut [capture::Running] {
        &mut self.captures
    }

    /// A new server; returns its number.
    pub fn listen(&mut self, id: NsId, l: Listener) -> usize {
        self.listeners.push((id, l));
        self.listeners.len() - 1
    }

    pub fn listener(&self, idx: usize) -> Option<&Listener> {
        self.listeners.get(idx).map(|(_, l)| l)
    }

    pub fn ping_sock(&self, id: NsId, v6: bool) -> Option<&crate::net::ping::PingSocket> {
        self.ping_socks.get(&(id, v6))
    }

    pub fn add_ping_sock(&mut self, id: NsId, v6: bool, sock: socket2::Socket) {
        self.ping_socks
            .insert((id, v6), crate::net::ping::PingSocket::new(sock, v6));
    }

    /// A spawned process; returns its number.
    pub fn add_proc(&mut self, p: exec::Spawned) -> usize {
        self.procs.push(p);
        self.procs.len() - 1
    }

    /// A number for the next process's output files, never given twice
    /// (a spawn that failed leaves no process, but its number is used).
    pub fn next_output(&mut self) -> usize {
        self.outputs_given += 1;
        self.outputs_given
    }

    pub fn outputs(&self) -> Option<&Path> {
        self.outputs.as_deref()
    }

    pub fn set_outputs(&mut self, dir: PathBuf) {
        self.outputs = Some(dir);
    }

    /// Were processes spawned?
    pub fn has_procs(&self) -> bool {
        !self.procs.is_empty()
    }

    /// Lets the processes and their unit go without stopping them (a kept
    /// lab's, in a cgroup: they run on after nslab, until `nslab down`).
    pub fn let_processes_go(&mut self) {
        self.procs.clear();
        self.unit = None;
    }

    pub fn proc_mut(&mut self, idx: usize) -> Option<&mut exec::Spawned> {
        self.procs.get_mut(idx)
    }

    pub fn procs_mut(&mut self) -> &mut [exec::Spawned] {
        &mut self.procs
    }

    /// Whether a spawned process is still running.
    pub fn any_proc_running(&mut self) -> bool {
        self.procs
            .iter_mut()
            .any(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    pub fn unit(&self) -> &Option<Unit> {
        &self.unit
    }

    pub fn set_unit(&mut self, u: Unit) {
        self.unit = Some(u);
    }

    pub fn take_unit(&mut self) -> Option<Unit> {
        self.unit.take()
    }

    /// Stops every server and closes every ICMP socket (teardown).
    pub fn close_sockets(&mut self) {
        for (_, l) in &mut self.listeners {
            l.stop();
        }
        self.listeners.clear();
        self.ping_socks.clear();
    }

    /// Namespace `id` is about to go: its servers stop and its ICMP sockets
    /// close, or they would keep it alive.
    pub fn forget_ns(&mut self, id: NsId) {
        for (_, l) in self.listeners.iter_mut().filter(|(n, _)| *n == id) {
            l.stop();
        }
        self.ping_socks.retain(|(n, _), _| *n != id);
    }
}
