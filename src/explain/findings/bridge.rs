//! A bridge that does not pass the frame on: STP port states, isolated ports.

use std::net::IpAddr;

use crate::explain::Finding;
use crate::explain::segment::{Block, Blocked};
use crate::explain::walk::Walker;

impl Walker<'_, '_> {
    /// A bridge does not pass the frame on to `next`: the reason and the fix.
    /// (`others`: the other crossings closed on the way there, which
    /// matter when STP blocks the port: the frame would go round them.)
    pub(in crate::explain) fn bridge_block(
        &mut self,
        b: &Blocked,
        next: IpAddr,
        others: &[Blocked],
    ) -> Finding {
        let (n, v) = (self.name(b.ns), self.var(b.ns));
        let (br, port) = (&b.bridge, &b.port);
        match &b.why {
            Block::Isolated { from } => Finding {
                reason: format!(
                    "the bridge {br} of {n} does not pass it from port {from} to port {port} (on the way to {next}): both ports are isolated, and isolated ports do not talk to each other"
                ),
                help: format!(
                    "{v}.link(\"{br}\").attach({v}.link(\"{port}\"), #{{isolated: false}})"
                ),
            },
            Block::State(state @ ("listening" | "learning")) => Finding {
                reason: format!(
                    "the bridge {br} of {n} does not forward through its port {port} yet (on the way to {next}): the port is {state} (STP)"
                ),
                help: format!(
                    "wait for the spanning tree: a port forwards after listening and learning, one forward delay each (bridge(ns, \"{br}\", #{{stp: true, forward_delay_s: 2}}) is the shortest), so probe again then; or turn STP off where no loop can form: {v}.run(\"ip link set {br} type bridge stp_state 0\")"
                ),
            },
            Block::State("blocking") => {
                // STP blocks a port to break a loop: the frame goes round
                // the other way, so what closes that way is the fault.
                let closed: Vec<String> = others
                    .iter()
                    .map(|o| {
                        let what = match &o.why {
                            Block::Isolated { from } => format!("isolated, as {from} is"),
                            Block::State(st) => st.to_string(),
                            Block::Macvlan(_) => "a macvlan's lower link".to_string(),
                        };
                        format!("{} {} port {} ({what})", self.name(o.ns), o.bridge, o.port)
                    })
                    .collect();
                let round = if closed.is_empty() {
                    "no other way round the loop is open".to_string()
                } else {
                    format!("the other way round is closed at {}", closed.join(", "))
                };
                let help = match others.first() {
                    Some(o @ Blocked {
                        why: Block::Isolated { .. },
                        ..
                    }) => {
                        let ov = self.var(o.ns);
                        format!(
                            "{ov}.link(\"{}\").attach({ov}.link(\"{}\"), #{{isolated: false}})",
                            o.bridge, o.port
                        )
                    }
                    _ => "open the other way round the loop (its links up, its bridges passing frames on) and let the spanning tree settle (max_age_s + 2 × forward_delay_s after a change)".to_string(),
                };
                Finding {
                    reason: format!(
                        "the bridge {br} of {n} does not forward through its port {port} (on the way to {next}): the port is blocking (STP breaks a loop of bridges there), and {round}"
                    ),
                    help,
                }
            }
            Block::State(state) => Finding {
                reason: format!(
                    "the bridge {br} of {n} does not forward through its port {port} (on the way to {next}): the port is {state}"
                ),
                help: format!(
                    "bring the port up ({v}.link(\"{port}\").up()), or set its state to forwarding when the bridge runs no STP: {v}.run(\"bridge link set dev {port} state 3\")"
                ),
            },
            Block::Macvlan(wall) => self.walled(b, wall, next),
        }
    }
}
