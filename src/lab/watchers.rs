//! Who watches the lab being built: `nslab plan`'s recorder and `nslab
//! graph`'s fullest view.

use super::plan::Plan;
use super::view::Fullest;

#[derive(Default)]
pub struct Watchers {
    /// For `nslab graph`: the view with the most namespaces, taken before
    /// each namespace the script deletes (see `view::Fullest`).
    fullest: Option<Fullest>,
    /// `nslab plan`: every change also written down as shell commands.
    plan: Option<Plan>,
}

impl Watchers {
    pub fn start_plan(&mut self, p: Plan) {
        self.plan = Some(p);
    }

    pub fn take_plan(&mut self) -> Option<Plan> {
        self.plan.take()
    }

    pub fn plan(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }

    pub fn plan_mut(&mut self) -> Option<&mut Plan> {
        self.plan.as_mut()
    }

    pub fn watch_fullest(&mut self) {
        self.fullest = Some(Fullest::default());
    }

    pub fn fullest(&self) -> Option<&Fullest> {
        self.fullest.as_ref()
    }

    pub fn fullest_mut(&mut self) -> Option<&mut Fullest> {
        self.fullest.as_mut()
    }
}
