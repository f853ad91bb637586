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
