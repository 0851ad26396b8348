//! Where detectors put what they decide, as they decide it: findings and
//! failure instances, for the engine to hand out as events. Off unless
//! the caller asked for events, so a report-only run builds nothing extra.

use super::Counted;
use serde::Serialize;

/// A finding at the moment it is decided.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindingEvent {
    /// "scan", "blocklist", "unusual_port", "long_lived" or "protocol_mismatch".
    pub kind: &'static str,
    /// Frame and time of the packet (or the flow's first packet) that decided it.
    pub frame: u64,
    pub ts: f64,
    /// Community ID of that packet's flow ("" when there is none).
    pub community_id: String,
    /// One line for people.
    pub summary: String,
    /// The finding as the report lists it (or as far as it is known now).
    pub detail: serde_json::Value,
}

/// One counted failure instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureEvent {
    /// The report's path of its class, as in `failures.<class>`: e.g.
    /// "tcp.retransmission", "dns.unanswered_queries".
    pub class: &'static str,
    /// The instance as the report lists it (frame, time, Community ID, details).
    pub instance: serde_json::Value,
}

/// What a detector decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Finding(FindingEvent),
    Failure(FailureEvent),
}

/// A detector's outbox. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    enabled: bool,
    events: Vec<Decision>,
}

impl Outbox {
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Count one failure of `class` in `counted` (keeping it while under
    /// `cap`, as [`Counted::add`] does) and, with events on, send it.
    #[inline]
    pub fn count<T: Serialize>(
        &mut self,
        class: &'static str,
        counted: &mut Counted<T>,
        cap: usize,
        make: impl FnOnce() -> T,
    ) {
        if !self.enabled {
            counted.add(cap, make);
            return;
        }
        let item = make();
        self.failure(class, &item);
        counted.total += 1;
        if counted.instances.len() < cap {
            counted.instances.push(item);
        }
    }

    /// Send one failure instance of `class` (for counts kept otherwise).
    pub fn failure<T: Serialize>(&mut self, class: &'static str, item: &T) {
        if self.enabled {
            let instance = serde_json::to_value(item).unwrap_or(serde_json::Value::Null);
            self.events
                .push(Decision::Failure(FailureEvent { class, instance }));
        }
    }

    /// Send a finding, built only when events are on.
    pub fn finding(&mut self, make: impl FnOnce() -> FindingEvent) {
        if self.enabled {
            self.events.push(Decision::Finding(make()));
        }
    }

    /// Hand the decisions over, oldest first.
    pub fn drain(&mut self, mut to: impl FnMut(Decision)) {
        for d in self.events.drain(..) {
            to(d);
        }
    }
}
