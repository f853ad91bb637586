//! What the script API hands to the rest of nslab: the error a call raises
//! and the doc entry of each function. A leaf module, so the reports (diag),
//! the reference and the recipes can name them without importing the API.

use std::fmt;

use rhai::Position;

/// An error raised by an API call: shown as a report with this help line.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub message: String,
    pub help: Option<String>,
    /// Where the error belongs when that is not the call that raised it:
    /// a queued firewall rule nft refused when a later call applied it.
    pub at: Option<At>,
}

/// A place in a script: its source (None: the main script) and position.
#[derive(Clone, Debug)]
pub struct At {
    pub source: Option<String>,
    pub pos: Position,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// One entry of the API reference (help(), `nslab docs`).
#[derive(Clone, Debug)]
pub struct Doc {
    pub area: &'static str,
    pub name: &'static str,
    pub sig: &'static str,
    pub doc: &'static str,
    pub example: &'static str,
}

impl Doc {
    /// The type a method is called on, read from its signature's receiver
    /// (`ns.ping(…)`: Netns), as rhai names it in "function not found".
    pub fn receiver(&self) -> Option<&'static str> {
        let (recv, _) = self.sig.split_once('.')?;
        Some(match recv {
            "ns" => "Netns",
            "link" | "br" => "Link",
            "cap" => "Capture",
            "listener" => "Listener",
            "p" => "Process",
            "r" => "Reach",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_s_receiver_is_its_type() {
        let d = |sig: &'static str| Doc {
            area: "",
            name: "",
            sig,
            doc: "",
            example: "",
        };
        assert_eq!(d("ns.ping(target)").receiver(), Some("Netns"));
        assert_eq!(d("br.attach(link)").receiver(), Some("Link"));
        assert_eq!(d("netns(name)").receiver(), None);
        // A dot inside the arguments is not a receiver.
        assert_eq!(d("veth(a, \"x.y\")").receiver(), None);
    }
}
