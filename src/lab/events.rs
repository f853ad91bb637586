//! What an op did, told once (`Lab::tell`); the watchers listen: the
//! progress line counts what was built, and `nslab graph` notes the lab as
//! it was before a namespace goes. (`nslab plan` still has its calls in the
//! ops: see plan.rs.)

use super::Lab;
use crate::progress;

/// Something an op did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    NetnsMade,
    LinkMade,
    PortAttached,
    AddrAdded,
    RouteAdded,
    /// A namespace of the lab's is about to be deleted.
    NetnsDeleting,
}

/// What the progress line counts for `e`, if anything.
fn counted(e: Event) -> Option<progress::Kind> {
    match e {
        Event::NetnsMade => Some(progress::Kind::Netns),
        Event::LinkMade => Some(progress::Kind::Link),
        Event::PortAttached => Some(progress::Kind::Port),
        Event::AddrAdded => Some(progress::Kind::Addr),
        Event::RouteAdded => Some(progress::Kind::Route),
        Event::NetnsDeleting => None,
    }
}

impl Lab {
    /// Tells the watchers what an op did.
    pub(super) fn tell(&mut self, e: Event) {
        if let Some(kind) = counted(e) {
            progress::bump(kind);
        }
        if e == Event::NetnsDeleting {
            self.note_view();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_built_is_counted_and_a_deletion_is_not() {
        assert!(matches!(
            counted(Event::LinkMade),
            Some(progress::Kind::Link)
        ));
        assert!(matches!(
            counted(Event::PortAttached),
            Some(progress::Kind::Port)
        ));
        assert!(counted(Event::NetnsDeleting).is_none());
    }
}
